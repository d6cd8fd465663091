package schema

// What editors show on hover for each key, shortened from
// docs/runbook-format.md. A key the loader reads without a description
// here is an error: Runbook says which.

var runbookDocs = map[string]string{
	"name":         "shown in output",
	"inventory":    "inventory file(s), relative to the runbook, used when the command line gives no -i",
	"hosts":        "default hosts: for steps that give none: groups, hosts, all, local, or patterns",
	"vars":         "variables; !secret hides a value from all output",
	"vars_files":   "YAML files, relative to the runbook, each a mapping of variables; they win over vars:, later files over earlier ones",
	"steps":        "the ordered steps",
	"handlers":     "steps that run once per host at the end of this runbook, on the hosts where a step that notified them changed something",
	"secrets_file": "a vars file, relative to the runbook, where the secret template function keeps the secrets it makes, encrypted with age (docs/secrets.md)",
	"rotate":       "secrets of the secrets_file (names as for `runbook secrets rotate`) that each apply retires when its run starts, for its steps to make and roll out anew: a rotation runbook (docs/secrets.md)",
}

var stepDocs = map[string]string{
	"name":                "shown in output; handlers are notified by name",
	"hosts":               "where the step runs: groups, hosts, all, local, or patterns; may be a template of runbook vars and -e",
	"tags":                "--tags runs only tagged steps (and those tagged always); --skip-tags skips them; never runs only when --tags names it",
	"when":                "a condition: the step is skipped on hosts where it is false",
	"task":                "the module to run (`runbook tasks` lists them); its parameters go under with:",
	"with":                "the module's parameters",
	"register":            "keep the result as a variable for later steps on the same host: .NAME.changed, .NAME.failed, .NAME.stdout, ...",
	"retries":             "try again this many more times when the step fails (or until: is false); 3 with until:",
	"delay":               "the wait between retries: 5, 5s, 1m",
	"until":               "a condition on .result (this attempt's result): retry until it holds",
	"timeout":             "per host: a step that runs longer fails",
	"notify":              "a handler name or a list of them, run at the end on the hosts where this step changed something",
	"serial":              "rolling batches: 2, \"30%\", or a ramp such as [1, \"50%\"] (the last size repeats)",
	"max_fail_percentage": "stop the run when more than this share of a batch fails (0: any failure)",
	"become":              "run as another user (default root), through sudo unless become_method says otherwise",
	"become_user":         "the user become: runs as",
	"become_method":       "how to become the user: sudo (default), su or doas; a password comes from -K or the host's become_password",
	"ignore_errors":       "a failure is reported and counted as ignored; the host goes on",
	"changed_when":        "a condition on .result: true reports the step changed, false ok",
	"failed_when":         "a condition on .result that replaces the module's test of failure",
	"import":              "instead of task: run another runbook's steps here (a path relative to this runbook)",
	"vars":                "on an import or a block: variables for its steps; !secret hides a value from all output",
	"vars_files":          "on an import: YAML files of variables, relative to this runbook, winning over the import's vars:",
	"block":               "instead of task: the steps of a block, run together over the block's hosts",
	"rescue":              "steps run on the hosts that failed in the block",
	"always":              "steps run on every host that entered the block, whatever happened",
	"order":               "the order hosts are batched in: inventory (default), reverse_inventory, sorted, reverse_sorted, shuffle, or a template rendered per host to sort them by",
	"any_errors_fatal":    "stop the whole run after this step (or any step of this group) if it failed on any host",
	"throttle":            "at most this many hosts run the step (each step of the group) at once",
	"loop":                "run the step once per item of a list or mapping (or a template that gives one), the item as .item",
	"loop_var":            "the item's name in templates instead of item",
	"run_once":            "run the step on the first host of its batch only and give its result to all of them",
	"delegate_to":         "run the module against this inventory host, or local (the controller), on behalf of each host",
}

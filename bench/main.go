// Command bench measures runbook against ansible-playbook on the same lab
// hosts, phase by phase, and writes docs/benchmarks.md. Run it with
// `sudo make bench`; it is never part of the tests.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/runbookdev/runbook/internal/lab"
)

// phase is one timed run of a tool.
type phase struct {
	name  string
	args  []string // extra flags: runbook's; ansible's are derived
	drift bool     // drift one file on every host first
}

var phases = []phase{
	{name: "first apply (everything changes)"},
	{name: "second apply (nothing changes)"},
	{name: "check, nothing drifted", args: []string{"--check"}},
	{name: "check, one file drifted per host", args: []string{"--check"}, drift: true},
}

var (
	peerMax, peerRuns int
	keep              bool
)

type sample struct {
	wall     time.Duration
	rssKB    int64
	cpu      time.Duration // the tool's own CPU time, user and system, children included
	conns    int           // SSH connections accepted, from the hosts' sshd logs
	sessions int           // SSH sessions that ran a command (not SFTP), from the same logs
	commands int           // remote commands run: runbook's own count; for ansible, its sessions
	exit     int
}

func main() {
	sizes := flag.String("n", "10,50,200", "host counts")
	runs := flag.Int("runs", 3, "runs per phase (the median is reported)")
	out := flag.String("o", "docs/benchmarks.md", "the report")
	runbookBin := flag.String("runbook", "bin/runbook", "the runbook binary")
	flag.IntVar(&peerMax, "peer-max", 250, "measure ansible-playbook only up to this many hosts (it is slow)")
	flag.IntVar(&peerRuns, "peer-runs", 0, "runs per phase for ansible-playbook; default: -runs")
	flag.BoolVar(&keep, "keep", false, "leave the hosts and the work directory (inventory, known_hosts) for a closer look; -down removes them")
	down := flag.Bool("down", false, "only take down the hosts that -keep left")
	flag.Parse()
	if peerRuns == 0 {
		peerRuns = *runs
	}
	var err error
	if *down {
		err = takeDown()
	} else {
		err = run(*sizes, *runs, *out, *runbookBin)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// labConfig is the benchmark's own lab, apart from the user's.
func labConfig() lab.Config {
	cfg := lab.DefaultConfig()
	cfg.StateDir, cfg.Prefix = "/var/lib/runbook/bench-lab", "rbb"
	cfg.Public, cfg.Private = netip.MustParsePrefix("10.76.1.0/24"), netip.MustParsePrefix("10.76.2.0/24")
	return cfg
}

func takeDown() error {
	l, err := lab.Attach(labConfig())
	if err != nil {
		return err
	}
	return l.Down(context.Background())
}

func run(sizes string, runs int, out, runbookBin string) error {
	ctx := context.Background()
	l, err := lab.Open(ctx, labConfig(), func(msg string) { fmt.Fprintln(os.Stderr, "lab:", msg) })
	if err != nil {
		return err
	}
	if !keep {
		defer l.Down(context.Background())
	}
	ansible, _ := exec.LookPath("ansible-playbook")
	work, err := os.MkdirTemp("", "runbook-bench-")
	if err != nil {
		return err
	}
	if keep {
		defer fmt.Fprintf(os.Stderr, "bench: hosts left up; inventory and known_hosts in %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}

	var report strings.Builder
	for _, field := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 || n > 250 {
			return fmt.Errorf("-n: %q is not a host count from 1 to 250", field)
		}
		fmt.Fprintf(os.Stderr, "bench: %d light hosts\n", n)
		start := time.Now()
		hosts, err := grow(ctx, l, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: %d hosts up in %s\n", n, time.Since(start).Round(time.Second))
		b := &bench{lab: l, hosts: hosts[:n], dir: work, runbook: runbookBin, ansible: ansible}
		if err := b.write(); err != nil {
			return err
		}
		results := map[string][][]sample{} // tool -> phase -> runs
		for _, tool := range b.tools() {
			times := runs
			if tool == "ansible" {
				times = peerRuns
			}
			for r := 0; r < times; r++ {
				if err := b.reset(); err != nil {
					return err
				}
				for i, p := range phases {
					s, err := b.measure(tool, p)
					if err != nil {
						return err
					}
					if results[tool] == nil {
						results[tool] = make([][]sample, len(phases))
					}
					results[tool][i] = append(results[tool][i], s)
					fmt.Fprintf(os.Stderr, "bench: n=%d %s %q: %s exit %d, %d connections, %d sessions, %d commands\n", n, tool, p.name, s.wall.Round(time.Millisecond), s.exit, s.conns, s.sessions, s.commands)
				}
			}
		}
		b.table(&report, results)
	}
	return writeReport(out, report.String(), ansible != "")
}

// grow creates light hosts until there are n.
func grow(ctx context.Context, l *lab.Lab, n int) ([]*lab.Host, error) {
	have, err := l.Hosts()
	if err != nil {
		return nil, err
	}
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	todo := 0
	for i := len(have); i < n; i++ {
		todo++
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := l.Create(ctx, lab.Spec{Name: fmt.Sprintf("bench%03d", i), Kind: lab.Light})
			errs <- err
		}()
	}
	for range todo {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	return l.Hosts()
}

type bench struct {
	lab     *lab.Lab
	hosts   []*lab.Host
	dir     string
	runbook string
	ansible string
}

func (b *bench) tools() []string {
	if b.ansible == "" || len(b.hosts) > peerMax {
		return []string{"runbook"}
	}
	return []string{"runbook", "ansible"}
}

// write makes both tools' inventories for the hosts.
func (b *bench) write() error {
	if err := b.lab.WriteInventory(filepath.Join(b.dir, "hosts.yaml"), b.hosts); err != nil {
		return err
	}
	if err := lab.WriteKnownHosts(filepath.Join(b.dir, "known_hosts"), b.hosts); err != nil {
		return err
	}
	var ini strings.Builder
	ini.WriteString("[all]\n")
	for _, h := range b.hosts {
		fmt.Fprintf(&ini, "%s ansible_host=%s\n", h.Name, h.Public)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "hosts.ini"), []byte(ini.String()), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`[defaults]
forks = %d
remote_user = root
private_key_file = %s
host_key_checking = True
interpreter_python = /usr/bin/python3
gathering = implicit
stdout_callback = default
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=%s
control_path_dir = %s/cp
`, len(b.hosts), b.lab.KeyFile(), filepath.Join(b.dir, "known_hosts"), b.dir)
	return os.WriteFile(filepath.Join(b.dir, "ansible.cfg"), []byte(cfg), 0o644)
}

// reset removes what the workload made, straight from the hosts' disks.
func (b *bench) reset() error {
	for _, h := range b.hosts {
		if err := os.RemoveAll(filepath.Join(h.Root(), "opt/bench")); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) drift() error {
	for _, h := range b.hosts {
		if err := os.WriteFile(filepath.Join(h.Root(), "opt/bench/app.conf"), []byte("drifted\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measure runs one phase of one tool as a whole process.
func (b *bench) measure(tool string, p phase) (sample, error) {
	if p.drift {
		if err := b.drift(); err != nil {
			return sample{}, err
		}
	}
	var cmd *exec.Cmd
	if tool == "runbook" {
		args := append([]string{"apply", "-i", filepath.Join(b.dir, "hosts.yaml"), "--known-hosts", filepath.Join(b.dir, "known_hosts"), "--forks", strconv.Itoa(len(b.hosts)), "--output", "json"}, p.args...)
		cmd = exec.Command(b.runbook, append(args, "bench/site.yaml")...)
	} else {
		args := []string{"-i", filepath.Join(b.dir, "hosts.ini"), "bench/site.ansible.yml"}
		if slices.Contains(p.args, "--check") {
			args = append(args, "--check")
		}
		cmd = exec.Command(b.ansible, args...)
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(b.dir, "ansible.cfg"))
	}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	conns0, sessions0 := b.count()
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if cmd.ProcessState == nil {
		return s, fmt.Errorf("%s: %w", tool, err)
	}
	s.exit = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rssKB = ru.Maxrss
	}
	s.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	// runbook's check mode exits 2 when it finds drift.
	if s.exit != 0 && !(tool == "runbook" && p.drift && s.exit == 2) {
		return s, fmt.Errorf("%s %q exited %d:\n%s", tool, p.name, s.exit, tail(output.String(), 30))
	}
	time.Sleep(200 * time.Millisecond) // let sshd write its last lines
	conns1, sessions1 := b.count()
	s.conns, s.sessions, s.commands = conns1-conns0, sessions1-sessions0, sessions1-sessions0
	if tool == "runbook" {
		if s.commands, err = recapCommands(output.Bytes()); err != nil {
			return s, err
		}
	}
	return s, nil
}

// recapCommands adds up the commands runbook says (in its JSON recap) it
// ran on the hosts. Its sessions are not its commands: they run in one
// long-lived shell per host.
func recapCommands(out []byte) (int, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var ev struct {
		Type  string                            `json:"type"`
		Recap map[string]struct{ Commands int } `json:"recap"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &ev); err != nil || ev.Type != "recap" {
		return 0, fmt.Errorf("runbook's output does not end with its recap: %s", tail(string(out), 3))
	}
	n := 0
	for _, h := range ev.Recap {
		n += h.Commands
	}
	return n, nil
}

// count adds up, over every host's sshd log, the connections accepted and
// the sessions that ran a command.
func (b *bench) count() (conns, sessions int) {
	for _, h := range b.hosts {
		data, err := os.ReadFile(h.ConsoleLog())
		if err != nil {
			continue
		}
		conns += bytes.Count(data, []byte("Accepted publickey"))
		sessions += bytes.Count(data, []byte("Starting session: command"))
	}
	return conns, sessions
}

func median(xs []sample, f func(sample) float64) float64 {
	vals := make([]float64, len(xs))
	for i, x := range xs {
		vals[i] = f(x)
	}
	slices.Sort(vals)
	return vals[len(vals)/2]
}

func (b *bench) table(w *strings.Builder, results map[string][][]sample) {
	n := len(b.hosts)
	peerDone := 0
	if an, ok := results["ansible"]; ok {
		peerDone = len(an[0])
	}
	fmt.Fprintf(w, "\n### %d hosts\n\n%d runs of runbook, %d of ansible-playbook.\n\n| phase | runbook | ansible-playbook | ratio | runbook CPU | runbook peak RSS | SSH connections (runbook / ansible) | SSH sessions per host (runbook / ansible) | remote commands per host per step (runbook / ansible) |\n|---|---|---|---|---|---|---|---|---|\n", n, len(results["runbook"][0]), peerDone)
	steps := 20.0
	perHost := func(xs []sample, f func(sample) int) float64 {
		return median(xs, func(s sample) float64 { return float64(f(s)) }) / float64(n)
	}
	conns := func(s sample) int { return s.conns }
	sessions := func(s sample) int { return s.sessions }
	commands := func(s sample) int { return s.commands }
	for i, p := range phases {
		rb := results["runbook"][i]
		wall := median(rb, func(s sample) float64 { return s.wall.Seconds() })
		rss := median(rb, func(s sample) float64 { return float64(s.rssKB) / 1024 })
		cpu := median(rb, func(s sample) float64 { return s.cpu.Seconds() })
		peer, ratio, peerConns, peerSessions, peerCmds := "not run", "-", "-", "-", "-"
		if an, ok := results["ansible"]; ok {
			aw := median(an[i], func(s sample) float64 { return s.wall.Seconds() })
			peer = fmt.Sprintf("%.2fs", aw)
			ratio = fmt.Sprintf("%.1fx", aw/wall)
			peerConns = fmt.Sprintf("%.0f", perHost(an[i], conns)*float64(n))
			peerSessions = fmt.Sprintf("%.1f", perHost(an[i], sessions))
			peerCmds = fmt.Sprintf("%.2f", perHost(an[i], commands)/steps)
		}
		fmt.Fprintf(w, "| %s | %.2fs | %s | %s | %.2fs | %.0f MB | %.0f / %s | %.1f / %s | %.2f / %s |\n", p.name, wall, peer, ratio, cpu, rss,
			perHost(rb, conns)*float64(n), peerConns, perHost(rb, sessions), peerSessions, perHost(rb, commands)/steps, peerCmds)
	}
}

// writeReport puts the tables after the report's results mark, replacing
// the sections of the host counts measured now and keeping the others, so
// that sizes can be measured in separate runs.
func writeReport(path, tables string, withAnsible bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const mark = "<!-- results -->"
	head, old, ok := strings.Cut(string(data), mark)
	if !ok {
		return fmt.Errorf("%s has no %s line to put the results after", path, mark)
	}
	sections := map[string]string{}
	var order []string
	old, _, _ = strings.Cut(old, "\nLast measured ")
	for _, sec := range strings.Split(old+tables, "\n### ")[1:] {
		title, _, _ := strings.Cut(sec, "\n")
		if _, seen := sections[title]; !seen {
			order = append(order, title)
		}
		sections[title] = "\n### " + strings.TrimRight(sec, "\n") + "\n"
	}
	slices.SortFunc(order, func(a, b string) int { return hostCount(a) - hostCount(b) })
	host, _ := os.Hostname()
	note := ""
	if !withAnsible {
		note = " ansible-playbook was not installed: only runbook was measured."
	}
	var body strings.Builder
	fmt.Fprintf(&body, "%s%s\n", head, mark)
	for _, title := range order {
		body.WriteString(sections[title])
	}
	fmt.Fprintf(&body, "\nLast measured %s on %s (%d cores). Wall time is the median of the runs; SSH connections and sessions are counted in the hosts' own sshd logs, runbook's remote commands in its JSON recap, ansible-playbook's as its sessions.%s\n",
		time.Now().UTC().Format("2006-01-02"), host, numCPU(), note)
	return os.WriteFile(path, []byte(body.String()), 0o644)
}

func hostCount(title string) int {
	n, _ := strconv.Atoi(strings.Fields(title)[0])
	return n
}

func numCPU() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

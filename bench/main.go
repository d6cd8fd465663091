// Command bench measures runbook against ansible-playbook on the same lab
// hosts, phase by phase, and writes docs/benchmarks.md. Run it with
// `sudo make bench`; it is never part of the tests.
package main

import (
	"bytes"
	"context"
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

var peerMax, peerRuns int

type sample struct {
	wall     time.Duration
	rssKB    int64
	conns    int
	commands int
	exit     int
}

func main() {
	sizes := flag.String("n", "10,50,200", "host counts")
	runs := flag.Int("runs", 3, "runs per phase (the median is reported)")
	out := flag.String("o", "docs/benchmarks.md", "the report")
	runbookBin := flag.String("runbook", "bin/runbook", "the runbook binary")
	flag.IntVar(&peerMax, "peer-max", 250, "measure ansible-playbook only up to this many hosts (it is slow)")
	flag.IntVar(&peerRuns, "peer-runs", 0, "runs per phase for ansible-playbook; default: -runs")
	flag.Parse()
	if peerRuns == 0 {
		peerRuns = *runs
	}
	if err := run(*sizes, *runs, *out, *runbookBin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(sizes string, runs int, out, runbookBin string) error {
	ctx := context.Background()
	cfg := lab.DefaultConfig()
	cfg.StateDir, cfg.Prefix = "/var/lib/runbook/bench-lab", "rbb"
	cfg.Public, cfg.Private = netip.MustParsePrefix("10.76.1.0/24"), netip.MustParsePrefix("10.76.2.0/24")
	l, err := lab.Open(ctx, cfg, func(msg string) { fmt.Fprintln(os.Stderr, "lab:", msg) })
	if err != nil {
		return err
	}
	defer l.Down(context.Background())
	ansible, _ := exec.LookPath("ansible-playbook")
	work, err := os.MkdirTemp("", "runbook-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

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
					fmt.Fprintf(os.Stderr, "bench: n=%d %s %q: %s exit %d, %d connections, %d commands\n", n, tool, p.name, s.wall.Round(time.Millisecond), s.exit, s.conns, s.commands)
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
		args := append([]string{"apply", "-i", filepath.Join(b.dir, "hosts.yaml"), "--known-hosts", filepath.Join(b.dir, "known_hosts"), "--forks", strconv.Itoa(len(b.hosts))}, p.args...)
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
	conns0, cmds0 := b.count()
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
	// runbook's check mode exits 2 when it finds drift.
	if s.exit != 0 && !(tool == "runbook" && p.drift && s.exit == 2) {
		return s, fmt.Errorf("%s %q exited %d:\n%s", tool, p.name, s.exit, tail(output.String(), 30))
	}
	time.Sleep(200 * time.Millisecond) // let sshd write its last lines
	conns1, cmds1 := b.count()
	s.conns, s.commands = conns1-conns0, cmds1-cmds0
	return s, nil
}

// count adds up, over every host's sshd log, the connections accepted and
// the sessions that ran a command.
func (b *bench) count() (conns, commands int) {
	for _, h := range b.hosts {
		data, err := os.ReadFile(h.ConsoleLog())
		if err != nil {
			continue
		}
		conns += bytes.Count(data, []byte("Accepted publickey"))
		commands += bytes.Count(data, []byte("Starting session: command"))
	}
	return conns, commands
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
	fmt.Fprintf(w, "\n### %d hosts\n\n%d runs of runbook, %d of ansible-playbook.\n\n| phase | runbook | ansible-playbook | ratio | runbook peak RSS | SSH connections (runbook / ansible) | remote commands per host per step (runbook / ansible) |\n|---|---|---|---|---|---|---|\n", n, len(results["runbook"][0]), peerDone)
	steps := 20.0
	for i, p := range phases {
		rb := results["runbook"][i]
		wall := median(rb, func(s sample) float64 { return s.wall.Seconds() })
		rss := median(rb, func(s sample) float64 { return float64(s.rssKB) / 1024 })
		conns := median(rb, func(s sample) float64 { return float64(s.conns) })
		cmds := median(rb, func(s sample) float64 { return float64(s.commands) }) / float64(n) / steps
		peer, ratio, peerConns, peerCmds := "not run", "-", "-", "-"
		if an, ok := results["ansible"]; ok {
			aw := median(an[i], func(s sample) float64 { return s.wall.Seconds() })
			peer = fmt.Sprintf("%.2fs", aw)
			ratio = fmt.Sprintf("%.1fx", aw/wall)
			peerConns = fmt.Sprintf("%.0f", median(an[i], func(s sample) float64 { return float64(s.conns) }))
			peerCmds = fmt.Sprintf("%.2f", median(an[i], func(s sample) float64 { return float64(s.commands) })/float64(n)/steps)
		}
		fmt.Fprintf(w, "| %s | %.2fs | %s | %s | %.0f MB | %.0f / %s | %.2f / %s |\n", p.name, wall, peer, ratio, rss, conns, peerConns, cmds, peerCmds)
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
	fmt.Fprintf(&body, "\nLast measured %s on %s (%d cores). Wall time is the median of the runs; SSH connections and remote commands are counted in the hosts' own sshd logs.%s\n",
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

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labapi"
	"github.com/runbookdev/runbook/internal/poll"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newLabCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab COMMAND [flags]",
		Short: "a local Equinix-Metal-compatible cloud of real Linux hosts (needs root)",
		Long: `A local Equinix-Metal-compatible cloud whose devices are real Linux hosts
(systemd-nspawn machines in their own network namespaces). Needs root.`,
		Example: `  sudo runbook lab up
  sudo runbook lab hosts --count 3 --light --name web -o lab.yaml
  sudo runbook lab down`,
		DisableFlagsInUseLine: true,
		RunE: e.run(func(_ context.Context, cmd *cobra.Command, args []string) int {
			return parentCommand(e, cmd, args)
		}),
	}
	sub := func(use, short string, fn func(context.Context, *env, *labFlags, *cobra.Command) int) *cobra.Command {
		var f labFlags
		c := &cobra.Command{Use: use, Short: short, RunE: e.run(func(ctx context.Context, cmd *cobra.Command, _ []string) int {
			return fn(ctx, e, &f, cmd)
		})}
		c.Flags().SortFlags = false
		f.register(c.Flags())
		cmd.AddCommand(c)
		return c
	}
	sub("up", "start the lab's Metal API in the background; prints the env to export", labUp)
	serve := sub("serve", "run the lab's Metal API in the foreground", labServe)
	serve.Flags().Int("capacity", 30, "how many devices the lab holds")
	sub("status", "the devices and hosts, their state, addresses and memory", labStatus)
	hosts := sub("hosts", "create hosts directly and write a static inventory for them", labHosts)
	hosts.Flags().Int("count", 1, "how many hosts")
	hosts.Flags().Bool("light", false, "sshd-only hosts (a few MB each), for tests and benchmarks with many hosts")
	hosts.Flags().String("name", "host", "host names: `NAME`000, NAME001, ...")
	hosts.Flags().StringP("out", "o", "lab-hosts.yaml", "the static inventory `FILE` to write (known_hosts goes beside it)")
	sub("down", "stop the API and remove every host, namespace, bridge, mount and process", labDown)
	return cmd
}

// labFlags are shared by the lab commands.
type labFlags struct {
	stateDir string
	addr     string
}

func (f *labFlags) register(fs *pflag.FlagSet) {
	def := lab.DefaultConfig()
	fs.StringVar(&f.stateDir, "state", def.StateDir, "where the lab keeps its hosts and state (a `DIR`)")
	fs.StringVar(&f.addr, "listen", "127.0.0.1:8087", "`ADDRESS` of the lab's Metal API (loopback only)")
}

func (f *labFlags) open(ctx context.Context, e *env) (*lab.Lab, error) {
	cfg := lab.DefaultConfig()
	cfg.StateDir = f.stateDir
	return lab.Open(ctx, cfg, func(msg string) { fmt.Fprintln(e.stderr, "lab: "+msg) })
}

// attach opens the lab to look at it or take it down: it builds nothing.
func (f *labFlags) attach() (*lab.Lab, error) {
	cfg := lab.DefaultConfig()
	cfg.StateDir = f.stateDir
	return lab.Attach(cfg)
}

func (f *labFlags) pidFile() string { return filepath.Join(f.stateDir, "api.pid") }

func labServe(ctx context.Context, e *env, f *labFlags, cmd *cobra.Command) int {
	capacity, _ := cmd.Flags().GetInt("capacity")
	if err := loopbackOnly(f.addr); err != nil {
		return e.errorf("%v", err)
	}
	l, err := f.open(ctx, e)
	if err != nil {
		return e.errorf("%v", err)
	}
	srv, err := labapi.New(ctx, l, labapi.Options{Capacity: capacity, Log: logger(e.stderr, true)})
	if err != nil {
		return e.errorf("%v", err)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return e.errorf("lab API: %v", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(shutdown)
	}()
	fmt.Fprintf(e.stderr, "lab: Metal API on http://%s%s\n", ln.Addr(), labapi.BasePath)
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return e.errorf("lab API: %v", err)
	}
	srv.Wait()
	return ExitOK
}

// loopbackOnly keeps the lab's API off the machine's other interfaces.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen %q: the lab's API listens on loopback only (127.0.0.1:PORT)", addr)
	}
	return nil
}

func labUp(ctx context.Context, e *env, f *labFlags, _ *cobra.Command) int {
	if err := loopbackOnly(f.addr); err != nil {
		return e.errorf("%v", err)
	}
	// Build the rootfs and network in the foreground, where progress shows.
	if _, err := f.open(ctx, e); err != nil {
		return e.errorf("%v", err)
	}
	if pid := readPid(f.pidFile()); pid > 0 && syscall.Kill(pid, 0) == nil {
		fmt.Fprintf(e.stderr, "lab: the API already runs (pid %d)\n", pid)
	} else {
		self, err := os.Executable()
		if err != nil {
			return e.errorf("%v", err)
		}
		logf, err := os.OpenFile(filepath.Join(f.stateDir, "api.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return e.errorf("%v", err)
		}
		cmd := exec.Command(self, "lab", "serve", "--state", f.stateDir, "--listen", f.addr)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return e.errorf("start the lab API: %v", err)
		}
		logf.Close()
		os.WriteFile(f.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
		cmd.Process.Release()
		if err := waitListening(ctx, f.addr, 30*time.Second); err != nil {
			return e.errorf("the lab API did not start: %v (see %s)", err, filepath.Join(f.stateDir, "api.log"))
		}
	}
	st, err := labapi.ReadState(f.stateDir)
	if err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.stdout, "export METAL_API_URL=http://%s%s\nexport METAL_AUTH_TOKEN=%s\nexport METAL_PROJECT_ID=%s\nexport RUNBOOK_KNOWN_HOSTS=%s\n",
		f.addr, labapi.BasePath, st.Token, st.Project, filepath.Join(f.stateDir, "known_hosts"))
	fmt.Fprintf(e.stderr, "lab: up; `sudo runbook lab status` shows it, `sudo runbook lab down` removes it all\n")
	return ExitOK
}

// waitListening waits until addr takes connections; when it never does,
// the error is the last refusal.
func waitListening(ctx context.Context, addr string, limit time.Duration) error {
	var refused error
	_, _, err := poll.Until(ctx, limit, 100*time.Millisecond, func(context.Context) (bool, string, error) {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			refused = err
			return false, "", nil
		}
		c.Close()
		return true, "", nil
	})
	if errors.Is(err, poll.ErrGaveUp) {
		return refused
	}
	return err
}

func readPid(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

func labStatus(ctx context.Context, e *env, f *labFlags, _ *cobra.Command) int {
	l, err := f.attach()
	if err != nil {
		return e.errorf("%v", err)
	}
	api := "not running"
	if pid := readPid(f.pidFile()); pid > 0 && syscall.Kill(pid, 0) == nil {
		api = fmt.Sprintf("http://%s%s (pid %d)", f.addr, labapi.BasePath, pid)
	}
	fmt.Fprintf(e.stdout, "API: %s\n\n", api)
	states := map[string]string{}
	if st, err := labapi.ReadState(f.stateDir); err == nil {
		for _, d := range st.Devices {
			states[d.Hostname] = d.State
		}
	}
	hosts, err := l.Hosts()
	if err != nil {
		return e.errorf("%v", err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tKIND\tDEVICE\tPOWER\tPUBLIC\tPRIVATE\tMEMORY")
	for _, h := range hosts {
		power, dev := "off", states[h.Name]
		if h.Running() {
			power = "on"
		}
		if dev == "" {
			dev = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d MB\n", h.Name, h.Kind, dev, power, h.Public, h.Private, l.Memory(h)>>20)
	}
	tw.Flush()
	if len(hosts) == 0 {
		fmt.Fprintln(e.stdout, "(no hosts)")
	}
	return ExitOK
}

func labHosts(ctx context.Context, e *env, f *labFlags, cmd *cobra.Command) int {
	count, _ := cmd.Flags().GetInt("count")
	light, _ := cmd.Flags().GetBool("light")
	prefix, _ := cmd.Flags().GetString("name")
	out, _ := cmd.Flags().GetString("out")
	if count < 1 || count > 250 {
		return e.errorf("--count must be between 1 and 250")
	}
	l, err := f.open(ctx, e)
	if err != nil {
		return e.errorf("%v", err)
	}
	kind := lab.Full
	if light {
		kind = lab.Light
	}
	start := time.Now()
	hosts := make([]*lab.Host, count)
	errs := make(chan error, count)
	sem := make(chan struct{}, 16)
	for i := range hosts {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			h, err := l.Create(ctx, lab.Spec{Name: fmt.Sprintf("%s%03d", prefix, i), Kind: kind})
			hosts[i] = h
			errs <- err
		}()
	}
	var failed []error
	for range hosts {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return e.errorf("%v", errors.Join(failed...))
	}
	kh := strings.TrimSuffix(out, filepath.Ext(out)) + ".known_hosts"
	if err := l.WriteInventory(out, hosts); err != nil {
		return e.errorf("%v", err)
	}
	if err := lab.WriteKnownHosts(kh, hosts); err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.stdout, "%d %s hosts up in %s\ninventory: %s\nknown hosts: %s\ntry: runbook inventory -i %s\n", count, kind, time.Since(start).Round(100*time.Millisecond), out, kh, out)
	return ExitOK
}

func labDown(ctx context.Context, e *env, f *labFlags, _ *cobra.Command) int {
	if pid := readPid(f.pidFile()); pid > 0 && syscall.Kill(pid, syscall.SIGTERM) == nil {
		poll.Until(context.WithoutCancel(ctx), 10*time.Second, 100*time.Millisecond, func(context.Context) (bool, string, error) {
			return syscall.Kill(pid, 0) != nil, "", nil
		})
	}
	l, err := f.attach()
	if err != nil {
		return e.errorf("%v", err)
	}
	if err := l.Down(ctx); err != nil {
		return e.errorf("lab down: %v", err)
	}
	for _, name := range []string{"api.pid", "api.json", "api.log"} {
		os.Remove(filepath.Join(f.stateDir, name))
	}
	if left := l.Leftovers(); !left.Empty() {
		return e.errorf("lab down left %s", left)
	}
	fmt.Fprintln(e.stdout, "lab: down; nothing left behind")
	return ExitOK
}

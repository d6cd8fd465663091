package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Suite is the Debian release lab hosts run.
const Suite = "bookworm"

// Packages are installed in every lab host beside debootstrap's minbase:
// what a fresh bare-metal Debian box has that the walkthrough needs.
var Packages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "ca-certificates", "curl",
	"procps", "iproute2", "iputils-ping", "socat", "fortune-mod", "fortunes-min", "less", "netbase",
	"python3",          // Ansible's modules run on the target: the benchmark's peer needs it
	"nftables", "cron", // a bare-metal Debian host's firewall and scheduler
}

// Mirror is the Debian mirror debootstrap uses: $RUNBOOK_DEBIAN_MIRROR or
// deb.debian.org.
func Mirror() string {
	if m := os.Getenv("RUNBOOK_DEBIAN_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// rootfsName names a rootfs by what is in it, so a changed package list
// builds a new one instead of reusing a stale one.
func rootfsName() string {
	h := sha256.Sum256([]byte(Suite + "|" + strings.Join(Packages, ",") + "|v3"))
	return Suite + "-" + hex.EncodeToString(h[:])[:12]
}

// EnsureRootfs returns the cached root file system, building it with
// debootstrap on first use (about a minute and 300 MB). It is built beside
// its final place and renamed into it, so an interrupted build leaves
// nothing that looks finished; concurrent callers wait for one build.
func EnsureRootfs(ctx context.Context, cacheDir string, progress func(string)) (string, error) {
	final := filepath.Join(cacheDir, "rootfs", rootfsName())
	if _, err := os.Stat(filepath.Join(final, ".runbook-complete")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	unlock, err := flock(ctx, filepath.Join(cacheDir, "rootfs.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(final, ".runbook-complete")); err == nil {
		return final, nil
	}
	for _, tool := range []string{"debootstrap", "systemd-nspawn"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s is not installed: run `make lab-setup` (apt-get install debootstrap systemd-container)", tool)
		}
	}
	tmp := final + ".building"
	os.RemoveAll(tmp)
	os.RemoveAll(final)
	if progress != nil {
		progress(fmt.Sprintf("building the lab's Debian %s rootfs in %s (once per machine, about a minute)", Suite, final))
	}
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(Packages, ","), Suite, tmp, Mirror())
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("debootstrap: %w: %s", err, tail(string(out), 10))
	}
	if err := prepareRootfs(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".runbook-complete"), nil, 0o644); err != nil {
		return "", err
	}
	return final, os.Rename(tmp, final)
}

// prepareRootfs removes what must differ per host (SSH host keys, machine
// id) and fixes what debootstrap leaves out.
func prepareRootfs(root string) error {
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		os.Remove(k)
	}
	files := map[string]string{
		// Go programs such as consul look "localhost" up and fail without it.
		"etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
		// No DNS, and no Debian sources it could not reach anyway.
		"etc/resolv.conf":      "",
		"etc/apt/sources.list": "# Lab hosts have no internet: serve packages to them from the controller.\n",
		"etc/machine-id":       "",
		// Lab hosts have no console to log in on.
		"etc/ssh/sshd_config.d/runbook-lab.conf": "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.Remove(p)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("prepare rootfs: %w", err)
		}
	}
	// No getty on a console nobody reads.
	for _, unit := range []string{"getty@.service", "console-getty.service", "systemd-networkd-wait-online.service"} {
		link := filepath.Join(root, "etc/systemd/system", unit)
		os.Remove(link)
		if err := os.Symlink("/dev/null", link); err != nil {
			return fmt.Errorf("prepare rootfs: mask %s: %w", unit, err)
		}
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

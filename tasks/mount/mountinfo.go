package mount

import (
	"fmt"
	"strings"
)

// mounted is one line of /proc/self/mountinfo (proc(5)).
type mounted struct {
	dev    string // major:minor of the filesystem
	root   string // the directory of that filesystem mounted here (a bind mount's source)
	path   string
	opts   string // per-mount options: rw or ro, nosuid, ...
	fstype string
	source string
}

// parseMountinfo reads /proc/self/mountinfo, in mount order.
func parseMountinfo(text string) ([]mounted, error) {
	var ms []mounted
	for i, l := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(l)
		sep := -1
		for j := 6; j < len(f); j++ {
			if f[j] == "-" {
				sep = j
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("/proc/self/mountinfo line %d: %q is not id parent major:minor root path options ... - type source", i+1, l)
		}
		ms = append(ms, mounted{dev: f[2], root: unescape(f[3]), path: unescape(f[4]), opts: f[5], fstype: f[sep+1], source: unescape(f[sep+2])})
	}
	return ms, nil
}

// at returns the mount a process sees at p: the last one mounted there.
func at(ms []mounted, p string) *mounted {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].path == p {
			return &ms[i]
		}
	}
	return nil
}

// containing returns the mount that holds path p (the longest mount
// point that is p or a parent of it) and p's path inside that filesystem.
func containing(ms []mounted, p string) (*mounted, string) {
	var best *mounted
	for i := range ms {
		m := &ms[i]
		if m.path == p || m.path == "/" || strings.HasPrefix(p, m.path+"/") {
			if best == nil || len(m.path) >= len(best.path) {
				best = m
			}
		}
	}
	if best == nil {
		return nil, ""
	}
	rel := strings.TrimPrefix(p, best.path)
	if best.path == "/" {
		rel = p
	}
	inside := strings.TrimSuffix(best.root, "/") + rel
	if inside == "" {
		inside = "/"
	}
	return best, inside
}

// hasOpt reports whether the comma-separated options hold o.
func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

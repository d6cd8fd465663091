// Package blockinfile is the `blockinfile` task: a block of lines between
// two marker lines in a text file, present or absent, as Ansible's
// blockinfile manages one (a Match block in sshd_config, hosts entries).
package blockinfile

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "blockinfile",
		Doc: "Ensures a block of lines between two marker lines is in (or absent from) a text file. " +
			"A block already in the file is replaced where it is; a new one goes where insertafter or insertbefore says. " +
			"A file whose markers do not pair up (a BEGIN without its END, or two blocks with the same markers) is an error " +
			"that names the line, to fix by hand. An edited file keeps its owner and mode. " +
			"Runs editing one file at once take turns (a lock on the host), so none loses another's edit.",
		New: func() tasks.Task { return new(Block) },
	})
}

// maxSize bounds the files blockinfile edits.
const maxSize = 4 << 20

// Block is the `blockinfile` task's parameters.
type Block struct {
	Path         string         `yaml:"path" required:"true" doc:"absolute path on the host"`
	Block        string         `yaml:"block" doc:"the lines between the markers; empty removes the block and its markers"`
	Marker       string         `yaml:"marker" doc:"the marker lines, {mark} replaced by marker_begin and marker_end; default \"# {mark} MANAGED BY RUNBOOK\". Each block in a file needs its own"`
	MarkerBegin  string         `yaml:"marker_begin" doc:"{mark} in the first marker line; default BEGIN"`
	MarkerEnd    string         `yaml:"marker_end" doc:"{mark} in the last marker line; default END"`
	InsertAfter  string         `yaml:"insertafter" doc:"where a block the file does not hold yet goes: after the last line this RE2 regexp matches (as Ansible's blockinfile), or EOF (the default); at the end when none matches"`
	InsertBefore string         `yaml:"insertbefore" doc:"where a new block goes instead: before the last line this RE2 regexp matches (as Ansible's blockinfile), or BOF for the top; at the end when none matches. Not with insertafter"`
	State        string         `yaml:"state" doc:"present (default) or absent: remove the block and its markers"`
	Create       bool           `yaml:"create" doc:"create the file when it is missing (default: it is an error)"`
	Mode         *hostfile.Mode `yaml:"mode" doc:"permissions for a created file; default 0644. An existing file keeps its own"`
	Owner        string         `yaml:"owner" doc:"owning user of a created file, by name or number; default: the connecting user. An existing file keeps its own"`
	Group        string         `yaml:"group" doc:"owning group of a created file, by name or number; default: the connecting user's. An existing file keeps its own"`

	begin, end string // the marker lines
	where      hostfile.Where
}

// Provision defaults the markers and compiles insertafter or insertbefore.
func (b *Block) Provision() error {
	if b.Marker == "" {
		b.Marker = "# {mark} MANAGED BY RUNBOOK"
	}
	if b.MarkerBegin == "" {
		b.MarkerBegin = "BEGIN"
	}
	if b.MarkerEnd == "" {
		b.MarkerEnd = "END"
	}
	b.begin = strings.ReplaceAll(b.Marker, "{mark}", b.MarkerBegin)
	b.end = strings.ReplaceAll(b.Marker, "{mark}", b.MarkerEnd)
	var err error
	b.where, err = hostfile.CompileWhere(b.InsertAfter, b.InsertBefore)
	return err
}

// Validate checks the parameters.
func (b *Block) Validate() error {
	if !path.IsAbs(b.Path) {
		return fmt.Errorf("path %s must be absolute", decode.Quote(b.Path))
	}
	// Without {mark} both marker lines are the same: the block could not
	// be told from its end, nor found again.
	if !strings.Contains(b.Marker, "{mark}") {
		return fmt.Errorf("marker %s must contain {mark}, which marker_begin and marker_end replace: e.g. %s",
			decode.Quote(b.Marker), decode.Quote("# {mark} "+strings.TrimSpace(strings.TrimLeft(b.Marker, "#;/ "))))
	}
	for _, p := range [][2]string{{"marker", b.Marker}, {"marker_begin", b.MarkerBegin}, {"marker_end", b.MarkerEnd}} {
		if strings.ContainsAny(p[1], "\r\n") {
			return fmt.Errorf("%s must be a single line", p[0])
		}
	}
	if b.MarkerBegin == b.MarkerEnd {
		return fmt.Errorf("marker_begin and marker_end are both %s: give them different words", decode.Quote(b.MarkerBegin))
	}
	for i, l := range hostfile.Lines(b.Block) {
		if s := strings.TrimSuffix(l, "\n"); s == b.begin || s == b.end {
			return fmt.Errorf("line %d of block is the marker line %s: the block would end there; change the marker", i+1, decode.Quote(s))
		}
	}
	switch b.State {
	case "", "present":
	case "absent":
		if b.InsertAfter != "" {
			return errors.New("insertafter is used only with state: present: remove it")
		}
		if b.InsertBefore != "" {
			return errors.New("insertbefore is used only with state: present: remove it")
		}
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(b.State))
	}
	return hostfile.CheckWhere(b.InsertAfter, b.InsertBefore)
}

// Check reads the file (one command) and edits a copy in memory; applying
// does it again holding the host's lock on the file (hostfile.Edit).
func (b *Block) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	if b.begin == "" {
		return nil, errors.New("markers not set: Provision the task before Check")
	}
	return hostfile.Edit(ctx, h, b.Path, b.plan)
}

// plan reads the file and says how to edit it.
func (b *Block) plan(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	fi, data, err := hostfile.Read(ctx, h.Conn, b.Path, maxSize)
	if err != nil {
		return nil, err
	}
	remove := b.State == "absent" || b.Block == ""
	spec := hostfile.Spec{Path: b.Path}
	if !fi.Exists {
		if remove {
			return tasks.NoChange(), nil
		}
		if !b.Create {
			return nil, tasks.DependsOnEarlier(fmt.Errorf("%s does not exist: set create: true to create it", b.Path))
		}
		spec.Mode, spec.Owner, spec.Group = b.Mode, b.Owner, b.Group
	}
	edited, what, err := b.edit(string(data))
	if err != nil {
		return nil, err
	}
	if fi.Exists && edited == string(data) {
		return tasks.NoChange(), nil
	}
	spec.Content = hostfile.Bytes([]byte(edited))
	c, err := hostfile.PlanAt(ctx, h, spec, fi)
	if err != nil {
		return nil, err
	}
	c.Summary = append([]string{what}, c.Summary...)
	return c, nil
}

// edit returns text with the block as asked, and says what it did.
func (b *Block) edit(text string) (string, string, error) {
	lines := hostfile.Lines(text)
	first, last, err := b.find(lines)
	if err != nil {
		return "", "", err
	}
	name := decode.Quote(b.begin)
	if b.State == "absent" || b.Block == "" {
		if first < 0 {
			return text, "", nil
		}
		return strings.Join(slices.Delete(lines, first, last+1), ""),
			fmt.Sprintf("- block %s (lines %d-%d)", name, first+1, last+1), nil
	}
	body := b.Block
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	block := slices.Concat([]string{b.begin + "\n"}, hostfile.Lines(body), []string{b.end + "\n"})
	if first >= 0 {
		return strings.Join(slices.Replace(lines, first, last+1, block...), ""),
			fmt.Sprintf("~ block %s (lines %d-%d): %d -> %d lines", name, first+1, last+1, last-first-1, len(block)-2), nil
	}
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		lines[n-1] += "\n"
	}
	at := b.where.Index(lines)
	return strings.Join(slices.Insert(lines, at, block...), ""),
		fmt.Sprintf("+ block %s (%d lines) at line %d", name, len(block)-2, at+1), nil
}

// find returns the indexes of the block's marker lines in lines, -1 and -1
// when it has none. Markers that do not pair up are an error that says
// where: which lines are the block is then anybody's guess.
func (b *Block) find(lines []string) (int, int, error) {
	first, last := -1, -1
	for i, l := range lines {
		switch strings.TrimSuffix(l, "\n") {
		case b.begin:
			if first >= 0 {
				return 0, 0, fmt.Errorf("%s:%d: a second %s (the first is on line %d): two blocks have these markers; remove one by hand, or give each task its own marker",
					b.Path, i+1, decode.Quote(b.begin), first+1)
			}
			first = i
		case b.end:
			if last >= 0 {
				return 0, 0, fmt.Errorf("%s:%d: a second %s (the first is on line %d): two blocks have these markers; remove one by hand, or give each task its own marker",
					b.Path, i+1, decode.Quote(b.end), last+1)
			}
			if first < 0 {
				return 0, 0, fmt.Errorf("%s:%d: %s has no %s before it: fix the file by hand", b.Path, i+1, decode.Quote(b.end), decode.Quote(b.begin))
			}
			last = i
		}
	}
	if first >= 0 && last < 0 {
		return 0, 0, fmt.Errorf("%s:%d: %s has no %s after it, so where the block ends is unknown: fix the file by hand", b.Path, first+1, decode.Quote(b.begin), decode.Quote(b.end))
	}
	return first, last, nil
}

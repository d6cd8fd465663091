package all_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/tasks"
	_ "github.com/runbookdev/runbook/tasks/all"
)

const tasksPath = "github.com/runbookdev/runbook/tasks"

// A module package that tasks/all leaves out is not compiled into runbook:
// its steps fail as unknown tasks and docs/tasks.md silently loses it.
func TestEveryModulePackageIsImported(t *testing.T) {
	imported := map[string]bool{}
	for _, f := range parseDir(t, ".") {
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			imported[p] = true
		}
	}
	var modules []string
	err := filepath.WalkDir("..", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel("..", dir)
		if rel == "." || rel == "all" {
			return nil
		}
		for _, f := range parseDir(t, dir) {
			if registers(f) {
				modules = append(modules, rel)
				if p := tasksPath + "/" + filepath.ToSlash(rel); !imported[p] {
					t.Errorf("tasks/%s registers a task module, but tasks/all does not import it: add _ %q to tasks/all/all.go", rel, p)
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(modules) < 10 {
		t.Fatalf("found only %v registering modules: is the test looking in tasks/?", modules)
	}
}

// parseDir parses the package in dir, without its tests.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// registers reports whether f calls tasks.Register, under whatever name it
// imports package tasks.
func registers(f *ast.File) bool {
	name := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == tasksPath {
			name = "tasks"
			if imp.Name != nil {
				name = imp.Name.Name
			}
		}
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Register" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == name && name != "" {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// runbook's modules talk to hosts and APIs, whatever serves them: the lab
// is a way to run them, documented in docs/lab.md, not part of what a
// module is.
func TestModuleDocsDoNotNameTheLab(t *testing.T) {
	lab := regexp.MustCompile(`(?i)\blab\b|runbook lab`)
	for _, name := range tasks.Names() {
		m, _ := tasks.Lookup(name)
		if lab.MatchString(m.Doc) {
			t.Errorf("%s's doc names the lab: %s", name, m.Doc)
		}
		for _, p := range m.Params() {
			if lab.MatchString(p.Doc) {
				t.Errorf("%s's parameter %s names the lab: %s", name, p.Name, p.Doc)
			}
		}
	}
}

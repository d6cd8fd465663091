package all_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/runbookdev/runbook/"

// Some packages are for a few others only. A module that reaches past the
// task contract into the transport, or production code that pulls in the
// lab, makes the seams the code is organised around a fiction.
var layers = []struct {
	pkg     string   // imported package
	allowed []string // importers, besides the package's own tree and test kits
	why     string
}{
	{"internal/transport", []string{"internal/engine", "internal/cli"},
		"modules act on hosts through tasks.Conn; only the engine and the CLI make connections"},
	{"internal/lab", []string{"internal/cli", "internal/labapi", "bench"},
		"the lab is a product of its own: only `runbook lab` (and the benchmarks) start it"},
	{"internal/labapi", []string{"internal/cli", "internal/lab", "bench"},
		"the lab is a product of its own: only `runbook lab` (and the benchmarks) start it"},
}

// TestLayers reads the imports of every non-test Go file of the
// repository and checks them against layers.
func TestLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository's root: %v", err)
	}
	files := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, l := range layers {
				if path != module+l.pkg || allowed(rel, l.pkg, l.allowed) {
					continue
				}
				t.Errorf("%s imports %s: %s", filepath.Join(rel, filepath.Base(p)), l.pkg, l.why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d Go files under %s: the walk missed the repository", files, root)
	}
}

func allowed(importer, pkg string, allow []string) bool {
	if importer == pkg || strings.HasPrefix(importer, pkg+"/") {
		return true
	}
	// Test kits (sshtest, labtest, tasktest and its labkit, ...) set up
	// real components.
	for _, dir := range strings.Split(importer, "/") {
		if strings.HasSuffix(dir, "test") {
			return true
		}
	}
	for _, a := range allow {
		if importer == a {
			return true
		}
	}
	return false
}

package cli_test

import (
	"os"
	"testing"
)

func TestSchemaIsInSync(t *testing.T) {
	code, out, errOut := runCLI("schema")
	if code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	doc, err := os.ReadFile("../../docs/runbook.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != out {
		t.Error("docs/runbook.schema.json is out of date: run `make docs`")
	}
}

func TestSchemaTakesNoArguments(t *testing.T) {
	if code, _, errOut := runCLI("schema", "site.yaml"); code == 0 {
		t.Errorf("accepted an argument: %s", errOut)
	}
}

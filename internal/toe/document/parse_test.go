package document

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Document {
	t.Helper()
	d, err := Parse("doc.yml", []byte(src), Options{OS: "linux"})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

func parseErr(t *testing.T, src string, opts Options) string {
	t.Helper()
	_, err := Parse("doc.yml", []byte(src), opts)
	if err == nil {
		t.Fatalf("expected an error")
	}
	return err.Error()
}

func TestSchemaVersionForms(t *testing.T) {
	for _, v := range []string{"1.0", "1", `"1.0"`, "'1'"} {
		d := mustParse(t, "schemaVersion: "+v+"\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs:\n          commands: [echo hi]\n")
		if d.SchemaVersion != "1.0" && d.SchemaVersion != "1" {
			t.Errorf("%s: got %q", v, d.SchemaVersion)
		}
	}
	msg := parseErr(t, "schemaVersion: 2.0\nphases:\n  - name: build\n    steps: []\n", Options{})
	if !strings.Contains(msg, "unsupported schemaVersion") {
		t.Errorf("got %s", msg)
	}
}

func TestJSONDocument(t *testing.T) {
	d := mustParse(t, `{"schemaVersion": 1.0, "parameters": [{"Greeting": {"type": "string", "default": "hi"}}],
	 "phases": [{"name": "build", "steps": [{"name": "A", "action": "ExecuteBash", "inputs": {"commands": ["echo {{ Greeting }}"]}}]}]}`)
	if d.Parameters[0].Value != "hi" || d.Phases[0].Steps[0].Inputs[0]["commands"].([]any)[0] != "echo {{ Greeting }}" {
		t.Fatalf("bad decode: %+v", d)
	}
}

func TestInputsMapOrList(t *testing.T) {
	d := mustParse(t, `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: M
        action: CreateFile
        inputs:
          path: /tmp/x
          permissions: 0755
      - name: L
        action: CreateFile
        inputs:
          - path: /tmp/a
          - path: /tmp/b
            content: 12
`)
	st := d.Phases[0].Steps
	if len(st[0].Inputs) != 1 || st[0].Inputs[0]["permissions"] != "0755" {
		t.Errorf("map inputs: %#v", st[0].Inputs)
	}
	if len(st[1].Inputs) != 2 || st[1].Inputs[1]["content"] != int64(12) {
		t.Errorf("list inputs: %#v", st[1].Inputs)
	}
	if st[0].TimeoutSeconds != 7200 || st[0].OnFailure != Abort || st[0].MaxAttempts != 1 {
		t.Errorf("defaults: %+v", st[0])
	}
}

package document

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const head = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n"

func TestValidationMessages(t *testing.T) {
	cases := []struct {
		name, steps string
		opts        Options
		want        []string
	}{
		{"no inputs", "      - name: Get\n        action: S3Download\n", Options{},
			[]string{"doc.yml:5: Parsing step 'Get' in phase 'build' failed. Error: Action S3Download has no inputs; it requires an 'inputs'"}},
		{"windows only", "      - name: PS\n        action: ExecutePowerShell\n        inputs:\n          commands: [dir]\n", Options{OS: "linux"},
			[]string{"doc.yml:5: Parsing step 'PS' in phase 'build' failed. Error: Unsupported action ExecutePowerShell for os platform linux."}},
		{"linux only on windows", "      - name: B\n        action: ExecuteBash\n        inputs:\n          commands: [ls]\n", Options{OS: "windows"},
			[]string{"Unsupported action ExecuteBash for os platform windows."}},
		{"unknown action", "      - name: X\n        action: RunMagic\n", Options{}, []string{"Unknown action RunMagic."}},
		{"unknown parameter", "      - name: X\n        action: ExecuteBash\n        inputs:\n          commands: ['echo {{ Nope }}']\n", Options{},
			[]string{"doc.yml:5: Parsing step 'X' in phase 'build' failed. Error: unknown parameter or constant 'Nope'"}},
		{"unknown parameter in if", "      - name: X\n        action: ExecuteBash\n        if:\n          stringEquals: '{{ Nope }}'\n          value: a\n        inputs:\n          commands: [ls]\n", Options{},
			[]string{"doc.yml:8: Parsing step 'X'", "unknown parameter or constant 'Nope'"}},
		{"timeout zero", "      - name: X\n        action: ExecuteBash\n        timeoutSeconds: 0\n        inputs: {commands: [ls]}\n", Options{}, []string{"doc.yml:7:", "timeoutSeconds must be a positive integer or -1"}},
		{"bad onFailure", "      - name: X\n        action: ExecuteBash\n        onFailure: Retry\n        inputs: {commands: [ls]}\n", Options{}, []string{"onFailure must be Abort, Continue or Ignore"}},
		{"maxAttempts", "      - name: X\n        action: ExecuteBash\n        maxAttempts: 0\n        inputs: {commands: [ls]}\n", Options{}, []string{"maxAttempts must be at least 1"}},
		{"duplicate step", "      - {name: X, action: Reboot}\n      - {name: X, action: Reboot}\n", Options{}, []string{"doc.yml:6:", "duplicate step name"}},
		{"missing key", "      - name: X\n        action: CreateFile\n        inputs:\n          - content: x\n", Options{}, []string{"missing required key 'path'"}},
		{"bad encoding", "      - name: X\n        action: CreateFile\n        inputs:\n          - {path: /x, encoding: latin1}\n", Options{}, []string{"unsupported encoding"}},
		{"loop both", "      - name: X\n        action: ExecuteBash\n        loop: {for: {start: 1, end: 2, updateBy: 1}, forEach: [a]}\n        inputs: {commands: [ls]}\n", Options{}, []string{"exactly one of for or forEach"}},
		{"loop never ends", "      - name: X\n        action: ExecuteBash\n        loop: {for: {start: 1, end: 5, updateBy: -1}}\n        inputs: {commands: [ls]}\n", Options{}, []string{"never terminates"}},
		{"loop zero step", "      - name: X\n        action: ExecuteBash\n        loop: {for: {start: 1, end: 5, updateBy: 0}}\n        inputs: {commands: [ls]}\n", Options{}, []string{"updateBy must not be zero"}},
		{"bad delimiter", "      - name: X\n        action: ExecuteBash\n        loop: {forEach: {list: 'a|b', delimiter: '|'}}\n        inputs: {commands: [ls]}\n", Options{}, []string{"forEach delimiter must be one character"}},
		{"duplicate loop name", "      - {name: X, action: ExecuteBash, loop: {name: l, forEach: [a]}, inputs: {commands: [ls]}}\n      - {name: Y, action: ExecuteBash, loop: {name: l, forEach: [a]}, inputs: {commands: [ls]}}\n", Options{}, []string{"duplicate loop name"}},
		{"if bad then", "      - {name: X, action: Reboot, if: {binaryExists: x, then: Maybe}}\n", Options{}, []string{"if then must be Execute, Skip or Abort"}},
		{"if two operators", "      - {name: X, action: Reboot, if: {binaryExists: x, fileExists: y}}\n", Options{}, []string{"more than one operator"}},
		{"if missing value", "      - {name: X, action: Reboot, if: {stringEquals: x}}\n", Options{}, []string{"stringEquals requires a value"}},
		{"hash missing path", "      - {name: X, action: Reboot, if: {fileSHA256Equals: abc}}\n", Options{}, []string{"requires a path"}},
		{"bad regex", "      - {name: X, action: Reboot, if: {patternMatches: '(', value: x}}\n", Options{}, []string{"patternMatches"}},
		{"too deep", "      - name: X\n        action: Reboot\n        if:\n          not:\n            not:\n              not:\n                not:\n                  not:\n                    binaryExists: x\n", Options{}, []string{"doc.yml:8:", "nested 5 deep; the maximum is 4"}},
		{"assert bad", "      - name: X\n        action: Assert\n        inputs: {commands: [ls]}\n", Options{}, []string{"no known operator"}},
		{"unknown step key", "      - {name: X, action: Reboot, retries: 3}\n", Options{}, []string{"unknown key \"retries\" in step"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := parseErr(t, head+c.steps, c.opts)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestDocumentLevelRules(t *testing.T) {
	msg := parseErr(t, `schemaVersion: 1.0
parameters:
  - ab: {type: string}
  - Dup: {type: string, default: x}
constants:
  - Dup: {type: string, value: y}
  - Good: {type: Integer, value: 1}
  - Bad: {type: blob, value: 1}
phases:
  - name: custom
    steps:
      - {name: X, action: Reboot}
`, Options{})
	for _, w := range []string{"invalid name \"ab\"", "duplicate constant or parameter name \"Dup\"", "unsupported type \"blob\"",
		"document must contain at least one of the phases build, validate, test"} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q missing %q", msg, w)
		}
	}
	if msg := parseErr(t, "phases: []\n", Options{}); !strings.Contains(msg, "missing required key schemaVersion") {
		t.Error(msg)
	}
	if msg := parseErr(t, "schemaVersion: [1\n", Options{}); !strings.Contains(msg, "invalid YAML/JSON") {
		t.Error(msg)
	}
}

func TestParsesIfLoopAndAssert(t *testing.T) {
	d := mustParse(t, head+`      - name: A
        action: ExecuteBash
        loop:
          name: files
          forEach: ['a', '{{ build.A.outputs.stdout }}']
        if:
          - and:
              - fileExists: /etc/os-release
              - or:
                  - numberGreaterThanEquals: 2
                    value: '3'
                  - not:
                      stringIsEmpty: 'x'
            then: Execute
            else: Abort
        inputs:
          commands: ['echo {{ files.value }}']
      - name: B
        action: Assert
        inputs:
          fileSHA256Equals: abc
          path: /x
      - name: C
        action: ExecuteDocument
        timeoutSeconds: 5
        maxAttempts: 3
        inputs:
          document: child.yml
`)
	a := d.Phases[0].Steps[0]
	if a.If == nil || a.If.Cond.Op != "and" || a.If.Else != Abort || a.If.Cond.LogicalDepth() != 3 {
		t.Fatalf("if: %+v", a.If)
	}
	if a.Loop.Name != "files" || len(a.Loop.Items) != 2 {
		t.Fatalf("loop: %+v", a.Loop)
	}
	if b := d.Phases[0].Steps[1]; b.Assert == nil || b.Assert.Path != "/x" {
		t.Fatalf("assert: %+v", b.Assert)
	}
	if c := d.Phases[0].Steps[2]; c.TimeoutSeconds != -1 || c.MaxAttempts != 1 {
		t.Fatalf("ExecuteDocument forces no timeout and one attempt: %+v", c)
	}
}

func TestComponentType(t *testing.T) {
	d := mustParse(t, "schemaVersion: 1\nphases:\n  - name: test\n    steps:\n      - {name: X, action: Reboot}\n")
	if d.ComponentType() != "TEST" {
		t.Fatal(d.ComponentType())
	}
	d = mustParse(t, "schemaVersion: 1\nphases:\n  - name: build\n    steps:\n      - {name: X, action: Reboot}\n  - name: test\n    steps:\n      - {name: X, action: Reboot}\n")
	if d.ComponentType() != "BUILD" {
		t.Fatal(d.ComponentType())
	}
}

func publicDocs(t testing.TB) []string {
	var out []string
	filepath.Walk("../testdata/public", func(p string, info os.FileInfo, err error) error {
		if err == nil && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func FuzzParse(f *testing.F) {
	for _, p := range publicDocs(f) {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(head + "      - {name: X, action: Reboot, if: {and: [{not: {binaryExists: a}}]}, loop: {for: {start: 0, end: 3, updateBy: 1}}}\n"))
	f.Add([]byte(`{"schemaVersion": "1.0", "phases": [{"name": "build", "steps": [{"name": "A", "action": "Assert", "inputs": {"numberEquals": 1, "value": 1}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.yml", data, Options{})
		if err == nil && d == nil {
			t.Fatal("nil document without error")
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}

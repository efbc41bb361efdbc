package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates every service into a temporary
// directory and compares it with the committed packages and docs/SCOPE.md.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	models := os.Getenv("KILN_AWS_MODELS")
	if models == "" {
		models = "../../../../shared/aws-models"
	}
	if _, err := os.Stat(models); err != nil {
		t.Skipf("precondition: the AWS models are not on this machine (%s); set KILN_AWS_MODELS to botocore's data directory", models)
	}
	out := t.TempDir()
	scope := filepath.Join(out, "SCOPE.md")
	if err := run(models, "../implemented.txt", out, scope); err != nil {
		t.Fatal(err)
	}
	check := func(gen, committed string) {
		a, err := os.ReadFile(gen)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(committed)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./internal/awsgen)", committed, err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s is stale: run go generate ./internal/awsgen", committed)
		}
	}
	files, _ := filepath.Glob(filepath.Join(out, "*api", "*.go"))
	if len(files) < 16*4 {
		t.Fatalf("generated only %d files", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(out, f)
		check(f, filepath.Join("..", rel))
	}
	check(scope, "../../../docs/SCOPE.md")
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{"keyName": "KeyName", "t2.micro": "T2Micro", "x-amz-id": "XAmzId", "2xx": "X2xx", "": "X"} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}

package disk

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCommitAbortSweep(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	tmp, _ := d.Create()
	_, _ = tmp.Write([]byte("data"))
	id, err := tmp.Commit()
	if err != nil {
		t.Fatal(err)
	}
	tmp.Abort() // no-op after commit
	f, err := d.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "data" {
		t.Fatalf("read %q", b)
	}
	ab, _ := d.Create()
	_, _ = ab.Write([]byte("gone"))
	ab.Abort()
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatalf("abort left %d temp files", len(ents))
	}
	// A leftover temp file is removed by Open.
	left, _ := d.Create()
	_, _ = left.Write([]byte("crash"))
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatalf("Open kept %d temp files", len(ents))
	}
	orphan, _ := d.Create()
	oid, _ := orphan.Commit()
	n, err := d.Sweep(time.Now().Add(time.Minute), func(x string) bool { return x == id })
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := d.Open(oid); !errors.Is(err, ErrNotFound) {
		t.Fatalf("orphan survived: %v", err)
	}
	if _, err := d.Open(id); err != nil {
		t.Fatalf("referenced file swept: %v", err)
	}
	if n, _ := d.Sweep(time.Now().Add(-time.Hour), func(string) bool { return false }); n != 0 {
		t.Fatalf("sweep removed files newer than the cutoff: %d", n)
	}
	if err := d.Remove(id, "not-an-id"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open("../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("path traversal: %v", err)
	}
}

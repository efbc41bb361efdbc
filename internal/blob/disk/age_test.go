package disk_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blob/disk"
)

func TestSweepTemp(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cutoff := now.Add(-time.Hour)
	tmp := filepath.Join(dir, "tmp")
	own := "put-" + strconv.Itoa(os.Getpid()) + "-"
	files := []struct {
		name string
		age  time.Duration
		keep bool
	}{
		{"put-999999999-old", 2 * time.Hour, false},      // writer gone, older than the cutoff
		{"put-999999999-recent", time.Minute, true},      // writer gone, but recent
		{"put-1-old", 2 * time.Hour, true},               // writer (init) alive
		{"put-1-ancient", 25 * time.Hour, false},         // alive, but over a day old
		{own + "old", 2 * time.Hour, true},               // this process: a Put under way
		{"leftover", 2 * time.Hour, false},               // no writer named
		{"leftover-recent", 10 * time.Second, true},      // no writer named, recent
		{"put-999999999-ancient", 30 * time.Hour, false}, // writer gone, very old
	}
	var wantBytes int64
	wantN := 0
	for i, f := range files {
		p := filepath.Join(tmp, f.name)
		data := make([]byte, 10+i)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(-f.age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		if !f.keep {
			wantN++
			wantBytes += int64(len(data))
		}
	}
	n, bytes, err := s.SweepTemp(context.Background(), cutoff)
	if err != nil || n != wantN || bytes != wantBytes {
		t.Fatalf("SweepTemp = %d files, %d bytes, %v; want %d, %d", n, bytes, err, wantN, wantBytes)
	}
	for _, f := range files {
		_, err := os.Stat(filepath.Join(tmp, f.name))
		if (err == nil) != f.keep {
			t.Errorf("%s: exists=%v, want %v", f.name, err == nil, f.keep)
		}
	}
}

func TestRegionsNames(t *testing.T) {
	root := filepath.Join(t.TempDir(), "blobs")
	r := disk.NewRegions(root)
	if names, err := r.Names(); err != nil || len(names) != 0 {
		t.Fatalf("Names before any store = %v, %v", names, err)
	}
	for _, reg := range []string{"us-east-1", "eu-west-1"} {
		if _, err := r.Disk(reg); err != nil {
			t.Fatal(err)
		}
	}
	// Something else in the directory is not a region.
	if err := os.Mkdir(filepath.Join(root, "Not_A_Region"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ap-south-1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Another Regions over the same directory sees the stores too.
	names, err := disk.NewRegions(root).Names()
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"eu-west-1", "us-east-1"}) {
		t.Fatalf("Names = %v, %v", names, err)
	}
}

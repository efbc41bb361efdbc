package action

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/exec"
	"github.com/kiln-dev/kiln/internal/toe/s3fake"
)

func webReg(sleeps *[]time.Duration) map[string]exec.Action {
	return Registry(Config{OS: "linux", BackoffBase: 100 * time.Millisecond, Sleep: func(ctx context.Context, d time.Duration) error {
		*sleeps = append(*sleeps, d)
		return nil
	}})
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestWebDownload(t *testing.T) {
	var hits, flaky atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/file.bin", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("payload"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/file.bin", http.StatusFound)
	})
	mux.HandleFunc("/flaky.bin", func(w http.ResponseWriter, r *http.Request) {
		if flaky.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("finally"))
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	d := t.TempDir()
	var sleeps []time.Duration
	r := webReg(&sleeps)
	run := func(ins ...map[string]any) (exec.Outputs, error) {
		c, _ := newCall(t, ins...)
		return r["WebDownload"].Run(context.Background(), c)
	}

	// Folder destination (created), redirect followed, file name from URL.
	out, err := run(map[string]any{"source": srv.URL + "/redirect", "destination": filepath.Join(d, "new", "dir") + "/"},
		map[string]any{"source": srv.URL + "/file.bin", "destination": filepath.Join(d, "named.bin")})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(d, "new", "dir", "redirect") + "\n" + filepath.Join(d, "named.bin")
	if out[0]["destination"] != want || read(t, filepath.Join(d, "named.bin")) != "payload" {
		t.Fatalf("out=%v", out)
	}

	// Retries with exponential back-off.
	if _, err := run(map[string]any{"source": srv.URL + "/flaky.bin", "destination": filepath.Join(d, "flaky")}); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(d, "flaky")) != "finally" || len(sleeps) != 2 || sleeps[0] != 100*time.Millisecond || sleeps[1] != 200*time.Millisecond {
		t.Fatalf("sleeps %v", sleeps)
	}
	sleeps = nil
	_, err = run(map[string]any{"source": srv.URL + "/missing", "destination": filepath.Join(d, "m")})
	if err == nil || !strings.Contains(err.Error(), "404") || len(sleeps) != WebDownloadAttempts-1 {
		t.Fatalf("err=%v sleeps=%v", err, sleeps)
	}

	// Checksum verification, mismatch, and skip when the file matches.
	p := filepath.Join(d, "verified")
	if _, err := run(map[string]any{"source": srv.URL + "/file.bin", "destination": p, "checksum": strings.ToUpper(sha("payload")), "algorithm": "SHA256"}); err != nil {
		t.Fatal(err)
	}
	before := hits.Load()
	if _, err := run(map[string]any{"source": srv.URL + "/file.bin", "destination": p, "checksum": sha("payload"), "algorithm": "sha256"}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != before {
		t.Fatal("a matching file must not be downloaded again")
	}
	_, err = run(map[string]any{"source": srv.URL + "/file.bin", "destination": filepath.Join(d, "bad"), "checksum": sha("other"), "algorithm": "SHA256"})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || exists(filepath.Join(d, "bad")) {
		t.Fatalf("mismatch: %v", err)
	}
	_, err = run(map[string]any{"source": srv.URL + "/file.bin", "destination": p, "overwrite": false})
	if err == nil || !strings.Contains(err.Error(), "overwrite is false") {
		t.Fatalf("overwrite: %v", err)
	}
	if _, err := run(map[string]any{"source": "ftp://x/y", "destination": p}); err == nil {
		t.Fatal("ftp must be rejected")
	}
}

func TestWebDownloadIgnoreCertificateErrors(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tls")) }))
	defer srv.Close()
	var sleeps []time.Duration
	r := webReg(&sleeps)
	d := t.TempDir()
	c, _ := newCall(t, map[string]any{"source": srv.URL + "/x", "destination": filepath.Join(d, "x")})
	if _, err := r["WebDownload"].Run(context.Background(), c); err == nil {
		t.Fatal("self-signed certificate must fail by default")
	}
	c, _ = newCall(t, map[string]any{"source": srv.URL + "/x", "destination": filepath.Join(d, "x"), "ignoreCertificateErrors": true})
	if _, err := r["WebDownload"].Run(context.Background(), c); err != nil || read(t, filepath.Join(d, "x")) != "tls" {
		t.Fatalf("insecure: %v", err)
	}
}

func s3Reg(t *testing.T, srv *s3fake.Server) map[string]exec.Action {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return Registry(Config{OS: "linux", S3: func(ctx context.Context) (S3API, error) {
		return NewS3Client(ctx, "", "")
	}})
}

func TestS3UploadDownloadRoundTrip(t *testing.T) {
	srv := s3fake.New()
	defer srv.Close()
	srv.Owners["bkt"] = "111122223333"
	r := s3Reg(t, srv)
	d := t.TempDir()
	src := filepath.Join(d, "src")
	os.MkdirAll(filepath.Join(src, "nested"), 0o755)
	files := map[string]string{"a.txt": "alpha", "b.log": "bravo", "nested/c.txt": "charlie"}
	for n, v := range files {
		os.WriteFile(filepath.Join(src, n), []byte(v), 0o644)
	}
	do := func(action string, ins ...map[string]any) error {
		c, _ := newCall(t, ins...)
		_, err := r[action].Run(context.Background(), c)
		return err
	}
	// Single file to an object key; wildcard to a prefix; folder recursion.
	if err := do("S3Upload", map[string]any{"source": filepath.Join(src, "a.txt"), "destination": "s3://bkt/single/obj.txt"},
		map[string]any{"source": filepath.Join(src, "*.txt"), "destination": "s3://bkt/wild/"},
		map[string]any{"source": src, "destination": "s3://bkt/tree/", "recurse": true, "expectedBucketOwner": "111122223333"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"bkt/single/obj.txt", "bkt/tree/a.txt", "bkt/tree/b.log", "bkt/tree/nested/c.txt", "bkt/wild/a.txt"}
	if got := strings.Join(srv.Keys(), ","); got != strings.Join(want, ",") {
		t.Fatalf("keys %s", got)
	}
	if b, _ := srv.Get("bkt", "tree/nested/c.txt"); string(b) != "charlie" {
		t.Fatalf("bytes %q", b)
	}
	if err := do("S3Upload", map[string]any{"source": src, "destination": "s3://bkt/x/"}); err == nil || !strings.Contains(err.Error(), "recurse") {
		t.Fatalf("folder without recurse: %v", err)
	}
	if err := do("S3Upload", map[string]any{"source": filepath.Join(src, "a.txt"), "destination": "s3://bkt/o", "expectedBucketOwner": "999999999999"}); err == nil {
		t.Fatal("wrong bucket owner must fail")
	}

	// Download: one object, then a whole prefix into an existing folder.
	dst := filepath.Join(d, "dst")
	os.MkdirAll(dst, 0o755)
	if err := do("S3Download", map[string]any{"source": "s3://bkt/single/obj.txt", "destination": filepath.Join(dst, "one.txt")},
		map[string]any{"source": "s3://bkt/tree/*", "destination": filepath.Join(dst, "tree")}); err == nil {
		t.Fatal("prefix download into a missing folder must fail")
	}
	os.MkdirAll(filepath.Join(dst, "tree"), 0o755)
	if err := do("S3Download", map[string]any{"source": "s3://bkt/single/obj.txt", "destination": filepath.Join(dst, "one.txt")},
		map[string]any{"source": "s3://bkt/tree/*", "destination": filepath.Join(dst, "tree")}); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(dst, "one.txt")) != "alpha" || read(t, filepath.Join(dst, "tree", "nested", "c.txt")) != "charlie" || read(t, filepath.Join(dst, "tree", "b.log")) != "bravo" {
		t.Fatal("downloaded bytes differ")
	}
	if err := do("S3Download", map[string]any{"source": "s3://bkt/single/obj.txt", "destination": filepath.Join(dst, "one.txt"), "overwrite": false}); err == nil {
		t.Fatal("overwrite false must fail on an existing file")
	}
	if err := do("S3Download", map[string]any{"source": "s3://bkt/none", "destination": filepath.Join(dst, "none")}); err == nil {
		t.Fatal("missing object must fail")
	}
	if err := do("S3Download", map[string]any{"source": "s3://bkt/single/obj.txt", "destination": filepath.Join(d, "nodir", "x")}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing destination folder: %v", err)
	}
}

package containerd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// TestEncryptedStore: with a storage key, neither an image's layer once
// unpacked nor what an instance writes is anywhere in plaintext on the
// host's disk (the store's file included), while the instance reads and
// writes normally; a restart re-uses the mounted store, a wrong key is
// refused, and a data directory with a plain root keeps it.
func TestEncryptedStore(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newRuntime(t, dir)
	const inImage, written = "IMAGE-MARKER-5b8c0e", "WRITTEN-MARKER-27d41a"
	layer, _, err := runtimetest.FileLayer(map[string]string{"srv/secret": inImage + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(dir, "enc.log")
	spec := runtime.Spec{ID: "i-enc", Layers: []runtime.Layer{busybox(t), runtimetest.Layer(layer, nil)}, ConsolePath: console,
		Args: []string{"/bin/sh", "-c", "tr A-Z a-z < /srv/secret; printf '%s-%s\\n' WRITTEN MARKER-27d41a > /srv/new; sync; echo done; exec sleep 1000"}}
	boot(t, r, spec)
	waitFor(t, "the instance", 10*time.Second, func() bool { return strings.Contains(readFile(console), "done") })
	if !strings.Contains(readFile(console), strings.ToLower(inImage)) {
		t.Fatalf("the instance could not read its image: %q", readFile(console))
	}
	store := filepath.Join(dir, "containerd", storeMount)
	if !isMountPoint(store) {
		t.Fatalf("the store is not mounted at %s", store)
	}
	// Write the store's filesystem through the loop device into its
	// file (a global sync does not wait for the loop device's writes).
	sf, err := os.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Syncfs(int(sf.Fd()))
	sf.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Every file under the data directory except through the mounted
	// store (which shows plaintext, as the kernel decrypts it): the
	// store's own file is among them.
	if p, m, err := runtimetest.FindPlaintext(dir, []string{store, filepath.Join(dir, "containerd", "state"), console}, inImage, written); err != nil {
		t.Fatal(err)
	} else if p != "" {
		t.Errorf("%s holds %s in plaintext", p, m)
	}

	// Restart: the store is re-used, the instance's data still there.
	r2, err := New(ctx, Options{DataDir: dir, StorageKey: testStorageKey})
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if _, err := New(ctx, Options{DataDir: dir, StorageKey: bytes.Repeat([]byte{1}, 64)}); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Fatalf("another key: %v", err)
	}
	// A data directory made before storage encryption keeps its root.
	plain := shortDir(t)
	if err := os.MkdirAll(filepath.Join(plain, "containerd", "root", "io.containerd.metadata.v1.bolt"), 0o700); err != nil {
		t.Fatal(err)
	}
	rp, err := New(ctx, Options{DataDir: plain, StorageKey: testStorageKey})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if _, err := os.Stat(filepath.Join(plain, "containerd", storeImage)); !os.IsNotExist(err) {
		t.Fatalf("a store was made for a plain root: %v", err)
	}
}

// Package runtimetest holds helpers for testing Runtime implementations and
// their users: a tiny busybox root-filesystem layer built on the fly.
package runtimetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/runtime"
)

// BusyboxPath is where Debian's busybox-static installs busybox.
const BusyboxPath = "/bin/busybox"

// Applets are linked to busybox in the layer.
var Applets = []string{
	"sh", "ash", "sleep", "cat", "echo", "ls", "mkdir", "rm", "touch", "ps",
	"wget", "nc", "ip", "hostname", "id", "true", "false", "grep", "env",
	"mount", "umount", "poweroff", "reboot", "halt", "kill", "test", "head",
	"tail", "wc", "httpd", "ifconfig", "route", "ping", "date", "uname",
}

// BusyboxLayer builds an uncompressed tar layer holding a busybox root
// (binary at /bin/busybox, applet symlinks in /bin, the usual empty
// directories) and returns it with its digest. busybox is the host path of
// a static busybox (BusyboxPath when empty).
func BusyboxLayer(busybox string) ([]byte, blob.Digest, error) {
	if busybox == "" {
		busybox = BusyboxPath
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, "", fmt.Errorf("runtimetest: %w (install busybox-static)", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mt})
	}
	for _, d := range []string{"bin", "sbin", "dev", "etc", "proc", "sys", "root", "run", "var", "var/log", "usr", "usr/bin"} {
		if err := dir(d, 0o755); err != nil {
			return nil, "", err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return nil, "", err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: mt}); err != nil {
		return nil, "", err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, "", err
	}
	for _, a := range Applets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mt}); err != nil {
			return nil, "", err
		}
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":    "root:x:0:\n",
		"etc/hostname": "localhost\n",
	}
	for _, name := range []string{"etc/group", "etc/hostname", "etc/passwd"} {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: mt}); err != nil {
			return nil, "", err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), DigestOf(buf.Bytes()), nil
}

// FileLayer builds a layer holding regular files (path → content), in
// path order: the same files always make the same bytes.
func FileLayer(files map[string]string) ([]byte, blob.Digest, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: mt}); err != nil {
			return nil, "", err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), DigestOf(buf.Bytes()), nil
}

// DigestOf returns the SHA-256 digest of b.
func DigestOf(b []byte) blob.Digest {
	sum := sha256.Sum256(b)
	return blob.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// Layer wraps in-memory layer bytes as a runtime.Layer. opens, when not
// nil, counts how often the layer was read.
func Layer(b []byte, opens *atomic.Int64) runtime.Layer {
	return runtime.Layer{
		Digest: DigestOf(b),
		Size:   int64(len(b)),
		Open: func(context.Context) (io.ReadCloser, error) {
			if opens != nil {
				opens.Add(1)
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		},
	}
}

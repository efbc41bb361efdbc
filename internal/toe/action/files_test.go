package action

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func mustRun(t *testing.T, name string, inputs ...map[string]any) []map[string]any {
	t.Helper()
	out, err := runAction(t, name, inputs...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func mustFail(t *testing.T, name, want string, inputs ...map[string]any) {
	t.Helper()
	_, err := runAction(t, name, inputs...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: want error containing %q, got %v", name, want, err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCreateAppendReadFile(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "a", "b", "f.txt")
	mustRun(t, "CreateFile", map[string]any{"path": p, "content": "hello", "permissions": "0640"})
	if read(t, p) != "hello" {
		t.Fatal("content")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Fatalf("perm %v", fi.Mode())
	}
	mustFail(t, "CreateFile", "overwrite is false", map[string]any{"path": p, "overwrite": false})
	mustRun(t, "AppendFile", map[string]any{"path": p, "content": " world"})
	if read(t, p) != "hello world" {
		t.Fatal("append")
	}
	mustFail(t, "AppendFile", "no such file", map[string]any{"path": filepath.Join(d, "missing")})
	out := mustRun(t, "ReadFile", map[string]any{"path": p})
	if out[0]["content"] != "hello world" {
		t.Fatalf("read %v", out)
	}
	// Owner by name and id (root in CI; numeric ids always work).
	if os.Geteuid() == 0 {
		mustRun(t, "CreateFile", map[string]any{"path": p, "content": "x", "owner": "0", "group": "0"})
	}
}

func TestEncodings(t *testing.T) {
	d := t.TempDir()
	cases := map[string][]byte{
		"utf8":      []byte("hé"),
		"UTF-16":    {'h', 0, 0xe9, 0},
		"utf16-BE":  {0, 'h', 0, 0xe9},
		"utf-32-le": {'h', 0, 0, 0, 0xe9, 0, 0, 0},
		"utf32-BE":  {0, 0, 0, 'h', 0, 0, 0, 0xe9},
	}
	for enc, want := range cases {
		p := filepath.Join(d, enc)
		mustRun(t, "CreateFile", map[string]any{"path": p, "content": "hé", "encoding": enc})
		if got := []byte(read(t, p)); !bytes.Equal(got, want) {
			t.Errorf("%s: got %x want %x", enc, got, want)
		}
		out := mustRun(t, "ReadFile", map[string]any{"path": p, "encoding": enc})
		if out[0]["content"] != "hé" {
			t.Errorf("%s: read back %q", enc, out[0]["content"])
		}
	}
	p := filepath.Join(d, "conv")
	mustRun(t, "CreateFile", map[string]any{"path": p, "content": "hé"})
	mustRun(t, "SetFileEncoding", map[string]any{"path": p, "encoding": "utf-16-be"})
	if got := []byte(read(t, p)); !bytes.Equal(got, cases["utf16-BE"]) {
		t.Fatalf("SetFileEncoding: %x", got)
	}
	mustFail(t, "CreateFile", "unsupported encoding", map[string]any{"path": p, "encoding": "latin1"})
}

func TestFoldersAndSymlinks(t *testing.T) {
	d := t.TempDir()
	f := filepath.Join(d, "x", "y")
	mustRun(t, "CreateFolder", map[string]any{"path": f, "permissions": "0750"})
	if fi, err := os.Stat(f); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Fatalf("folder: %v %v", fi, err)
	}
	mustFail(t, "CreateFolder", "overwrite is false", map[string]any{"path": f, "overwrite": false})
	os.WriteFile(filepath.Join(f, "file"), []byte("1"), 0o644)
	mustFail(t, "DeleteFolder", "not empty", map[string]any{"path": f})
	link := filepath.Join(d, "link")
	mustRun(t, "CreateSymlink", map[string]any{"path": link, "target": filepath.Join(f, "file")})
	if read(t, link) != "1" {
		t.Fatal("symlink")
	}
	mustFail(t, "CreateSymlink", "already exists", map[string]any{"path": link, "target": f})
	mustRun(t, "CreateSymlink", map[string]any{"path": link, "target": f, "force": true})
	if tgt, _ := os.Readlink(link); tgt != f {
		t.Fatalf("forced link -> %s", tgt)
	}
	mustFail(t, "CreateSymlink", "does not exist", map[string]any{"path": filepath.Join(d, "l2"), "target": filepath.Join(d, "nope")})
	mustFail(t, "CreateSymlink", "not a symbolic link", map[string]any{"path": filepath.Join(f, "file"), "target": f, "force": true})
	mustRun(t, "DeleteFolder", map[string]any{"path": filepath.Join(d, "x"), "force": true})
	if exists(filepath.Join(d, "x")) {
		t.Fatal("DeleteFolder force")
	}
}

func TestCopyMoveDeleteList(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(d, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	for _, n := range []string{"a.log", "b.log", "c.txt", "sub/d.log"} {
		os.WriteFile(filepath.Join(src, n), []byte(n), 0o644)
	}
	mustFail(t, "CopyFile", "must be a folder", map[string]any{"source": filepath.Join(src, "*.log"), "destination": filepath.Join(d, "out")})
	mustRun(t, "CopyFile", map[string]any{"source": filepath.Join(src, "*.log"), "destination": filepath.Join(d, "out") + "/"})
	if read(t, filepath.Join(d, "out", "a.log")) != "a.log" || read(t, filepath.Join(d, "out", "b.log")) != "b.log" {
		t.Fatal("wildcard copy")
	}
	mustRun(t, "CopyFile", map[string]any{"source": filepath.Join(src, "c.txt"), "destination": filepath.Join(d, "deep", "renamed.txt")})
	if read(t, filepath.Join(d, "deep", "renamed.txt")) != "c.txt" {
		t.Fatal("copy with rename")
	}
	mustFail(t, "CopyFile", "overwrite is false", map[string]any{"source": filepath.Join(src, "c.txt"), "destination": filepath.Join(d, "deep", "renamed.txt"), "overwrite": false})
	mustFail(t, "CopyFile", "wildcards are only allowed", map[string]any{"source": filepath.Join(d, "*", "a.log"), "destination": d + "/"})

	mustRun(t, "CopyFolder", map[string]any{"source": src, "destination": filepath.Join(d, "copies") + "/"})
	if read(t, filepath.Join(d, "copies", "src", "sub", "d.log")) != "sub/d.log" {
		t.Fatal("CopyFolder into folder")
	}
	mustRun(t, "CopyFolder", map[string]any{"source": src, "destination": filepath.Join(d, "clone")})
	if read(t, filepath.Join(d, "clone", "sub", "d.log")) != "sub/d.log" {
		t.Fatal("CopyFolder to new name")
	}
	out := mustRun(t, "ListFiles", map[string]any{"path": src, "fileNamePattern": "*.log"})
	if out[0]["files"] != filepath.Join(src, "a.log")+","+filepath.Join(src, "b.log") {
		t.Fatalf("ListFiles: %v", out)
	}
	out = mustRun(t, "ListFiles", map[string]any{"path": src, "fileNamePattern": "*.log", "recursive": true})
	if !strings.Contains(out[0]["files"].(string), "sub/d.log") {
		t.Fatalf("ListFiles recursive: %v", out)
	}
	mustRun(t, "MoveFile", map[string]any{"source": filepath.Join(src, "c.txt"), "destination": filepath.Join(d, "moved", "c.txt")})
	if exists(filepath.Join(src, "c.txt")) || read(t, filepath.Join(d, "moved", "c.txt")) != "c.txt" {
		t.Fatal("MoveFile")
	}
	mustRun(t, "MoveFolder", map[string]any{"source": filepath.Join(d, "clone"), "destination": filepath.Join(d, "moved") + "/"})
	if exists(filepath.Join(d, "clone")) || read(t, filepath.Join(d, "moved", "clone", "a.log")) != "a.log" {
		t.Fatal("MoveFolder")
	}
	mustRun(t, "DeleteFile", map[string]any{"path": filepath.Join(src, "*.log")})
	if exists(filepath.Join(src, "a.log")) || !exists(filepath.Join(src, "sub", "d.log")) {
		t.Fatal("DeleteFile wildcard")
	}
	mustFail(t, "DeleteFile", "use DeleteFolder", map[string]any{"path": filepath.Join(src, "sub")})
}

func TestPermissionsAndOwners(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "f")
	os.WriteFile(p, nil, 0o600)
	os.MkdirAll(filepath.Join(d, "dir", "in"), 0o700)
	os.WriteFile(filepath.Join(d, "dir", "in", "g"), nil, 0o600)
	mustRun(t, "SetFilePermissions", map[string]any{"path": p, "permissions": int64(755)})
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o755 {
		t.Fatalf("int permissions: %v", fi.Mode())
	}
	mustRun(t, "SetFolderPermissions", map[string]any{"path": filepath.Join(d, "dir"), "permissions": "0751"})
	if fi, _ := os.Stat(filepath.Join(d, "dir", "in", "g")); fi.Mode().Perm() != 0o751 {
		t.Fatalf("recursive: %v", fi.Mode())
	}
	mustRun(t, "SetFolderPermissions", map[string]any{"path": filepath.Join(d, "dir"), "permissions": "0700", "recursive": false})
	if fi, _ := os.Stat(filepath.Join(d, "dir", "in")); fi.Mode().Perm() != 0o751 {
		t.Fatalf("non-recursive touched children: %v", fi.Mode())
	}
	mustFail(t, "SetFilePermissions", "invalid permissions", map[string]any{"path": p, "permissions": "rwx"})
	mustFail(t, "SetFileOwner", "unknown owner", map[string]any{"path": p, "owner": "no-such-user-kiln"})
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root (precondition: run as root)")
	}
	mustRun(t, "SetFileOwner", map[string]any{"path": p, "owner": "1234", "group": "4321"})
	var st = statOwner(t, p)
	if st != [2]int{1234, 4321} {
		t.Fatalf("owner %v", st)
	}
	mustRun(t, "SetFolderOwner", map[string]any{"path": filepath.Join(d, "dir"), "owner": "root"})
	if st := statOwner(t, filepath.Join(d, "dir", "in", "g")); st != [2]int{0, 0} {
		t.Fatalf("folder owner %v", st)
	}
}

func statOwner(t *testing.T, p string) [2]int {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]int{int(st.Uid), int(st.Gid)}
}

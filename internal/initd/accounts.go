package initd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/initd/userdata"
)

// passwdEntry is one /etc/passwd line.
type passwdEntry struct {
	Name     string
	UID, GID int
	Home     string
}

// readColonFile reads a colon-separated file (/etc/passwd, /etc/group)
// under root; a missing file is empty.
func readColonFile(root, name string) ([][]string, error) {
	b, err := os.ReadFile(filepath.Join(root, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out, sc.Err()
}

func lookupUser(root, name string) (*passwdEntry, error) {
	rows, err := readColonFile(root, "etc/passwd")
	if err != nil {
		return nil, err
	}
	for _, f := range rows {
		if len(f) >= 6 && f[0] == name {
			uid, _ := strconv.Atoi(f[2])
			gid, _ := strconv.Atoi(f[3])
			return &passwdEntry{Name: f[0], UID: uid, GID: gid, Home: f[5]}, nil
		}
	}
	return nil, nil
}

func lookupGroup(root, name string) (int, bool) {
	rows, _ := readColonFile(root, "etc/group")
	for _, f := range rows {
		if len(f) >= 3 && f[0] == name {
			gid, err := strconv.Atoi(f[2])
			return gid, err == nil
		}
	}
	return 0, false
}

// resolveOwner turns "user:group" (or "user") into IDs under root.
func resolveOwner(root, owner string) (uid, gid int, err error) {
	if owner == "" {
		return 0, 0, nil
	}
	un, gn, hasGroup := strings.Cut(owner, ":")
	if n, err := strconv.Atoi(un); err == nil {
		uid = n
	} else if u, _ := lookupUser(root, un); u != nil {
		uid, gid = u.UID, u.GID
	} else {
		return 0, 0, fmt.Errorf("unknown user %q", un)
	}
	if hasGroup && gn != "" {
		if n, err := strconv.Atoi(gn); err == nil {
			gid = n
		} else if g, ok := lookupGroup(root, gn); ok {
			gid = g
		} else {
			return 0, 0, fmt.Errorf("unknown group %q", gn)
		}
	}
	return uid, gid, nil
}

// installKeys merges keys into ~/.ssh/authorized_keys of u (dir 0700,
// file 0600, owned by the user), keeping keys already there.
func installKeys(root string, u *passwdEntry, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	dir := filepath.Join(root, u.Home, ".ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, "authorized_keys")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	out := old
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" || have[k] {
			continue
		}
		have[k] = true
		out = append(out, k...)
		out = append(out, '\n')
	}
	if err := writeFileAtomic(path, out, 0o600); err != nil {
		return err
	}
	_ = os.Chown(dir, u.UID, u.GID)
	return os.Chown(path, u.UID, u.GID)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".kiln-tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func appendLine(path, line string, mode os.FileMode) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	b = append(b, line...)
	b = append(b, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, b, mode)
}

// nextID returns the lowest free ID ≥ 1000 in column col of rows.
func nextID(rows [][]string, col int) int {
	used := map[int]bool{}
	for _, f := range rows {
		if len(f) > col {
			if n, err := strconv.Atoi(f[col]); err == nil {
				used[n] = true
			}
		}
	}
	id := 1000
	for used[id] {
		id++
	}
	return id
}

// ensureUser creates the user by editing /etc/passwd, /etc/group and
// /etc/shadow under root (works on busybox and Debian alike, no useradd
// needed), adds it to its groups, writes its sudo rules and installs its
// keys. An existing user only gets groups, sudo and keys.
func ensureUser(root string, u userdata.User) error {
	pe, err := lookupUser(root, u.Name)
	if err != nil {
		return err
	}
	if pe == nil {
		groups, err := readColonFile(root, "etc/group")
		if err != nil {
			return err
		}
		users, err := readColonFile(root, "etc/passwd")
		if err != nil {
			return err
		}
		gid, ok := lookupGroup(root, u.Name)
		if !ok {
			gid = nextID(groups, 2)
			if err := appendLine(filepath.Join(root, "etc/group"), fmt.Sprintf("%s:x:%d:", u.Name, gid), 0o644); err != nil {
				return err
			}
		}
		uid := nextID(users, 2)
		home := u.HomeDir
		if home == "" {
			home = "/home/" + u.Name
		}
		shell := u.Shell
		if shell == "" {
			shell = "/bin/sh"
		}
		if err := appendLine(filepath.Join(root, "etc/passwd"), fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", u.Name, uid, gid, u.Gecos, home, shell), 0o644); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(root, "etc/shadow")); err == nil {
			pw := "*"
			if u.LockPasswd {
				pw = "!"
			}
			if err := appendLine(filepath.Join(root, "etc/shadow"), u.Name+":"+pw+":20000:0:99999:7:::", 0o640); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Join(root, home), 0o755); err != nil {
			return err
		}
		_ = os.Chown(filepath.Join(root, home), uid, gid)
		pe = &passwdEntry{Name: u.Name, UID: uid, GID: gid, Home: home}
	}
	if err := addToGroups(root, u.Name, u.Groups); err != nil {
		return err
	}
	if len(u.Sudo) > 0 {
		if err := appendLine(filepath.Join(root, "etc/sudoers.d/90-cloud-init-users"), "# User rules for "+u.Name+"\n"+sudoLines(u), 0o440); err != nil {
			return err
		}
	}
	return installKeys(root, pe, u.SSHAuthorizedKeys)
}

func sudoLines(u userdata.User) string {
	lines := make([]string, len(u.Sudo))
	for i, r := range u.Sudo {
		lines[i] = u.Name + " " + r
	}
	return strings.Join(lines, "\n")
}

// addToGroups adds name to each group, creating missing groups.
func addToGroups(root, name string, groups []string) error {
	if len(groups) == 0 {
		return nil
	}
	path := filepath.Join(root, "etc/group")
	rows, err := readColonFile(root, "etc/group")
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, g := range groups {
		want[g] = true
	}
	for _, f := range rows {
		if len(f) < 4 || !want[f[0]] {
			continue
		}
		delete(want, f[0])
		members := strings.Split(f[3], ",")
		found := false
		for _, m := range members {
			if m == name {
				found = true
			}
		}
		if !found {
			if f[3] == "" {
				f[3] = name
			} else {
				f[3] += "," + name
			}
		}
	}
	for _, g := range groups {
		if want[g] {
			rows = append(rows, []string{g, "x", strconv.Itoa(nextID(rows, 2)), name})
			delete(want, g)
		}
	}
	var b strings.Builder
	for _, f := range rows {
		b.WriteString(strings.Join(f, ":"))
		b.WriteByte('\n')
	}
	return writeFileAtomic(path, []byte(b.String()), 0o644)
}

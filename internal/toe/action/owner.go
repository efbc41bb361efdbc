package action

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

var syscallEXDEV = syscall.EXDEV

// parsePerm parses permissions written as an octal string ("0755", "755")
// or a YAML integer whose decimal digits are the octal digits (755).
func parsePerm(s string) (os.FileMode, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("invalid permissions %q: use an octal string such as \"0755\"", s)
	}
	mode := os.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if v&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if v&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode, nil
}

// lookupOwner resolves user and group names or numeric ids. An empty
// group means the user's primary group; an empty owner leaves the owner
// unchanged (-1).
func lookupOwner(owner, group string) (int, int, error) {
	uid, gid := -1, -1
	if owner != "" {
		if n, err := strconv.Atoi(owner); err == nil {
			uid = n
		} else {
			u, err := user.Lookup(owner)
			if err != nil {
				return 0, 0, fmt.Errorf("unknown owner %q: %w", owner, err)
			}
			uid, _ = strconv.Atoi(u.Uid)
			if group == "" {
				gid, _ = strconv.Atoi(u.Gid)
			}
		}
	}
	if group != "" {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else {
			g, err := user.LookupGroup(group)
			if err != nil {
				return 0, 0, fmt.Errorf("unknown group %q: %w", group, err)
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return uid, gid, nil
}

func setFileOwner(ctx context.Context, c *exec.Call, in input) error {
	p, owner, err := in.require2("path", "owner")
	if err != nil {
		return err
	}
	uid, gid, err := lookupOwner(owner, in.str("group"))
	if err != nil {
		return fmt.Errorf("SetFileOwner: %w", err)
	}
	if err := os.Chown(p, uid, gid); err != nil { // follows symlinks
		return fmt.Errorf("SetFileOwner: %w", err)
	}
	return nil
}

func setFolderOwner(ctx context.Context, c *exec.Call, in input) error {
	p, owner, recursive, err := in.require2Flag("path", "owner", "recursive", true)
	if err != nil {
		return err
	}
	uid, gid, err := lookupOwner(owner, in.str("group"))
	if err != nil {
		return fmt.Errorf("SetFolderOwner: %w", err)
	}
	return walkFolder("SetFolderOwner", p, recursive, func(path string) error { return os.Lchown(path, uid, gid) })
}

func setFilePermissions(ctx context.Context, c *exec.Call, in input) error {
	p, perm, err := in.require2("path", "permissions")
	if err != nil {
		return err
	}
	mode, err := parsePerm(perm)
	if err != nil {
		return fmt.Errorf("SetFilePermissions: %w", err)
	}
	if err := os.Chmod(p, mode); err != nil {
		return fmt.Errorf("SetFilePermissions: %w", err)
	}
	return nil
}

func setFolderPermissions(ctx context.Context, c *exec.Call, in input) error {
	p, perm, recursive, err := in.require2Flag("path", "permissions", "recursive", true)
	if err != nil {
		return err
	}
	mode, err := parsePerm(perm)
	if err != nil {
		return fmt.Errorf("SetFolderPermissions: %w", err)
	}
	return walkFolder("SetFolderPermissions", p, recursive, func(path string) error {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		return os.Chmod(path, mode)
	})
}

func walkFolder(action, root string, recursive bool, fn func(string) error) error {
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %s is not a folder", action, root)
	}
	if !recursive {
		if err := fn(root); err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		return nil
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return fn(path)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

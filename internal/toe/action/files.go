package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func isFolderPath(p string) bool { return strings.HasSuffix(p, "/") || strings.HasSuffix(p, `\`) }

// expand resolves a wildcard in the last path element. Without a wildcard
// the path itself is returned (existing or not).
func expand(pattern string) ([]string, bool, error) {
	dir, base := filepath.Split(pattern)
	if strings.ContainsAny(dir, "*?[") {
		return nil, false, fmt.Errorf("wildcards are only allowed in the last path element: %s", pattern)
	}
	if !strings.ContainsAny(base, "*?[") {
		return []string{pattern}, false, nil
	}
	m, err := filepath.Glob(pattern)
	if err != nil {
		return nil, true, fmt.Errorf("bad pattern %s: %w", pattern, err)
	}
	return m, true, nil
}

func writeEncoded(path, content, enc string, flag int, perm os.FileMode) error {
	e, err := parseEncoding(enc)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(e.encode(content)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func appendFile(ctx context.Context, c *exec.Call, in input) error {
	p, err := in.require("path")
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("AppendFile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("AppendFile: %s is not a regular file", p)
	}
	return writeEncoded(p, in.str("content"), in.str("encoding"), os.O_WRONLY|os.O_APPEND, 0)
}

func createFile(ctx context.Context, c *exec.Call, in input) error {
	p, overwrite, err := in.requireFlag("path", "overwrite", true)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("CreateFile: %s is a folder", p)
		}
		if !overwrite {
			return fmt.Errorf("CreateFile: %s already exists and overwrite is false", p)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return fmt.Errorf("CreateFile: %w", err)
	}
	if err := writeEncoded(p, in.str("content"), in.str("encoding"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666); err != nil {
		return fmt.Errorf("CreateFile: %w", err)
	}
	return applyOwnerPerms(p, in)
}

func createFolder(ctx context.Context, c *exec.Call, in input) error {
	p, overwrite, err := in.requireFlag("path", "overwrite", true)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("CreateFolder: %s exists and is not a folder", p)
		}
		if !overwrite {
			return fmt.Errorf("CreateFolder: %s already exists and overwrite is false", p)
		}
	}
	if err := os.MkdirAll(p, 0o777); err != nil {
		return fmt.Errorf("CreateFolder: %w", err)
	}
	return applyOwnerPerms(p, in)
}

func applyOwnerPerms(p string, in input) error {
	if s := in.str("permissions"); s != "" {
		mode, err := parsePerm(s)
		if err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("setting permissions: %w", err)
		}
	}
	if in.str("owner") != "" || in.str("group") != "" {
		uid, gid, err := lookupOwner(in.str("owner"), in.str("group"))
		if err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("setting owner: %w", err)
		}
	}
	return nil
}

func createSymlink(ctx context.Context, c *exec.Call, in input) error {
	p, target, force, err := in.require2Flag("path", "target", "force", false)
	if err != nil {
		return err
	}
	if p, err = filepath.Abs(p); err != nil {
		return err
	}
	if _, err := os.Stat(target); err != nil {
		return fmt.Errorf("CreateSymlink: target %s does not exist", target)
	}
	if fi, err := os.Lstat(p); err == nil {
		if fi.Mode()&os.ModeSymlink == 0 {
			return fmt.Errorf("CreateSymlink: %s exists and is not a symbolic link", p)
		}
		if !force {
			return fmt.Errorf("CreateSymlink: link %s already exists (set force: true to replace it)", p)
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("CreateSymlink: %w", err)
		}
	}
	if err := os.Symlink(target, p); err != nil {
		return fmt.Errorf("CreateSymlink: %w", err)
	}
	return nil
}

func deleteFile(ctx context.Context, c *exec.Call, in input) error {
	p, err := in.require("path")
	if err != nil {
		return err
	}
	matches, wild, err := expand(p)
	if err != nil {
		return err
	}
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil {
			if wild {
				continue
			}
			return fmt.Errorf("DeleteFile: %w", err)
		}
		if fi.IsDir() {
			if wild {
				continue
			}
			return fmt.Errorf("DeleteFile: %s is a folder; use DeleteFolder", m)
		}
		if err := os.Remove(m); err != nil {
			return fmt.Errorf("DeleteFile: %w", err)
		}
	}
	return nil
}

func deleteFolder(ctx context.Context, c *exec.Call, in input) error {
	p, force, err := in.requireFlag("path", "force", false)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("DeleteFolder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("DeleteFolder: %s is not a folder", p)
	}
	if force {
		return os.RemoveAll(p)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("DeleteFolder: %s is not empty (set force: true to delete it with its content): %w", p, err)
	}
	return nil
}

func listFiles(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	var outs exec.Outputs
	for _, raw := range c.Inputs {
		in := input(raw)
		p, recursive, err := in.requireFlag("path", "recursive", false)
		if err != nil {
			return nil, err
		}
		pattern := in.str("fileNamePattern")
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			if pattern != "" {
				if ok, _ := filepath.Match(pattern, d.Name()); !ok {
					return nil
				}
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("ListFiles: %w", err)
		}
		outs = append(outs, map[string]any{"files": strings.Join(files, ",")})
	}
	return outs, nil
}

func readFile(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	var outs exec.Outputs
	for _, raw := range c.Inputs {
		in := input(raw)
		p, err := in.require("path")
		if err != nil {
			return nil, err
		}
		e, err := parseEncoding(in.str("encoding"))
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("ReadFile: %w", err)
		}
		s, err := e.decode(b)
		if err != nil {
			return nil, fmt.Errorf("ReadFile %s: %w", p, err)
		}
		if pr, _ := in.boolean("printFileContent", false); pr && !c.Step.DisableLogging {
			fmt.Fprintln(c.Console, s)
		}
		outs = append(outs, map[string]any{"content": s})
	}
	return outs, nil
}

func setFileEncoding(ctx context.Context, c *exec.Call, in input) error {
	p, err := in.require("path")
	if err != nil {
		return err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("SetFileEncoding: %w", err)
	}
	s, err := encoding{width: 1}.decode(b)
	if err != nil {
		return fmt.Errorf("SetFileEncoding: %w", err)
	}
	fi, _ := os.Stat(p)
	return writeEncoded(p, s, in.str("encoding"), os.O_WRONLY|os.O_TRUNC, fi.Mode())
}

// copyTree copies a file or a folder tree from src to dst.
func copyTree(src, dst string, overwrite bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			_ = os.Remove(target)
			return os.Symlink(l, target)
		}
		return copyRegular(path, target, overwrite, info.Mode().Perm())
	})
}

func copyRegular(src, dst string, overwrite bool, perm os.FileMode) error {
	if exists(dst) && !overwrite {
		return fmt.Errorf("%s already exists and overwrite is false", dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// transfer implements Copy/Move File/Folder.
func transfer(action string, in input, folder, move bool) error {
	src, dst, overwrite, err := in.require2Flag("source", "destination", "overwrite", true)
	if err != nil {
		return err
	}
	matches, wild, err := expand(src)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if wild && len(matches) == 0 {
		return fmt.Errorf("%s: no match for %s", action, src)
	}
	if len(matches) > 1 && !isFolderPath(dst) {
		return fmt.Errorf("%s: %s matches %d entries; the destination must be a folder ending in '/'", action, src, len(matches))
	}
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		if folder != fi.IsDir() {
			if wild {
				continue
			}
			kind := "a file"
			if folder {
				kind = "a folder"
			}
			return fmt.Errorf("%s: source %s is not %s", action, m, kind)
		}
		target := dst
		if isFolderPath(dst) {
			target = filepath.Join(dst, filepath.Base(m))
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Clean(target)), 0o777); err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		if exists(target) && !overwrite {
			return fmt.Errorf("%s: %s already exists and overwrite is false", action, target)
		}
		if move {
			if exists(target) && folder {
				if err := os.RemoveAll(target); err != nil {
					return fmt.Errorf("%s: %w", action, err)
				}
			}
			if err := os.Rename(m, target); err == nil {
				continue
			} else if !errors.Is(err, syscallEXDEV) {
				return fmt.Errorf("%s: %w", action, err)
			}
		}
		if folder {
			err = copyTree(m, target, overwrite)
		} else {
			err = copyRegular(m, target, overwrite, fi.Mode().Perm())
		}
		if err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		if move {
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("%s: %w", action, err)
			}
		}
	}
	return nil
}

func copyFile(ctx context.Context, c *exec.Call, in input) error {
	return transfer("CopyFile", in, false, false)
}
func copyFolder(ctx context.Context, c *exec.Call, in input) error {
	return transfer("CopyFolder", in, true, false)
}
func moveFile(ctx context.Context, c *exec.Call, in input) error {
	return transfer("MoveFile", in, false, true)
}
func moveFolder(ctx context.Context, c *exec.Call, in input) error {
	return transfer("MoveFolder", in, true, true)
}

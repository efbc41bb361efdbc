package userdata

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the supported subset of #cloud-config (docs/user-data.md lists
// it). Keys outside it are listed in Unsupported and ignored.
type Config struct {
	BootCmd           []Command // every boot
	RunCmd            []Command // once per instance, after the scripts
	WriteFiles        []WriteFile
	Packages          []Package
	PackageUpdate     bool
	PackageUpgrade    bool
	Hostname, FQDN    string
	PreserveHostname  bool
	SSHAuthorizedKeys []string
	Users             []User // "default" entries are dropped
	FinalMessage      string
	HasFinalMessage   bool
	Unsupported       []string // top-level keys present but not supported
}

// Command is a runcmd/bootcmd entry: a shell line (string form) or an
// argument vector (list form).
type Command struct {
	Shell string
	Argv  []string
}

// WriteFile is a write_files entry with its content decoded.
type WriteFile struct {
	Path        string
	Content     []byte
	Owner       string // user:group; default root:root
	Permissions os.FileMode
	Append      bool
	Defer       bool // written after users and packages
}

// Package is a packages entry: a name, optionally pinned to a version.
type Package struct{ Name, Version string }

// User is a users entry (the basic fields).
type User struct {
	Name              string
	Gecos             string
	HomeDir           string
	Shell             string
	Groups            []string
	Sudo              []string // sudoers rules, e.g. "ALL=(ALL) NOPASSWD:ALL"
	SSHAuthorizedKeys []string
	LockPasswd        bool
	System            bool
}

var supportedKeys = map[string]bool{
	"bootcmd": true, "runcmd": true, "write_files": true, "packages": true,
	"package_update": true, "package_upgrade": true, "apt_update": true, "apt_upgrade": true,
	"repo_update": true, "repo_upgrade": true,
	"hostname": true, "fqdn": true, "preserve_hostname": true, "prefer_fqdn_over_hostname": true,
	"ssh_authorized_keys": true, "users": true, "final_message": true,
	"merge_how": true, "merge_type": true,
}

// ParseCloudConfig parses one or more #cloud-config documents, merging
// their top-level keys in order (a later document's key replaces an
// earlier one's, cloud-init's default merge). Problems become warnings.
func ParseCloudConfig(docs ...[]byte) (*Config, []string) {
	var warns []string
	merged := map[string]any{}
	for i, d := range docs {
		var m map[string]any
		if err := yaml.Unmarshal(d, &m); err != nil {
			warns = append(warns, fmt.Sprintf("cloud-config part %d: %v", i+1, err))
			continue
		}
		for k, v := range m {
			merged[k] = v
		}
	}
	c := &Config{}
	w := func(format string, a ...any) { warns = append(warns, fmt.Sprintf(format, a...)) }
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := merged[k]
		switch k {
		case "bootcmd":
			c.BootCmd = commands(v, k, w)
		case "runcmd":
			c.RunCmd = commands(v, k, w)
		case "write_files":
			c.WriteFiles = writeFiles(v, w)
		case "packages":
			c.Packages = packages(v, w)
		case "package_update", "apt_update", "repo_update":
			c.PackageUpdate = c.PackageUpdate || boolean(v)
		case "package_upgrade", "apt_upgrade", "repo_upgrade":
			c.PackageUpgrade = c.PackageUpgrade || boolean(v)
		case "hostname":
			c.Hostname = scalar(v)
		case "fqdn":
			c.FQDN = scalar(v)
		case "preserve_hostname":
			c.PreserveHostname = boolean(v)
		case "ssh_authorized_keys":
			c.SSHAuthorizedKeys = strList(v)
		case "users":
			c.Users = users(v, w)
		case "final_message":
			c.FinalMessage, c.HasFinalMessage = scalar(v), true
		case "merge_how", "merge_type", "prefer_fqdn_over_hostname":
		default:
			if !supportedKeys[k] {
				c.Unsupported = append(c.Unsupported, k)
			}
		}
	}
	return c, warns
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(x)
	}
	return ""
}

func boolean(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(strings.ToLower(x))
		return b || strings.EqualFold(x, "yes") || strings.EqualFold(x, "on")
	}
	return false
}

func strList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s := scalar(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func commands(v any, key string, w func(string, ...any)) []Command {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []Command{{Shell: x}}
	case []any:
		var out []Command
		for i, e := range x {
			switch y := e.(type) {
			case string:
				out = append(out, Command{Shell: y})
			case []any:
				argv := make([]string, 0, len(y))
				for _, a := range y {
					argv = append(argv, scalar(a))
				}
				if len(argv) > 0 {
					out = append(out, Command{Argv: argv})
				}
			case nil:
			default:
				if s := scalar(y); s != "" {
					out = append(out, Command{Shell: s})
				} else {
					w("%s[%d]: not a string or list", key, i)
				}
			}
		}
		return out
	}
	w("%s: not a list", key)
	return nil
}

// Shellify renders commands as a /bin/sh script the way cloud-init does:
// string entries verbatim, list entries with every argument single-quoted.
func Shellify(cmds []Command) []byte {
	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n")
	for _, c := range cmds {
		if c.Argv == nil {
			b.WriteString(c.Shell)
		} else {
			for i, a := range c.Argv {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(ShellQuote(a))
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ShellQuote single-quotes s for /bin/sh.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func writeFiles(v any, w func(string, ...any)) []WriteFile {
	list, ok := v.([]any)
	if !ok {
		w("write_files: not a list")
		return nil
	}
	var out []WriteFile
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			w("write_files[%d]: not a mapping", i)
			continue
		}
		f := WriteFile{Path: scalar(m["path"]), Owner: scalar(m["owner"]), Permissions: 0o644,
			Append: boolean(m["append"]), Defer: boolean(m["defer"])}
		if f.Path == "" || !strings.HasPrefix(f.Path, "/") {
			w("write_files[%d]: path %q is not absolute", i, f.Path)
			continue
		}
		if p, ok := m["permissions"]; ok {
			perm, err := permissions(p)
			if err != nil {
				w("write_files[%d] %s: %v", i, f.Path, err)
				continue
			}
			f.Permissions = perm
		}
		content, err := decodeContent(scalar(m["content"]), scalar(m["encoding"]))
		if err != nil {
			w("write_files[%d] %s: %v", i, f.Path, err)
			continue
		}
		f.Content = content
		out = append(out, f)
	}
	return out
}

// permissions accepts strings of octal digits ('0644', "0o644", "644")
// and YAML integers, taken as the mode itself as cloud-init does (an
// unquoted 0644 is octal in YAML, i.e. 420 = 0644).
func permissions(v any) (os.FileMode, error) {
	var n uint64
	switch x := v.(type) {
	case string:
		s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(x), "0o"), "0O")
		var err error
		if n, err = strconv.ParseUint(s, 8, 32); err != nil {
			return 0, fmt.Errorf("permissions %q: not octal", x)
		}
	case int:
		if x < 0 {
			return 0, fmt.Errorf("permissions %d: negative", x)
		}
		n = uint64(x)
	default:
		return 0, fmt.Errorf("permissions %v: not a number", v)
	}
	if n > 0o7777 {
		return 0, fmt.Errorf("permissions %o: out of range", n)
	}
	return os.FileMode(n&0o777) | modeBits(n), nil
}

func modeBits(n uint64) os.FileMode {
	var m os.FileMode
	if n&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

func decodeContent(content, encoding string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "text/plain":
		return []byte(content), nil
	case "b64", "base64":
		return b64(content)
	case "gz", "gzip":
		return gunzip([]byte(content))
	case "gz+base64", "gzip+base64", "gz+b64", "gzip+b64":
		raw, err := b64(content)
		if err != nil {
			return nil, err
		}
		return gunzip(raw)
	}
	return nil, fmt.Errorf("unknown encoding %q", encoding)
}

func b64(s string) ([]byte, error) {
	clean := strings.Join(strings.Fields(s), "")
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	return b, nil
}

func packages(v any, w func(string, ...any)) []Package {
	list, ok := v.([]any)
	if !ok {
		w("packages: not a list")
		return nil
	}
	var out []Package
	for i, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, Package{Name: x})
		case []any:
			if len(x) == 0 || len(x) > 2 {
				w("packages[%d]: want [name, version]", i)
				continue
			}
			p := Package{Name: scalar(x[0])}
			if len(x) == 2 {
				p.Version = scalar(x[1])
			}
			out = append(out, p)
		default:
			w("packages[%d]: not a name", i)
		}
	}
	return out
}

func users(v any, w func(string, ...any)) []User {
	list, ok := v.([]any)
	if !ok {
		if s, ok := v.(string); ok {
			list = []any{}
			for _, n := range strings.Split(s, ",") {
				list = append(list, strings.TrimSpace(n))
			}
		} else {
			w("users: not a list")
			return nil
		}
	}
	var out []User
	for i, e := range list {
		switch x := e.(type) {
		case string:
			if x != "" && x != "default" {
				out = append(out, User{Name: x, Shell: "/bin/sh"})
			}
		case map[string]any:
			u := User{Name: scalar(x["name"]), Gecos: scalar(x["gecos"]), HomeDir: scalar(x["homedir"]),
				Shell: scalar(x["shell"]), LockPasswd: true, System: boolean(x["system"])}
			if u.Name == "" || !validUserName(u.Name) {
				w("users[%d]: invalid name %q", i, u.Name)
				continue
			}
			if lp, ok := x["lock_passwd"]; ok {
				u.LockPasswd = boolean(lp)
			}
			keys := x["ssh_authorized_keys"]
			if keys == nil {
				keys = x["ssh-authorized-keys"]
			}
			u.SSHAuthorizedKeys = strList(keys)
			switch g := x["groups"].(type) {
			case string:
				for _, n := range strings.Split(g, ",") {
					if n = strings.TrimSpace(n); n != "" {
						u.Groups = append(u.Groups, n)
					}
				}
			case []any:
				u.Groups = strList(g)
			}
			switch s := x["sudo"].(type) {
			case string:
				u.Sudo = []string{s}
			case []any:
				u.Sudo = strList(s)
			case bool:
				// sudo: false means none; true is not a rule (ignored).
			}
			out = append(out, u)
		default:
			w("users[%d]: not a name or mapping", i)
		}
	}
	return out
}

func validUserName(n string) bool {
	if len(n) > 32 || n == "" || n[0] == '-' {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

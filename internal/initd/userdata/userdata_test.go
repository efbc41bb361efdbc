package userdata

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os"
	"reflect"
	"strings"
	"testing"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

const multi = `Content-Type: multipart/mixed; boundary="==BOUNDARY=="
MIME-Version: 1.0

--==BOUNDARY==
Content-Type: text/cloud-config; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="cloud-config.txt"

#cloud-config
write_files:
  - path: /etc/motd
    content: hello
runcmd:
  - echo from runcmd

--==BOUNDARY==
Content-Type: text/x-shellscript; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="userdata.txt"

#!/bin/bash
echo from script

--==BOUNDARY==
Content-Type: text/x-shellscript; charset="us-ascii"
Content-Transfer-Encoding: base64

` + "IyEvYmluL3NoCmVjaG8gYjY0Cg==" + `
--==BOUNDARY==
Content-Type: text/cloud-boothook

#cloud-boothook
#!/bin/sh
echo boot
--==BOUNDARY==
Content-Type: text/x-include-url

#include
http://example.com/x
--==BOUNDARY==--
`

func kinds(ud *UserData) []string {
	var out []string
	for _, p := range ud.Parts {
		out = append(out, p.Kind.String()+":"+p.ContentType)
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		kinds []string
		first string // content of the first part
	}{
		{"shebang", []byte("#!/bin/bash\necho hi\n"), []string{"script:text/x-shellscript"}, "#!/bin/bash\necho hi\n"},
		{"python", []byte("#!/usr/bin/env python3\nprint(1)\n"), []string{"script:text/x-shellscript"}, ""},
		{"gzip script", gz("#!/bin/sh\necho z\n"), []string{"script:text/x-shellscript"}, "#!/bin/sh\necho z\n"},
		{"cloud-config", []byte("#cloud-config\nruncmd: [ls]\n"), []string{"cloud-config:text/cloud-config"}, ""},
		{"boothook", []byte("#cloud-boothook\n#!/bin/sh\necho b\n"), []string{"boothook:text/cloud-boothook"}, "#!/bin/sh\necho b\n"},
		{"include", []byte("#include\nhttp://x\n"), []string{"unsupported:text/x-include-url"}, ""},
		{"archive", []byte("#cloud-config-archive\n- a\n"), []string{"unsupported:text/cloud-config-archive"}, ""},
		{"plain text", []byte("hello world"), []string{"unsupported:text/x-unknown"}, ""},
		{"empty", []byte(""), nil, ""},
		{"crlf shebang", []byte("#!/bin/sh\r\necho hi\r\n"), []string{"script:text/x-shellscript"}, ""},
		{"multipart", []byte(multi), []string{"cloud-config:text/cloud-config", "script:text/x-shellscript", "script:text/x-shellscript", "boothook:text/cloud-boothook", "unsupported:text/x-include-url"}, ""},
		{"gzip multipart", gz(multi), []string{"cloud-config:text/cloud-config", "script:text/x-shellscript", "script:text/x-shellscript", "boothook:text/cloud-boothook", "unsupported:text/x-include-url"}, ""},
		{"single MIME", []byte("Content-Type: text/x-shellscript\n\n#!/bin/sh\necho one\n"), []string{"script:text/x-shellscript"}, "#!/bin/sh\necho one\n"},
		{"per-boot", []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-shellscript-per-boot\n\n#!/bin/sh\n--b--\n"), []string{"script:text/x-shellscript-per-boot"}, ""},
		{"plain part sniffed", []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n#cloud-config\nhostname: x\n--b--\n"), []string{"cloud-config:text/cloud-config"}, ""},
		{"gzip part", append(append([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n"), base64.StdEncoding.EncodeToString(gz("#!/bin/sh\necho gz\n"))...), "\n--b--\n"...), []string{"script:text/x-shellscript"}, "#!/bin/sh\necho gz\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ud := Parse(tc.in)
			if got := kinds(ud); !reflect.DeepEqual(got, tc.kinds) {
				t.Fatalf("kinds = %v, want %v (warnings %v)", got, tc.kinds, ud.Warnings)
			}
			if tc.first != "" && string(ud.Parts[0].Content) != tc.first {
				t.Fatalf("content = %q, want %q", ud.Parts[0].Content, tc.first)
			}
		})
	}
	ud := Parse([]byte(multi))
	if ud.Parts[1].Filename != "userdata.txt" || string(ud.Parts[2].Content) != "#!/bin/sh\necho b64\n" {
		t.Fatalf("parts: %+v", ud.Parts)
	}
	if ud.CloudConfig == nil || len(ud.CloudConfig.WriteFiles) != 1 || len(ud.CloudConfig.RunCmd) != 1 {
		t.Fatalf("cloud-config: %+v", ud.CloudConfig)
	}
}

func TestCloudConfig(t *testing.T) {
	doc := `#cloud-config
bootcmd:
  - echo boot
  - [sh, -c, "echo 'quoted'"]
runcmd: "single line"
write_files:
  - path: /etc/a
    content: plain
    permissions: '0600'
    owner: web:web
  - path: /etc/b
    encoding: b64
    content: aGVsbG8=
    permissions: 0755
  - path: /etc/c
    encoding: gz+b64
    content: ` + base64.StdEncoding.EncodeToString(gz("zipped")) + `
    append: true
    defer: true
  - path: relative
    content: x
  - path: /etc/bad
    encoding: rot13
    content: x
packages:
  - nginx
  - [curl, "7.88.1-10"]
package_update: true
package_upgrade: yes
hostname: web
fqdn: web.example.com
ssh_authorized_keys:
  - ssh-ed25519 AAAA one
users:
  - default
  - name: deploy
    groups: [wheel, docker]
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/bash
    ssh_authorized_keys: [ssh-ed25519 BBBB two]
  - bob
final_message: "done after $UPTIME"
apt:
  sources: {}
`
	c, warns := ParseCloudConfig([]byte(doc))
	if len(warns) != 2 {
		t.Errorf("warnings = %v, want 2 (relative path, bad encoding)", warns)
	}
	want := &Config{
		BootCmd: []Command{{Shell: "echo boot"}, {Argv: []string{"sh", "-c", "echo 'quoted'"}}},
		RunCmd:  []Command{{Shell: "single line"}},
		WriteFiles: []WriteFile{
			{Path: "/etc/a", Content: []byte("plain"), Owner: "web:web", Permissions: 0o600},
			{Path: "/etc/b", Content: []byte("hello"), Permissions: 0o755},
			{Path: "/etc/c", Content: []byte("zipped"), Permissions: 0o644, Append: true, Defer: true},
		},
		Packages:          []Package{{Name: "nginx"}, {Name: "curl", Version: "7.88.1-10"}},
		PackageUpdate:     true,
		PackageUpgrade:    true,
		Hostname:          "web",
		FQDN:              "web.example.com",
		SSHAuthorizedKeys: []string{"ssh-ed25519 AAAA one"},
		Users: []User{
			{Name: "deploy", Shell: "/bin/bash", Groups: []string{"wheel", "docker"}, Sudo: []string{"ALL=(ALL) NOPASSWD:ALL"}, SSHAuthorizedKeys: []string{"ssh-ed25519 BBBB two"}, LockPasswd: true},
			{Name: "bob", Shell: "/bin/sh"},
		},
		FinalMessage: "done after $UPTIME", HasFinalMessage: true,
		Unsupported: []string{"apt"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	sh := string(Shellify(c.BootCmd))
	if sh != "#!/bin/sh\necho boot\n'sh' '-c' 'echo '\\''quoted'\\'''\n" {
		t.Fatalf("shellify = %q", sh)
	}
}

func TestCloudConfigMerge(t *testing.T) {
	c, _ := ParseCloudConfig([]byte("#cloud-config\nruncmd: [a]\nhostname: one\n"), []byte("#cloud-config\nruncmd: [b]\n"))
	if len(c.RunCmd) != 1 || c.RunCmd[0].Shell != "b" || c.Hostname != "one" {
		t.Fatalf("merge: %+v", c)
	}
	_, warns := ParseCloudConfig([]byte("#cloud-config\n: : bad: [\n"))
	if len(warns) == 0 {
		t.Fatal("bad YAML: no warning")
	}
}

func TestPermissions(t *testing.T) {
	for in, want := range map[any]os.FileMode{"0644": 0o644, "0o755": 0o755, "600": 0o600, 420: 0o644, "4755": 0o755 | os.ModeSetuid} {
		got, err := permissions(in)
		if err != nil || got != want {
			t.Errorf("permissions(%v) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []any{"abc", "99999", -1, 1.5} {
		if _, err := permissions(in); err == nil {
			t.Errorf("permissions(%v): no error", in)
		}
	}
}

func TestGzipBomb(t *testing.T) {
	big := strings.Repeat("a", maxDecompressed+10)
	ud := Parse(gz("#!/bin/sh\n" + big))
	if len(ud.Parts) != 1 || ud.Parts[0].Kind != Unsupported {
		t.Fatalf("bomb: %v", kinds(ud))
	}
}

func FuzzUserData(f *testing.F) {
	f.Add([]byte(multi))
	f.Add(gz(multi))
	f.Add([]byte("#!/bin/sh\necho\n"))
	f.Add([]byte("#cloud-config\nwrite_files: [{path: /a, content: b, encoding: b64}]\nusers: [{name: x, sudo: [a]}]\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\n#!/bin/sh\n--c--\n--b--\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ud := Parse(data)
		for _, p := range ud.Parts {
			if p.Kind == Unsupported && p.Reason == "" {
				t.Fatalf("unsupported part without reason: %+v", p)
			}
			if p.Kind == Script && p.ContentType == "" {
				t.Fatal("script without content type")
			}
		}
		if len(ud.Parts) > maxParts+1 {
			t.Fatalf("%d parts", len(ud.Parts))
		}
	})
}

func FuzzCloudConfig(f *testing.F) {
	f.Add([]byte("#cloud-config\nruncmd: [a, [b, c]]\nwrite_files: [{path: /x, permissions: 0644}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _ := ParseCloudConfig(data)
		for _, w := range c.WriteFiles {
			if !strings.HasPrefix(w.Path, "/") {
				t.Fatalf("relative path %q", w.Path)
			}
		}
		_ = Shellify(c.RunCmd)
	})
}

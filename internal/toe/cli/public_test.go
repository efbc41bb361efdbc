package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

const publicDir = "../testdata/public"

func publicDocs(t *testing.T) []string {
	t.Helper()
	var docs []string
	err := filepath.Walk(publicDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			docs = append(docs, p)
		}
		return err
	})
	if err != nil || len(docs) < 20 {
		t.Fatalf("public documents: %v (%d found)", err, len(docs))
	}
	return docs
}

// TestPublicDocumentsValidate validates every public component document:
// Linux documents on linux; Windows documents on windows, and they are
// rejected on linux with the service's message.
func TestPublicDocumentsValidate(t *testing.T) {
	for _, doc := range publicDocs(t) {
		windows := strings.Contains(strings.ToLower(doc), "windows")
		osName := "linux"
		if windows {
			osName = "windows"
		}
		r := runCLI(t, &Env{}, t.TempDir(), "validate", "--os", osName, "-d", doc)
		if r.code != 0 {
			t.Errorf("%s does not validate for %s:\n%s%s", doc, osName, r.stdout, r.stderr)
		}
		if windows {
			r = runCLI(t, &Env{}, t.TempDir(), "validate", "-d", doc)
			if r.code != 1 || !strings.Contains(r.stdout, "Unsupported action ExecutePowerShell for os platform linux.") {
				t.Errorf("%s must be rejected on linux: %s", doc, r.stdout)
			}
		}
	}
}

// chrootRoot builds a busybox root with a static kiln toe inside.
func chrootRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("precondition: chroot tests need root (CI runs as root)")
	}
	busybox, err := osexec.LookPath("busybox")
	if err != nil {
		t.Skip("precondition: busybox not installed (Debian package busybox-static, see scripts/apt-packages.txt)")
	}
	if out, err := osexec.Command("ldd", busybox).CombinedOutput(); err == nil && !strings.Contains(string(out), "not a dynamic") && !strings.Contains(string(out), "statically") {
		t.Skipf("precondition: %s is dynamically linked; install busybox-static", busybox)
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "etc", "tmp", "var/tmp", "root", "dev", "docs", "logs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	if err := syscall.Mknod(filepath.Join(root, "dev/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatalf("mknod /dev/null: %v", err)
	}
	os.Chmod(filepath.Join(root, "dev/null"), 0o666)
	copyFile(t, busybox, filepath.Join(root, "bin/busybox"), 0o755)
	if out, err := osexec.Command("chroot", root, "/bin/busybox", "--install", "-s").CombinedOutput(); err != nil {
		t.Fatalf("busybox --install: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=busybox\nVERSION_ID=1.35\n"), 0o644)
	build := osexec.Command("go", "build", "-o", filepath.Join(root, "usr/local/bin/kiln-toe"), "./internal/toe/testdata/toemain")
	build.Dir = "../../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building static kiln toe: %v\n%s", err, out)
	}
	return root
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// TestPublicLinuxDocumentsRunInChroot runs the public Linux documents
// whose commands work offline in a busybox root (see
// testdata/public/README.md for the per-document decisions).
func TestPublicLinuxDocumentsRunInChroot(t *testing.T) {
	root := chrootRoot(t)
	payload := []byte("artifact bytes\n")
	sum := sha256.Sum256(payload)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
	defer web.Close()

	cases := []struct {
		doc    string
		extra  []string
		codes  []int // exit code per invocation (reboots need several)
		status string
		check  func(t *testing.T)
	}{
		{doc: "aws-samples_amazon-ec2-image-builder-samples/Terraform/cross-account-amis/source-account/components/build-info.yml",
			codes: []int{0}, status: exec.StatusSuccess, check: func(t *testing.T) {
				if b, _ := os.ReadFile(filepath.Join(root, "etc/cross-account-sample-release")); !strings.Contains(string(b), "Built by the EC2 Image Builder") {
					t.Errorf("marker file: %q", b)
				}
			}},
		{doc: "aws-samples_amazon-ec2-image-builder-samples/CDK/Linux/hello-world/example-component/hello-world-component.yaml",
			codes: []int{0}, status: exec.StatusSuccess, check: func(t *testing.T) {
				if b, _ := os.ReadFile(filepath.Join(root, "root/helloworld.txt")); string(b) != "hello world\n" {
					t.Errorf("helloworld.txt: %q", b)
				}
			}},
		{doc: "aws-samples_amazon-ec2-image-builder-samples/awstoe/cookbook/tolerated-failure.yml",
			codes: []int{0}, status: exec.StatusSuccessWithIgnoredFailure},
		// No dnf or apt-get: both installs are skipped; busybox's unzip
		// has no -v, so the validate phase fails as it would on any
		// image without Info-ZIP unzip.
		{doc: "aws-samples_amazon-ec2-image-builder-samples/awstoe/cookbook/conditional-install.yml",
			codes: []int{1}, status: exec.StatusFailed, check: func(t *testing.T) {
				runs, _ := filepath.Glob(filepath.Join(root, "logs/conditional-install/TOE_*"))
				d := detailed(t, runs[0])
				b := d.Documents[0].Phases[0]
				if b.Status != exec.StatusSuccess || b.Steps[0].Status != exec.StatusSkipped || b.Steps[1].Status != exec.StatusSkipped {
					t.Errorf("build phase: %+v", b)
				}
			}},
		{doc: "aws-samples_amazon-ec2-image-builder-samples/awstoe/cookbook/reboot-and-resume.yml",
			codes: []int{exec.RebootExitCode, 0}, status: exec.StatusSuccess, check: func(t *testing.T) {
				if _, err := os.Stat(filepath.Join(root, "var/tmp/reboot-indicator")); err == nil {
					t.Error("reboot indicator left behind")
				}
			}},
		{doc: "S-Waleed_ec2-image-builder/files/reboot-linux.yml",
			codes: []int{exec.RebootExitCode, 0}, status: exec.StatusSuccess},
		{doc: "S-Waleed_ec2-image-builder/files/python-3-linux.yml", extra: []string{"--phases", "build"},
			codes: []int{0}, status: exec.StatusSuccess},
		{doc: "aws-samples_amazon-ec2-image-builder-samples/awstoe/cookbook/web-download-verified.yml",
			extra: []string{"--parameters", "source=" + web.URL + "/artifact.bin,sha256=" + hex.EncodeToString(sum[:])},
			codes: []int{0}, status: exec.StatusSuccess, check: func(t *testing.T) {
				if b, _ := os.ReadFile(filepath.Join(root, "tmp/downloaded-artifact")); string(b) != string(payload) {
					t.Errorf("downloaded: %q", b)
				}
			}},
		{doc: "S-Waleed_ec2-image-builder/dev/files/update-linux.yml",
			codes: []int{1}, status: exec.StatusFailed},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.doc), func(t *testing.T) {
			copyFile(t, filepath.Join(publicDir, c.doc), filepath.Join(root, "docs", filepath.Base(c.doc)), 0o644)
			logs := "/logs/" + strings.TrimSuffix(filepath.Base(c.doc), filepath.Ext(c.doc))
			args := append([]string{root, "/usr/local/bin/kiln-toe", "run", "-d", "/docs/" + filepath.Base(c.doc),
				"-l", logs, "--reboot-mode", "exit"}, c.extra...)
			for i, want := range c.codes {
				cmd := osexec.Command("chroot", args...)
				cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root"}
				out, _ := cmd.CombinedOutput()
				if code := cmd.ProcessState.ExitCode(); code != want {
					t.Fatalf("invocation %d: exit %d, want %d\n%s", i+1, code, want, out)
				}
			}
			runs, _ := filepath.Glob(filepath.Join(root, logs, "TOE_*"))
			if len(runs) != 1 {
				t.Fatalf("run folders: %v", runs)
			}
			if d := detailed(t, runs[0]); d.Status != c.status {
				t.Fatalf("status %s want %s (%s)", d.Status, c.status, d.FailureMessage)
			}
			if c.check != nil {
				c.check(t)
			}
		})
	}
}

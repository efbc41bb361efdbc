package initd

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/imds"
)

type source struct {
	mu   sync.Mutex
	inst *imds.Instance
}

func (s *source) InstanceByIP(_ context.Context, ip netip.Addr) (*imds.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ip.String() != "127.0.0.1" || s.inst == nil {
		return nil, imds.ErrUnknownCaller
	}
	c := *s.inst
	return &c, nil
}

func (s *source) set(f func(*imds.Instance)) {
	s.mu.Lock()
	f(s.inst)
	s.mu.Unlock()
}

// imdsServer serves the real metadata handler over loopback.
func imdsServer(t *testing.T, userData string) (*httptest.Server, *source) {
	src := &source{inst: &imds.Instance{
		ID: "i-0aaaaaaaaaaaaaaa1", ImageID: "ami-1", InstanceType: "t3.micro", AccountID: "123456789012",
		Region: "us-east-1", AvailabilityZone: "us-east-1a", Hostname: "ip-172-31-5-9.ec2.internal",
		LocalIPv4: "172.31.5.9", MAC: "02:00:00:00:00:01",
		PublicKeys: []imds.PublicKey{{Name: "k", OpenSSH: "ssh-ed25519 AAAAkey kiln-test"}},
		UserData:   []byte(userData),
		Options:    imds.Options{HTTPEndpoint: true, TokensRequired: true, HopLimit: 1},
	}}
	ts := httptest.NewUnstartedServer(imds.NewHandler(src, clock.Real{}, imds.HandlerOptions{}))
	ts.Config.ConnContext = imds.ConnContext
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, src
}

func newRoot(t *testing.T) string {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nadmin:x:1000:\nwheel:x:10:\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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

func bootOnce(t *testing.T, root, url string) (string, []string) {
	t.Helper()
	var console bytes.Buffer
	var mu sync.Mutex
	var hostnames []string
	code := Run(context.Background(), Config{Root: root, IMDS: url, Console: &syncBuf{b: &console}, IMDSWait: 5 * time.Second,
		SetHostname: func(h string) error { mu.Lock(); hostnames = append(hostnames, h); mu.Unlock(); return nil }})
	if code != 0 {
		t.Fatalf("Run = %d\n%s", code, console.String())
	}
	return console.String(), hostnames
}

type syncBuf struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestBootMultipart(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (chown)")
	}
	root := newRoot(t)
	marks := t.TempDir()
	ud := `Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/cloud-config; charset="us-ascii"

#cloud-config
bootcmd:
  - echo bootcmd-ran >> ` + marks + `/bootcmd
write_files:
  - path: /etc/app/config.ini
    content: |
      key=value
    permissions: '0640'
    owner: admin:wheel
  - path: /etc/app/blob
    encoding: b64
    content: aGVsbG8=
runcmd:
  - echo runcmd-ran >> ` + marks + `/runcmd
  - [sh, -c, "echo \"list form $INSTANCE_ID\""]
users:
  - default
  - name: deploy
    groups: [wheel]
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys: [ssh-ed25519 AAAAdeploy]
final_message: "all done in $UPTIME s"
--XX
Content-Type: text/x-shellscript

#!/bin/sh
echo "script stdout"
echo "script stderr" >&2
echo once >> ` + marks + `/script
cat /proc/$$/cmdline | tr '\0' ' ' > ` + marks + `/cmdline
--XX
Content-Type: text/x-shellscript-per-boot

#!/bin/sh
echo per-boot >> ` + marks + `/perboot
--XX--
`
	ts, src := imdsServer(t, ud)
	must(t, os.WriteFile(filepath.Join(root, "etc/rc.local"), []byte("#!/bin/sh\necho rc-local-ran >> "+marks+"/rclocal\n"), 0o755))

	console, hostnames := bootOnce(t, root, ts.URL)
	log := read(t, filepath.Join(root, "var/log/cloud-init-output.log"))
	for _, want := range []string{"script stdout", "script stderr", "list form i-0aaaaaaaaaaaaaaa1", "all done in", "Cloud-init v. kiln running 'modules:final'"} {
		if !strings.Contains(log, want) {
			t.Errorf("output log lacks %q:\n%s", want, log)
		}
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	if len(hostnames) != 1 || hostnames[0] != "ip-172-31-5-9" {
		t.Errorf("hostnames = %v", hostnames)
	}
	if got := read(t, filepath.Join(root, "etc/hostname")); got != "ip-172-31-5-9\n" {
		t.Errorf("/etc/hostname = %q", got)
	}
	if got := read(t, filepath.Join(root, "etc/hosts")); !strings.Contains(got, "127.0.1.1 ip-172-31-5-9.ec2.internal ip-172-31-5-9") {
		t.Errorf("/etc/hosts = %q", got)
	}
	// Script executed as a file, not through sh -c / sh script.
	if got := read(t, filepath.Join(marks, "cmdline")); !strings.Contains(got, "/var/lib/cloud/instances/i-0aaaaaaaaaaaaaaa1/scripts/part-002") || strings.HasPrefix(got, "sh -c") {
		t.Errorf("script cmdline = %q", got)
	}
	// write_files.
	cfg := filepath.Join(root, "etc/app/config.ini")
	if got := read(t, cfg); got != "key=value\n" {
		t.Errorf("config.ini = %q", got)
	}
	st, _ := os.Stat(cfg)
	if st.Mode().Perm() != 0o640 || st.Sys().(*syscall.Stat_t).Uid != 1000 || st.Sys().(*syscall.Stat_t).Gid != 10 {
		t.Errorf("config.ini mode %v owner %d:%d", st.Mode(), st.Sys().(*syscall.Stat_t).Uid, st.Sys().(*syscall.Stat_t).Gid)
	}
	if got := read(t, filepath.Join(root, "etc/app/blob")); got != "hello" {
		t.Errorf("blob = %q", got)
	}
	// Keys: root and admin, 0600 in a 0700 dir.
	for _, home := range []string{"root", "home/admin"} {
		p := filepath.Join(root, home, ".ssh/authorized_keys")
		if got := read(t, p); got != "ssh-ed25519 AAAAkey kiln-test\n" {
			t.Errorf("%s = %q", p, got)
		}
		st, _ := os.Stat(p)
		dst, _ := os.Stat(filepath.Dir(p))
		if st.Mode().Perm() != 0o600 || dst.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v dir %v", p, st.Mode(), dst.Mode())
		}
	}
	// users.
	if got := read(t, filepath.Join(root, "etc/passwd")); !strings.Contains(got, "deploy:x:1001:1001::/home/deploy:/bin/sh") {
		t.Errorf("passwd = %q", got)
	}
	if got := read(t, filepath.Join(root, "etc/group")); !strings.Contains(got, "wheel:x:10:deploy") {
		t.Errorf("group = %q", got)
	}
	if got := read(t, filepath.Join(root, "etc/sudoers.d/90-cloud-init-users")); !strings.Contains(got, "deploy ALL=(ALL) NOPASSWD:ALL") {
		t.Errorf("sudoers = %q", got)
	}
	if got := read(t, filepath.Join(root, "home/deploy/.ssh/authorized_keys")); got != "ssh-ed25519 AAAAdeploy\n" {
		t.Errorf("deploy keys = %q", got)
	}

	// Second boot, same instance: user data does not run again; bootcmd,
	// per-boot parts and rc.local do. rc.local did not exist... it did: it
	// runs on both boots.
	console2, _ := bootOnce(t, root, ts.URL)
	if !strings.Contains(console2, "user data already ran for i-0aaaaaaaaaaaaaaa1") {
		t.Errorf("second boot console:\n%s", console2)
	}
	counts := map[string]int{"script": 1, "runcmd": 1, "bootcmd": 2, "perboot": 2, "rclocal": 2}
	check := func(when string) {
		for f, n := range counts {
			got := strings.Count(read(t, filepath.Join(marks, f)), "\n")
			if got != n {
				t.Errorf("%s: %s ran %d times, want %d", when, f, got, n)
			}
		}
	}
	check("second boot")

	// An image made from this instance boots as a new instance: its user
	// data runs again.
	src.set(func(i *imds.Instance) { i.ID = "i-0bbbbbbbbbbbbbbb2" })
	bootOnce(t, root, ts.URL)
	counts = map[string]int{"script": 2, "runcmd": 2, "bootcmd": 3, "perboot": 3, "rclocal": 3}
	check("new instance")
	if got := read(t, filepath.Join(root, "var/lib/cloud/data/previous-instance-id")); got != "i-0aaaaaaaaaaaaaaa1\n" {
		t.Errorf("previous-instance-id = %q", got)
	}
	if l, _ := os.Readlink(filepath.Join(root, "var/lib/cloud/instance")); l != "/var/lib/cloud/instances/i-0bbbbbbbbbbbbbbb2" {
		t.Errorf("instance link = %q", l)
	}
	// Keys were merged, not duplicated.
	if got := read(t, filepath.Join(root, "root/.ssh/authorized_keys")); strings.Count(got, "AAAAkey") != 1 {
		t.Errorf("keys duplicated: %q", got)
	}
	// The output log accumulates across boots.
	if got := read(t, filepath.Join(root, "var/log/cloud-init-output.log")); strings.Count(got, "running 'init'") != 3 {
		t.Errorf("output log boots = %d", strings.Count(got, "running 'init'"))
	}
}

func TestBootGzipScriptAndV1(t *testing.T) {
	root := newRoot(t)
	marks := t.TempDir()
	var gz bytes.Buffer
	zw := gzipWriter(&gz)
	zw.Write([]byte("#!/bin/sh\necho gz-ran > " + marks + "/gz\n"))
	zw.Close()
	ts, src := imdsServer(t, gz.String())
	src.set(func(i *imds.Instance) { i.Options.TokensRequired = false })
	bootOnce(t, root, ts.URL)
	if got := read(t, filepath.Join(marks, "gz")); got != "gz-ran\n" {
		t.Fatalf("gz script: %q", got)
	}
}

func TestBootNoShebangFallsBackToSh(t *testing.T) {
	root := newRoot(t)
	marks := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	must(t, os.Symlink("/bin/sh", filepath.Join(root, "bin/sh")))
	ts, _ := imdsServer(t, "#cloud-boothook\necho hook-ran > "+marks+"/hook\n")
	bootOnce(t, root, ts.URL)
	if got := read(t, filepath.Join(marks, "hook")); got != "hook-ran\n" {
		t.Fatalf("boothook: %q", got)
	}
}

func TestBootWithoutIMDS(t *testing.T) {
	root := newRoot(t)
	marks := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "etc/rc.local"), []byte("#!/bin/sh\necho rc > "+marks+"/rc\n"), 0o755))
	var console bytes.Buffer
	code := Run(context.Background(), Config{Root: root, IMDS: "http://127.0.0.1:1", Console: &syncBuf{b: &console}, IMDSWait: 300 * time.Millisecond})
	if code != 0 {
		t.Fatalf("Run = %d", code)
	}
	if !strings.Contains(console.String(), "booting without metadata") {
		t.Errorf("console:\n%s", console.String())
	}
	if got := read(t, filepath.Join(marks, "rc")); got != "rc\n" {
		t.Errorf("rc.local did not run without metadata")
	}
}

func TestBootEndpointDisabled(t *testing.T) {
	root := newRoot(t)
	ts, src := imdsServer(t, "#!/bin/sh\nexit 0\n")
	src.set(func(i *imds.Instance) { i.Options.HTTPEndpoint = false })
	start := time.Now()
	console, _ := bootOnce(t, root, ts.URL)
	if time.Since(start) > 3*time.Second || !strings.Contains(console, "HttpEndpoint disabled") {
		t.Fatalf("endpoint disabled: took %v\n%s", time.Since(start), console)
	}
}

// TestReaper: orphans re-parented to this process (a child subreaper, as
// PID 1 is for its namespace) are all collected; a started child's status
// reaches its waiter.
func TestReaper(t *testing.T) {
	if err := prctlSubreaper(); err != nil {
		t.Skip("PR_SET_CHILD_SUBREAPER:", err)
	}
	r := NewReaper()
	// sh forks three sleepers and exits at once: they become our orphans.
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.2 & sleep 0.3 & sleep 0.1 & exit 7")
	ch, err := r.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var status *syscall.WaitStatus
	for time.Now().Before(deadline) {
		r.Reap()
		select {
		case ws := <-ch:
			status = &ws
		default:
		}
		if status != nil && len(children(t)) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status == nil || exitCode(*status) != 7 {
		t.Fatalf("status = %v", status)
	}
	if c := children(t); len(c) != 0 {
		t.Fatalf("children left: %v", c)
	}
	if _, more := r.Reap(); more {
		t.Fatal("Reap reports children after all were collected")
	}
}

// children lists this process's children (zombies included) from /proc.
func children(t *testing.T) []string {
	me := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == itoa(me) {
			out = append(out, e.Name()+" "+f[0])
		}
	}
	return out
}

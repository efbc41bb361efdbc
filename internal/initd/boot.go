package initd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/initd/userdata"
)

// Paths inside the instance (cloud-init's layout).
const (
	cloudDir  = "/var/lib/cloud"
	outputLog = "/var/log/cloud-init-output.log"
	rcLocal   = "/etc/rc.local"
	stdPath   = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// defaultUsers get the key pair's key besides root, when they exist.
var defaultUsers = []string{"ec2-user", "admin", "ubuntu", "debian"}

type boot struct {
	cfg     Config
	run     runFunc
	out     *output
	start   time.Time
	id      string
	instDir string // inside the instance: /var/lib/cloud/instances/<id>
}

func (b *boot) path(p string) string { return rootPath(b.cfg.Root, p) }

func (b *boot) say(format string, a ...any) { b.out.printf(format, a...) }

func (b *boot) uptime() float64 { return b.cfg.Clock.Now().Sub(b.start).Seconds() }

func (b *boot) stamp() string {
	return b.cfg.Clock.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 +0000")
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// sequence is one boot.
func (b *boot) sequence(ctx context.Context) error {
	b.start = b.cfg.Clock.Now()
	out, err := openOutput(b.cfg.Root, b.cfg.Console)
	if err != nil {
		return fmt.Errorf("opening %s: %w", outputLog, err)
	}
	b.out = out
	defer out.close(time.Second)
	b.say("Cloud-init v. %s running 'init' at %s. Up %.2f seconds.", Version, b.stamp(), b.uptime())

	c := &imdsClient{base: b.cfg.IMDS, hc: b.cfg.HTTPClient}
	md, err := fetchMetadata(ctx, c, b.cfg.IMDSWait, func(f string, a ...any) { b.say("kiln-init: "+f, a...) })
	if err != nil {
		b.say("kiln-init: %v; booting without metadata (no user data, no keys)", err)
		md = &metadata{}
	} else if c.v1 {
		b.say("kiln-init: metadata service answered IMDSv1 only")
	}
	if md.InstanceID != "" && !safeID.MatchString(md.InstanceID) {
		b.say("kiln-init: ignoring unusable instance ID %q", md.InstanceID)
		md.InstanceID = ""
	}
	b.id = md.InstanceID

	var ud *userdata.UserData
	if len(md.UserData) > 0 {
		ud = userdata.Parse(md.UserData)
		for _, w := range ud.Warnings {
			b.say("kiln-init: user data: %s", w)
		}
		for _, p := range ud.Parts {
			if p.Kind == userdata.Unsupported {
				b.say("kiln-init: user data part %q (%s) not run: %s", p.Filename, p.ContentType, p.Reason)
			}
		}
		if cc := ud.CloudConfig; cc != nil && len(cc.Unsupported) > 0 {
			b.say("kiln-init: cloud-config keys not supported (ignored): %s", strings.Join(cc.Unsupported, ", "))
		}
	} else {
		ud = &userdata.UserData{}
	}
	cc := ud.CloudConfig
	if cc == nil {
		cc = &userdata.Config{}
	}

	b.hostname(md, cc)
	b.keys(md.PublicKeys, cc.SSHAuthorizedKeys)

	first := false
	if b.id != "" {
		b.instDir = cloudDir + "/instances/" + b.id
		var err error
		if first, err = b.instanceDirs(md.UserData); err != nil {
			b.say("kiln-init: %v", err)
		}
	}
	env := b.env()

	// Every boot: boothooks, bootcmd, per-boot scripts, rc.local.
	for i, p := range ud.Parts {
		if p.Kind == userdata.Boothook {
			b.script(ctx, fmt.Sprintf("boothook-%03d", i), p.Content, env)
		}
	}
	if len(cc.BootCmd) > 0 {
		b.script(ctx, "bootcmd", userdata.Shellify(cc.BootCmd), env)
	}
	b.runDir(ctx, cloudDir+"/scripts/per-boot", env)
	b.rcLocal(ctx, env)

	if b.id != "" && first {
		b.say("Cloud-init v. %s running 'modules:config' at %s. Up %.2f seconds.", Version, b.stamp(), b.uptime())
		b.writeFiles(cc.WriteFiles, false)
		for _, u := range cc.Users {
			if err := ensureUser(b.cfg.Root, u); err != nil {
				b.say("kiln-init: user %s: %v", u.Name, err)
			}
		}
		b.packages(ctx, cc, env)
		b.writeFiles(cc.WriteFiles, true)
		b.say("Cloud-init v. %s running 'modules:final' at %s. Up %.2f seconds.", Version, b.stamp(), b.uptime())
		b.runDir(ctx, cloudDir+"/scripts/per-instance", env)
		b.parts(ctx, ud.Parts, env)
		if len(cc.RunCmd) > 0 {
			b.script(ctx, "runcmd", userdata.Shellify(cc.RunCmd), env)
		}
	} else if b.id != "" {
		b.say("kiln-init: user data already ran for %s; not running it again", b.id)
	}
	// per-boot user-data parts run on every boot.
	for i, p := range ud.Parts {
		if p.Kind == userdata.Script && p.Frequency == userdata.PerBoot {
			b.script(ctx, partName(p, i), p.Content, env)
		}
	}
	b.finalMessage(cc)
	return nil
}

func (b *boot) env() []string {
	env := []string{"PATH=" + stdPath, "HOME=/root", "LANG=C.UTF-8"}
	if b.cfg.PID1 {
		env = append(env, os.Environ()...)
	}
	env = append(env, b.cfg.Env...)
	if b.id != "" {
		env = append(env, "INSTANCE_ID="+b.id)
	}
	return env
}

// instanceDirs creates the instance's directories and reports whether
// this is the instance's first boot (no user-data semaphore yet).
func (b *boot) instanceDirs(raw []byte) (bool, error) {
	for _, d := range []string{b.instDir + "/sem", b.instDir + "/scripts", cloudDir + "/data", cloudDir + "/sem", cloudDir + "/scripts/per-boot", cloudDir + "/scripts/per-instance", cloudDir + "/scripts/per-once"} {
		if err := os.MkdirAll(b.path(d), 0o755); err != nil {
			return false, err
		}
	}
	link := b.path(cloudDir + "/instance")
	if cur, err := os.Readlink(link); err != nil || cur != b.instDir {
		_ = os.Remove(link)
		_ = os.Symlink(b.instDir, link)
	}
	idFile := b.path(cloudDir + "/data/instance-id")
	if prev, err := os.ReadFile(idFile); err == nil && strings.TrimSpace(string(prev)) != b.id {
		_ = os.WriteFile(b.path(cloudDir+"/data/previous-instance-id"), prev, 0o644)
	}
	_ = os.WriteFile(idFile, []byte(b.id+"\n"), 0o644)
	if raw != nil {
		_ = os.WriteFile(b.path(b.instDir+"/user-data.txt"), raw, 0o600)
	}
	sem := b.path(b.instDir + "/sem/user-data")
	if _, err := os.Stat(sem); err == nil {
		return false, nil
	}
	// The semaphore is written before user data runs (as cloud-init does),
	// so user data that reboots the instance does not loop.
	if err := os.WriteFile(sem, []byte(b.stamp()+"\n"), 0o644); err != nil {
		return true, fmt.Errorf("writing %s: %w", sem, err)
	}
	return true, nil
}

func (b *boot) hostname(md *metadata, cc *userdata.Config) {
	if cc.PreserveHostname {
		return
	}
	fqdn := md.LocalHostname
	short, _, _ := strings.Cut(fqdn, ".")
	if cc.FQDN != "" {
		fqdn = cc.FQDN
		short, _, _ = strings.Cut(fqdn, ".")
	}
	if cc.Hostname != "" {
		short, _, _ = strings.Cut(cc.Hostname, ".")
		if cc.FQDN == "" && strings.Contains(cc.Hostname, ".") {
			fqdn = cc.Hostname
		}
	}
	if short == "" {
		return
	}
	if err := b.cfg.SetHostname(short); err != nil {
		b.say("kiln-init: sethostname %s: %v", short, err)
	}
	if err := os.MkdirAll(b.path("/etc"), 0o755); err == nil {
		_ = os.WriteFile(b.path("/etc/hostname"), []byte(short+"\n"), 0o644)
	}
	hosts := b.path("/etc/hosts")
	if cur, err := os.ReadFile(hosts); err == nil && !hasHost(string(cur), short) {
		line := "127.0.1.1 " + short
		if fqdn != "" && fqdn != short {
			line = "127.0.1.1 " + fqdn + " " + short
		}
		_ = appendLine(hosts, line, 0o644)
	}
}

func hasHost(hosts, name string) bool {
	for _, l := range strings.Split(hosts, "\n") {
		l, _, _ = strings.Cut(l, "#")
		f := strings.Fields(l)
		for _, n := range f[min(1, len(f)):] {
			if n == name {
				return true
			}
		}
	}
	return false
}

// keys installs the key pair's keys for root and the image's default
// user, and cloud-config ssh_authorized_keys likewise.
func (b *boot) keys(imdsKeys, ccKeys []string) {
	keys := append(append([]string{}, imdsKeys...), ccKeys...)
	if len(keys) == 0 {
		return
	}
	root, _ := lookupUser(b.cfg.Root, "root")
	if root == nil {
		root = &passwdEntry{Name: "root", Home: "/root"}
	}
	targets := []*passwdEntry{root}
	for _, n := range defaultUsers {
		if u, _ := lookupUser(b.cfg.Root, n); u != nil {
			targets = append(targets, u)
		}
	}
	for _, u := range targets {
		if err := installKeys(b.cfg.Root, u, keys); err != nil {
			b.say("kiln-init: installing keys for %s: %v", u.Name, err)
		}
	}
}

func (b *boot) writeFiles(files []userdata.WriteFile, deferred bool) {
	for _, f := range files {
		if f.Defer != deferred {
			continue
		}
		if err := b.writeFile(f); err != nil {
			b.say("kiln-init: write_files %s: %v", f.Path, err)
		}
	}
}

func (b *boot) writeFile(f userdata.WriteFile) error {
	p := b.path(f.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if f.Append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	fh, err := os.OpenFile(p, flags, f.Permissions.Perm())
	if err != nil {
		return err
	}
	if _, err := fh.Write(f.Content); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := os.Chmod(p, f.Permissions); err != nil {
		return err
	}
	uid, gid, err := resolveOwner(b.cfg.Root, f.Owner)
	if err != nil {
		return err
	}
	return os.Lchown(p, uid, gid)
}

// packageManager finds the image's package manager and its commands.
func (b *boot) packageManager() (name string, update, upgrade, install []string) {
	for _, c := range []struct {
		bin                       string
		update, upgrade, installs []string
	}{
		{"/usr/bin/apt-get", []string{"update"}, []string{"--assume-yes", "--quiet", "-o", "Dpkg::Options::=--force-confold", "dist-upgrade"}, []string{"--assume-yes", "--quiet", "-o", "Dpkg::Options::=--force-confold", "install"}},
		{"/usr/bin/dnf", []string{"-y", "makecache"}, []string{"-y", "upgrade"}, []string{"-y", "install"}},
		{"/usr/bin/yum", []string{"-y", "makecache"}, []string{"-y", "upgrade"}, []string{"-y", "install"}},
		{"/sbin/apk", []string{"update"}, []string{"upgrade"}, []string{"add"}},
	} {
		if st, err := os.Stat(b.path(c.bin)); err == nil && !st.IsDir() {
			return c.bin, c.update, c.upgrade, c.installs
		}
	}
	return "", nil, nil, nil
}

func (b *boot) packages(ctx context.Context, cc *userdata.Config, env []string) {
	if !cc.PackageUpdate && !cc.PackageUpgrade && len(cc.Packages) == 0 {
		return
	}
	bin, update, upgrade, install := b.packageManager()
	if bin == "" {
		b.say("kiln-init: packages: no apt-get, dnf, yum or apk in the image")
		return
	}
	env = append(env, "DEBIAN_FRONTEND=noninteractive")
	runPM := func(args ...string) {
		b.say("kiln-init: running %s %s", bin, strings.Join(args, " "))
		if code, err := b.exec(ctx, b.path(bin), args, env); err != nil || code != 0 {
			b.say("kiln-init: %s %s failed (exit %d, %v)", filepath.Base(bin), args[len(args)-1], code, err)
		}
	}
	if cc.PackageUpdate || cc.PackageUpgrade || len(cc.Packages) > 0 {
		runPM(update...)
	}
	if cc.PackageUpgrade {
		runPM(upgrade...)
	}
	if len(cc.Packages) > 0 {
		args := append([]string{}, install...)
		for _, p := range cc.Packages {
			args = append(args, pkgSpec(filepath.Base(bin), p))
		}
		runPM(args...)
	}
}

func pkgSpec(manager string, p userdata.Package) string {
	if p.Version == "" {
		return p.Name
	}
	if manager == "apt-get" || manager == "apk" {
		return p.Name + "=" + p.Version
	}
	return p.Name + "-" + p.Version
}

// parts runs the user data's script parts due once per instance (and
// per-once parts never run before on this disk), in order.
func (b *boot) parts(ctx context.Context, parts []userdata.Part, env []string) {
	for i, p := range parts {
		if p.Kind != userdata.Script || p.Frequency == userdata.PerBoot {
			continue
		}
		name := partName(p, i)
		if p.Frequency == userdata.PerOnce {
			sem := b.path(cloudDir + "/sem/" + name + ".once")
			if _, err := os.Stat(sem); err == nil {
				continue
			}
			_ = os.WriteFile(sem, []byte(b.stamp()+"\n"), 0o644)
		}
		b.script(ctx, name, p.Content, env)
	}
}

var partNameOK = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func partName(p userdata.Part, i int) string {
	if n := filepath.Base(p.Filename); partNameOK.MatchString(n) {
		return fmt.Sprintf("part-%03d-%s", i+1, n)
	}
	return fmt.Sprintf("part-%03d", i+1)
}

// script writes content as an executable file in the instance's scripts
// directory and executes it (its shebang picks the interpreter).
func (b *boot) script(ctx context.Context, name string, content []byte, env []string) {
	dir := cloudDir + "/scripts"
	if b.instDir != "" {
		dir = b.instDir + "/scripts"
	}
	p := b.path(dir + "/" + name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.say("kiln-init: %s: %v", name, err)
		return
	}
	if err := writeFileAtomic(p, content, 0o700); err != nil {
		b.say("kiln-init: %s: %v", name, err)
		return
	}
	code, err := b.exec(ctx, p, nil, env)
	switch {
	case err != nil:
		b.say("kiln-init: running %s: %v", name, err)
	case code != 0:
		b.say("kiln-init: %s exited with status %d", name, code)
	}
}

// exec runs an executable with the output stream as stdout and stderr.
// A file without a shebang (ENOEXEC) is run by the image's /bin/sh, as
// execvp(3) would.
func (b *boot) exec(ctx context.Context, path string, args, env []string) (int, error) {
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	mk := func(name string, argv ...string) *exec.Cmd {
		cmd := &exec.Cmd{Path: name, Args: append([]string{name}, argv...), Env: env, Dir: b.cfg.Root,
			Stdout: b.out.w, Stderr: b.out.w}
		return cmd
	}
	code, err := b.run(mk(path, args...))
	if err != nil && isENOEXEC(err) {
		code, err = b.run(mk(b.path("/bin/sh"), append([]string{path}, args...)...))
	}
	return code, err
}

// runDir runs the executables of a cloud-init scripts directory in name
// order.
func (b *boot) runDir(ctx context.Context, dir string, env []string) {
	ents, err := os.ReadDir(b.path(dir))
	if err != nil {
		return
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0 {
			continue
		}
		if dir == cloudDir+"/scripts/per-once" {
			sem := b.path(cloudDir + "/sem/per-once-" + e.Name())
			if _, err := os.Stat(sem); err == nil {
				continue
			}
			_ = os.WriteFile(sem, nil, 0o644)
		}
		if code, err := b.exec(ctx, b.path(dir+"/"+e.Name()), nil, env); err != nil || code != 0 {
			b.say("kiln-init: %s/%s failed (exit %d, %v)", dir, e.Name(), code, err)
		}
	}
}

// rcLocal runs /etc/rc.local on every boot when it is executable.
func (b *boot) rcLocal(ctx context.Context, env []string) {
	p := b.path(rcLocal)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return
	}
	b.say("kiln-init: running %s", rcLocal)
	if code, err := b.exec(ctx, p, []string{"start"}, env); err != nil || code != 0 {
		b.say("kiln-init: %s failed (exit %d, %v)", rcLocal, code, err)
	}
}

func (b *boot) finalMessage(cc *userdata.Config) {
	msg := "Cloud-init v. $VERSION finished at $TIMESTAMP. Datasource DataSourceEc2.  Up $UPTIME seconds"
	if cc.HasFinalMessage {
		msg = cc.FinalMessage
	}
	r := strings.NewReplacer("$UPTIME", strconv.FormatFloat(b.uptime(), 'f', 2, 64), "$TIMESTAMP", b.stamp(),
		"$VERSION", Version, "$DATASOURCE", "DataSourceEc2", "$INSTANCE_ID", b.id)
	b.say("%s", r.Replace(strings.TrimRight(msg, "\n")))
	if b.instDir != "" {
		_ = os.WriteFile(b.path(b.instDir+"/boot-finished"), []byte(b.stamp()+"\n"), 0o644)
	}
}

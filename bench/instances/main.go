// Command instances is issue 3's instance benchmark: kiln in process (the
// real wiring of `kiln up`: kiln.Open, StartInstances with its own
// containerd, network and metadata service) served on a loopback listener
// and driven with aws-sdk-go-v2, next to anchors measured in the same run:
// a raw `runc run` of an equivalent busybox bundle, `ctr run --rm` and 50
// concurrent `ctr run -d` against the same containerd, a plain net/http
// server reached over the same veth path as the metadata service.
//
// It measures RunInstances → running (DescribeInstances) and → user-data
// output on the console, sequentially; 50 concurrent launches; the metadata
// service from inside an instance's network namespace (the bench re-executes
// itself there with nsenter); and kiln's memory per idle instance.
//
//	bash bench/instances/run.sh        (as root; builds the static kiln for -init)
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kiln-dev/kiln/bench/internal/anchor"
	"github.com/kiln-dev/kiln/internal/account"
	"github.com/kiln-dev/kiln/internal/imds"
	"github.com/kiln-dev/kiln/internal/kiln"
	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

var (
	seq       = flag.Int("n", 9, "sequential launches (median reported; the first, cold launch is extra)")
	conc      = flag.Int("c", 50, "concurrent launches")
	idle      = flag.Int("idle", 20, "idle instances for the memory measurement (at most 20: the account's instance limit)")
	imdsDur   = flag.Duration("imds-d", 3*time.Second, "duration of each metadata load run")
	imdsConns = flag.Int("imds-c", 8, "connections of the metadata load generator")
	initPath  = flag.String("init", "", "static kiln binary (CGO_ENABLED=0) run as PID 1 in instances")
	keep      = flag.Bool("keep", false, "keep the data directory (instances are terminated anyway)")
)

// Fixed accounts: the per-account, per-region limit of 20 active instances
// spreads 50 concurrent launches over three accounts.
var accounts = []struct{ name, id, key, secret string }{
	{"bench1", "111111111111", "BENCHKEY1", "BENCHSECRET1"},
	{"bench2", "222222222222", "BENCHKEY2", "BENCHSECRET2"},
	{"bench3", "333333333333", "BENCHKEY3", "BENCHSECRET3"},
}

const perAccountLimit = 20

// The user data of the sequential launches; the marker is computed by the
// shell, so the script's own text never matches it.
const (
	userData = "#!/bin/sh\necho kbench-user-data-$((6*7))\n"
	udMarker = "kbench-user-data-42"
)

var cleanups []func()

func main() {
	if len(os.Args) > 1 && os.Args[1] == loadFlag {
		os.Exit(runLoad(os.Args[2:]))
	}
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/instances: run as root (containerd, runc and network namespaces need it)")
		os.Exit(2)
	}
	if *initPath == "" {
		fmt.Fprintln(os.Stderr, "bench/instances: -init: the static kiln binary is required (bench/instances/run.sh builds it)")
		os.Exit(2)
	}
	*idle = min(*idle, perAccountLimit)
	if *conc > len(accounts)*perAccountLimit || *seq < 1 {
		fmt.Fprintf(os.Stderr, "bench/instances: -c at most %d (%d accounts of %d instances), -n at least 1\n", len(accounts)*perAccountLimit, len(accounts), perAccountLimit)
		os.Exit(2)
	}
	defer runCleanups()
	run()
}

func runCleanups() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// row is one line of the final table.
type row struct{ what, figure, anchor, ratio, target string }

var rows []row

func add(what, figure, anc, ratio, target string) {
	rows = append(rows, row{what, figure, anc, ratio, target})
	fmt.Printf("  %-52s %s\n", what, figure)
}

func run() {
	ctx := context.Background()
	start := time.Now()
	fmt.Println("bench/instances: load average", anchor.Loadavg())
	dir, err := os.MkdirTemp("", "kbench-inst")
	check(err)
	cleanups = append(cleanups, func() {
		anchor.UnmountUnder(dir)
		if *keep {
			fmt.Println("kept", dir)
		} else {
			os.RemoveAll(dir)
		}
	})

	// Anchor: raw runc run of the equivalent busybox bundle.
	runcRun, err := anchor.RuncRun(filepath.Join(dir, "runc-anchor"), max(*seq, 7))
	check(err)
	add(fmt.Sprintf("runc run /bin/true, median of %d (anchor)", max(*seq, 7)), fmtMS(runcRun), "", "", "")

	// kiln, as kiln up wires it, on a real loopback listener.
	k, err := kiln.Open(kiln.Options{DataDir: filepath.Join(dir, "kiln"), Log: slog.New(slog.DiscardHandler)})
	check(err)
	cleanups = append(cleanups, func() { k.Close() })
	for _, a := range accounts {
		_, _, err := k.Accounts.Create(ctx, a.name, account.CreateOptions{AccountID: a.id, AccessKeyID: a.key, SecretAccessKey: a.secret})
		check(err)
	}
	// The API on a real loopback listener, as kiln up serves it (the
	// instance actions turn on with StartInstances).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- k.Serve(sctx, ln) }()
	cleanups = append(cleanups, func() { stop(); <-served })
	var rb [3]byte
	_, _ = rand.Read(rb[:])
	bridge := "kb" + hex.EncodeToString(rb[:])
	port, portTaken, err := metadataPort(ctx)
	check(err)
	others := otherBridges(bridge)
	inst, err := k.StartInstances(ctx, kiln.InstanceOptions{Bridge: bridge, InitPath: *initPath,
		IMDSAddr: fmt.Sprintf("%s:%d", netns.MetadataAddr, port)})
	check(err)
	if portTaken || len(others) > 0 {
		fmt.Printf("  shared machine: other bridges with the default subnets %v; 169.254.169.254:80 taken: %v\n", others, portTaken)
		fmt.Printf("  → metadata service on 169.254.169.254:%d (DNAT from port 80 on %s), replies routed to %s by conntrack mark\n", port, bridge, bridge)
		undo, err := keepToBridge(ctx, bridge, port)
		if err != nil {
			inst.Teardown(ctx)
			fatalf("%v", err)
		}
		cleanups = append(cleanups, undo)
	}
	socket := filepath.Join(dir, "kiln", "containerd", "containerd.sock")
	clients := make([]*ec2.Client, len(accounts))
	cleanups = append(cleanups, func() {
		terminateAll(clients)
		if err := inst.Teardown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "teardown:", err)
		}
		if left, _ := filepath.Glob("/var/run/netns/" + bridge + "-*"); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "network namespaces left:", left)
		}
	})
	endpoint := "http://" + ln.Addr().String()
	for i, a := range accounts {
		clients[i] = ec2.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Retryer: retryBroken,
			Credentials: credentials.NewStaticCredentialsProvider(a.key, a.secret, "")})
	}
	c := clients[0]
	ami := minimalAMI(ctx, c)
	fmt.Printf("  kiln on %s, bridge %s, %s (kiln-minimal), containerd %s\n", endpoint, bridge, ami, socket)

	// Anchor: ctr run --rm against kiln's containerd (its own namespace).
	var ctrRun time.Duration
	if anchor.HaveCtr() {
		layer, _, err := runtimetest.BusyboxLayer("")
		check(err)
		check(anchor.ImportImage(socket, dir, layer))
		ctrRun, err = anchor.CtrRun(socket, max(*seq, 7))
		check(err)
		add(fmt.Sprintf("ctr run --rm /bin/true, median of %d (anchor)", max(*seq, 7)), fmtMS(ctrRun), "", "", "")
	} else {
		fmt.Println("  ctr not installed: ctr anchors skipped")
	}

	// Sequential launches. The first one hydrates kiln-minimal into
	// containerd and is reported apart. Each instance is terminated (and
	// waited for, untimed) before the next launch.
	ud := base64.StdEncoding.EncodeToString([]byte(userData))
	launch := func() (time.Duration, time.Duration) {
		t0 := time.Now()
		id := runInstances(ctx, c, ami, ud, 1)[0]
		waitState(ctx, c, []string{id}, "running", 5*time.Millisecond)
		toRunning := time.Since(t0)
		waitConsole(ctx, c, id, udMarker)
		toUD := time.Since(t0)
		terminate(ctx, c, []string{id})
		return toRunning, toUD
	}
	coldRun, coldUD := launch()
	add("first launch → running (hydrates kiln-minimal)", fmtMS(coldRun), "", "", "")
	add("first launch → user data done (console)", fmtMS(coldUD), "", "", "")
	var toRunning, toUD []time.Duration
	for range *seq {
		r, u := launch()
		toRunning = append(toRunning, r)
		toUD = append(toUD, u)
	}
	medRun, medUD := medianOf(toRunning), medianOf(toUD)
	add(fmt.Sprintf("RunInstances → running, median of %d sequential", *seq), fmtMS(medRun),
		"runc "+fmtMS(runcRun), ratio(medRun, runcRun), "≤ 3× runc")
	if ctrRun > 0 {
		add("  the same against ctr run --rm", "", "ctr "+fmtMS(ctrRun), ratio(medRun, ctrRun), "(EC2 ≈ 5 s)")
	}
	add(fmt.Sprintf("RunInstances → user data done, median of %d", *seq), fmtMS(medUD),
		"runc "+fmtMS(runcRun), ratio(medUD, runcRun), "report")

	// Memory: kiln's process with no instance, then with N idle ones.
	before := measureSelf()
	ids := runInstances(ctx, c, ami, "", *idle)
	waitState(ctx, c, ids, "running", 20*time.Millisecond)
	time.Sleep(2 * time.Second) // let the boots settle (init, hostname, no user data)
	after := measureSelf()
	procs := readProcs()
	shims := procs.shims(socket)
	var shim, guest [3]int64 // RSS, PSS, anonymous (kB)
	for _, p := range shims {
		r, s, a := rollup(p)
		shim = [3]int64{shim[0] + r, shim[1] + s, shim[2] + a}
		for _, q := range procs.descendants(p) {
			r, s, a := rollup(q)
			guest = [3]int64{guest[0] + r, guest[1] + s, guest[2] + a}
		}
	}
	nf := float64(*idle)
	perRSS := float64(after.RSSKiB-before.RSSKiB) / 1024 / nf
	perHeap := float64(int64(after.HeapBytes)-int64(before.HeapBytes)) / (1 << 20) / nf
	add(fmt.Sprintf("kiln process RSS, 0 → %d idle instances", *idle), fmt.Sprintf("%.1f → %.1f MB", float64(before.RSSKiB)/1024, float64(after.RSSKiB)/1024), "", "", "")
	add("kiln process RSS per idle instance", fmt.Sprintf("%.2f MB", perRSS), "", "", "< 5 MB")
	add("kiln live Go heap per idle instance", fmt.Sprintf("%.3f MB", perHeap),
		"", "", fmt.Sprintf("(goroutines %d → %d)", before.Goroutines, after.Goroutines))
	perProc := func(v [3]int64, n int) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f MB", float64(v[0])/1024/float64(n), float64(v[1])/1024/float64(n), float64(v[2])/1024/float64(n))
	}
	if n := len(shims); n > 0 {
		add(fmt.Sprintf("containerd shim per instance (%d), RSS/PSS/anon", n), perProc(shim, n), "", "", "context")
		add("kiln init (PID 1) per instance, RSS/PSS/anon", perProc(guest, n), "", "", "context")
	}

	// The metadata service from inside an instance's network namespace,
	// next to a plain net/http server reached over the same path.
	nsPath := "/var/run/netns/" + bridge + "-" + ids[0]
	plain, err := imds.Listen(ctx, netns.MetadataAddr.String()+":0")
	check(err)
	psrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(ids[0]))
	})}
	go psrv.Serve(plain)
	loadArgs := func(url string, v2 bool) []string {
		a := []string{"-url", url, "-c", fmt.Sprint(*imdsConns), "-d", imdsDur.String()}
		if v2 {
			a = append(a, "-token-url", "http://169.254.169.254/latest/api/token")
		}
		return a
	}
	base, err := loadIn(nsPath, loadArgs("http://"+plain.Addr().String()+"/latest/meta-data/instance-id", false)...)
	psrv.Close()
	check(err)
	add(fmt.Sprintf("plain net/http on the host, from the netns, -c%d (anchor)", *imdsConns), loadFigure(base), "", "", "")
	for _, v2 := range []bool{false, true} {
		name := "IMDSv1 meta-data/instance-id, from the instance's netns"
		if v2 {
			name = "IMDSv2 (token) meta-data/instance-id, same"
		}
		r, err := loadIn(nsPath, loadArgs("http://169.254.169.254/latest/meta-data/instance-id", v2)...)
		check(err)
		if r.Body != ids[0] {
			fatalf("the metadata service answered %q to %s, want %q", r.Body, ids[0], ids[0])
		}
		add(name, loadFigure(r), "plain "+fmt.Sprintf("%.0f/s", base.rate()), fmt.Sprintf("%.2f×", r.rate()/base.rate()), "≥ 10,000 req/s, p99 < 5 ms")
	}
	terminate(ctx, c, ids)

	// Concurrent launches: one RunInstances per instance, all at once,
	// spread over the accounts (20 active instances per account).
	per := make([][]string, len(clients))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	t0 := time.Now()
	for i := range *conc {
		a := i / perAccountLimit % len(clients)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := clients[a].RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: types.InstanceTypeT3Micro})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = cmpErr(firstErr, err)
				return
			}
			per[a] = append(per[a], aws.ToString(out.Instances[0].InstanceId))
		}()
	}
	wg.Wait()
	accepted := time.Since(t0)
	check(firstErr)
	var wg2 sync.WaitGroup
	for a := range clients {
		if len(per[a]) == 0 {
			continue
		}
		wg2.Add(1)
		go func() { defer wg2.Done(); waitState(ctx, clients[a], per[a], "running", 20*time.Millisecond) }()
	}
	wg2.Wait()
	wall := time.Since(t0)
	rate := float64(*conc) / wall.Seconds()
	add(fmt.Sprintf("%d concurrent RunInstances (1 each, %d accounts) accepted", *conc, min(len(clients), (*conc+perAccountLimit-1)/perAccountLimit)), fmtMS(accepted), "", "", "")
	add(fmt.Sprintf("%d concurrent launches → all running", *conc), fmt.Sprintf("%s, %.1f launches/s", fmtMS(wall), rate), "", "", "all running")
	var wg3 sync.WaitGroup
	for a := range clients {
		if len(per[a]) > 0 {
			wg3.Add(1)
			go func() { defer wg3.Done(); terminate(ctx, clients[a], per[a]) }()
		}
	}
	wg3.Wait()
	if anchor.HaveCtr() {
		cwall, err := anchor.CtrConcurrent(socket, *conc)
		check(err)
		crate := float64(*conc) / cwall.Seconds()
		add(fmt.Sprintf("%d concurrent ctr run -d, same containerd (anchor)", *conc), fmt.Sprintf("%s, %.1f launches/s", fmtMS(cwall), crate), "", "", "")
		rows[len(rows)-2].anchor = fmt.Sprintf("ctr %.1f/s", crate)
		rows[len(rows)-2].ratio = fmt.Sprintf("%.2f× rate", rate/crate)
	}

	if n := brokenConns.Load(); n > 0 {
		add("API calls retried after a broken connection (see main.go)", fmt.Sprint(n), "", "", "0")
	}
	fmt.Printf("\nbench/instances: kiln-minimal, t3.micro; load average %s; whole run %.0f s\n", anchor.Loadavg(), time.Since(start).Seconds())
	fmt.Printf("%-56s %-24s %-16s %-11s %s\n", "", "kiln", "anchor", "ratio", "target")
	for _, r := range rows {
		fmt.Printf("%-56s %-24s %-16s %-11s %s\n", r.what, r.figure, r.anchor, r.ratio, r.target)
	}
}

// brokenConns counts API calls whose connection was closed under them
// ("use of closed network connection": the client's connection received
// a response before its request was written). It happens with the
// instance stack in the same process as the client; the calls are
// retried at once (RunInstances carries the SDK's idempotency token) and
// the count is reported.
var brokenConns atomic.Int64

func retryBroken() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 4
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
				brokenConns.Add(1)
				return aws.TrueTernary
			}
			return aws.FalseTernary
		})}
	})
}

func loadFigure(r loadResult) string {
	f := fmt.Sprintf("%.0f req/s, p50 %.2f p99 %.2f ms", r.rate(), float64(r.P50us)/1000, float64(r.P99us)/1000)
	if r.Errors > 0 {
		f += fmt.Sprintf(", %d errors", r.Errors)
	}
	return f
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

func minimalAMI(ctx context.Context, c *ec2.Client) string {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"kiln-minimal-*"}}}})
	check(err)
	if len(out.Images) != 1 {
		fatalf("kiln-minimal lookup: %d images (is busybox installed?)", len(out.Images))
	}
	return aws.ToString(out.Images[0].ImageId)
}

func runInstances(ctx context.Context, c *ec2.Client, ami, userData string, n int) []string {
	in := &ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)), InstanceType: types.InstanceTypeT3Micro}
	if userData != "" {
		in.UserData = aws.String(userData)
	}
	out, err := c.RunInstances(ctx, in)
	check(err)
	var ids []string
	for _, i := range out.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	return ids
}

// waitState polls DescribeInstances every `every` until every instance is
// in state (a minute at most).
func waitState(ctx context.Context, c *ec2.Client, ids []string, state string, every time.Duration) {
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		check(err)
		n := 0
		var last string
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				s := string(i.State.Name)
				if s == state {
					n++
				} else {
					last = aws.ToString(i.InstanceId) + " is " + s
					if i.StateReason != nil {
						last += " (" + aws.ToString(i.StateReason.Message) + ")"
					}
				}
			}
		}
		if n == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			fatalf("%d of %d instances %s after a minute; %s", n, len(ids), state, last)
		}
		time.Sleep(every)
	}
}

// waitConsole polls GetConsoleOutput every 5 ms until it holds marker.
func waitConsole(ctx context.Context, c *ec2.Client, id, marker string) {
	deadline := time.Now().Add(time.Minute)
	var text []byte
	for {
		out, err := c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
		check(err)
		text, _ = base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		if strings.Contains(string(text), marker) {
			return
		}
		if time.Now().After(deadline) {
			fatalf("%s: no %q on the console after a minute; console:\n%s", id, marker, text)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func terminate(ctx context.Context, c *ec2.Client, ids []string) {
	_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	check(err)
	waitState(ctx, c, ids, "terminated", 20*time.Millisecond)
}

// terminateAll terminates whatever is not terminated in every account (the
// cleanup after a failure; a no-op after a complete run).
func terminateAll(clients []*ec2.Client) {
	ctx := context.Background()
	for _, c := range clients {
		if c == nil {
			continue
		}
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if err != nil {
			continue
		}
		var ids []string
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				if i.State.Name != types.InstanceStateNameTerminated {
					ids = append(ids, aws.ToString(i.InstanceId))
				}
			}
		}
		if len(ids) == 0 {
			continue
		}
		if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup: terminate:", err)
			continue
		}
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
			if err != nil || allTerminated(out) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func allTerminated(out *ec2.DescribeInstancesOutput) bool {
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if i.State.Name != types.InstanceStateNameTerminated {
				return false
			}
		}
	}
	return true
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1f ms", anchor.MS(d)) }

func ratio(d, base time.Duration) string {
	return fmt.Sprintf("%.2f×", float64(d)/float64(base))
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench/instances: "+f+"\n", a...)
	runCleanups()
	os.Exit(1)
}

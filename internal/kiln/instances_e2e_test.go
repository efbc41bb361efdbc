package kiln_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kiln-dev/kiln/internal/kiln"
	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// needInstances checks the preconditions of real instances: root,
// containerd, runc and busybox (the kiln-minimal image).
func needInstances(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("precondition: real instances need root")
	}
	for _, bin := range []string{"containerd", "runc", "busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("precondition: %s is not installed (scripts/setup.sh installs it)", bin)
		}
	}
}

var (
	kilnBinOnce sync.Once
	kilnBin     string
	kilnBinErr  error
)

// kilnBinary builds the static kiln binary once: instances run it as PID 1.
func kilnBinary(t *testing.T) string {
	t.Helper()
	kilnBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kiln-bin-")
		if err != nil {
			kilnBinErr = err
			return
		}
		kilnBin = filepath.Join(dir, "kiln")
		cmd := exec.Command("go", "build", "-o", kilnBin, "../../cmd/kiln")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			kilnBinErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if kilnBinErr != nil {
		t.Fatal(kilnBinErr)
	}
	return kilnBin
}

// cleanupNetwork removes, when the test ends, the test's bridge, tables and
// namespaces and the containerd started under dir — also when the test
// failed half-way through starting them.
func cleanupNetwork(t *testing.T, bridge, dir string) {
	t.Cleanup(func() {
		if nw, err := netns.New(netns.Options{Bridge: bridge, Table: bridge, Prefix: bridge + "-"}); err == nil {
			if err := nw.Teardown(context.Background()); err != nil {
				t.Errorf("network teardown: %v", err)
			}
		}
		exec.Command("pkill", "-KILL", "-f", "containerd --config "+filepath.Join(dir, "containerd")).Run()
		// The encrypted store and what is mounted under the data
		// directory (its loop device goes with the last unmount).
		runtimetest.UnmountUnder(dir)
	})
}

// startInstances starts kiln with real instances (its own containerd, a
// bridge of the test's own) and returns it and the bridge; all of it is
// removed when the test ends.
func startInstances(t *testing.T) (*env, string) {
	t.Helper()
	needInstances(t)
	e := start(t)
	bridge := testBridge()
	cleanupNetwork(t, bridge, e.dir)
	st, err := e.k.StartInstances(context.Background(), kiln.InstanceOptions{Bridge: bridge, InitPath: kilnBinary(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return e, bridge
}

func testBridge() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "kt" + hex.EncodeToString(b[:])
}

// userData fetches the instance ID over IMDSv1 and v2 (busybox wget cannot
// PUT, so v2 goes through nc), writes a page, serves it with httpd and
// makes rc.local serve it on every boot.
const userData = `#!/bin/sh
echo "user data starting"
ID1=$(wget -qO- http://169.254.169.254/latest/meta-data/instance-id)
TOKEN=$(printf 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n' | nc 169.254.169.254 80 | tail -n 1)
ID2=$(printf 'GET /latest/meta-data/instance-id HTTP/1.0\r\nX-aws-ec2-metadata-token: %s\r\n\r\n' "$TOKEN" | nc 169.254.169.254 80 | tail -n 1)
mkdir -p /www
echo "v1=$ID1 v2=$ID2 host=$(wget -qO- http://169.254.169.254/latest/meta-data/hostname)" > /www/index.html
printf '#!/bin/sh\nhttpd -h /www -p 80\n' > /etc/rc.local
chmod +x /etc/rc.local
httpd -h /www -p 80
echo "user data done"
`

func get(url string) (string, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func eventually(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// launchRunning runs one instance, terminates it when the test ends, and
// waits until it runs.
func launchRunning(t *testing.T, c *ec2.Client, in *ec2.RunInstancesInput) struct{ ID, IP string } {
	t.Helper()
	in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
	run, err := c.RunInstances(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	t.Cleanup(func() {
		c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		ec2.NewInstanceTerminatedWaiter(c).Wait(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 60*time.Second)
	})
	if err := ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).
		Wait(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return struct{ ID, IP string }{id, aws.ToString(run.Instances[0].PrivateIpAddress)}
}

func minimalAMI(t *testing.T, c *ec2.Client) string {
	t.Helper()
	out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"amazon"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"kiln-minimal-*"}}}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("kiln-minimal lookup: %v %v", out, err)
	}
	return aws.ToString(out.Images[0].ImageId)
}

// TestInstanceLifecycle is scenario 1 with real containerd and runc: user
// data over IMDSv1 and v2, a page served at the private IP, the console,
// stop (page gone), start (rc.local brings it back; user data does not run
// again), reboot, terminate (nothing left behind).
func TestInstanceLifecycle(t *testing.T) {
	e, bridge := startInstances(t)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg("us-east-1"))
	id := launchRunning(t, c, &ec2.RunInstancesInput{ImageId: aws.String(minimalAMI(t, c)),
		InstanceType: types.InstanceTypeT3Micro, UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData))),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}}}).ID
	desc, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"web"}}}})
	if err != nil || len(desc.Reservations) != 1 {
		t.Fatalf("describe by tag: %v %v", desc, err)
	}
	ip := aws.ToString(desc.Reservations[0].Instances[0].PrivateIpAddress)
	url := "http://" + ip + "/"
	var page string
	eventually(t, "the page at "+url, 30*time.Second, func() bool { page, err = get(url); return err == nil })
	want := fmt.Sprintf("v1=%s v2=%s host=ip-%s.ec2.internal", id, id, strings.ReplaceAll(ip, ".", "-"))
	if strings.TrimSpace(page) != want {
		t.Fatalf("page = %q, want %q", page, want)
	}
	console := func() string {
		out, err := c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		return string(b)
	}
	if !strings.Contains(console(), "user data done") {
		t.Fatalf("console lacks the script's output:\n%s", console())
	}

	// Status, types and metadata options, seen from inside the instance's
	// network namespace.
	status, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}})
	if err != nil || len(status.InstanceStatuses) != 1 || status.InstanceStatuses[0].InstanceState.Name != types.InstanceStateNameRunning {
		t.Fatalf("instance status: %+v %v", status, err)
	}
	it, err := c.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceTypeT3Micro}})
	if err != nil || len(it.InstanceTypes) != 1 || aws.ToInt32(it.InstanceTypes[0].VCpuInfo.DefaultVCpus) != 2 || aws.ToInt64(it.InstanceTypes[0].MemoryInfo.SizeInMiB) != 1024 {
		t.Fatalf("instance types: %+v %v", it, err)
	}
	imdsV1 := func() string {
		out, _ := exec.Command("nsenter", "--net=/var/run/netns/"+bridge+"-"+id, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
			"http://169.254.169.254/latest/meta-data/instance-id").CombinedOutput()
		return string(out)
	}
	if code := imdsV1(); code != "200" {
		t.Fatalf("IMDSv1 from inside: %s", code)
	}
	if _, err := c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpTokens: types.HttpTokensStateRequired}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "IMDSv1 refused after HttpTokens=required", 10*time.Second, func() bool { return imdsV1() == "401" })

	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewInstanceStoppedWaiter(c, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := get(url); err == nil {
		t.Fatal("the page is still served by a stopped instance")
	}
	if _, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		InstanceType: &types.AttributeValue{Value: aws.String("t3.small")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the page after start (rc.local)", 30*time.Second, func() bool { p, err := get(url); return err == nil && strings.TrimSpace(p) == want })
	if n := strings.Count(console(), "user data starting"); n != 1 {
		t.Fatalf("user data ran %d times", n)
	}
	if d, _ := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); d.Reservations[0].Instances[0].InstanceType != types.InstanceTypeT3Small {
		t.Fatalf("instance type after modify: %s", d.Reservations[0].Instances[0].InstanceType)
	}
	if _, err := c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the page after reboot", 30*time.Second, func() bool { p, err := get(url); return err == nil && strings.TrimSpace(p) == want })

	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewInstanceTerminatedWaiter(c, func(o *ec2.InstanceTerminatedWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if ns, _ := filepath.Glob("/var/run/netns/" + bridge + "-*"); len(ns) != 0 {
		t.Fatalf("network namespaces left: %v", ns)
	}
}

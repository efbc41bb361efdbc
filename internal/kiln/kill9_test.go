package kiln_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// server is a `kiln up` process.
type server struct {
	t              *testing.T
	bin, dir, addr string
	bridge         string
	cmd            *exec.Cmd
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "up", "--data-dir", s.dir, "--listen", s.addr, "--bridge", s.bridge, "--log-level", "warn")
	log, _ := os.OpenFile(filepath.Join(s.dir, "kiln.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	eventually(s.t, "kiln up to be healthy", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + s.addr + "/_kiln/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

func (s *server) kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

func (s *server) ec2() *ec2.Client {
	return ec2.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.addr),
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, "")})
}

func stateOf(t *testing.T, c *ec2.Client, id string) string {
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.Reservations[0].Instances[0].State.Name)
}

// TestKill9MidLaunchAndMidTerminate kills `kiln up` with SIGKILL right
// after RunInstances and right after TerminateInstances, restarts it, and
// checks that the launch and the termination complete, that a running
// instance kept serving throughout, and that nothing leaked.
func TestKill9MidLaunchAndMidTerminate(t *testing.T) {
	needInstances(t)
	bin := kilnBinary(t)
	s := &server{t: t, bin: bin, dir: t.TempDir(), addr: freePort(t), bridge: testBridge()}
	if out, err := exec.Command(bin, "accounts", "create", "test", "--account-id", testAccount, "--access-key-id", testKey,
		"--secret-access-key", testSecret, "--data-dir", s.dir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cleanupNetwork(t, s.bridge, s.dir)
	s.start()
	t.Cleanup(func() {
		c := s.ec2()
		if out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{}); err == nil {
			for _, r := range out.Reservations {
				for _, i := range r.Instances {
					c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(i.InstanceId)}})
				}
			}
		}
		time.Sleep(2 * time.Second)
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	})
	ctx := context.Background()
	c := s.ec2()
	ami := minimalAMI(t, c)
	launch := func() string {
		out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			UserData: aws.String("IyEvYmluL3NoCm1rZGlyIC93d3c7IGVjaG8gb2sgPiAvd3d3L2luZGV4Lmh0bWw7IGh0dHBkIC1oIC93d3cgLXAgODAK")}) // mkdir /www; echo ok > index; httpd
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	waitState := func(id, want string) {
		eventually(t, id+" "+want, 60*time.Second, func() bool { return stateOf(t, c, id) == want })
	}
	a := launch()
	waitState(a, "running")
	out, _ := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{a}})
	pageA := "http://" + aws.ToString(out.Reservations[0].Instances[0].PrivateIpAddress) + "/"
	eventually(t, "instance A's page", 30*time.Second, func() bool { _, err := get(pageA); return err == nil })

	// Mid-launch.
	b := launch()
	s.kill9()
	if _, err := get(pageA); err != nil {
		t.Fatalf("instance A stopped serving when kiln was killed: %v", err)
	}
	s.start()
	waitState(b, "running")
	if _, err := get(pageA); err != nil {
		t.Fatalf("instance A stopped serving after the restart: %v", err)
	}
	if st := stateOf(t, c, a); st != "running" {
		t.Fatalf("instance A is %s after the restart", st)
	}

	// Mid-terminate.
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{b}}); err != nil {
		t.Fatal(err)
	}
	s.kill9()
	s.start()
	waitState(b, "terminated")
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a}}); err != nil {
		t.Fatal(err)
	}
	waitState(a, "terminated")

	// Nothing leaked: no containers or tasks in kiln's containerd, no
	// namespaces or veths of this network.
	sock := filepath.Join(s.dir, "containerd", "containerd.sock")
	for _, what := range []string{"containers", "tasks"} {
		out, err := exec.Command("ctr", "--address", sock, "-n", "kiln", what, "ls", "-q").CombinedOutput()
		if err != nil {
			t.Fatalf("ctr %s: %v %s", what, err, out)
		}
		if strings.TrimSpace(string(out)) != "" {
			t.Fatalf("%s left in containerd: %s", what, out)
		}
	}
	if ns, _ := filepath.Glob("/var/run/netns/" + s.bridge + "-*"); len(ns) != 0 {
		t.Fatalf("network namespaces left: %v", ns)
	}
	links, _ := net.Interfaces()
	for _, l := range links {
		if strings.HasPrefix(l.Name, "kv") {
			if m, err := os.Readlink(fmt.Sprintf("/sys/class/net/%s/master", l.Name)); err == nil && filepath.Base(m) == s.bridge {
				t.Fatalf("veth %s left on the bridge", l.Name)
			}
		}
	}
}

package kiln_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
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
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// checkBlobs verifies every blob visible in a region's store against its
// name and that no temporary file is left.
func checkBlobs(t *testing.T, dir, region string) int {
	t.Helper()
	root := filepath.Join(dir, "blobs", region)
	files, _ := filepath.Glob(filepath.Join(root, "sha256", "*", "*"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil || hex.EncodeToString(h.Sum(nil)) != filepath.Base(f) {
			t.Fatalf("blob %s does not match its digest (half-written?)", f)
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(root, "tmp")); len(tmp) != 0 {
		t.Fatalf("temporary files left in %s: %v", root, tmp)
	}
	return len(files)
}

// TestKill9MidCreateImageAndCopyImage kills `kiln up` with SIGKILL while a
// CreateImage and then a CopyImage are capturing and copying a 64 MiB
// change, restarts it, and checks that each image ends available (and
// launches with the change) or failed, that every visible blob matches its
// digest and that no temporary file is left.
func TestKill9MidCreateImageAndCopyImage(t *testing.T) {
	needInstances(t)
	bin := kilnBinary(t)
	s := &server{t: t, bin: bin, dir: t.TempDir(), addr: freePort(t), bridge: testBridge()}
	if out, err := exec.Command(bin, "accounts", "create", "test", "--account-id", testAccount, "--access-key-id", testKey,
		"--secret-access-key", testSecret, "--data-dir", s.dir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cleanupNetwork(t, s.bridge, s.dir)
	s.start()
	regional := func(region string) *ec2.Client {
		return ec2.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String("http://" + s.addr),
			Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, "")})
	}
	c, c2 := s.ec2(), regional("eu-west-1")
	t.Cleanup(func() {
		for _, cl := range []*ec2.Client{c, c2} {
			if out, err := cl.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{}); err == nil {
				for _, r := range out.Reservations {
					for _, i := range r.Instances {
						cl.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(i.InstanceId)}})
					}
				}
			}
		}
		time.Sleep(2 * time.Second)
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	})
	ctx := context.Background()
	ud := "#!/bin/sh\nmkdir -p /www\nhead -c 67108864 /dev/urandom > /www/big\nsha256sum /www/big | cut -c1-64 > /www/index.html\n" +
		"printf '#!/bin/sh\\nhttpd -h /www -p 80\\n' > /etc/rc.local\nchmod +x /etc/rc.local\nhttpd -h /www -p 80\n"
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(minimalAMI(t, c)), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(ud)))})
	if err != nil {
		t.Fatal(err)
	}
	ip := aws.ToString(run.Instances[0].PrivateIpAddress)
	var sum string
	eventually(t, "the instance's page", 60*time.Second, func() bool { sum, err = get("http://" + ip + "/"); return err == nil })

	// outcome waits for an image to leave pending after the restart; an
	// available image must launch and hold the change.
	outcome := func(cl *ec2.Client, id string) string {
		var st types.ImageState
		eventually(t, "image "+id+" to finish", 2*time.Minute, func() bool {
			out, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
			if err != nil || len(out.Images) != 1 {
				return false
			}
			st = out.Images[0].State
			return st != types.ImageStatePending
		})
		if st == types.ImageStateAvailable {
			r, err := cl.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(id), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			if err != nil {
				t.Fatal(err)
			}
			gip := aws.ToString(r.Instances[0].PrivateIpAddress)
			eventually(t, "the page of an instance of "+id, 60*time.Second, func() bool { p, err := get("http://" + gip + "/"); return err == nil && p == sum })
		} else if st != types.ImageStateFailed {
			t.Fatalf("image %s ended %s", id, st)
		}
		return string(st)
	}

	// killMidway kills kiln as soon as the work is seen under way: a
	// capture's mount of the parent layers or a blob being written.
	views := filepath.Join(s.dir, "containerd", "capture")
	killMidway := func(what string, dirs ...string) {
		t.Helper()
		end := time.Now().Add(20 * time.Second)
		for time.Now().Before(end) {
			for _, d := range dirs {
				if ents, _ := os.ReadDir(d); len(ents) > 0 {
					s.kill9()
					t.Logf("killed during %s: %s held %s", what, d, ents[0].Name())
					return
				}
			}
			time.Sleep(200 * time.Microsecond)
		}
		t.Fatalf("never saw %s under way", what)
	}

	img, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("crash"), NoReboot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	killMidway("CreateImage", views, filepath.Join(s.dir, "blobs", "us-east-1", "tmp"))
	s.start()
	t.Logf("CreateImage interrupted, then: %s", outcome(c, aws.ToString(img.ImageId)))
	checkBlobs(t, s.dir, "us-east-1")
	// Nothing of the capture is left: no mount, and the instance, frozen
	// while it was read, runs again.
	if ents, _ := os.ReadDir(views); len(ents) != 0 {
		t.Errorf("capture views left after the restart: %v", ents)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), views) {
		t.Errorf("a capture view is still mounted:\n%s", mi)
	}
	if page, err := get("http://" + ip + "/"); err != nil || page != sum {
		t.Errorf("the captured instance does not serve after the restart (left frozen?): %q %v", page, err)
	}

	cp, err := c2.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: img.ImageId, SourceRegion: aws.String("us-east-1"), Name: aws.String("crash copy")})
	if err != nil {
		t.Fatal(err)
	}
	killMidway("CopyImage", filepath.Join(s.dir, "blobs", "eu-west-1", "tmp"))
	s.start()
	t.Logf("CopyImage interrupted, then: %s", outcome(c2, aws.ToString(cp.ImageId)))
	if n := checkBlobs(t, s.dir, "eu-west-1"); n == 0 {
		t.Fatal("no blobs in the destination region")
	}
}

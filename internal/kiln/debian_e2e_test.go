package kiln_test

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kiln-dev/kiln/internal/kiln"
)

const nginxUserData = `#!/bin/bash
set -e
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y nginx
echo "golden from $(curl -s http://169.254.169.254/latest/meta-data/instance-id)" > /var/www/html/index.html
nginx
echo "nginx is up"
`

// TestDebianNginx is scenario 1 on Debian: `kiln images bootstrap
// debian-12` (debootstrap from the Debian mirror), then an instance whose
// user data installs nginx with apt-get through NAT and serves a page.
// It needs the Debian mirror and takes a minute or two, so it runs when
// KILN_TEST_DEBIAN=1 (scripts/test.sh, and so CI, sets it).
func TestDebianNginx(t *testing.T) {
	if os.Getenv("KILN_TEST_DEBIAN") != "1" {
		t.Skip("precondition: set KILN_TEST_DEBIAN=1 to run (needs the Debian mirror; scripts/test.sh sets it)")
	}
	needInstances(t)
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("precondition: debootstrap is not installed (scripts/setup.sh installs it)")
	}
	e := start(t)
	bin := kilnBinary(t)
	if out, err := exec.Command(bin, "images", "bootstrap", "debian-12", "--data-dir", e.dir).CombinedOutput(); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	ctx := context.Background()
	bridge := testBridge()
	cleanupNetwork(t, bridge, e.dir)
	st, err := e.k.StartInstances(ctx, kiln.InstanceOptions{Bridge: bridge, InitPath: bin, NAT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := ec2.NewFromConfig(e.cfg("ap-northeast-2"))
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"debian-12-amd64-*"}}}})
	if err != nil || len(imgs.Images) != 1 {
		t.Fatalf("debian-12 lookup: %v %v", imgs, err)
	}
	inst := launchRunning(t, c, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId,
		InstanceType: types.InstanceTypeT3Small, UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(nginxUserData)))})
	id, ip := inst.ID, inst.IP
	var page string
	eventually(t, "nginx's page", 5*time.Minute, func() bool {
		p, err := get("http://" + ip + "/")
		page = p
		return err == nil && strings.Contains(p, "golden from")
	})
	if strings.TrimSpace(page) != "golden from "+id {
		t.Fatalf("page = %q", page)
	}
}

package kiln_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// waitTerminatedReason waits for an instance to terminate and returns its
// state reason code.
func waitTerminatedReason(t *testing.T, c *ec2.Client, id string) string {
	t.Helper()
	var code string
	eventually(t, id+" to terminate", 60*time.Second, func() bool {
		out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(out.Reservations) == 0 {
			return false
		}
		i := out.Reservations[0].Instances[0]
		if i.StateReason != nil {
			code = aws.ToString(i.StateReason.Code)
		}
		return i.State.Name == types.InstanceStateNameTerminated
	})
	return code
}

func runOne(t *testing.T, c *ec2.Client, ami string) (string, error) {
	out, err := c.RunInstances(context.Background(), &ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		return "", err
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	t.Cleanup(func() {
		c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	})
	return id, nil
}

// TestImageSharingAndEncryption is the acceptance of issue 4 across two
// accounts: account B sees and launches A's golden image only after
// ModifyImageAttribute; A's copy encrypted under a customer key stores no
// plaintext and B launches it only after a key grant; a disabled key
// fails launches with EC2's reason; deprecation hides the image from B's
// listing; deregistration ends it.
func TestImageSharingAndEncryption(t *testing.T) {
	e, _ := startInstances(t)
	ctx := context.Background()
	const region, encRegion = "us-west-2", "eu-central-1"
	a, b := ec2.NewFromConfig(e.cfg(region)), ec2.NewFromConfig(e.cfgAs(region, otherKey, otherSecret))
	aEnc, bEnc := ec2.NewFromConfig(e.cfg(encRegion)), ec2.NewFromConfig(e.cfgAs(encRegion, otherKey, otherSecret))
	ud := "#!/bin/sh\nmkdir -p /www\necho kiln-marker-$((6*7))-plaintext > /www/index.html\n" +
		"printf '#!/bin/sh\\nhttpd -h /www -p 80\\n' > /etc/rc.local\nchmod +x /etc/rc.local\necho user data done\n"
	base := launchRunning(t, a, &ec2.RunInstancesInput{ImageId: aws.String(minimalAMI(t, a)), InstanceType: types.InstanceTypeT3Micro,
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(ud)))})
	eventually(t, "user data", 30*time.Second, func() bool {
		out, _ := a.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(base.ID)})
		b, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		return bytes.Contains(b, []byte("user data done"))
	})
	img, err := a.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(base.ID), Name: aws.String("shared golden")})
	if err != nil {
		t.Fatal(err)
	}
	ami := aws.ToString(img.ImageId)
	waitImage(t, a, ami)

	// Invisible to B until shared: NotFound, not AccessDenied.
	if _, err := b.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}); apiCode(t, err) != "InvalidAMIID.NotFound" {
		t.Fatalf("B describes A's private image: %v", err)
	}
	if _, err := runOne(t, b, ami); apiCode(t, err) != "InvalidAMIID.NotFound" {
		t.Fatalf("B launches A's private image: %v", err)
	}
	if _, err := a.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami),
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(otherAcct)}}}}); err != nil {
		t.Fatal(err)
	}
	attr, err := a.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(ami), Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil || len(attr.LaunchPermissions) != 1 || aws.ToString(attr.LaunchPermissions[0].UserId) != otherAcct {
		t.Fatalf("launch permissions: %+v %v", attr, err)
	}
	seen, err := b.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{testAccount}})
	if err != nil || len(seen.Images) != 1 || aws.ToString(seen.Images[0].ImageId) != ami {
		t.Fatalf("B's view of A's images: %+v %v", seen, err)
	}
	bi := launchRunning(t, b, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: types.InstanceTypeT3Micro})
	eventually(t, "B's instance of the shared image", 30*time.Second, func() bool {
		p, err := get("http://" + bi.IP + "/")
		return err == nil && p == "kiln-marker-42-plaintext\n"
	})
	// B may not change A's image.
	if _, err := b.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami),
		Description: &types.AttributeValue{Value: aws.String("mine")}}); apiCode(t, err) != "AuthFailure" {
		t.Fatalf("B modifies A's image: %v", err)
	}

	// Encrypted copy under A's customer key, in another region.
	ka := kms.NewFromConfig(e.cfg(encRegion))
	key, err := ka.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("golden images")})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	cp, err := aEnc.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(ami), SourceRegion: aws.String(region),
		Name: aws.String("shared golden (encrypted)"), Encrypted: aws.Bool(true), KmsKeyId: aws.String(keyARN)})
	if err != nil {
		t.Fatal(err)
	}
	enc := waitImage(t, aEnc, aws.ToString(cp.ImageId))
	if len(enc.BlockDeviceMappings) != 1 || !aws.ToBool(enc.BlockDeviceMappings[0].Ebs.Encrypted) {
		t.Fatalf("encrypted copy: %+v", enc.BlockDeviceMappings)
	}
	// No plaintext of the encrypted image on disk in that region.
	filepath.Walk(filepath.Join(e.dir, "blobs", encRegion), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("kiln-marker-42-plaintext")) || bytes.Contains(b, []byte("httpd -h /www")) {
				t.Fatalf("plaintext of the encrypted image in %s", p)
			}
		}
		return nil
	})
	encAMI := aws.ToString(cp.ImageId)
	if _, err := aEnc.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(encAMI),
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); apiCode(t, err) != "InvalidParameterValue" {
		t.Fatalf("made an encrypted image public: %v", err)
	}
	if _, err := aEnc.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(encAMI),
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(otherAcct)}}}}); err != nil {
		t.Fatal(err)
	}
	// B sees it but cannot use the key: the launch fails.
	id, err := runOne(t, bEnc, encAMI)
	if err != nil {
		t.Fatal(err)
	}
	if code := waitTerminatedReason(t, bEnc, id); code != "Client.InternalError" {
		t.Fatalf("B's launch without the key ended with %q", code)
	}
	// After a grant it launches.
	if _, err := ka.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), GranteePrincipal: aws.String("arn:aws:iam::" + otherAcct + ":root"),
		Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt, kmstypes.GrantOperationDescribeKey, kmstypes.GrantOperationCreateGrant}}); err != nil {
		t.Fatal(err)
	}
	be := launchRunning(t, bEnc, &ec2.RunInstancesInput{ImageId: aws.String(encAMI), InstanceType: types.InstanceTypeT3Micro})
	eventually(t, "B's instance of the encrypted image", 30*time.Second, func() bool {
		p, err := get("http://" + be.IP + "/")
		return err == nil && p == "kiln-marker-42-plaintext\n"
	})
	// Launched, it is still nowhere on disk in plaintext: the instances'
	// filesystems (and the unpacked layers) are in the encrypted store.
	// Only the unencrypted source image's own region store may hold it.
	store := filepath.Join(e.dir, "containerd", "store")
	if sf, err := os.Open(store); err != nil {
		t.Fatalf("the encrypted store: %v", err)
	} else {
		err = unix.Syncfs(int(sf.Fd()))
		sf.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	skip := []string{store, filepath.Join(e.dir, "containerd", "state"), filepath.Join(e.dir, "blobs", region), filepath.Join(e.dir, "images")}
	if p, _, err := runtimetest.FindPlaintext(e.dir, skip, "kiln-marker-42-plaintext"); err != nil || p != "" {
		t.Fatalf("plaintext of the image on disk in %s (%v)", p, err)
	}
	// A disabled key fails launches with EC2's reason.
	if _, err := ka.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(keyARN)}); err != nil {
		t.Fatal(err)
	}
	id, err = runOne(t, aEnc, encAMI)
	if err != nil {
		t.Fatal(err)
	}
	if code := waitTerminatedReason(t, aEnc, id); code != "Client.InvalidKMSKey.InvalidState" {
		t.Fatalf("launch with a disabled key ended with %q", code)
	}

	// Deprecation: B (not the owner) no longer lists it; asked by ID it is there.
	if _, err := a.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(ami), DeprecateAt: aws.Time(time.Now().Add(2 * time.Minute))}); err != nil {
		t.Fatal(err)
	}
	d, err := a.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || aws.ToString(d.Images[0].DeprecationTime) == "" {
		t.Fatalf("deprecation time: %+v %v", d, err)
	}
	// Protection, then deregistration.
	if _, err := a.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ami)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(ami)}); apiCode(t, err) != "OperationNotPermitted" {
		t.Fatalf("deregister a protected image: %v", err)
	}
	if _, err := a.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(ami)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(ami)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}); apiCode(t, err) != "InvalidAMIID.NotFound" {
		t.Fatalf("B describes a deregistered image: %v", err)
	}
	// With the cooldown: DescribeImages shows each state, and the image
	// stays protected for 24 hours after the protection is lifted.
	encID := aws.ToString(enc.ImageId)
	protection := func() string {
		d, err := aEnc.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{encID}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(d.Images[0].DeregistrationProtection)
	}
	if _, err := aEnc.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(encID), WithCooldown: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if p := protection(); p != "enabled-with-cooldown" {
		t.Fatalf("protection %q", p)
	}
	if _, err := aEnc.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(encID)}); err != nil {
		t.Fatal(err)
	}
	if p := protection(); !strings.HasPrefix(p, "disabled-until-") {
		t.Fatalf("protection during the cooldown %q", p)
	}
	if _, err := aEnc.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(encID)}); apiCode(t, err) != "OperationNotPermitted" {
		t.Fatalf("deregister during the cooldown: %v", err)
	}
}

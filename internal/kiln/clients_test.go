package kiln_test

import (
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBoto3 drives kiln with boto3 (botocore matches XML names
// case-sensitively, unlike the Go SDK).
func TestBoto3(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("precondition: python3 with boto3 is not installed (scripts/setup.sh installs python3-boto3)")
	}
	e := start(t)
	out, err := exec.Command("python3", "testdata/boto3_clients.py", e.endpoint, testKey, testSecret, testAccount).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

// TestAWSCLI runs the Debian AWS CLI v2 and the Python CLI v1 with the
// credentials file kiln writes, as a user would.
func TestAWSCLI(t *testing.T) {
	e := start(t)
	clis := map[string][]string{}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		clis["v2"] = []string{"/usr/bin/aws"}
	}
	if exec.Command("python3", "-c", "import awscli").Run() == nil {
		clis["v1"] = []string{"python3", "-m", "awscli"}
	}
	if len(clis) == 0 {
		t.Skip("precondition: neither the Debian awscli package nor Python awscli is installed")
	}
	for name, argv := range clis {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // the CLIs' own waiters sleep 15 s between polls
			run := func(args ...string) string {
				cmd := exec.Command(argv[0], append(append(argv[1:], "--endpoint-url", e.endpoint, "--output", "text"), args...)...)
				cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+e.dir+"/credentials", "AWS_PROFILE=test",
					"AWS_DEFAULT_REGION=ap-northeast-2", "AWS_CONFIG_FILE=/dev/null", "AWS_PAGER=")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			if out := run("sts", "get-caller-identity", "--query", "Account"); strings.TrimSpace(out) != testAccount {
				t.Fatalf("get-caller-identity: %q", out)
			}
			if out := run("ec2", "describe-regions", "--query", "Regions[].RegionName"); !strings.Contains(out, "ap-northeast-2") {
				t.Fatalf("describe-regions: %q", out)
			}
			run("ec2", "create-key-pair", "--key-name", "cli-"+name, "--query", "KeyMaterial")
			if out := run("ec2", "describe-key-pairs", "--key-names", "cli-"+name, "--query", "KeyPairs[0].KeyName"); strings.TrimSpace(out) != "cli-"+name {
				t.Fatalf("describe-key-pairs: %q", out)
			}
			run("ec2", "delete-key-pair", "--key-name", "cli-"+name)
			testKMSCLI(t, run)
			testImageCLI(t, run, name)
		})
	}
}

// testImageCLI makes a snapshot and an image from it, waits for both with
// the CLI's own waiters (snapshot-completed, image-available), copies the
// image across regions exactly as users type it and waits for the copy.
func testImageCLI(t *testing.T, run func(args ...string) string, name string) {
	t.Helper()
	vol := strings.TrimSpace(run("ec2", "create-volume", "--availability-zone", "ap-northeast-2a", "--size", "1", "--query", "VolumeId"))
	run("ec2", "wait", "volume-available", "--volume-ids", vol)
	snap := strings.TrimSpace(run("ec2", "create-snapshot", "--volume-id", vol, "--query", "SnapshotId"))
	run("ec2", "wait", "snapshot-completed", "--snapshot-ids", snap)
	if st := strings.TrimSpace(run("ec2", "describe-snapshots", "--snapshot-ids", snap, "--query", "Snapshots[0].State")); st != "completed" {
		t.Fatalf("after wait snapshot-completed: %q", st)
	}
	img := strings.TrimSpace(run("ec2", "register-image", "--name", "cli-"+name, "--root-device-name", "/dev/xvda",
		"--architecture", "x86_64", "--block-device-mappings", "DeviceName=/dev/xvda,Ebs={SnapshotId="+snap+"}", "--query", "ImageId"))
	run("ec2", "wait", "image-available", "--image-ids", img)
	copyName := "My server" // scenario 3, as users type it
	if name != "v2" {
		copyName += " (" + name + ")"
	}
	cp := strings.TrimSpace(run("ec2", "copy-image", "--source-image-id", img, "--source-region", "ap-northeast-2",
		"--region", "ap-northeast-1", "--name", copyName, "--query", "ImageId"))
	run("ec2", "wait", "image-available", "--image-ids", cp, "--region", "ap-northeast-1")
	// (CLI v2.9's model predates SourceImageId; the SDK tests check it.)
	out := run("ec2", "describe-images", "--image-ids", cp, "--region", "ap-northeast-1", "--query", "Images[0].[State,Name,OwnerId]")
	if f := strings.Split(strings.TrimSpace(out), "\t"); len(f) != 3 || f[0] != "available" || f[1] != copyName || f[2] != testAccount {
		t.Fatalf("the copy: %q", out)
	}
	// Retire both (these CLIs predate --delete-associated-snapshots).
	for _, region := range []string{"ap-northeast-1", "ap-northeast-2"} {
		id := map[string]string{"ap-northeast-1": cp, "ap-northeast-2": img}[region]
		snaps := strings.Fields(run("ec2", "describe-images", "--image-ids", id, "--region", region, "--query", "Images[0].BlockDeviceMappings[].Ebs.SnapshotId"))
		if len(snaps) != 1 {
			t.Fatalf("snapshots of %s: %v", id, snaps)
		}
		run("ec2", "deregister-image", "--image-id", id, "--region", region)
		run("ec2", "delete-snapshot", "--snapshot-id", snaps[0], "--region", region)
	}
	run("ec2", "delete-volume", "--volume-id", vol)
}

// testKMSCLI runs create-key, create-alias, encrypt (fileb://), decrypt and
// list-aliases through a CLI.
func testKMSCLI(t *testing.T, run func(args ...string) string) {
	t.Helper()
	keyID := strings.TrimSpace(run("kms", "create-key", "--description", "cli", "--query", "KeyMetadata.KeyId"))
	alias := "alias/cli-" + keyID[:8]
	run("kms", "create-alias", "--alias-name", alias, "--target-key-id", keyID)
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/plain", []byte("kiln secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ct := strings.TrimSpace(run("kms", "encrypt", "--key-id", alias, "--plaintext", "fileb://"+dir+"/plain",
		"--encryption-context", "purpose=cli", "--query", "CiphertextBlob"))
	raw, err := base64.StdEncoding.DecodeString(ct)
	if err != nil {
		t.Fatalf("encrypt output %q: %v", ct, err)
	}
	if err := os.WriteFile(dir+"/ct", raw, 0o600); err != nil {
		t.Fatal(err)
	}
	pt := strings.TrimSpace(run("kms", "decrypt", "--ciphertext-blob", "fileb://"+dir+"/ct", "--encryption-context", "purpose=cli", "--query", "Plaintext"))
	if got, _ := base64.StdEncoding.DecodeString(pt); string(got) != "kiln secret\n" {
		t.Fatalf("decrypt: %q", pt)
	}
	if out := run("kms", "list-aliases", "--key-id", keyID, "--query", "Aliases[].AliasName"); strings.TrimSpace(out) != alias {
		t.Fatalf("list-aliases: %q", out)
	}
}

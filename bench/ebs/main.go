// Command ebs is issue 4's image benchmark: kiln in process (the wiring of
// `kiln up`: kiln.Open, StartInstances with its own containerd) driven
// with aws-sdk-go-v2, next to anchors measured in the same run on the same
// filesystem: `cp` of a file of the same size followed by fsync of the
// copy (the blob store fsyncs before it commits a blob).
//
// It measures CreateImage (NoReboot) of an instance that wrote N MB
// (N = 10, 100, 1000) until the image is available, CreateImage of an
// unchanged instance, and CopyImage of the 1000 MB image to another region
// unencrypted and encrypted under a KMS key.
//
//	bash bench/ebs/run.sh        (as root)
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kiln-dev/kiln/bench/internal/anchor"
	"github.com/kiln-dev/kiln/internal/account"
	"github.com/kiln-dev/kiln/internal/kiln"
)

var (
	initPath = flag.String("init", "", "static kiln binary (CGO_ENABLED=0) run as PID 1 in instances")
	dirFlag  = flag.String("dir", "", "directory for the data (default: a temp dir under bench/)")
	sizes    = []int{10, 100, 1000}
	reps     = []int{7, 5, 3} // rounds per size
)

const (
	key, secret = "EBSBENCHKEY", "EBSBENCHSECRET"
	mib         = 1 << 20
)

var cleanups []func()

func main() {
	flag.Parse()
	if os.Geteuid() != 0 || *initPath == "" {
		fmt.Fprintln(os.Stderr, "bench/ebs: run as root with -init (bench/ebs/run.sh does both)")
		os.Exit(2)
	}
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/ebs:", err)
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		os.Exit(1)
	}
}

type row struct{ what, figure, anchor, ratio, target string }

var rows []row

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / mib / d.Seconds() }

func run() error {
	ctx := context.Background()
	fmt.Println("bench/ebs: load average", anchor.Loadavg())
	base := *dirFlag
	if base == "" {
		base = "bench"
	}
	dir, err := os.MkdirTemp(base, "kbench-ebs")
	if err != nil {
		return err
	}
	dir, _ = filepath.Abs(dir)
	cleanups = append(cleanups, func() { anchor.UnmountUnder(dir); os.RemoveAll(dir) })

	k, err := kiln.Open(kiln.Options{DataDir: filepath.Join(dir, "kiln"), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { k.Close() })
	if _, _, err := k.Accounts.Create(ctx, "bench", account.CreateOptions{AccountID: "444444444444", AccessKeyID: key, SecretAccessKey: secret}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- k.Serve(sctx, ln) }()
	cleanups = append(cleanups, func() { stop(); <-served })
	var rb [3]byte
	_, _ = rand.Read(rb[:])
	bridge := "ke" + hex.EncodeToString(rb[:])
	// Instances need no metadata here: a high port keeps clear of
	// another kiln's 169.254.169.254:80.
	inst, err := k.StartInstances(ctx, kiln.InstanceOptions{Bridge: bridge, InitPath: *initPath, IMDSAddr: "169.254.169.254:18080"})
	if err != nil {
		return err
	}
	cfg := func(region string) aws.Config {
		return aws.Config{Region: region, BaseEndpoint: aws.String("http://" + ln.Addr().String()),
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
	}
	c, c2 := ec2.NewFromConfig(cfg("us-east-1")), ec2.NewFromConfig(cfg("us-west-2"))
	var ids []string
	cleanups = append(cleanups, func() {
		if len(ids) > 0 {
			c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: ids})
			ec2.NewInstanceTerminatedWaiter(c).Wait(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: ids}, time.Minute)
		}
		if err := inst.Teardown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "teardown:", err)
		}
	})
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		return fmt.Errorf("no quick-start image: %v", err)
	}
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		return err
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	ids = append(ids, id)
	if err := ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, time.Minute); err != nil {
		return err
	}
	socket := filepath.Join(dir, "kiln", "containerd", "containerd.sock")
	inside := func(script string) error {
		b, err := exec.Command("ctr", "--address", socket, "--namespace", "kiln", "tasks", "exec", "--exec-id", "b"+hex.EncodeToString(rb[:]), id, "/bin/sh", "-c", script).CombinedOutput()
		if err != nil {
			return fmt.Errorf("in the instance: %v: %s", err, b)
		}
		return nil
	}
	n := 0
	createImage := func(cl *ec2.Client, f func() (*string, error)) (time.Duration, error) {
		start := time.Now()
		img, err := f()
		if err != nil {
			return 0, err
		}
		for {
			d, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img)}})
			if err != nil {
				return 0, err
			}
			switch d.Images[0].State {
			case types.ImageStateAvailable:
				return time.Since(start), nil
			case types.ImageStatePending:
			default:
				return 0, fmt.Errorf("image %s: %s", aws.ToString(img), d.Images[0].State)
			}
			time.Sleep(time.Millisecond)
		}
	}
	capture := func() (time.Duration, error) {
		n++
		return createImage(c, func() (*string, error) {
			o, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String(fmt.Sprintf("bench-%d", n)), NoReboot: aws.Bool(true)})
			if err != nil {
				return nil, err
			}
			return o.ImageId, nil
		})
	}

	// An unchanged instance.
	var uerr error
	unchanged := anchor.Median(5, func(int) time.Duration {
		d, err := capture()
		if err != nil {
			uerr = err
		}
		return d
	})
	if uerr != nil {
		return uerr
	}
	rows = append(rows, row{"CreateImage of an unchanged instance → available, median of 5", fmt.Sprintf("%.1f ms", anchor.MS(unchanged)), "", "", "< 200 ms"})

	// N MB written inside the instance, repeated (the smaller sizes more
	// often: a single fsync can stall on this noisy disk). Each round
	// writes the data, times cp of as many bytes, then the capture; the
	// medians are compared.
	var lastImage string
	for i, size := range sizes {
		var caps, cps []time.Duration
		for range reps[i] {
			if err := inside(fmt.Sprintf("rm -f /bench-*; head -c %d /dev/urandom > /bench-%d", size*mib, size)); err != nil {
				return err
			}
			cpd, err := cpAnchor(dir, int64(size)*mib)
			if err != nil {
				return err
			}
			d, err := capture()
			if err != nil {
				return err
			}
			caps, cps = append(caps, d), append(cps, cpd)
		}
		lastImage = fmt.Sprintf("bench-%d", n)
		d, cpd := median(caps), median(cps)
		bytes := int64(size) * mib
		rows = append(rows, row{fmt.Sprintf("CreateImage, instance wrote %d MB → available, median of %d", size, reps[i]),
			fmt.Sprintf("%.0f ms, %.0f MB/s", anchor.MS(d), mbps(bytes, d)), fmt.Sprintf("cp+fsync %.0f MB/s", mbps(bytes, cpd)),
			fmt.Sprintf("%.0f%%", 100*cpd.Seconds()/d.Seconds()), "≥ 50% of cp"})
	}
	fmt.Println("  captured; copying the 1000 MB image")

	src, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("name"), Values: []string{lastImage}}}, Owners: []string{"self"}})
	if err != nil || len(src.Images) != 1 {
		return fmt.Errorf("the 1000 MB image: %v", err)
	}
	srcID := src.Images[0].ImageId
	cat, _, err := k.Images()
	if err != nil {
		return err
	}
	full, err := cat.Get(ctx, "444444444444", "us-east-1", aws.ToString(srcID))
	if err != nil {
		return err
	}
	var total int64
	for _, l := range full.Layers {
		total += l.Size
	}
	cpd, err := cpAnchor(dir, total)
	if err != nil {
		return err
	}
	plain, err := createImage(c2, func() (*string, error) {
		o, err := c2.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: srcID, SourceRegion: aws.String("us-east-1"), Name: aws.String("copy")})
		if err != nil {
			return nil, err
		}
		return o.ImageId, nil
	})
	if err != nil {
		return err
	}
	rows = append(rows, row{fmt.Sprintf("CopyImage %d MB to another region, unencrypted", total/mib),
		fmt.Sprintf("%.0f ms, %.0f MB/s", anchor.MS(plain), mbps(total, plain)), fmt.Sprintf("cp+fsync %.0f MB/s", mbps(total, cpd)),
		fmt.Sprintf("%.0f%%", 100*cpd.Seconds()/plain.Seconds()), "≥ 50% of cp"})
	kk, err := kms.NewFromConfig(cfg("us-west-2")).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		return err
	}
	enc, err := createImage(c2, func() (*string, error) {
		o, err := c2.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: srcID, SourceRegion: aws.String("us-east-1"), Name: aws.String("copy-encrypted"),
			Encrypted: aws.Bool(true), KmsKeyId: kk.KeyMetadata.Arn})
		if err != nil {
			return nil, err
		}
		return o.ImageId, nil
	})
	if err != nil {
		return err
	}
	rows = append(rows, row{fmt.Sprintf("CopyImage %d MB to another region, encrypted (KMS key)", total/mib),
		fmt.Sprintf("%.0f ms, %.0f MB/s", anchor.MS(enc), mbps(total, enc)), fmt.Sprintf("cp+fsync %.0f MB/s", mbps(total, cpd)),
		fmt.Sprintf("%.0f%%", 100*cpd.Seconds()/enc.Seconds()), "≥ 30% of cp"})

	fmt.Printf("\n%-62s %-22s %-20s %-7s %s\n", "bench/ebs", "kiln", "anchor (same run)", "ratio", "target")
	for _, r := range rows {
		fmt.Printf("%-62s %-22s %-20s %-7s %s\n", r.what, r.figure, r.anchor, r.ratio, r.target)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// cpAnchor times `cp` of a fresh random file of n bytes on the data's
// filesystem, with the copy fsynced (GNU sync FILE).
func cpAnchor(dir string, n int64) (time.Duration, error) {
	a, b := filepath.Join(dir, "anchor-src"), filepath.Join(dir, "anchor-dst")
	defer os.Remove(a)
	defer os.Remove(b)
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("head -c %d /dev/urandom > %s", n, a)).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("anchor file: %v %s", err, out)
	}
	start := time.Now()
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("cp %s %s && sync %s", a, b, b)).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cp: %v %s", err, out)
	}
	return time.Since(start), nil
}

package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestCrashDuringUploads builds the kiln binary, kills it with SIGKILL
// while a PutObject and an UploadPart are streaming, restarts it and
// checks that nothing partial is visible, the temporary files are gone,
// and the multipart upload can still be listed, completed and aborted.
func TestCrashDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds and runs the kiln binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kiln")
	build := exec.Command("go", "build", "-o", bin, "../../../cmd/kiln")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	create := exec.Command(bin, "accounts", "create", "test", "--account-id", "123456789012",
		"--access-key-id", "CRASHKEY", "--secret-access-key", "CRASHSECRET", "--data-dir", data)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("accounts create: %v\n%s", err, out)
	}
	ctx := context.Background()
	addr := freeAddr(t)
	proc := startKiln(t, bin, data, addr)
	c := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("CRASHKEY", "CRASHSECRET", ""),
		BaseEndpoint: aws.String("http://" + addr), RetryMaxAttempts: 1}, func(o *s3.Options) { o.UsePathStyle = true })
	b := aws.String("crash")
	must(t, errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})))
	part := make([]byte, 5<<20)
	_, _ = rand.Read(part)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("image.raw")})
	must(t, err)
	var etags []*string
	for n := int32(1); n <= 2; n++ {
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("image.raw"), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(part)})
		must(t, err)
		etags = append(etags, p.ETag)
	}
	up2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("abandoned")})
	must(t, err)

	// Two uploads stream half their bodies, then kiln is killed.
	ps := s3.NewPresignClient(c)
	putURL, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("partial.bin")})
	must(t, err)
	partURL, err := ps.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("image.raw"), UploadId: up.UploadId, PartNumber: aws.Int32(3)})
	must(t, err)
	var writers []*io.PipeWriter
	for _, u := range []string{putURL.URL, partURL.URL} {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPut, u, pr)
		req.ContentLength = 10 << 20
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		}()
		if _, err := pw.Write(part[:4<<20]); err != nil {
			t.Fatal(err)
		}
		writers = append(writers, pw)
	}
	waitFor(t, func() bool {
		ents, _ := os.ReadDir(filepath.Join(data, "s3", "tmp"))
		return len(ents) >= 2
	}, "two uploads in progress")
	must(t, proc.Process.Signal(syscall.SIGKILL))
	_ = proc.Wait()
	for _, w := range writers {
		w.CloseWithError(io.ErrClosedPipe)
	}

	startKiln(t, bin, data, addr)
	if ents, _ := os.ReadDir(filepath.Join(data, "s3", "tmp")); len(ents) != 0 {
		t.Fatalf("temporary files survived the restart: %d", len(ents))
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("partial.bin")}); err == nil {
		t.Fatal("the interrupted PutObject is visible")
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	must(t, err)
	if aws.ToInt32(l.KeyCount) != 0 {
		t.Fatalf("objects after crash: %d", aws.ToInt32(l.KeyCount))
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
	must(t, err)
	if len(ups.Uploads) != 2 {
		t.Fatalf("uploads after crash: %d", len(ups.Uploads))
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("image.raw"), UploadId: up.UploadId})
	must(t, err)
	if len(lp.Parts) != 2 {
		t.Fatalf("parts after crash: %d (the interrupted part 3 must not be listed)", len(lp.Parts))
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("image.raw"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: etags[0]}, {PartNumber: aws.Int32(2), ETag: etags[1]}}}})
	must(t, err)
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("image.raw")})
	must(t, err)
	got, err := io.ReadAll(g.Body)
	g.Body.Close()
	must(t, err)
	if !bytes.Equal(got, append(append([]byte{}, part...), part...)) {
		t.Fatal("completed object differs")
	}
	must(t, errOnly(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("abandoned"), UploadId: up2.UploadId})))
	ups, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
	must(t, err)
	if len(ups.Uploads) != 0 {
		t.Fatalf("uploads after complete and abort: %d", len(ups.Uploads))
	}
	// Only the completed object's two parts remain on disk (the interrupted
	// uploads' data never left tmp/).
	n := 0
	_ = filepath.WalkDir(filepath.Join(data, "s3", "data"), func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != 2 {
		t.Fatalf("data files on disk: %d, want 2", n)
	}
}

func startKiln(t *testing.T, bin, data, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "up", "--data-dir", data, "--listen", addr, "--instances=false")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + addr + "/_kiln/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "kiln to answer")
	return cmd
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func errOnly[T any](_ T, err error) error { return err }

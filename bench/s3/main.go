// Command s3bench measures kiln's S3 against the same machine's own
// anchors in one run: a 1 GiB PUT and GET (streamed through presigned
// URLs, so the client adds no hashing) against `cp` of the same file on
// the same filesystem, kiln's peak extra RSS during those transfers, and
// PUT/GET requests per second for 1 KiB objects from concurrent
// connections. bench/s3/run.sh starts kiln and runs it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:4566", "kiln endpoint")
	key := flag.String("key", "BENCHKEY", "access key ID")
	secret := flag.String("secret", "BENCHSECRET", "secret access key")
	dir := flag.String("dir", os.TempDir(), "scratch directory on the same filesystem as kiln's data")
	pid := flag.Int("pid", 0, "kiln's process ID (for RSS)")
	size := flag.Int64("size", 1<<30, "size of the large object")
	conc := flag.Int("c", 16, "concurrent connections for small objects")
	dur := flag.Duration("d", 5*time.Second, "duration of each small-object run")
	flag.Parse()
	ctx := context.Background()
	c := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(*key, *secret, ""),
		BaseEndpoint: endpoint}, func(o *s3.Options) { o.UsePathStyle = true })
	ps := s3.NewPresignClient(c)
	bucket := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	check(errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})))

	// Large object.
	src := filepath.Join(*dir, "big.src")
	writeRandom(src, *size)
	defer os.Remove(src)
	cpDst := filepath.Join(*dir, "big.cp")
	t0 := time.Now()
	out, err := exec.Command("cp", src, cpDst).CombinedOutput()
	check(err, string(out))
	cpDur := time.Since(t0)
	os.Remove(cpDst)

	rss := newSampler(*pid)
	putURL, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("big")})
	check(err)
	f, err := os.Open(src)
	check(err)
	req, _ := http.NewRequest(http.MethodPut, putURL.URL, f)
	req.ContentLength = *size
	rss.start()
	t0 = time.Now()
	resp, err := http.DefaultClient.Do(req)
	check(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	putDur := time.Since(t0)
	putRSS := rss.stop()
	f.Close()
	if resp.StatusCode != 200 {
		fail("PUT: %d %s", resp.StatusCode, body)
	}

	getURL, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("big")})
	check(err)
	getDst := filepath.Join(*dir, "big.get")
	g, err := os.Create(getDst)
	check(err)
	rss.start()
	t0 = time.Now()
	resp, err = http.Get(getURL.URL)
	check(err)
	n, err := io.Copy(g, resp.Body)
	check(err)
	resp.Body.Close()
	check(g.Close())
	getDur := time.Since(t0)
	getRSS := rss.stop()
	os.Remove(getDst)
	if resp.StatusCode != 200 || n != *size {
		fail("GET: %d, %d bytes", resp.StatusCode, n)
	}
	check(errOnly(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("big")})))

	// Small objects.
	const small = 1 << 10
	keys := 20000
	puts := make([]string, keys)
	gets := make([]string, keys)
	for i := range keys {
		k := fmt.Sprintf("small/%06d", i)
		p, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &k})
		check(err)
		q, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &k})
		check(err)
		puts[i], gets[i] = p.URL, q.URL
	}
	payload := bytes.Repeat([]byte("k"), small)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}}
	putRate, putErrs, putN := load(hc, *conc, *dur, puts, func(u string) *http.Request {
		r, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(payload))
		return r
	})
	// GET only keys the PUT run wrote.
	getRate, getErrs, _ := load(hc, *conc, *dur, gets[:min(putN, int64(keys))], func(u string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		return r
	})

	mbps := func(d time.Duration) float64 { return float64(*size) / d.Seconds() / 1e6 }
	fmt.Printf("\nS3, %d MiB object (presigned, streamed), scratch dir %s\n", *size>>20, *dir)
	fmt.Printf("%-40s %10.0f MB/s\n", "cp (same file, same filesystem)", mbps(cpDur))
	fmt.Printf("%-40s %10.0f MB/s   %3.0f%% of cp (target >= 50%%)\n", "kiln PUT", mbps(putDur), 100*cpDur.Seconds()/putDur.Seconds())
	fmt.Printf("%-40s %10.0f MB/s   %3.0f%% of cp (target >= 50%%)\n", "kiln GET (to a file)", mbps(getDur), 100*cpDur.Seconds()/getDur.Seconds())
	if *pid != 0 {
		fmt.Printf("%-40s %10.1f MB     (target < 64 MB)\n", "kiln peak extra RSS during PUT", putRSS)
		fmt.Printf("%-40s %10.1f MB     (target < 64 MB)\n", "kiln peak extra RSS during GET", getRSS)
	}
	fmt.Printf("\nS3, 1 KiB objects, %d connections, %s each\n", *conc, *dur)
	fmt.Printf("%-40s %10.0f req/s  (target >= 3000; %d errors)\n", "PUT", putRate, putErrs)
	fmt.Printf("%-40s %10.0f req/s  (target >= 5000; %d errors)\n", "GET", getRate, getErrs)
}

// load runs conc workers issuing requests for urls round-robin for d and
// returns the rate of 200 answers, the number of other outcomes and the
// number of requests made.
func load(hc *http.Client, conc int, d time.Duration, urls []string, mk func(string) *http.Request) (float64, int64, int64) {
	var ok, bad, next atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				u := urls[int(next.Add(1)-1)%len(urls)]
				resp, err := hc.Do(mk(u))
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), bad.Load(), next.Load()
}

// sampler tracks a process's peak RSS above its level at start.
type sampler struct {
	pid   int
	base  float64
	peak  atomic.Int64
	stopc chan struct{}
	done  chan struct{}
}

func newSampler(pid int) *sampler { return &sampler{pid: pid} }

func (s *sampler) start() {
	if s.pid == 0 {
		return
	}
	s.base = rssMB(s.pid)
	s.peak.Store(0)
	s.stopc, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := int64(rssMB(s.pid) * 1024); v > s.peak.Load() {
				s.peak.Store(v)
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
}

func (s *sampler) stop() float64 {
	if s.pid == 0 {
		return 0
	}
	close(s.stopc)
	<-s.done
	return max(0, float64(s.peak.Load())/1024-s.base)
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

func writeRandom(path string, size int64) {
	f, err := os.Create(path)
	check(err)
	r := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 4<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), left)]
		_, _ = r.Read(chunk)
		_, err := f.Write(chunk)
		check(err)
	}
	check(f.Sync())
	check(f.Close())
}

func check(err error, ctx ...string) {
	if err != nil {
		fail("%v %s", err, strings.Join(ctx, " "))
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "s3bench: "+format+"\n", args...)
	os.Exit(1)
}

func errOnly[T any](_ T, err error) error { return err }

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// loadFlag starts the load-generator mode: the bench re-executes itself
// with it inside an instance's network namespace (nsenter --net=…), so that
// the metadata service sees the requests coming from the instance.
const loadFlag = "-imds-load"

// loadResult is what the load generator prints (one JSON line).
type loadResult struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	P50us    int64   `json:"p50_us"`
	P99us    int64   `json:"p99_us"`
	Body     string  `json:"body"` // the first answer, to check who answered
}

func (r loadResult) rate() float64 { return float64(r.Requests) / r.Seconds }

// latencies is a histogram of 10 µs buckets up to 200 ms (the last bucket
// holds everything slower).
type latencies struct{ bucket [20001]int64 }

const bucketWidth = 10 * time.Microsecond

func (l *latencies) add(d time.Duration) {
	i := min(int(d/bucketWidth), len(l.bucket)-1)
	l.bucket[i]++
}

func (l *latencies) merge(o *latencies) {
	for i, v := range o.bucket {
		l.bucket[i] += v
	}
}

// quantile is the upper edge of the bucket holding the q-quantile.
func (l *latencies) quantile(q float64) time.Duration {
	var total int64
	for _, v := range l.bucket {
		total += v
	}
	want := int64(q * float64(total))
	var seen int64
	for i, v := range l.bucket {
		seen += v
		if seen > want {
			return time.Duration(i+1) * bucketWidth
		}
	}
	return time.Duration(len(l.bucket)) * bucketWidth
}

// runLoad is the load-generator mode: conns keep-alive connections each
// send GETs to url back to back for dur (after an IMDSv2 token PUT to
// tokenURL when set) and the result is printed as JSON on stdout.
func runLoad(args []string) int {
	fs := flag.NewFlagSet("imds-load", flag.ContinueOnError)
	url := fs.String("url", "", "URL to GET")
	tokenURL := fs.String("token-url", "", "IMDSv2: PUT here first and send the token")
	conns := fs.Int("c", 8, "connections")
	dur := fs.Duration("d", 3*time.Second, "duration")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	header := http.Header{}
	if *tokenURL != "" {
		req, _ := http.NewRequest(http.MethodPut, *tokenURL, nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "300")
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "token:", err)
			return 1
		}
		tok, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "token: status %d: %s\n", resp.StatusCode, tok)
			return 1
		}
		header.Set("X-aws-ec2-metadata-token", string(tok))
	}
	first, err := get(client, *url, header)
	if err != nil {
		fmt.Fprintln(os.Stderr, "first request:", err)
		return 1
	}

	var (
		mu     sync.Mutex
		all    latencies
		total  int
		failed int
		wg     sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(*dur)
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine latencies
			ok, bad := 0, 0
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				if _, err := get(client, *url, header); err != nil {
					bad++
					continue
				}
				mine.add(time.Since(t0))
				ok++
			}
			mu.Lock()
			all.merge(&mine)
			total += ok
			failed += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	out, _ := json.Marshal(loadResult{Requests: total, Errors: failed, Seconds: elapsed.Seconds(),
		P50us: all.quantile(0.50).Microseconds(), P99us: all.quantile(0.99).Microseconds(), Body: first})
	fmt.Println(string(out))
	return 0
}

func get(c *http.Client, url string, h http.Header) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// loadIn runs this binary's load generator inside the network namespace
// at nsPath and returns its result.
func loadIn(nsPath string, args ...string) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, err
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + nsPath, "--", self, loadFlag}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("load generator in %s: %v: %s", nsPath, err, stderr.String())
	}
	var r loadResult
	if err := json.Unmarshal(out, &r); err != nil {
		return loadResult{}, fmt.Errorf("load generator output %q: %w", out, err)
	}
	if r.Requests == 0 {
		return r, errors.New("load generator: no request succeeded")
	}
	return r, nil
}

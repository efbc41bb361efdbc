// Command imds benchmarks kiln's instance metadata service: a Go load
// generator over loopback against imds.Serve (the real handler, a fake
// Source), next to a plain net/http handler as the anchor, same run, same
// machine. It prints req/s and latency percentiles.
//
//	go run ./bench/imds [-c 16] [-d 5s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/imds"
)

type source struct{ inst *imds.Instance }

func (s source) InstanceByIP(_ context.Context, ip netip.Addr) (*imds.Instance, error) {
	if ip.IsLoopback() {
		c := *s.inst
		return &c, nil
	}
	return nil, imds.ErrUnknownCaller
}

type result struct {
	reqs      int
	errs      int
	elapsed   time.Duration
	latencies []time.Duration
}

func load(url string, hdr map[string]string, conc int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, Proxy: nil}
	cl := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	res := result{}
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			errs := 0
			req, _ := http.NewRequest("GET", url, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := cl.Do(req)
				if err != nil {
					errs++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs++
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errs += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.reqs = len(res.latencies)
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	return res
}

func (r result) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(float64(len(r.latencies)-1)*p)]
}

func (r result) print(name string) float64 {
	rps := float64(r.reqs) / r.elapsed.Seconds()
	fmt.Printf("%-34s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n", name, rps,
		float64(r.pct(0.50).Microseconds())/1000, float64(r.pct(0.99).Microseconds())/1000, r.errs)
	return rps
}

func serve(h http.Handler) (string, func()) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = imds.Serve(ctx, ln, h); close(done) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }
}

func main() {
	conc := flag.Int("c", 16, "concurrent connections")
	dur := flag.Duration("d", 5*time.Second, "duration of each run")
	flag.Parse()

	inst := &imds.Instance{ID: "i-0123456789abcdef0", ImageID: "ami-1", InstanceType: "t3.micro", AccountID: "123456789012",
		Region: "us-east-1", AvailabilityZone: "us-east-1a", Hostname: "ip-172-31-5-9.ec2.internal", LocalIPv4: "172.31.5.9",
		MAC: "02:00:00:00:00:01", Options: imds.Options{HTTPEndpoint: true, HopLimit: 1}}
	h := imds.NewHandler(source{inst}, clock.Real{}, imds.HandlerOptions{})
	base, stop := serve(h)
	defer stop()

	// A token for the v2 runs.
	req, _ := http.NewRequest("PUT", base+"/latest/api/token", nil)
	req.Header.Set(imds.HeaderTokenTTL, "21600")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	anchorURL, stopAnchor := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("i-0123456789abcdef0"))
	}))
	defer stopAnchor()

	fmt.Printf("IMDS over loopback (client and server in one process, 2 cores shared), %d connections, %v per run\n", *conc, *dur)
	a := load(anchorURL+"/", nil, *conc, *dur).print("anchor: plain net/http handler")
	v1 := load(base+"/latest/meta-data/instance-id", nil, *conc, *dur)
	r1 := v1.print("kiln IMDSv1 meta-data/instance-id")
	v2 := load(base+"/latest/meta-data/instance-id", map[string]string{imds.HeaderToken: string(tok)}, *conc, *dur)
	r2 := v2.print("kiln IMDSv2 meta-data/instance-id")
	l := load(base+"/latest/meta-data/", map[string]string{imds.HeaderToken: string(tok)}, *conc, *dur)
	l.print("kiln IMDSv2 meta-data/ listing")
	fmt.Printf("ratio to anchor: v1 %.2f, v2 %.2f\n", r1/a, r2/a)
	ok := r1 >= 10000 && r2 >= 10000 && v1.pct(0.99) < 5*time.Millisecond && v2.pct(0.99) < 5*time.Millisecond
	fmt.Printf("target (>= 10,000 req/s, p99 < 5 ms): %v\n", map[bool]string{true: "met", false: "NOT met"}[ok])
}

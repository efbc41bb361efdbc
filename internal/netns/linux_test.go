package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("precondition: needs root to create bridges, veths and namespaces")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("precondition: nft not installed (apt-get install nftables)")
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newTestNet sets up a network on its own bridge, tables and namespace
// prefix; everything is torn down at cleanup.
func newTestNet(t *testing.T, nat bool, subnets ...netip.Prefix) *Linux {
	t.Helper()
	tag := "kt" + randHex(3)
	l, err := New(Options{Bridge: tag, Table: tag, Prefix: tag + "-", NAT: nat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if _, err := netlink.LinkByName(tag); err == nil {
			t.Errorf("bridge %s left after Teardown", tag)
		}
		if out, _ := exec.Command("nft", "list", "tables").Output(); strings.Contains(string(out), tag) {
			t.Errorf("tables left after Teardown: %s", out)
		}
	})
	ctx := context.Background()
	if err := l.Setup(ctx, subnets); err != nil {
		t.Fatal(err)
	}
	if err := l.Setup(ctx, subnets); err != nil { // idempotent
		t.Fatalf("second Setup: %v", err)
	}
	return l
}

// inNS runs fn on a thread inside the namespace at path; the thread is
// discarded afterwards.
func inNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := vnetns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := vnetns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// httpGet dials from the calling thread's namespace (optionally from a
// given local address) and returns the body.
func httpGet(addr string, local net.IP) (string, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: test\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	s := string(b)
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		s = s[i+4:]
	}
	return s, nil
}

// server answers every request with the client's address and records it.
type server struct {
	mu      sync.Mutex
	clients []string
	addr    string
}

func serve(t *testing.T, l net.Listener) *server {
	s := &server{addr: l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.clients = append(s.clients, r.RemoteAddr)
		s.mu.Unlock()
		io.WriteString(w, r.RemoteAddr)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *server) saw(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		if strings.HasPrefix(c, ip+":") {
			return true
		}
	}
	return false
}

func mac(b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0x6b, 0x69, 0x6c, 0x6e, b} }

func TestNetwork(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s1, s2 := netip.MustParsePrefix("10.213.0.0/20"), netip.MustParsePrefix("10.213.16.0/20")
	l := newTestNet(t, true, s1, s2)
	idA, idB := "i-a"+randHex(4), "i-b"+randHex(4)
	a, err := l.Attach(ctx, idA, netip.MustParsePrefix("10.213.0.10/20"), mac(1))
	if err != nil {
		t.Fatal(err)
	}
	if a.Gateway.String() != "10.213.0.1" || len(a.HostVeth) > 15 || a.NetNSPath != "/var/run/netns/"+l.o.Prefix+idA {
		t.Fatalf("attachment %+v", a)
	}
	again, err := l.Attach(ctx, idA, netip.MustParsePrefix("10.213.0.10/20"), mac(1))
	if err != nil || again.HostVeth != a.HostVeth {
		t.Fatalf("idempotent Attach: %+v %v", again, err)
	}
	b, err := l.Attach(ctx, idB, netip.MustParsePrefix("10.213.16.11/20"), mac(2))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := l.List(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("List = %v, %v", ids, err)
	}

	// A host server on the metadata address sees the instance's address.
	ml, err := net.Listen("tcp", "169.254.169.254:0")
	if err != nil {
		t.Fatal(err)
	}
	md := serve(t, ml)
	// A host server on the gateway address.
	gl, err := net.Listen("tcp", "10.213.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw := serve(t, gl)
	// A server inside b.
	var bl net.Listener
	if err := inNS(b.NetNSPath, func() error {
		var err error
		bl, err = net.Listen("tcp", "10.213.16.11:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	inB := serve(t, bl)

	err = inNS(a.NetNSPath, func() error {
		body, err := httpGet(md.addr, nil)
		if err != nil {
			return fmt.Errorf("metadata from a: %w", err)
		}
		if !strings.HasPrefix(body, "10.213.0.10:") {
			return fmt.Errorf("metadata server saw %q, want 10.213.0.10", body)
		}
		if _, err := httpGet(gw.addr, nil); err != nil {
			return fmt.Errorf("gateway from a: %w", err)
		}
		body, err = httpGet(inB.addr, nil)
		if err != nil {
			return fmt.Errorf("b from a: %w", err)
		}
		if !strings.HasPrefix(body, "10.213.0.10:") {
			return fmt.Errorf("b saw %q", body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The host reaches b.
	if _, err := httpGet(inB.addr, nil); err != nil {
		t.Fatalf("host to b: %v", err)
	}

	// Spoofing: a adds another address and tries to use it.
	err = inNS(a.NetNSPath, func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		spoof, _ := netlink.ParseAddr("10.213.0.99/20")
		if err := netlink.AddrAdd(eth, spoof); err != nil {
			return err
		}
		if _, err := httpGet(md.addr, net.ParseIP("10.213.0.99")); err == nil {
			return fmt.Errorf("spoofed connection to the metadata address succeeded")
		}
		if _, err := httpGet(gw.addr, net.ParseIP("10.213.0.99")); err == nil {
			return fmt.Errorf("spoofed connection to the gateway succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if md.saw("10.213.0.99") || gw.saw("10.213.0.99") {
		t.Fatal("a host listener saw the spoofed source")
	}
	// Control: without a's rules the same spoofed connection goes through
	// (so it was the rules that stopped it); Attach again restores them.
	if out, err := exec.Command("nft", "flush", "chain", "bridge", l.o.Table, l.portChain(a.HostVeth)).CombinedOutput(); err != nil {
		t.Fatalf("flush: %s", out)
	}
	if err := inNS(a.NetNSPath, func() error {
		_, err := httpGet(md.addr, net.ParseIP("10.213.0.99"))
		return err
	}); err != nil {
		t.Fatalf("control (no rules) failed: %v", err)
	}
	if _, err := l.Attach(ctx, idA, netip.MustParsePrefix("10.213.0.10/20"), mac(1)); err != nil {
		t.Fatal(err)
	}
	if err := inNS(a.NetNSPath, func() error {
		if _, err := httpGet(md.addr, net.ParseIP("10.213.0.99")); err == nil {
			return fmt.Errorf("spoofing works after re-Attach")
		}
		_, err := httpGet(md.addr, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// NAT rule present.
	out, err := exec.Command("nft", "list", "table", "ip", l.o.Table).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "masquerade") || !strings.Contains(string(out), "10.213.16.0/20") {
		t.Fatalf("NAT table: %s %v", out, err)
	}

	// Detach leaves nothing.
	if err := l.Detach(ctx, idA); err != nil {
		t.Fatal(err)
	}
	if err := l.Detach(ctx, idA); err != nil {
		t.Fatalf("second Detach: %v", err)
	}
	if _, err := netlink.LinkByName(a.HostVeth); err == nil {
		t.Fatal("veth left after Detach")
	}
	if _, err := os.Stat(a.NetNSPath); !os.IsNotExist(err) {
		t.Fatalf("netns file left after Detach: %v", err)
	}
	out, _ = exec.Command("nft", "list", "table", "bridge", l.o.Table).CombinedOutput()
	if strings.Contains(string(out), a.HostVeth) {
		t.Fatalf("rules left after Detach:\n%s", out)
	}
	if !strings.Contains(string(out), b.HostVeth) {
		t.Fatalf("b's rules missing:\n%s", out)
	}
	if ids, _ := l.List(ctx); len(ids) != 1 || ids[0] != idB {
		t.Fatalf("List after Detach = %v", ids)
	}
}

func TestNoNAT(t *testing.T) {
	requireRoot(t)
	l := newTestNet(t, false, netip.MustParsePrefix("10.213.32.0/20"))
	out, err := exec.Command("nft", "list", "table", "ip", l.o.Table).CombinedOutput()
	if err != nil || strings.Contains(string(out), "masquerade") {
		t.Fatalf("NAT disabled but: %s %v", out, err)
	}
}

// TestPartialAttachRecovered: leftovers of an interrupted Attach (a
// namespace file without a veth) are replaced by the next Attach.
func TestPartialAttachRecovered(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	l := newTestNet(t, false, netip.MustParsePrefix("10.213.48.0/20"))
	id := "i-p" + randHex(4)
	if err := l.newNamed(l.NetNSPath(id)); err != nil {
		t.Fatal(err)
	}
	a, err := l.Attach(ctx, id, netip.MustParsePrefix("10.213.48.5/20"), mac(5))
	if err != nil {
		t.Fatal(err)
	}
	if err := inNS(a.NetNSPath, func() error {
		_, err := netlink.LinkByName("eth0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

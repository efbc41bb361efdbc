package imds

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/smallstep/pkcs7"
)

// fakeSource maps addresses to instances.
type fakeSource struct {
	mu sync.Mutex
	m  map[netip.Addr]*Instance
}

func (f *fakeSource) InstanceByIP(_ context.Context, ip netip.Addr) (*Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.m[ip]; ok {
		c := *i
		return &c, nil
	}
	return nil, ErrUnknownCaller
}

const callerIP = "172.31.5.9"

func testInstance() *Instance {
	return &Instance{
		ID: "i-0123456789abcdef0", ImageID: "ami-0abcdef1234567890", InstanceType: "t3.micro",
		AccountID: "123456789012", Region: "us-east-1", AvailabilityZone: "us-east-1a",
		ReservationID: "r-0123456789abcdef0", LaunchIndex: 0,
		Hostname:  "ip-172-31-5-9.ec2.internal",
		LocalIPv4: callerIP, MAC: "02:42:ac:1f:05:09",
		VPCID: "vpc-0aaa", SubnetID: "subnet-0bbb", SubnetCIDR: "172.31.0.0/20", VPCCIDR: "172.31.0.0/16",
		SecurityGroups: []string{"default", "web"}, SecurityGroupIDs: []string{"sg-01", "sg-02"},
		PublicKeys:   []PublicKey{{Name: "my-key", OpenSSH: "ssh-ed25519 AAAAC3Nza kiln"}},
		BlockDevices: map[string]string{"ami": "/dev/xvda", "root": "/dev/xvda"},
		Tags:         map[string]string{"Name": "web-1", "env": "test", "a/b": "skipped"},
		UserData:     []byte("#!/bin/sh\necho hi\n"),
		LaunchTime:   time.Date(2026, 11, 3, 10, 20, 30, 0, time.UTC),
		Architecture: "x86_64",
		Options:      Options{HTTPEndpoint: true, HopLimit: 2},
	}
}

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func identityKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		testKey = k
	})
	return testKey
}

type env struct {
	h   http.Handler
	src *fakeSource
	clk *clock.Fake
	hop []int
}

func newEnv(t testing.TB, mut func(*Instance)) *env {
	inst := testInstance()
	if mut != nil {
		mut(inst)
	}
	e := &env{src: &fakeSource{m: map[netip.Addr]*Instance{netip.MustParseAddr(callerIP): inst}},
		clk: clock.NewFake(time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC))}
	e.h = NewHandler(e.src, e.clk, HandlerOptions{
		IdentityKey: identityKey(t),
		SetHopLimit: func(_ *http.Request, hops int) error { e.hop = append(e.hop, hops); return nil },
		Logf:        t.Logf,
	})
	return e
}

func (e *env) do(method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://169.254.169.254"+path, nil)
	r.RemoteAddr = callerIP + ":40000"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func TestTree(t *testing.T) {
	e := newEnv(t, func(i *Instance) { i.Options.Tags = true })
	mac := "/latest/meta-data/network/interfaces/macs/02:42:ac:1f:05:09/"
	tests := []struct{ path, want string }{
		{"/", strings.Join(Versions, "\n")},
		{"/latest", "dynamic\nmeta-data\nuser-data"},
		{"/latest/", "dynamic\nmeta-data\nuser-data"},
		{"/2021-03-23/meta-data/instance-id", "i-0123456789abcdef0"},
		{"/latest/meta-data/", "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nevents/\nhostname\ninstance-action\ninstance-id\ninstance-life-cycle\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/\nprofile\npublic-keys/\nreservation-id\nsecurity-groups\nservices/\ntags/"},
		{"/latest/meta-data", "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nevents/\nhostname\ninstance-action\ninstance-id\ninstance-life-cycle\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/\nprofile\npublic-keys/\nreservation-id\nsecurity-groups\nservices/\ntags/"},
		{"/latest/meta-data/ami-id", "ami-0abcdef1234567890"},
		{"/latest/meta-data/ami-launch-index", "0"},
		{"/latest/meta-data/ami-manifest-path", "(unknown)"},
		{"/latest/meta-data/block-device-mapping/", "ami\nroot"},
		{"/latest/meta-data/block-device-mapping/root", "/dev/xvda"},
		{"/latest/meta-data/events/maintenance/scheduled", "[]"},
		{"/latest/meta-data/hostname", "ip-172-31-5-9.ec2.internal"},
		{"/latest/meta-data/local-hostname", "ip-172-31-5-9.ec2.internal"},
		{"/latest/meta-data/instance-type", "t3.micro"},
		{"/latest/meta-data/instance-life-cycle", "on-demand"},
		{"/latest/meta-data/local-ipv4", callerIP},
		{"/latest/meta-data/mac", "02:42:ac:1f:05:09"},
		{"/latest/meta-data/network/", "interfaces/"},
		{"/latest/meta-data/network/interfaces/macs/", "02:42:ac:1f:05:09/"},
		{mac, "device-number\nlocal-hostname\nlocal-ipv4s\nmac\nowner-id\nsecurity-group-ids\nsecurity-groups\nsubnet-id\nsubnet-ipv4-cidr-block\nvpc-id\nvpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks"},
		{mac + "device-number", "0"},
		{mac + "owner-id", "123456789012"},
		{mac + "security-group-ids", "sg-01\nsg-02"},
		{mac + "subnet-ipv4-cidr-block", "172.31.0.0/20"},
		{mac + "vpc-ipv4-cidr-blocks", "172.31.0.0/16"},
		{"/latest/meta-data/placement/", "availability-zone\navailability-zone-id\nregion"},
		{"/latest/meta-data/placement/availability-zone", "us-east-1a"},
		{"/latest/meta-data/placement/availability-zone-id", "use1-az1"},
		{"/latest/meta-data/placement/region", "us-east-1"},
		{"/latest/meta-data/public-keys/", "0=my-key"},
		{"/latest/meta-data/public-keys/0/", "openssh-key"},
		{"/latest/meta-data/public-keys/0/openssh-key", "ssh-ed25519 AAAAC3Nza kiln\n"},
		{"/latest/meta-data/reservation-id", "r-0123456789abcdef0"},
		{"/latest/meta-data/security-groups", "default\nweb"},
		{"/latest/meta-data/services/", "domain\npartition"},
		{"/latest/meta-data/services/domain", "amazonaws.com"},
		{"/latest/meta-data/services/partition", "aws"},
		{"/latest/meta-data/tags/", "instance/"},
		{"/latest/meta-data/tags/instance/", "Name\nenv"},
		{"/latest/meta-data/tags/instance/Name", "web-1"},
		{"/latest/user-data", "#!/bin/sh\necho hi\n"},
		{"/latest/dynamic/", "instance-identity/"},
		{"/latest/dynamic/instance-identity/", "document\npkcs7\nrsa2048\nsignature"},
	}
	for _, tc := range tests {
		w := e.do("GET", tc.path, nil)
		if w.Code != 200 || w.Body.String() != tc.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tc.path, w.Code, w.Body.String(), tc.want)
		}
	}
	for _, p := range []string{"/latest/meta-data/nope", "/latest/meta-data/ami-id/x", "/2099-01-01/meta-data/", "/latest/meta-data/tags/instance/a/b", "/latest/meta-data/iam/", "/latest/meta-data/public-ipv4"} {
		if w := e.do("GET", p, nil); w.Code != 404 || w.Body.String() != ErrorBody(404) {
			t.Errorf("GET %s = %d %q, want 404", p, w.Code, w.Body.String())
		}
	}
}

func TestTreeVariants(t *testing.T) {
	// No user data, no tags option, a public address, an interface ID.
	e := newEnv(t, func(i *Instance) {
		i.UserData = nil
		i.PublicIPv4, i.PublicHostname = "203.0.113.7", "ec2-203-0-113-7.compute-1.amazonaws.com"
		i.InterfaceID = "eni-0abc"
		i.PublicKeys = nil
		i.Region, i.AvailabilityZone = "ap-southeast-2", "ap-southeast-2c"
	})
	tests := []struct{ path, want string }{
		{"/latest/", "dynamic\nmeta-data"},
		{"/latest/meta-data/public-ipv4", "203.0.113.7"},
		{"/latest/meta-data/public-hostname", "ec2-203-0-113-7.compute-1.amazonaws.com"},
		{"/latest/meta-data/network/interfaces/macs/02:42:ac:1f:05:09/interface-id", "eni-0abc"},
		{"/latest/meta-data/network/interfaces/macs/02:42:ac:1f:05:09/public-ipv4s", "203.0.113.7"},
		{"/latest/meta-data/placement/availability-zone-id", "apse2-az3"},
	}
	for _, tc := range tests {
		if w := e.do("GET", tc.path, nil); w.Code != 200 || w.Body.String() != tc.want {
			t.Errorf("GET %s = %d %q, want %q", tc.path, w.Code, w.Body.String(), tc.want)
		}
	}
	for _, p := range []string{"/latest/user-data", "/latest/meta-data/tags/", "/latest/meta-data/public-keys/"} {
		if w := e.do("GET", p, nil); w.Code != 404 {
			t.Errorf("GET %s = %d, want 404", p, w.Code)
		}
	}
	md := e.do("GET", "/latest/meta-data/", nil).Body.String()
	if !strings.Contains(md, "profile\npublic-hostname\npublic-ipv4\nreservation-id") {
		t.Errorf("listing with public address: %q", md)
	}
}

func TestErrorBodyLength(t *testing.T) {
	// The length AWS sends for its 404 page (botocore debug logs: 339 bytes).
	if n := len(ErrorBody(404)); n != 339 {
		t.Fatalf("404 body is %d bytes, want 339", n)
	}
}

func TestTokenFlow(t *testing.T) {
	e := newEnv(t, nil)
	ttlH := map[string]string{HeaderTokenTTL: "60"}
	w := e.do("PUT", "/latest/api/token", ttlH)
	if w.Code != 200 || w.Header().Get(HeaderTokenTTL) != "60" || w.Body.Len() == 0 {
		t.Fatalf("PUT token = %d %v %q", w.Code, w.Header(), w.Body.String())
	}
	if len(e.hop) != 1 || e.hop[0] != 2 {
		t.Fatalf("hop limit calls = %v, want [2]", e.hop)
	}
	tok := w.Body.String()
	g := e.do("GET", "/latest/meta-data/instance-id", map[string]string{HeaderToken: tok})
	if g.Code != 200 || g.Body.String() != "i-0123456789abcdef0" || g.Header().Get(HeaderTokenTTL) != "60" {
		t.Fatalf("GET with token = %d %q %v", g.Code, g.Body.String(), g.Header())
	}
	e.clk.Advance(59 * time.Second)
	if g := e.do("GET", "/latest/meta-data/instance-id", map[string]string{HeaderToken: tok}); g.Code != 200 || g.Header().Get(HeaderTokenTTL) != "1" {
		t.Fatalf("at 59 s: %d %v", g.Code, g.Header())
	}
	e.clk.Advance(time.Second)
	if g := e.do("GET", "/latest/meta-data/instance-id", map[string]string{HeaderToken: tok}); g.Code != 401 || g.Body.String() != ErrorBody(401) {
		t.Fatalf("expired token: %d %q", g.Code, g.Body.String())
	}
	// Tampered and foreign tokens.
	bad := []string{"garbage", tok[:len(tok)-4] + "AAAA", newTokens(nil).mint("i-0123456789abcdef0", e.clk.Now().Add(time.Hour)),
		e.h.(*handler).tokens.mint("i-other", e.clk.Now().Add(time.Hour))}
	for _, b := range bad {
		if g := e.do("GET", "/latest/meta-data/", map[string]string{HeaderToken: b}); g.Code != 401 {
			t.Errorf("token %q: %d, want 401", b, g.Code)
		}
	}
}

func TestTokenTTLBounds(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		ttl  string
		code int
	}{{"", 400}, {"0", 400}, {"1", 200}, {"21600", 200}, {"21601", 400}, {"-5", 400}, {"abc", 400}, {"1.5", 400}} {
		h := map[string]string{}
		if tc.ttl != "" {
			h[HeaderTokenTTL] = tc.ttl
		}
		if w := e.do("PUT", "/latest/api/token", h); w.Code != tc.code {
			t.Errorf("ttl %q: %d, want %d", tc.ttl, w.Code, tc.code)
		}
	}
	w := e.do("PUT", "/latest/api/token", map[string]string{HeaderTokenTTL: "10", "X-Forwarded-For": "10.0.0.1"})
	if w.Code != 403 {
		t.Errorf("PUT with X-Forwarded-For: %d, want 403", w.Code)
	}
}

func TestMethodsAndOptions(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"POST", "/latest/meta-data/"}, {"DELETE", "/latest/meta-data/instance-id"},
		{"PUT", "/latest/meta-data/instance-id"}, {"GET", "/latest/api/token"},
	} {
		if w := e.do(tc.method, tc.path, nil); w.Code != 405 || w.Body.String() != ErrorBody(405) {
			t.Errorf("%s %s: %d, want 405", tc.method, tc.path, w.Code)
		}
	}
	if w := e.do("HEAD", "/latest/meta-data/instance-id", nil); w.Code != 200 || w.Header().Get("Content-Length") != "19" {
		t.Errorf("HEAD: %d %v", w.Code, w.Header())
	}

	req := newEnv(t, func(i *Instance) { i.Options.TokensRequired = true })
	if w := req.do("GET", "/latest/meta-data/instance-id", nil); w.Code != 401 {
		t.Errorf("tokens required, v1: %d, want 401", w.Code)
	}
	tok := req.do("PUT", "/latest/api/token", map[string]string{HeaderTokenTTL: "30"}).Body.String()
	if w := req.do("GET", "/latest/meta-data/instance-id", map[string]string{HeaderToken: tok}); w.Code != 200 {
		t.Errorf("tokens required, v2: %d", w.Code)
	}

	off := newEnv(t, func(i *Instance) { i.Options.HTTPEndpoint = false })
	for _, m := range []string{"GET", "PUT"} {
		if w := off.do(m, "/latest/api/token", map[string]string{HeaderTokenTTL: "30"}); w.Code != 403 {
			t.Errorf("endpoint disabled, %s: %d, want 403", m, w.Code)
		}
	}
	if w := off.do("GET", "/latest/meta-data/", nil); w.Code != 403 || w.Body.String() != ErrorBody(403) {
		t.Errorf("endpoint disabled: %d", w.Code)
	}

	// Unknown caller.
	r := httptest.NewRequest("GET", "/latest/meta-data/", nil)
	r.RemoteAddr = "172.31.9.9:1234"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 404 {
		t.Errorf("unknown caller: %d", w.Code)
	}
}

func TestIdentityDocument(t *testing.T) {
	e := newEnv(t, nil)
	doc := e.do("GET", "/latest/dynamic/instance-identity/document", nil).Body.String()
	want := `{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "us-east-1a",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "t3.micro",
  "kernelId" : null,
  "pendingTime" : "2026-11-03T10:20:30Z",
  "privateIp" : "172.31.5.9",
  "ramdiskId" : null,
  "region" : "us-east-1",
  "version" : "2017-09-30"
}`
	if doc != want {
		t.Fatalf("document:\n%s\nwant:\n%s", doc, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}

	key := identityKey(t)
	sigText := e.do("GET", "/latest/dynamic/instance-identity/signature", nil).Body.String()
	sig, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(sigText, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(doc))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}

	cert, err := IdentityCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"pkcs7", "rsa2048"} {
		text := e.do("GET", "/latest/dynamic/instance-identity/"+p, nil).Body.String()
		for _, l := range strings.Split(text, "\n") {
			if len(l) > 64 {
				t.Fatalf("%s: line longer than 64: %q", p, l)
			}
		}
		der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(text, "\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		p7, err := pkcs7.Parse(der)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if p == "pkcs7" {
			if len(p7.Content) != 0 {
				t.Fatalf("pkcs7 should be detached")
			}
			p7.Content = []byte(doc)
		} else if string(p7.Content) != doc {
			t.Fatalf("rsa2048 content = %q", p7.Content)
		}
		if err := p7.Verify(); err != nil {
			t.Fatalf("%s does not verify: %v", p, err)
		}
		if !p7.GetOnlySigner().Equal(cert) {
			t.Fatalf("%s: signer is not the identity certificate", p)
		}
	}
	// Deterministic certificate.
	c2, _ := IdentityCertificate(key)
	if !c2.Equal(cert) {
		t.Fatal("identity certificate is not deterministic")
	}

	// Without a key the signature paths 404; the document stays.
	nokey := NewHandler(e.src, e.clk, HandlerOptions{})
	for p, code := range map[string]int{"document": 200, "signature": 404, "pkcs7": 404} {
		r := httptest.NewRequest("GET", "/latest/dynamic/instance-identity/"+p, nil)
		r.RemoteAddr = callerIP + ":1"
		w := httptest.NewRecorder()
		nokey.ServeHTTP(w, r)
		if w.Code != code {
			t.Errorf("no key, %s: %d, want %d", p, w.Code, code)
		}
	}
}

// TestHopLimitSocket serves over a real loopback listener with Serve and
// reads the IP TTL back from the server side of the connection.
func TestHopLimitSocket(t *testing.T) {
	src := &fakeSource{m: map[netip.Addr]*Instance{}}
	inst := testInstance()
	inst.Options.HopLimit = 3
	src.m[netip.MustParseAddr("127.0.0.1")] = inst
	inner := NewHandler(src, clock.Real{}, HandlerOptions{})
	ttls := make(chan int, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		c := r.Context().Value(connKey{}).(net.Conn)
		raw, _ := c.(*net.TCPConn).SyscallConn()
		_ = raw.Control(func(fd uintptr) {
			v, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL)
			if err != nil {
				t.Error(err)
			}
			ttls <- v
		})
	})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + ln.Addr().String()
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(method, path string, hdr map[string]string) string {
		req, _ := http.NewRequest(method, base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
		return string(b)
	}
	get("GET", "/latest/meta-data/instance-id", nil)
	if v := <-ttls; v == 3 {
		t.Fatalf("a plain GET got the hop-limit TTL")
	}
	tok := get("PUT", "/latest/api/token", map[string]string{HeaderTokenTTL: "100"})
	if v := <-ttls; v != 3 {
		t.Fatalf("token response TTL = %d, want 3", v)
	}
	if got := get("GET", "/latest/meta-data/instance-id", map[string]string{HeaderToken: tok}); got != inst.ID {
		t.Fatalf("GET = %q", got)
	}
	<-ttls
}

func TestListenFreebind(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is on no interface; IP_FREEBIND lets us bind.
	ln, err := Listen(context.Background(), "192.0.2.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func FuzzHandlerPath(f *testing.F) {
	for _, s := range []string{"/", "/latest/meta-data/", "/latest/meta-data/public-keys/0/openssh-key", "//latest//meta-data", "/latest/dynamic/instance-identity/document", "/latest/meta-data/tags/instance/Name", "/../latest", "/latest/api/token"} {
		f.Add(s)
	}
	e := newEnv(f, func(i *Instance) { i.Options.Tags = true })
	e.h.(*handler).signer = nil // keep the fuzzer off RSA
	f.Fuzz(func(t *testing.T, p string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = p
		r.RemoteAddr = callerIP + ":1"
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		want := []int{200, 404}
		if p == "/latest/api/token" {
			want = []int{405} // tokens are PUT only
		}
		if !slices.Contains(want, w.Code) {
			t.Fatalf("%q: %d, want one of %v", p, w.Code, want)
		}
		if w.Code != 200 && w.Body.String() != ErrorBody(w.Code) {
			t.Fatalf("%q: 404 body %q", p, w.Body.String())
		}
	})
}

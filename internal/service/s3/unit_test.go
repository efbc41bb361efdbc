package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
	"github.com/kiln-dev/kiln/internal/api/wire"
)

func TestHostBucket(t *testing.T) {
	for host, want := range map[string]string{
		"localhost:4566":                      "",
		"127.0.0.1:4566":                      "",
		"[::1]:4566":                          "",
		"s3.localhost:4566":                   "",
		"mybucket.localhost:4566":             "mybucket",
		"my.dotted.bucket.localhost":          "my.dotted.bucket",
		"mybucket.s3.localhost:4566":          "mybucket",
		"mybucket.s3.amazonaws.com":           "mybucket",
		"mybucket.s3.eu-west-1.amazonaws.com": "mybucket",
		"mybucket.s3-eu-west-1.amazonaws.com": "mybucket",
		"s3.eu-west-1.amazonaws.com":          "",
		"ec2.us-east-1.amazonaws.com":         "",
		"kiln.internal:4566":                  "",
		"MyBucket.LOCALHOST.":                 "mybucket",
	} {
		if got := hostBucket(host); got != want {
			t.Errorf("hostBucket(%q) = %q, want %q", host, got, want)
		}
	}
	r := httptest.NewRequest("GET", "http://localhost/b/dir/key%20x", nil)
	if tg := parseTarget(r); tg.bucket != "b" || tg.key != "dir/key x" || tg.virtual {
		t.Errorf("path style: %+v", tg)
	}
	r = httptest.NewRequest("GET", "http://b.localhost/dir/k", nil)
	if tg := parseTarget(r); tg.bucket != "b" || tg.key != "dir/k" || !tg.virtual {
		t.Errorf("virtual host: %+v", tg)
	}
}

func TestPolicy(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","222222222222"]},"Action":"s3:Get*","Resource":"arn:aws:s3:::b/pub/*"},
	 {"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/public/*"},
	 {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"arn:aws:s3:::b/pub/secret"},
	 {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`
	p, e := parsePolicy(doc, "b")
	if e != nil {
		t.Fatal(e)
	}
	for _, c := range []struct {
		account, action, resource string
		want                      decision
	}{
		{"111111111111", "s3:GetObject", "arn:aws:s3:::b/pub/a/b.txt", allowed},
		{"222222222222", "s3:getobjecttagging", "arn:aws:s3:::b/pub/x", allowed},
		{"333333333333", "s3:GetObject", "arn:aws:s3:::b/pub/x", noMatch},
		{"111111111111", "s3:PutObject", "arn:aws:s3:::b/pub/x", noMatch},
		{"", "s3:GetObject", "arn:aws:s3:::b/public/x", allowed},
		{"", "s3:GetObject", "arn:aws:s3:::b/pub/x", noMatch},
		{"111111111111", "s3:GetObject", "arn:aws:s3:::b/pub/secret", denied},
		{"", "s3:ListBucket", "arn:aws:s3:::b", noMatch}, // Allow with a Condition never applies
	} {
		if got := p.evaluate(c.account, c.action, c.resource); got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.account, c.action, c.resource, got, c.want)
		}
	}
	for _, bad := range []string{
		`not json`,
		`{"Statement":[]}`,
		`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::b"}]}`,
	} {
		if _, e := parsePolicy(bad, "b"); e == nil || e.Code != "MalformedPolicy" {
			t.Errorf("parsePolicy(%s) = %v, want MalformedPolicy", bad, e)
		}
	}
}

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*", "a/b/c", true}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*/x", "a/b/x", true}, {"b/*/y", "b/x/z", false}, {"ab", "abc", false},
	} {
		if got := wildcard(c.p, c.s); got != c.want {
			t.Errorf("wildcard(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		h       string
		size    int64
		want    byteRange
		ok, bad bool
	}{
		{"bytes=0-9", 100, byteRange{0, 9}, true, false},
		{"bytes=90-", 100, byteRange{90, 99}, true, false},
		{"bytes=90-200", 100, byteRange{90, 99}, true, false},
		{"bytes=-10", 100, byteRange{90, 99}, true, false},
		{"bytes=-200", 100, byteRange{0, 99}, true, false},
		{"bytes=100-", 100, byteRange{}, false, true},
		{"bytes=0-", 0, byteRange{}, false, true},
		{"bytes=5-1", 100, byteRange{}, false, false},
		{"bytes=0-1,5-6", 100, byteRange{}, false, false},
		{"items=0-1", 100, byteRange{}, false, false},
	} {
		got, ok, e := parseRange(c.h, c.size)
		if got != c.want || ok != c.ok || (e != nil) != c.bad {
			t.Errorf("parseRange(%q, %d) = %v %v %v", c.h, c.size, got, ok, e)
		}
	}
}

func TestConditions(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 600e6, time.UTC)
	before, after := mod.Add(-time.Hour), mod.Add(time.Hour)
	for _, c := range []struct {
		c    conditions
		want string
	}{
		{conditions{ifMatch: `"abc"`}, ""},
		{conditions{ifMatch: `"x", "abc"`}, ""},
		{conditions{ifMatch: `"x"`}, "PreconditionFailed"},
		{conditions{ifNoneMatch: `"abc"`}, "NotModified"},
		{conditions{ifNoneMatch: `*`}, "NotModified"},
		{conditions{ifModifiedSince: after}, "NotModified"},
		{conditions{ifModifiedSince: before}, ""},
		{conditions{ifModifiedSince: mod.Truncate(time.Second)}, "NotModified"},
		{conditions{ifUnmodifiedSince: before}, "PreconditionFailed"},
		{conditions{ifMatch: `"abc"`, ifUnmodifiedSince: before}, ""}, // If-Match wins
		{conditions{ifNoneMatch: `"x"`, ifModifiedSince: after}, ""},  // If-None-Match wins
		{conditions{ifNoneMatch: `"abc"`, ifModifiedSince: before}, "NotModified"},
	} {
		got := ""
		if e := c.c.check("abc", mod, false); e != nil {
			got = e.Code
		}
		if got != c.want {
			t.Errorf("%+v: %q, want %q", c.c, got, c.want)
		}
	}
	if e := (conditions{ifNoneMatch: `"abc"`}).check("abc", mod, true); e == nil || e.Code != "PreconditionFailed" {
		t.Errorf("copy source If-None-Match: %v", e)
	}
}

func TestListHelpers(t *testing.T) {
	if got := prefixEnd("logs/"); got != "logs0" {
		t.Errorf("prefixEnd: %q", got)
	}
	p := listParams{prefix: "a/", delimiter: "/"}
	for key, want := range map[string]string{"a/b/c": "a/b/", "a/b": "", "a//x": "a//"} {
		if got := p.rollup(key); got != want {
			t.Errorf("rollup(%q) = %q, want %q", key, got, want)
		}
	}
	if got := (listParams{encode: true}).enc("a b+c/ü&"); got != "a+b%2Bc/%C3%BC%26" {
		t.Errorf("enc: %q", got)
	}
}

func TestCompositeChecksum(t *testing.T) {
	// Two parts: CRC32 of the concatenated raw part CRC32s, "-2".
	a := base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 1})
	b := base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 2})
	got, err := compositeChecksum("CRC32", []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	h := newChecksum("CRC32")
	h.Write([]byte{0, 0, 0, 1, 0, 0, 0, 2})
	if want := base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-2"; got != want {
		t.Fatalf("composite %s, want %s", got, want)
	}
	// CRC-64/NVME check value of "123456789".
	h = newChecksum("CRC64NVME")
	h.Write([]byte("123456789"))
	if got := h.Sum(nil); !bytes.Equal(got, []byte{0xae, 0x8b, 0x14, 0x86, 0x0a, 0x79, 0x98, 0x88}) {
		t.Fatalf("crc64nvme check value %x", got)
	}
}

// TestPayloadChunked feeds a signed aws-chunked body through openPayload:
// the decoded bytes come out, and a tampered chunk fails at the end.
func TestPayloadChunked(t *testing.T) {
	key := sigv4.SigningKey("secret", "20260101", "us-east-1", "s3")
	cred := &sigv4.Credential{AccessKeyID: "AK", Date: "20260101", Region: "us-east-1", Service: "s3",
		Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Signature: strings.Repeat("a", 64)}
	data := []byte("hello chunked world")
	body := signedChunks(key, cred, [][]byte{data[:7], data[7:]})
	for _, tamper := range []bool{false, true} {
		b := body
		if tamper {
			b = bytes.Replace(body, []byte("hello"), []byte("jello"), 1)
		}
		r := httptest.NewRequest("PUT", "http://localhost/b/k", bytes.NewReader(b))
		r.Header.Set("X-Amz-Content-Sha256", sigv4.StreamingPayload)
		r.Header.Set("X-Amz-Decoded-Content-Length", "19")
		p, e := openPayload(r, &wire.StreamAuth{Credential: cred, SigningKey: key})
		if e != nil {
			t.Fatal(e)
		}
		got, _ := io.ReadAll(p)
		e = p.finish()
		if tamper {
			if e == nil || e.Code != "SignatureDoesNotMatch" {
				t.Fatalf("tampered chunk: %v", e)
			}
			continue
		}
		if e != nil || !bytes.Equal(got, data) {
			t.Fatalf("chunked: %q %v", got, e)
		}
	}
	// A hex x-amz-content-sha256 must match the body.
	r := httptest.NewRequest("PUT", "http://localhost/b/k", strings.NewReader("abc"))
	r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
	p, _ := openPayload(r, nil)
	_, _ = io.ReadAll(p)
	if e := p.finish(); e == nil || e.Code != "XAmzContentSHA256Mismatch" {
		t.Fatalf("sha mismatch: %v", e)
	}
}

// signedChunks encodes chunks as a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body.
func signedChunks(key []byte, c *sigv4.Credential, chunks [][]byte) []byte {
	var out bytes.Buffer
	prev := c.Signature
	for _, ch := range append(chunks, nil) {
		sig := chunkSig(key, c, prev, ch)
		out.WriteString(strings.ToLower(strconvHex(len(ch))) + ";chunk-signature=" + sig + "\r\n")
		out.Write(ch)
		out.WriteString("\r\n")
		prev = sig
	}
	return out.Bytes()
}

func TestHashSetMD5(t *testing.T) {
	h := newHashSet(nil, true)
	h.Write([]byte("x"))
	sum := md5.Sum([]byte("x"))
	if e := h.checkMD5(base64.StdEncoding.EncodeToString(sum[:])); e != nil {
		t.Fatal(e)
	}
	if e := h.checkMD5(base64.StdEncoding.EncodeToString(make([]byte, 16))); e == nil || e.Code != "BadDigest" {
		t.Fatalf("bad md5: %v", e)
	}
	if e := h.checkMD5("nope"); e == nil || e.Code != "InvalidDigest" {
		t.Fatalf("invalid md5: %v", e)
	}
}

func TestPipeCopy(t *testing.T) {
	for _, n := range []int{0, 1, copyBuf - 1, copyBuf, copyBuf + 1, 5*copyBuf + 17} {
		src := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, n/7+1)[:n]
		var dst bytes.Buffer
		h := md5.New()
		got, err := pipeCopy(&dst, iotestHalf(bytes.NewReader(src)), h)
		want := md5.Sum(src)
		if err != nil || got != int64(n) || !bytes.Equal(dst.Bytes(), src) || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("pipeCopy %d: %d %v", n, got, err)
		}
	}
}

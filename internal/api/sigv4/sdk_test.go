package sigv4

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var testTime = time.Date(2026, 11, 22, 12, 30, 45, 0, time.UTC)

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// errName maps an error to the sentinel it wraps, for crossing HTTP.
func errName(err error) string {
	for _, s := range []struct {
		name string
		err  error
	}{
		{"payload-hash", ErrPayloadHashMismatch},
		{"missing", ErrMissingAuth},
		{"malformed", ErrMalformed},
		{"mismatch", ErrSignatureMismatch},
		{"expired", ErrExpired},
		{"skewed", ErrSkewed},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "other: " + err.Error()
}

// verifyServer is a real HTTP server that runs Parse+Verify on every request
// exactly as kiln will: payload hash over the raw body as received.
type verifyServer struct {
	*httptest.Server
	secret string
	now    func() time.Time
	opt    func(c *Credential) Options
	// usePayloadHeader passes "" as payloadHash (header value is used).
	usePayloadHeader bool
}

func newVerifyServer(t testing.TB, secret string, now func() time.Time) *verifyServer {
	vs := &verifyServer{secret: secret, now: now, opt: func(c *Credential) Options {
		return Options{S3: c.Service == "s3"}
	}}
	vs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		c, err := Parse(r)
		if err == nil {
			ph := hashHex(body)
			if vs.usePayloadHeader {
				ph = ""
			}
			err = Verify(r, c, vs.secret, ph, vs.now(), vs.opt(c))
		}
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
		}
		io.WriteString(w, errName(err))
	}))
	t.Cleanup(vs.Close)
	return vs
}

func send(t testing.TB, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

type sdkCase struct {
	name    string
	method  string
	path    string // path and query, appended to the server URL
	body    []byte
	headers map[string]string
	service string
	region  string
	token   string
	// payload is the hash given to the signer; default sha256(body).
	payload string
	// before runs on the request before signing.
	before func(r *http.Request)
	// after runs on the signed request before it is sent.
	after func(r *http.Request)
	// sendBody replaces the body after signing (same length keeps the
	// signed Content-Length valid).
	sendBody []byte
	secret   string        // server secret; default testSecret
	skew     time.Duration // server now = signing time + skew
	payloadH bool          // server passes "" as payloadHash
	want     string
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestSDKSignHTTP(t *testing.T) {
	form := []byte("Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=a+b")
	json := []byte(`{"resourceArn":"arn:aws:imagebuilder:us-east-1:123456789012:image/x/1.0.0/1","n":1}`)
	big := bytes.Repeat([]byte(`{"MetricName":"CPUUtilization","Value":42.5},`), 400)
	gz := gzipped(t, big)
	const ibPath = "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A123456789012%3Aimage%2Fx%2F1.0.0%2F1"
	s3body := []byte("hello s3 object body")
	cases := []sdkCase{
		{name: "sts GET no query", method: "GET", path: "/", service: "sts", want: "ok"},
		{name: "ec2 form POST", method: "POST", path: "/", body: form, service: "ec2",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, want: "ok"},
		{name: "json POST", method: "POST", path: "/", body: json, service: "kms",
			headers: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"}, want: "ok"},
		{name: "query spaces unicode repeated", method: "GET",
			path:    "/?b=2&a=hello%20world&a=%E2%9C%93&c=x+y&empty=&flag&k%2Fx=a%2Fb&s=a-b&s=a%2Fb&t=%7E~*",
			service: "ec2", region: "eu-west-1", want: "ok"},
		{name: "imagebuilder encoded arn segment", method: "GET", path: ibPath, service: "imagebuilder", want: "ok"},
		{name: "imagebuilder POST encoded arn", method: "POST", path: ibPath, body: []byte(`{"tags":{"a":"b"}}`),
			headers: map[string]string{"Content-Type": "application/json"}, service: "imagebuilder", want: "ok"},
		{name: "path spaces unicode reserved", method: "GET", path: "/a%20b/%C3%A9/x%2By/c:d@e!f", service: "scheduler", want: "ok"},
		{name: "gzip body signed compressed", method: "POST", path: "/", body: gz, service: "monitoring",
			headers: map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}, want: "ok"},
		{name: "session token", method: "POST", path: "/", body: form, service: "ec2", token: "FQoGZXIvYXdzEJr//////////wEaDOpaque+token/==", want: "ok"},
		{name: "signed header whitespace and repeats", method: "GET", path: "/", service: "ssm",
			before: func(r *http.Request) {
				r.Header.Set("X-Amz-Meta-Spaces", "  a   b    c  ")
				r.Header.Add("X-Amz-Meta-Multi", "one")
				r.Header.Add("X-Amz-Meta-Multi", "two  three")
			}, want: "ok"},
		{name: "extra unsigned headers after signing", method: "POST", path: "/", body: json, service: "logs",
			after: func(r *http.Request) {
				r.Header.Set("User-Agent", "aws-cli/2.9.19 changed-after-signing")
				r.Header.Set("X-Amzn-Trace-Id", "Root=1-abc")
				r.Header.Set("X-Unsigned", "whatever")
			}, want: "ok"},
		{name: "s3 PUT once-encoded path", method: "PUT", path: "/bucket/dir/key%20with%20space/%E2%9C%93~x.txt", body: s3body, service: "s3",
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", hashHex(s3body)) }, want: "ok"},
		{name: "s3 GET list query", method: "GET", path: "/bucket?list-type=2&prefix=a%2Fb%20c&delimiter=%2F", service: "s3",
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", EmptySHA256) }, want: "ok"},
		{name: "s3 unsigned payload", method: "PUT", path: "/bucket/k", body: s3body, service: "s3", payload: UnsignedPayload,
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) }, want: "ok"},
		{name: "s3 unsigned payload via header only", method: "PUT", path: "/bucket/k", body: s3body, service: "s3", payload: UnsignedPayload, payloadH: true,
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) }, want: "ok"},
		{name: "non-s3 unsigned payload header rejected", method: "POST", path: "/", body: json, service: "kms", payload: UnsignedPayload,
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) }, want: "mismatch"},
		{name: "s3 content sha256 lies about body", method: "PUT", path: "/bucket/k", body: s3body, service: "s3",
			before:   func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", hashHex(s3body)) },
			sendBody: bytes.ToUpper(s3body), want: "payload-hash"},

		// Tampering.
		{name: "tampered signed header", method: "POST", path: "/", body: json, service: "kms",
			headers: map[string]string{"X-Amz-Target": "TrentService.ListKeys"},
			after:   func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.ScheduleKeyDeletion") }, want: "mismatch"},
		{name: "tampered body same length", method: "POST", path: "/", body: form, service: "ec2",
			sendBody: bytes.Replace(form, []byte("Describe"), []byte("Terminat"), 1), want: "mismatch"},
		{name: "tampered gzip body", method: "POST", path: "/", body: gz, service: "monitoring",
			headers:  map[string]string{"Content-Encoding": "gzip"},
			sendBody: append(append([]byte{}, gz[:len(gz)-1]...), gz[len(gz)-1]^1), want: "mismatch"},
		{name: "tampered path", method: "GET", path: ibPath, service: "imagebuilder",
			after: func(r *http.Request) {
				r.URL.RawPath = strings.Replace(ibPath, "1.0.0", "2.0.0", 1)
				r.URL.Path, _ = url.PathUnescape(r.URL.RawPath)
			}, want: "mismatch"},
		{name: "tampered query", method: "GET", path: "/?Action=DescribeImages&Owner.1=self", service: "ec2",
			after: func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "self", "amazon", 1) }, want: "mismatch"},
		{name: "added query param", method: "GET", path: "/?Action=DescribeImages", service: "ec2",
			after: func(r *http.Request) { r.URL.RawQuery += "&DryRun=true" }, want: "mismatch"},
		{name: "tampered security token", method: "GET", path: "/", service: "sts", token: "token-a",
			after: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "token-b") }, want: "mismatch"},
		{name: "wrong secret", method: "POST", path: "/", body: form, service: "ec2", secret: "not-the-secret", want: "mismatch"},
		{name: "s3 path signed double-encoded", method: "GET", path: "/bucket/a%20b", service: "s3",
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", EmptySHA256) },
			// Signed as a non-S3 request (double encoding) but verified as S3.
			want: "mismatch"},
		{name: "missing auth", method: "GET", path: "/", service: "ec2",
			after: func(r *http.Request) { r.Header.Del("Authorization") }, want: "missing"},
		{name: "sigv2 header", method: "GET", path: "/", service: "ec2",
			after: func(r *http.Request) { r.Header.Set("Authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl") }, want: "malformed"},

		// Clock skew (5 minutes; S3 15).
		{name: "skew inside 5m past", method: "GET", path: "/", service: "ec2", skew: 5*time.Minute - time.Second, want: "ok"},
		{name: "skew exactly 5m", method: "GET", path: "/", service: "ec2", skew: 5 * time.Minute, want: "ok"},
		{name: "skew outside 5m past", method: "GET", path: "/", service: "ec2", skew: 5*time.Minute + time.Second, want: "skewed"},
		{name: "skew inside 5m future", method: "GET", path: "/", service: "ec2", skew: -(5*time.Minute - time.Second), want: "ok"},
		{name: "skew outside 5m future", method: "GET", path: "/", service: "ec2", skew: -(5*time.Minute + time.Second), want: "skewed"},
		{name: "s3 skew 14m", method: "GET", path: "/b/k", service: "s3", skew: 14 * time.Minute,
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", EmptySHA256) }, want: "ok"},
		{name: "s3 skew 16m", method: "GET", path: "/b/k", service: "s3", skew: 16 * time.Minute,
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", EmptySHA256) }, want: "skewed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := testSecret
			if tc.secret != "" {
				secret = tc.secret
			}
			srv := newVerifyServer(t, secret, func() time.Time { return testTime.Add(tc.skew) })
			srv.usePayloadHeader = tc.payloadH
			req := sdkRequest(t, srv.URL, tc)
			got := send(t, req)
			if got != tc.want {
				t.Fatalf("server said %q, want %q", got, tc.want)
			}
		})
	}
}

// sdkRequest builds tc's request and signs it with the SDK signer.
func sdkRequest(t *testing.T, base string, tc sdkCase) *http.Request {
	t.Helper()
	req, err := http.NewRequest(tc.method, base+tc.path, bytes.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.headers {
		req.Header.Set(k, v)
	}
	if tc.before != nil {
		tc.before(req)
	}
	region := tc.region
	if region == "" {
		region = "us-east-1"
	}
	payload := tc.payload
	if payload == "" {
		payload = hashHex(tc.body)
	}
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: tc.token}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, payload, tc.service, region, testTime,
		func(o *v4.SignerOptions) {
			o.DisableURIPathEscaping = tc.service == "s3" && !strings.Contains(tc.name, "double-encoded")
		})
	if err != nil {
		t.Fatal(err)
	}
	if tc.after != nil {
		tc.after(req)
	}
	if tc.sendBody != nil {
		req.Body = io.NopCloser(bytes.NewReader(tc.sendBody))
		req.ContentLength = int64(len(tc.sendBody))
	}
	return req
}

func TestSDKPresignHTTP(t *testing.T) {
	type presignCase struct {
		name    string
		method  string
		path    string
		service string
		expires int
		payload string
		headers map[string]string
		token   string
		after   func(u string) string
		secret  string
		at      time.Duration // server now = signing time + at
		want    string
	}
	const ibPath = "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A123456789012%3Aimage%2Fx%2F1.0.0%2F1"
	cases := []presignCase{
		{name: "sts GetCallerIdentity", method: "GET", path: "/?Action=GetCallerIdentity&Version=2011-06-15", service: "sts", expires: 60, payload: EmptySHA256, want: "ok"},
		{name: "sts with signed header (EKS style)", method: "GET", path: "/?Action=GetCallerIdentity&Version=2011-06-15", service: "sts", expires: 60, payload: EmptySHA256,
			headers: map[string]string{"x-k8s-aws-id": "my-cluster"}, want: "ok"},
		{name: "s3 GET object", method: "GET", path: "/bucket/dir/my%20key%E2%9C%93.txt", service: "s3", expires: 3600, payload: UnsignedPayload, want: "ok"},
		{name: "s3 PUT object", method: "PUT", path: "/bucket/k", service: "s3", expires: 900, payload: UnsignedPayload, want: "ok"},
		{name: "s3 with query", method: "GET", path: "/bucket/k?response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&versionId=v1", service: "s3", expires: 300, payload: UnsignedPayload, want: "ok"},
		{name: "session token", method: "GET", path: "/bucket/k", service: "s3", expires: 300, payload: UnsignedPayload, token: "tok/en+==", want: "ok"},
		{name: "encoded arn path", method: "GET", path: ibPath, service: "imagebuilder", expires: 300, payload: EmptySHA256, want: "ok"},
		{name: "not yet expired", method: "GET", path: "/bucket/k", service: "s3", expires: 300, payload: UnsignedPayload, at: 300 * time.Second, want: "ok"},
		{name: "expired", method: "GET", path: "/bucket/k", service: "s3", expires: 300, payload: UnsignedPayload, at: 301 * time.Second, want: "expired"},
		{name: "max expiry 7 days", method: "GET", path: "/bucket/k", service: "s3", expires: 604800, payload: UnsignedPayload, at: 6 * 24 * time.Hour, want: "ok"},
		{name: "expiry above 7 days", method: "GET", path: "/bucket/k", service: "s3", expires: 604801, payload: UnsignedPayload, want: "expired"},
		{name: "not yet valid", method: "GET", path: "/bucket/k", service: "s3", expires: 3600, payload: UnsignedPayload, at: -20 * time.Minute, want: "skewed"},
		{name: "wrong secret", method: "GET", path: "/bucket/k", service: "s3", expires: 300, payload: UnsignedPayload, secret: "other", want: "mismatch"},
		{name: "tampered expires", method: "GET", path: "/bucket/k", service: "s3", expires: 300, payload: UnsignedPayload,
			after: func(u string) string { return strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=3000", 1) }, want: "mismatch"},
		{name: "tampered path", method: "GET", path: "/bucket/k", service: "s3", expires: 300, payload: UnsignedPayload,
			after: func(u string) string { return strings.Replace(u, "/bucket/k", "/bucket/j", 1) }, want: "mismatch"},
		{name: "tampered signature", method: "GET", path: "/bucket/k", service: "s3", expires: 300, payload: UnsignedPayload,
			after: func(u string) string {
				i := strings.Index(u, "X-Amz-Signature=") + 16
				flip := "0"
				if u[i] == '0' {
					flip = "1"
				}
				return u[:i] + flip + u[i+1:]
			}, want: "mismatch"},
		{name: "sts body hash presign verified as empty", method: "GET", path: "/?Action=GetCallerIdentity&Version=2011-06-15", service: "sts", expires: 60,
			payload: hashHex([]byte("x")), want: "mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := testSecret
			if tc.secret != "" {
				secret = tc.secret
			}
			srv := newVerifyServer(t, secret, func() time.Time { return testTime.Add(tc.at) })
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			q := req.URL.Query()
			q.Set("X-Amz-Expires", strconv.Itoa(tc.expires))
			req.URL.RawQuery = q.Encode()
			creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: tc.token}
			u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, tc.payload, tc.service, "ap-south-1", testTime,
				func(o *v4.SignerOptions) { o.DisableURIPathEscaping = tc.service == "s3" })
			if err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				u = tc.after(u)
			}
			out, err := http.NewRequest(tc.method, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range hdr {
				if k != "Host" {
					out.Header[k] = v
				}
			}
			if got := send(t, out); got != tc.want {
				t.Fatalf("server said %q, want %q (url %s)", got, tc.want, u)
			}
		})
	}
}

// TestParseCredential checks the fields Parse extracts for routing.
func TestParseCredential(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://localhost:4566/", strings.NewReader("Action=GetCallerIdentity"))
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: "tok"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hashHex([]byte("Action=GetCallerIdentity")), "sts", "eu-central-1", testTime); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != testAKID || c.Date != "20261122" || c.Region != "eu-central-1" || c.Service != "sts" ||
		!c.Time.Equal(testTime) || c.Presigned || c.SecurityToken != "tok" || len(c.Signature) != 64 {
		t.Fatalf("bad credential %+v", c)
	}
	if got := strings.Join(c.SignedHeaders, ";"); got != "content-length;host;x-amz-date;x-amz-security-token" {
		t.Fatalf("signed headers %q", got)
	}
}

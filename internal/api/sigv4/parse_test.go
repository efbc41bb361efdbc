package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const goodAuth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func rawRequest(auth, rawQuery string, h map[string]string) *http.Request {
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}, Host: "localhost:4566"}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return r
}

func TestParseErrors(t *testing.T) {
	date := map[string]string{"X-Amz-Date": "20261122T123045Z"}
	sig := strings.Repeat("a", 64)
	cases := []struct {
		name  string
		auth  string
		query string
		h     map[string]string
		want  error
	}{
		{"no auth", "", "Action=DescribeRegions", nil, ErrMissingAuth},
		{"good", goodAuth, "", date, nil},
		{"good without spaces", strings.ReplaceAll(goodAuth, ", ", ","), "", date, nil},
		{"Date header fallback", goodAuth, "", map[string]string{"Date": "Sun, 22 Nov 2026 12:30:45 GMT"}, nil},
		{"no date", goodAuth, "", nil, ErrMalformed},
		{"bad date", goodAuth, "", map[string]string{"X-Amz-Date": "2026-11-22T12:30:45Z"}, ErrMalformed},
		{"date differs from scope", goodAuth, "", map[string]string{"X-Amz-Date": "20261123T000000Z"}, ErrMalformed},
		{"sigv2", "AWS AKID:sig", "", date, ErrMalformed},
		{"other algorithm", strings.Replace(goodAuth, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1), "", date, ErrMalformed},
		{"scope 4 parts", strings.Replace(goodAuth, "/aws4_request", "", 1), "", date, ErrMalformed},
		{"scope terminator", strings.Replace(goodAuth, "aws4_request", "aws4_requesx", 1), "", date, ErrMalformed},
		{"scope bad date", strings.Replace(goodAuth, "20261122", "2026112x", 1), "", date, ErrMalformed},
		{"empty region", strings.Replace(goodAuth, "us-east-1", "", 1), "", date, ErrMalformed},
		{"missing signature", strings.Split(goodAuth, ", Signature")[0], "", date, ErrMalformed},
		{"short signature", goodAuth[:len(goodAuth)-1], "", date, ErrMalformed},
		{"repeated component", goodAuth + ", Signature=" + sig, "", date, ErrMalformed},
		{"unknown component", goodAuth + ", Foo=bar", "", date, ErrMalformed},
		{"host not signed", strings.Replace(goodAuth, "host;", "", 1), "", date, ErrMalformed},
		{"upper-case signed header", strings.Replace(goodAuth, "host;x-amz-date", "host;X-Amz-Date", 1), "", date, ErrMalformed},
		{"empty signed header", strings.Replace(goodAuth, "host;x-amz-date", "host;;x-amz-date", 1), "", date, ErrMalformed},
		{"presigned good", "", presignQuery(nil), nil, nil},
		{"presigned bad algorithm", "", presignQuery(map[string]string{"X-Amz-Algorithm": "AWS4-HMAC-SHA1"}), nil, ErrMalformed},
		{"presigned no expires", "", presignQuery(map[string]string{"X-Amz-Expires": ""}), nil, ErrMalformed},
		{"presigned negative expires", "", presignQuery(map[string]string{"X-Amz-Expires": "-1"}), nil, ErrMalformed},
		{"presigned huge expires", "", presignQuery(map[string]string{"X-Amz-Expires": "99999999999999999999"}), nil, ErrMalformed},
		{"presigned repeated signature", "", presignQuery(nil) + "&X-Amz-Signature=" + sig, nil, ErrMalformed},
		{"presigned no signed headers", "", presignQuery(map[string]string{"X-Amz-SignedHeaders": ""}), nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(rawRequest(tc.auth, tc.query, tc.h))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (c.Service == "" || c.Time.IsZero()) {
				t.Fatalf("incomplete credential %+v", c)
			}
			if err != nil && strings.Contains(err.Error(), sig) {
				t.Fatalf("error quotes the signature: %v", err)
			}
		})
	}
}

// presignQuery is a syntactically valid presigned query; set overrides
// values ("" removes the parameter).
func presignQuery(set map[string]string) string {
	q := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":    {"AKIDEXAMPLE/20261122/us-east-1/s3/aws4_request"},
		"X-Amz-Date":          {"20261122T123045Z"},
		"X-Amz-Expires":       {"300"},
		"X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature":     {strings.Repeat("a", 64)},
	}
	for k, v := range set {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

func TestCanonicalQuery(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1&a=10", "a=1&a=10&a=2"},
		{"flag&x=", "flag=&x="},
		{"s=hello+world&t=hello%20world", "s=hello%20world&t=hello%20world"},
		{"u=%e2%9c%93&v=~&w=%7E", "u=%E2%9C%93&v=~&w=~"},
		// Sorted after encoding: "a%2Fb" < "a-b" although '/' > '-'.
		{"k=a-b&k=a%2Fb", "k=a%2Fb&k=a-b"},
		{"&&a=1&&", "a=1"},
		{"x=a=b", "x=a%3Db"},
	}
	for _, tc := range cases {
		got, err := canonicalQuery(tc.raw, false)
		if err != nil || got != tc.want {
			t.Errorf("canonicalQuery(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	if got, _ := canonicalQuery("X-Amz-Signature=abc&X-Amz-Date=1", true); got != "X-Amz-Date=1" {
		t.Errorf("presigned query keeps signature: %q", got)
	}
	if _, err := canonicalQuery("a=%zz", false); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad escape: %v", err)
	}
}

func TestCanonicalURIs(t *testing.T) {
	cases := []struct {
		path string
		s3   bool
		want []string
	}{
		{"/", false, []string{"/"}},
		{"", false, []string{"/"}},
		{"/tags/arn%3Aaws%3Ax%2Fy", false, []string{"/tags/arn%253Aaws%253Ax%252Fy"}},
		{"/a%20b/c", false, []string{"/a%2520b/c"}},
		{"/a//b/./c/../d", false, []string{"/a//b/./c/../d", "/a/b/d"}},
		{"/bucket/a%20b/%E2%9C%93", true, []string{"/bucket/a%20b/%E2%9C%93"}},
		{"/bucket/a%2Bb/c:d", true, []string{"/bucket/a%2Bb/c%3Ad", "/bucket/a%2Bb/c:d"}},
		{"/bucket/%7e", true, []string{"/bucket/~", "/bucket/%7e"}},
	}
	for _, tc := range cases {
		u, err := url.Parse("http://h" + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		got := canonicalURIs(&http.Request{URL: u}, tc.s3)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("canonicalURIs(%q, s3=%v) = %q, want %q", tc.path, tc.s3, got, tc.want)
		}
	}
}

func TestCleanValue(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"  a  ":           "a",
		"a   b    c":      "a b c",
		" \tx  y\t":       "x y",
		"already clean":   "already clean",
		"keeps\ttab  ok ": "keeps\ttab ok",
	} {
		if got := cleanValue(in); got != want {
			t.Errorf("cleanValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVerifyPayloadUnknown(t *testing.T) {
	r := rawRequest(goodAuth, "", map[string]string{"X-Amz-Date": "20261122T123045Z"})
	r.Method = "POST"
	r.ContentLength = 10
	r.Body = io.NopCloser(bytes.NewReader(make([]byte, 10)))
	c, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(r, c, testSecret, "", c.Time, Options{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no payload hash: %v", err)
	}
	if err := Verify(r, nil, testSecret, "", time.Now(), Options{}); !errors.Is(err, ErrMissingAuth) {
		t.Fatalf("nil credential: %v", err)
	}
}

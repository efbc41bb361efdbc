package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary Authorization headers, query strings and dates
// through Parse and, when Parse accepts them, through Verify. Neither may
// panic.
func FuzzParse(f *testing.F) {
	f.Add(goodAuth, "", "20261122T123045Z", "/")
	f.Add(strings.ReplaceAll(goodAuth, ", ", ","), "Action=DescribeRegions&Version=2016-11-15", "20261122T123045Z", "/a%20b//./../c")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request", "", "", "/")
	f.Add("AWS4-HMAC-SHA256 ", "", "", "")
	f.Add("AWS4-HMAC-SHA256 Credential==,,=", "", "x", "/")
	f.Add("AWS AKID:sig", "", "", "/")
	f.Add("", presignQuery(nil), "", "/bucket/k%2F")
	f.Add("", presignQuery(map[string]string{"X-Amz-Expires": "604801"}), "", "/")
	f.Add("", "X-Amz-Credential=%zz&X-Amz-Signature=&&=&a", "", "/")
	f.Add("", "X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Algorithm=AWS4-HMAC-SHA256", "", "/")
	f.Fuzz(func(t *testing.T, auth, rawQuery, amzDate, path string) {
		r := &http.Request{
			Method: "GET",
			URL:    &url.URL{Path: path, RawQuery: rawQuery},
			Header: http.Header{},
			Host:   "localhost",
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if amzDate != "" {
			r.Header.Set("X-Amz-Date", amzDate)
		}
		c, err := Parse(r)
		if err != nil {
			if c != nil {
				t.Fatalf("credential with error %v", err)
			}
			return
		}
		for _, s3 := range []bool{false, true} {
			_ = Verify(r, c, "secret", "", c.Time, Options{S3: s3})
			_ = Verify(r, c, "secret", EmptySHA256, c.Time, Options{S3: s3})
		}
	})
}

// FuzzChunkedReader decodes arbitrary bodies in signed and unsigned mode.
func FuzzChunkedReader(f *testing.F) {
	c := testCred()
	key := SigningKey(testSecret, c.Date, c.Region, c.Service)
	s := &testSigner{key: key, amzDate: c.AmzDate(), scope: c.Scope(), prev: c.Signature}
	f.Add(buildChunked(s, [][]byte{[]byte("hello")}, chunkOpts{signed: true}), true)
	f.Add(buildChunked(s, [][]byte{[]byte("hello")}, chunkOpts{trailers: [][2]string{{"x-amz-checksum-crc32", "AAAA"}}}), false)
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), false)
	f.Add([]byte("fffffffffffffff\r\n"), false)
	f.Add([]byte("0;chunk-signature=\r\nx-amz-trailer-signature:zz\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		k := key
		if !signed {
			k = nil
		}
		n, _ := io.Copy(io.Discard, NewChunkedReader(bytes.NewReader(body), k, c, c.Signature))
		if n > int64(len(body)) {
			t.Fatalf("decoded %d bytes from a %d-byte body", n, len(body))
		}
	})
}

package s3

import (
	"net"
	"net/http"
	"strings"
)

// target is the bucket and key a request addresses.
type target struct {
	bucket, key string
	virtual     bool // bucket came from the Host header
}

// parseTarget reads the bucket and key from the Host header
// (virtual-hosted style: "bucket.localhost", "bucket.s3.localhost",
// "bucket.s3.<region>.amazonaws.com") or else from the path (path style:
// "/bucket/key").
func parseTarget(r *http.Request) target {
	path := r.URL.Path
	if b := hostBucket(r.Host); b != "" {
		return target{bucket: b, key: strings.TrimPrefix(path, "/"), virtual: true}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	return target{bucket: bucket, key: key}
}

// hostBucket returns the bucket named by a virtual-hosted-style Host, or "".
func hostBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || net.ParseIP(host) != nil {
		return ""
	}
	var rest string
	switch {
	case strings.HasSuffix(host, ".localhost"):
		rest = strings.TrimSuffix(host, ".localhost")
	case strings.HasSuffix(host, ".amazonaws.com"):
		rest = strings.TrimSuffix(host, ".amazonaws.com")
	default:
		return ""
	}
	// rest is "bucket", "bucket.s3", "bucket.s3.<region>", "s3",
	// "s3.<region>", "bucket.s3-<region>"...
	labels := strings.Split(rest, ".")
	for i, l := range labels {
		if l == "s3" || strings.HasPrefix(l, "s3-") {
			return strings.Join(labels[:i], ".")
		}
	}
	if strings.HasSuffix(host, ".amazonaws.com") {
		return ""
	}
	return rest
}

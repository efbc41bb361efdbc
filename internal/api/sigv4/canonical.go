package sigv4

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// unreserved reports whether b is in the RFC 3986 unreserved set.
func unreserved(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' ||
		b == '-' || b == '_' || b == '.' || b == '~'
}

const upperhex = "0123456789ABCDEF"

// uriEncode percent-encodes every byte outside the unreserved set (and '/'
// when keepSlash), with upper-case hex; a space becomes %20.
func uriEncode(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && !(keepSlash && s[i] == '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperhex[c>>4])
		b.WriteByte(upperhex[c&15])
	}
	return b.String()
}

// escapedPath is the path as the client sent it (still percent-encoded).
func escapedPath(r *http.Request) string {
	if r.URL == nil {
		return "/"
	}
	p := r.URL.EscapedPath()
	if p == "" {
		return "/"
	}
	return p
}

// canonicalURIs returns the canonical URI candidates for r, most likely
// first. Only the first is normally needed; the others cover client
// differences and are tried only when the first does not match.
//
// Non-S3: the escaped path encoded once more (both clients). botocore also
// removes dot segments and empty segments first, which only matters for
// paths with "//", "/./" or "/../".
//
// S3: the path is signed once-encoded. It is decoded and encoded again with
// the unreserved set (what both clients send); the path exactly as sent is
// the fallback for clients that leave other characters unencoded.
func canonicalURIs(r *http.Request, s3 bool) []string {
	raw := escapedPath(r)
	if s3 {
		first := raw
		if dec, err := url.PathUnescape(raw); err == nil {
			first = uriEncode(dec, true)
		}
		if first != raw {
			return []string{first, raw}
		}
		return []string{first}
	}
	first := uriEncode(raw, true)
	if norm := removeDotSegments(raw); norm != raw {
		return []string{first, uriEncode(norm, true)}
	}
	return []string{first}
}

// removeDotSegments is botocore's normalize_url_path: RFC 3986 dot-segment
// removal that also drops empty segments.
func removeDotSegments(p string) string {
	if p == "" {
		return ""
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// canonicalQuery decodes every key and value of rawQuery, re-encodes them
// with the unreserved set, and sorts by encoded key then encoded value.
// X-Amz-Signature is left out when presigned.
func canonicalQuery(rawQuery string, presigned bool) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, strings.Count(rawQuery, "&")+1)
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return "", malformed("bad query encoding")
		}
		if presigned && dk == querySignature {
			continue
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", malformed("bad query encoding")
		}
		pairs = append(pairs, pair{uriEncode(dk, false), uriEncode(dv, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

// writeCanonicalHeaders writes "name:value\n" for each signed header, in the
// client's order. host comes from r.Host (Go servers remove it from
// r.Header); repeated headers are joined with ','; values are trimmed and
// runs of spaces collapsed.
func writeCanonicalHeaders(b *strings.Builder, r *http.Request, signed []string) {
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		switch name {
		case "host":
			host := r.Host
			if host == "" && r.URL != nil {
				host = r.URL.Host
			}
			b.WriteString(cleanValue(host))
		default:
			vals := headerValues(r.Header, name)
			if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(cleanValue(v))
			}
		}
		b.WriteByte('\n')
	}
}

// headerValues looks name up canonically and, failing that, by a
// case-insensitive scan (for keys a server stored non-canonically).
func headerValues(h http.Header, name string) []string {
	if v := h.Values(name); len(v) > 0 {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// cleanValue trims surrounding whitespace and collapses inner runs of
// spaces to one, as the SigV4 specification and the clients do.
func cleanValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

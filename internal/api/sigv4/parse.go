package sigv4

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// Names of the presigned query parameters.
const (
	queryAlgorithm     = "X-Amz-Algorithm"
	queryCredential    = "X-Amz-Credential"
	queryDate          = "X-Amz-Date"
	queryExpires       = "X-Amz-Expires"
	querySignedHeaders = "X-Amz-SignedHeaders"
	querySignature     = "X-Amz-Signature"
	querySecurityToken = "X-Amz-Security-Token"
)

// amzDateFormat is the layout of X-Amz-Date.
const amzDateFormat = "20060102T150405Z"

// MaxPresignExpires is the longest X-Amz-Expires AWS accepts (7 days).
const MaxPresignExpires = 604800 * time.Second

// Credential is what the request claims, parsed without any secret.
type Credential struct {
	AccessKeyID string
	Date        string // YYYYMMDD, from the credential scope
	Region      string
	Service     string

	Time          time.Time // X-Amz-Date (or Date header) parsed, UTC
	SignedHeaders []string  // lower-case, in the client's order
	Signature     string    // lower-case hex
	Presigned     bool
	Expires       time.Duration // presigned only
	// SecurityToken is X-Amz-Security-Token (query or header) if present.
	// Both clients sign it, but Verify does not insist on that: callers
	// must check that the token belongs to AccessKeyID.
	SecurityToken string
}

// Scope is the credential scope "date/region/service/aws4_request".
func (c *Credential) Scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/aws4_request"
}

// AmzDate is the request time in X-Amz-Date form, as used in string-to-sign.
func (c *Credential) AmzDate() string { return c.Time.UTC().Format(amzDateFormat) }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Parse reads the credential from the Authorization header or, failing that,
// the presigned query. It is cheap and needs no secret, so it can be used to
// route a request (service, region, access key) before the secret is known.
// It does not check the signature or the time.
func Parse(r *http.Request) (*Credential, error) {
	if auth := r.Header.Values("Authorization"); len(auth) > 0 {
		if len(auth) > 1 {
			return nil, malformed("more than one Authorization header")
		}
		return parseHeader(auth[0], r.Header)
	}
	if r.URL != nil && strings.Contains(r.URL.RawQuery, queryCredential) {
		// ParseQuery keeps going after a bad pair; bad encodings elsewhere in
		// the query are caught by Verify when it canonicalises the query.
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if _, ok := q[queryCredential]; ok {
			return parsePresigned(q, r.Header)
		}
	}
	return nil, ErrMissingAuth
}

func parseHeader(auth string, h http.Header) (*Credential, error) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(auth), " ")
	if !ok || alg != Algorithm {
		return nil, malformed("unsupported authorization algorithm")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformed("authorization component without '='")
		}
		var dup bool
		switch k {
		case "Credential":
			dup, haveCred, cred = haveCred, true, v
		case "SignedHeaders":
			dup, haveSigned, signed = haveSigned, true, v
		case "Signature":
			dup, haveSig, sig = haveSig, true, v
		default:
			return nil, malformed("unknown authorization component %q", truncate(k))
		}
		if dup {
			return nil, malformed("repeated authorization component %s", k)
		}
	}
	if !haveCred || !haveSigned || !haveSig {
		return nil, malformed("authorization header needs Credential, SignedHeaders and Signature")
	}
	c := &Credential{SecurityToken: h.Get("X-Amz-Security-Token")}
	if err := c.setScope(cred); err != nil {
		return nil, err
	}
	if err := c.setSignedHeaders(signed); err != nil {
		return nil, err
	}
	if err := c.setSignature(sig); err != nil {
		return nil, err
	}
	if d := h.Get("X-Amz-Date"); d != "" {
		t, err := time.Parse(amzDateFormat, d)
		if err != nil {
			return nil, malformed("bad X-Amz-Date")
		}
		c.Time = t
	} else if d := h.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, malformed("bad Date header")
		}
		c.Time = t.UTC()
	} else {
		return nil, malformed("request has neither X-Amz-Date nor Date")
	}
	if err := c.checkDate(); err != nil {
		return nil, err
	}
	return c, nil
}

func parsePresigned(q url.Values, h http.Header) (*Credential, error) {
	get := func(name string) (string, error) {
		v := q[name]
		switch len(v) {
		case 0:
			return "", malformed("presigned request lacks %s", name)
		case 1:
			return v[0], nil
		default:
			return "", malformed("presigned request repeats %s", name)
		}
	}
	c := &Credential{Presigned: true}
	alg, err := get(queryAlgorithm)
	if err != nil {
		return nil, err
	}
	if alg != Algorithm {
		return nil, malformed("unsupported X-Amz-Algorithm")
	}
	var vals [5]string
	for i, name := range []string{queryCredential, queryDate, queryExpires, querySignedHeaders, querySignature} {
		if vals[i], err = get(name); err != nil {
			return nil, err
		}
	}
	if err := c.setScope(vals[0]); err != nil {
		return nil, err
	}
	if c.Time, err = time.Parse(amzDateFormat, vals[1]); err != nil {
		return nil, malformed("bad X-Amz-Date")
	}
	n, err := strconv.ParseInt(vals[2], 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/int64(time.Second) {
		return nil, malformed("bad X-Amz-Expires")
	}
	c.Expires = time.Duration(n) * time.Second
	if err := c.setSignedHeaders(vals[3]); err != nil {
		return nil, err
	}
	if err := c.setSignature(vals[4]); err != nil {
		return nil, err
	}
	if tok := q[querySecurityToken]; len(tok) > 0 {
		c.SecurityToken = tok[0]
	} else {
		c.SecurityToken = h.Get("X-Amz-Security-Token")
	}
	if err := c.checkDate(); err != nil {
		return nil, err
	}
	return c, nil
}

// setScope parses "AKID/YYYYMMDD/region/service/aws4_request".
func (c *Credential) setScope(s string) error {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return malformed("credential scope must be <key>/<date>/<region>/<service>/aws4_request")
	}
	for _, p := range parts[:4] {
		if p == "" {
			return malformed("empty credential scope component")
		}
	}
	if _, err := time.Parse("20060102", parts[1]); err != nil || len(parts[1]) != 8 {
		return malformed("bad credential scope date")
	}
	c.AccessKeyID, c.Date, c.Region, c.Service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func (c *Credential) setSignedHeaders(s string) error {
	if s == "" {
		return malformed("empty SignedHeaders")
	}
	hs := strings.Split(s, ";")
	host := false
	for _, name := range hs {
		if name == "" || !validHeaderName(name) {
			return malformed("bad SignedHeaders entry")
		}
		if name == "host" {
			host = true
		}
	}
	if !host {
		return malformed("SignedHeaders must include host")
	}
	c.SignedHeaders = hs
	return nil
}

// validHeaderName accepts lower-case HTTP token characters.
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

func (c *Credential) setSignature(s string) error {
	if !isHex64(s) {
		return malformed("signature must be 64 hex digits")
	}
	c.Signature = strings.ToLower(s)
	return nil
}

// checkDate requires the request time's date to equal the scope date.
func (c *Credential) checkDate() error {
	if c.Time.UTC().Format("20060102") != c.Date {
		return malformed("request date does not match credential scope date")
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F') {
			return false
		}
	}
	return true
}

// truncate bounds attacker-controlled text quoted in errors.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

package s3

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// conditions are the preconditions of a read (GET, HEAD) or of a copy
// source (x-amz-copy-source-if-*).
type conditions struct {
	ifMatch, ifNoneMatch               string
	ifModifiedSince, ifUnmodifiedSince time.Time
}

func readConditions(h http.Header, prefix string) conditions {
	c := conditions{ifMatch: h.Get(prefix + "If-Match"), ifNoneMatch: h.Get(prefix + "If-None-Match")}
	if t, err := http.ParseTime(h.Get(prefix + "If-Modified-Since")); err == nil {
		c.ifModifiedSince = t
	}
	if t, err := http.ParseTime(h.Get(prefix + "If-Unmodified-Since")); err == nil {
		c.ifUnmodifiedSince = t
	}
	return c
}

// etagMatches reports whether an If-Match / If-None-Match list names etag.
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

// check evaluates the conditions as S3 does (RFC 7232 precedence): a failed
// If-Match or If-Unmodified-Since is 412; a matching If-None-Match or an
// unmodified If-Modified-Since is 304 for reads (412 for copies).
func (c conditions) check(etag string, modified time.Time, copySource bool) *awserr.Error {
	modified = modified.Truncate(time.Second)
	pre := func(cond string) *awserr.Error {
		return awserr.New(awserr.Conflict, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	}
	notModified := func() *awserr.Error {
		if copySource {
			return pre("")
		}
		return awserr.New(awserr.Conflict, "NotModified", "Not Modified")
	}
	if c.ifMatch != "" {
		if !etagMatches(c.ifMatch, etag) {
			return pre("If-Match")
		}
	} else if !c.ifUnmodifiedSince.IsZero() && modified.After(c.ifUnmodifiedSince) {
		return pre("If-Unmodified-Since")
	}
	if c.ifNoneMatch != "" {
		if etagMatches(c.ifNoneMatch, etag) {
			return notModified()
		}
	} else if !c.ifModifiedSince.IsZero() && !modified.After(c.ifModifiedSince) {
		return notModified()
	}
	return nil
}

// byteRange is an inclusive range [start, end].
type byteRange struct{ start, end int64 }

func (b byteRange) length() int64 { return b.end - b.start + 1 }

// parseRange reads a single "bytes=" range against size. ok is false when
// the header is absent or not a single byte range (S3 then serves the
// whole object); an unsatisfiable range is InvalidRange.
func parseRange(h string, size int64) (r byteRange, ok bool, e *awserr.Error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return r, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return r, false, nil
	}
	invalid := func() (byteRange, bool, *awserr.Error) {
		return r, false, awserr.New(awserr.InvalidArgument, "InvalidRange", "The requested range is not satisfiable")
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return r, false, nil
		}
		if n == 0 || size == 0 {
			return invalid()
		}
		return byteRange{max(0, size-n), size - 1}, true, nil
	}
	s, err := strconv.ParseInt(first, 10, 64)
	if err != nil || s < 0 {
		return r, false, nil
	}
	end := size - 1
	if last != "" {
		e, err := strconv.ParseInt(last, 10, 64)
		if err != nil || e < s {
			return r, false, nil
		}
		end = min(e, size-1)
	}
	if s >= size {
		return invalid()
	}
	return byteRange{s, end}, true, nil
}

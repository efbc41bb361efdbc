package s3

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// The checksum algorithms S3 supports, as the x-amz-checksum-algorithm
// header spells them.
var checksumAlgorithms = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

// Checksum types of multipart objects.
const (
	checksumFullObject = "FULL_OBJECT"
	checksumComposite  = "COMPOSITE"
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(0x9a6c9329ac4bc9b5) // CRC-64/NVME, reflected
)

// newChecksum returns a hash for algorithm (upper case), or nil.
func newChecksum(algorithm string) hash.Hash {
	switch algorithm {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(castagnoli)
	case "CRC64NVME":
		return crc64.New(nvme)
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	return nil
}

// checksumHeader is the header carrying algorithm's value.
func checksumHeader(algorithm string) string {
	return "x-amz-checksum-" + strings.ToLower(algorithm)
}

// validAlgorithm normalises an algorithm name; ok is false for unknown ones.
func validAlgorithm(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	for _, a := range checksumAlgorithms {
		if a == s {
			return a, true
		}
	}
	return "", false
}

// checksumRequest is what a request says about the checksums of its body:
// values sent as headers, algorithms whose value comes in a trailer.
type checksumRequest struct {
	values   map[string]string // algorithm -> base64 value from a header
	trailers []string          // algorithms announced in x-amz-trailer
	sdkAlgo  string            // x-amz-sdk-checksum-algorithm
}

// parseChecksums reads the checksum headers of r.
func parseChecksums(r *http.Request) (checksumRequest, *awserr.Error) {
	var c checksumRequest
	for _, a := range checksumAlgorithms {
		if v := r.Header.Get(checksumHeader(a)); v != "" {
			if c.values == nil {
				c.values = map[string]string{}
			}
			c.values[a] = v
		}
	}
	if len(c.values) > 1 {
		return c, errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	for _, t := range strings.Split(r.Header.Get("X-Amz-Trailer"), ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if a, ok := strings.CutPrefix(t, "x-amz-checksum-"); ok {
			algo, ok := validAlgorithm(a)
			if !ok {
				return c, errInvalidRequest("Value for x-amz-trailer header is invalid.")
			}
			c.trailers = append(c.trailers, algo)
		}
	}
	if v := r.Header.Get("X-Amz-Sdk-Checksum-Algorithm"); v != "" {
		a, ok := validAlgorithm(v)
		if !ok {
			return c, errInvalidRequest("Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		c.sdkAlgo = a
	}
	return c, nil
}

// algorithms lists the algorithms to compute over the body.
func (c checksumRequest) algorithms(extra string) []string {
	var out []string
	add := func(a string) {
		for _, x := range out {
			if x == a {
				return
			}
		}
		out = append(out, a)
	}
	for _, a := range checksumAlgorithms {
		if _, ok := c.values[a]; ok {
			add(a)
		}
	}
	for _, a := range c.trailers {
		add(a)
	}
	if c.sdkAlgo != "" && len(out) == 0 {
		add(c.sdkAlgo)
	}
	if extra != "" {
		add(extra)
	}
	return out
}

// verify checks computed sums against the header and trailer values and
// returns the object's checksum (the first algorithm's value).
func (c checksumRequest) verify(sums map[string][]byte, trailer http.Header) (*checksumValue, *awserr.Error) {
	var first *checksumValue
	for _, a := range checksumAlgorithms {
		sum, ok := sums[a]
		if !ok {
			continue
		}
		got := base64.StdEncoding.EncodeToString(sum)
		want, have := c.values[a]
		if !have && trailer != nil {
			want, have = trailer.Get(checksumHeader(a)), trailer.Get(checksumHeader(a)) != ""
		}
		if have {
			if raw, err := base64.StdEncoding.DecodeString(want); err != nil || len(raw) != len(sum) {
				return nil, errInvalidRequest("Value for %s header is invalid.", checksumHeader(a))
			}
			if want != got {
				return nil, awserr.New(awserr.InvalidArgument, "BadDigest", "The %s you specified did not match the calculated checksum.", a)
			}
		}
		if first == nil {
			first = &checksumValue{Algorithm: a, Value: got, Type: checksumFullObject}
		}
	}
	for _, a := range c.trailers {
		if _, ok := sums[a]; ok && (trailer == nil || trailer.Get(checksumHeader(a)) == "") {
			if _, inHeader := c.values[a]; !inHeader {
				return nil, errInvalidRequest("x-amz-trailer %s announced but not sent", checksumHeader(a))
			}
		}
	}
	return first, nil
}

// setChecksumHeaders reports a checksum in response headers.
func setChecksumHeaders(h http.Header, c *checksumValue) {
	if c == nil {
		return
	}
	h.Set(checksumHeader(c.Algorithm), c.Value)
	if c.Type != "" {
		h.Set("x-amz-checksum-type", c.Type)
	}
}

// compositeChecksum is S3's checksum of checksums: the algorithm over the
// concatenated raw part checksums, suffixed "-<parts>".
func compositeChecksum(algorithm string, parts []string) (string, error) {
	h := newChecksum(algorithm)
	for _, p := range parts {
		raw, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return "", err
		}
		h.Write(raw)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// decodeObject decodes an object record body.
func decodeObject(b []byte) (*objectRec, error) {
	var o objectRec
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

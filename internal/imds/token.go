package imds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Token TTL bounds (seconds), as on AWS.
const (
	MinTokenTTL = 1
	MaxTokenTTL = 21600
)

// tokenVersion is the first byte of every token.
const tokenVersion = 1

// tokens mints and checks IMDSv2 session tokens. A token is
// version | expiry (Unix milliseconds, 8 bytes) | len(id) | instance ID | MAC,
// where MAC is the first 16 bytes of HMAC-SHA256 over the rest under a
// per-process key: no server-side state, and a token from one instance is
// useless to another.
type tokens struct{ key []byte }

func newTokens(key []byte) tokens {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			panic("imds: no randomness for the token key: " + err.Error())
		}
	}
	return tokens{key: key}
}

func (t tokens) mac(b []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// mint returns a token for instance id valid until expiry.
func (t tokens) mint(id string, expiry time.Time) string {
	if len(id) > 255 {
		id = id[:255]
	}
	b := make([]byte, 0, 1+8+1+len(id)+16)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(expiry.UnixMilli()))
	b = append(b, byte(len(id)))
	b = append(b, id...)
	b = append(b, t.mac(b)...)
	return base64.StdEncoding.EncodeToString(b)
}

// check reports whether tok is a valid, unexpired token for instance id,
// and the seconds it has left.
func (t tokens) check(tok, id string, now time.Time) (int, bool) {
	if len(tok) > 512 {
		return 0, false
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) < 1+8+1+16 || b[0] != tokenVersion {
		return 0, false
	}
	n := int(b[9])
	if len(b) != 1+8+1+n+16 {
		return 0, false
	}
	body, sum := b[:10+n], b[10+n:]
	if !hmac.Equal(sum, t.mac(body)) {
		return 0, false
	}
	if string(b[10:10+n]) != id {
		return 0, false
	}
	exp := int64(binary.BigEndian.Uint64(b[1:9]))
	left := exp - now.UnixMilli()
	if left <= 0 {
		return 0, false
	}
	return int((left + 999) / 1000), true
}

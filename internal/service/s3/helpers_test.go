package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"testing/iotest"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
)

func chunkSig(key []byte, c *sigv4.Credential, prev string, data []byte) string {
	sum := sha256.Sum256(data)
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.AmzDate() + "\n" + c.Scope() + "\n" + prev + "\n" + sigv4.EmptySHA256 + "\n" + hex.EncodeToString(sum[:])
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

func strconvHex(n int) string { return strconv.FormatInt(int64(n), 16) }

func iotestHalf(r io.Reader) io.Reader { return iotest.HalfReader(r) }

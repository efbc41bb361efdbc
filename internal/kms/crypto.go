package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"sort"
)

// Ciphertext blob format (version 1), all of it authenticated:
//
//	0x01                      version
//	uvarint len, key ARN      the key that encrypted it (region and account included)
//	12 bytes                  GCM nonce
//	rest                      AES-256-GCM ciphertext and 16-byte tag
//
// The additional authenticated data is the header (version and ARN)
// followed by the canonical encryption context, so a wrong context, a
// changed ARN or any flipped bit fails to open.
const (
	blobVersion  = 1
	nonceSize    = 12
	tagSize      = 16
	maxARNLength = 2048
)

// canonicalContext encodes an encryption context in a canonical order
// (sorted keys, length-prefixed), so equal maps give equal bytes.
func canonicalContext(ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(ec[k])))
		b = append(b, ec[k]...)
	}
	return b
}

func header(arn string) []byte {
	h := []byte{blobVersion}
	h = binary.AppendUvarint(h, uint64(len(arn)))
	return append(h, arn...)
}

func gcm(material []byte) cipher.AEAD {
	block, err := aes.NewCipher(material)
	if err != nil {
		panic("kms: bad key material length") // material is always 32 bytes
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return a
}

// sealBlob encrypts plaintext under material for the key arn.
func sealBlob(material []byte, arn string, plaintext []byte, ec map[string]string) []byte {
	h := header(arn)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := append(append([]byte{}, h...), nonce...)
	return gcm(material).Seal(out, nonce, plaintext, append(h, canonicalContext(ec)...))
}

// blobARN returns the key ARN a ciphertext blob names, or
// InvalidCiphertextException when it is not a kiln blob.
func blobARN(blob []byte) (string, error) {
	if len(blob) < 2 || blob[0] != blobVersion {
		return "", errInvalidCiphertext()
	}
	n, w := binary.Uvarint(blob[1:])
	if w <= 0 || n == 0 || n > maxARNLength || uint64(len(blob)-1-w) < n+nonceSize+tagSize {
		return "", errInvalidCiphertext()
	}
	return string(blob[1+w : 1+w+int(n)]), nil
}

// openBlob decrypts a blob with material; the ARN in the blob must be arn.
func openBlob(material []byte, arn string, blob []byte, ec map[string]string) ([]byte, error) {
	got, err := blobARN(blob)
	if err != nil || got != arn {
		return nil, errInvalidCiphertext()
	}
	h := header(arn)
	nonce := blob[len(h) : len(h)+nonceSize]
	pt, err := gcm(material).Open(nil, nonce, blob[len(h)+nonceSize:], append(h, canonicalContext(ec)...))
	if err != nil {
		return nil, errInvalidCiphertext()
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

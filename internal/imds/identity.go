package imds

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"
)

// IdentityDocument renders the instance identity document exactly as AWS
// formats it: two-space indentation, "key" : value, fixed key order, the
// null fields AWS keeps, no trailing newline.
func IdentityDocument(inst *Instance) []byte {
	arch := inst.Architecture
	if arch == "" {
		arch = "x86_64"
	}
	var b strings.Builder
	b.WriteString("{\n")
	field := func(k string, v *string, last bool) {
		b.WriteString(`  "`)
		b.WriteString(k)
		b.WriteString(`" : `)
		if v == nil {
			b.WriteString("null")
		} else {
			q, _ := json.Marshal(*v)
			b.Write(q)
		}
		if !last {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	s := func(v string) *string { return &v }
	pending := inst.LaunchTime.UTC().Format("2006-01-02T15:04:05Z")
	field("accountId", s(inst.AccountID), false)
	field("architecture", s(arch), false)
	field("availabilityZone", s(inst.AvailabilityZone), false)
	field("billingProducts", nil, false)
	field("devpayProductCodes", nil, false)
	field("marketplaceProductCodes", nil, false)
	field("imageId", s(inst.ImageID), false)
	field("instanceId", s(inst.ID), false)
	field("instanceType", s(inst.InstanceType), false)
	field("kernelId", nil, false)
	field("pendingTime", s(pending), false)
	field("privateIp", s(inst.LocalIPv4), false)
	field("ramdiskId", nil, false)
	field("region", s(inst.Region), false)
	field("version", s("2017-09-30"), true)
	b.WriteString("}")
	return []byte(b.String())
}

// IdentityCertificate returns the self-signed certificate kiln publishes for
// its identity key (what AWS calls the regional public certificate). It is
// deterministic for a given RSA key: the same key always yields the same
// certificate, so it can be re-derived after a restart.
func IdentityCertificate(key crypto.Signer) (*x509.Certificate, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("imds: the identity key must be RSA")
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pub)
	serial := new(big.Int).SetBytes(sum[:16])
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"kiln"}, CommonName: "kiln instance identity"},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SubjectKeyId:          sum[:20],
	}
	// RSA PKCS#1 v1.5 signatures are deterministic, so is the certificate.
	der, err := x509.CreateCertificate(zeroReader{}, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// signer produces the signature paths of the identity document, caching by
// document (an RSA signature costs about a millisecond).
type signer struct {
	key  crypto.Signer
	cert *x509.Certificate

	mu    sync.Mutex
	cache map[[32]byte]*signatures
}

type signatures struct {
	once                      sync.Once
	signature, pkcs7, rsa2048 []byte
	err                       error
}

func newSigner(key crypto.Signer, cert *x509.Certificate) (*signer, error) {
	if key == nil {
		return nil, nil
	}
	if cert == nil {
		var err error
		if cert, err = IdentityCertificate(key); err != nil {
			return nil, err
		}
	}
	return &signer{key: key, cert: cert, cache: map[[32]byte]*signatures{}}, nil
}

func (s *signer) sign(doc []byte) (*signatures, error) {
	k := sha256.Sum256(doc)
	s.mu.Lock()
	e := s.cache[k]
	if e == nil {
		if len(s.cache) >= 4096 {
			clear(s.cache)
		}
		e = &signatures{}
		s.cache[k] = e
	}
	s.mu.Unlock()
	e.once.Do(func() { e.err = s.compute(e, doc, k) })
	return e, e.err
}

func (s *signer) compute(e *signatures, doc []byte, digest [32]byte) error {
	sig, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	e.signature = wrap64(base64.StdEncoding.EncodeToString(sig))
	// pkcs7: detached (AWS documents verifying it with `openssl smime
	// -verify -content document`); rsa2048: the document embedded.
	for _, detached := range []bool{true, false} {
		sd, err := pkcs7.NewSignedData(doc)
		if err != nil {
			return err
		}
		sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
		if err := sd.AddSigner(s.cert, s.key, pkcs7.SignerInfoConfig{}); err != nil {
			return err
		}
		if detached {
			sd.Detach()
		}
		der, err := sd.Finish()
		if err != nil {
			return err
		}
		out := wrap64(base64.StdEncoding.EncodeToString(der))
		if detached {
			e.pkcs7 = out
		} else {
			e.rsa2048 = out
		}
	}
	return nil
}

// wrap64 breaks base64 text into 64-character lines (no trailing newline),
// the body of a PEM block without its armour, as AWS serves it.
func wrap64(s string) []byte {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64])
		b.WriteByte('\n')
		s = s[64:]
	}
	b.WriteString(s)
	return []byte(b.String())
}

package ec2

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// generated is a new key pair's material.
type generated struct {
	private     string // PEM, returned once
	public      string // OpenSSH authorized_keys line
	fingerprint string
}

// generateKey makes real key material as EC2 does: RSA 2048 as a PKCS#1
// PEM with the SHA-1 fingerprint of the PKCS#8 private key, or ED25519 as
// an OpenSSH private key with the base64 SHA-256 fingerprint of the public
// key.
func generateKey(keyType, name string) (generated, error) {
	switch keyType {
	case "", ec2api.KeyTypeRsa:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return generated{}, err
		}
		pk8, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return generated{}, err
		}
		sum := sha1.Sum(pk8)
		pub, err := ssh.NewPublicKey(&k.PublicKey)
		if err != nil {
			return generated{}, err
		}
		return generated{
			private:     strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))),
			public:      authorizedKey(pub, name),
			fingerprint: colonHex(sum[:]),
		}, nil
	case ec2api.KeyTypeEd25519:
		pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return generated{}, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return generated{}, err
		}
		pub, err := ssh.NewPublicKey(pubKey)
		if err != nil {
			return generated{}, err
		}
		return generated{
			private:     strings.TrimSpace(string(pem.EncodeToMemory(block))),
			public:      authorizedKey(pub, name),
			fingerprint: sha256Fingerprint(pub),
		}, nil
	}
	return generated{}, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value (%s) for parameter keyType is invalid. Valid values are rsa and ed25519.", keyType)
}

// parsePublicKey reads imported key material: an OpenSSH public key line,
// an RFC 4716 (SSH2) public key, or a PEM/DER SubjectPublicKeyInfo. It
// returns the key type, the authorized_keys line and EC2's fingerprint of an
// imported key (MD5 of the DER public key for RSA, SHA-256 for ED25519).
func parsePublicKey(material []byte, name string) (keyType, public, fingerprint string, err error) {
	bad := awserr.New(awserr.InvalidArgument, "InvalidKey.Format", "Key is not in valid OpenSSH public key format")
	raw := strings.TrimSpace(string(material))
	if dec, derr := base64.StdEncoding.DecodeString(raw); derr == nil && !strings.HasPrefix(raw, "ssh-") {
		raw = strings.TrimSpace(string(dec)) // some tools double-encode
	}
	var pub ssh.PublicKey
	if p, _, _, _, perr := ssh.ParseAuthorizedKey([]byte(raw)); perr == nil {
		pub = p
	} else if p, perr := parseSSH2(raw); perr == nil {
		pub = p
	} else if p, perr := parsePKIX(raw); perr == nil {
		pub = p
	} else {
		return "", "", "", bad
	}
	switch pub.Type() {
	case ssh.KeyAlgoRSA:
		ck := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey)
		if ck.N.BitLen() < 1024 || ck.N.BitLen() > 16384 {
			return "", "", "", awserr.New(awserr.InvalidArgument, "InvalidKey.Format", "RSA key length must be between 1024 and 16384 bits")
		}
		der, err := x509.MarshalPKIXPublicKey(ck)
		if err != nil {
			return "", "", "", bad
		}
		sum := md5.Sum(der)
		return ec2api.KeyTypeRsa, authorizedKey(pub, name), colonHex(sum[:]), nil
	case ssh.KeyAlgoED25519:
		return ec2api.KeyTypeEd25519, authorizedKey(pub, name), sha256Fingerprint(pub), nil
	}
	return "", "", "", awserr.New(awserr.InvalidArgument, "InvalidKey.Format", "Key type %s is not supported: use RSA or ED25519", pub.Type())
}

func parseSSH2(raw string) (ssh.PublicKey, error) {
	if !strings.HasPrefix(raw, "---- BEGIN SSH2 PUBLIC KEY ----") {
		return nil, fmt.Errorf("not SSH2")
	}
	var body strings.Builder
	cont := false
	for _, line := range strings.Split(raw, "\n")[1:] {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "----"):
		case cont || strings.Contains(line, ":"):
			cont = strings.HasSuffix(line, `\`)
		default:
			body.WriteString(line)
		}
	}
	der, err := base64.StdEncoding.DecodeString(body.String())
	if err != nil {
		return nil, err
	}
	return ssh.ParsePublicKey(der)
}

func parsePKIX(raw string) (ssh.PublicKey, error) {
	der := []byte(raw)
	if b, _ := pem.Decode([]byte(raw)); b != nil {
		der = b.Bytes
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(k)
}

func authorizedKey(pub ssh.PublicKey, name string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name
}

func sha256Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}

func colonHex(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

// validKeyName applies EC2's rule: 1–255 ASCII characters.
func validKeyName(name string) error {
	if name == "" || len(name) > 255 {
		return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value for parameter KeyName must be 1 to 255 characters")
	}
	for _, r := range name {
		if r > 127 {
			return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value (%s) for parameter KeyName is invalid. Key names must contain only ASCII characters.", name)
		}
	}
	return nil
}

func keyNotFound(what string) error {
	return awserr.New(awserr.NotFound, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", what)
}

func keyDuplicate(name string) error {
	return awserr.New(awserr.AlreadyExists, "InvalidKeyPair.Duplicate", "The keypair already exists: '%s'", name)
}

package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// ImportKeyPair stores a caller's public key (OpenSSH, SSH2 or DER/PEM).
func (s *Service) ImportKeyPair(ctx context.Context, in *ec2api.ImportKeyPairRequest) (*ec2api.ImportKeyPairResult, error) {
	sc := scopeOf(ctx)
	if err := validKeyName(in.KeyName); err != nil {
		return nil, err
	}
	tags, err := tagSpecs(in.TagSpecifications, "key-pair")
	if err != nil {
		return nil, err
	}
	typ, pub, fp, err := parsePublicKey(in.PublicKeyMaterial, in.KeyName)
	if err != nil {
		return nil, err
	}
	kp := keyPair{ID: newID("key"), Name: in.KeyName, Type: typ, Fingerprint: fp, PublicKey: pub, Created: s.clock.Now()}
	if err := s.createKeyPair(ctx, sc, kp, tags["key-pair"]); err != nil {
		return nil, err
	}
	return &ec2api.ImportKeyPairResult{KeyPairId: kp.ID, KeyName: kp.Name, KeyFingerprint: kp.Fingerprint, Tags: tags["key-pair"]}, nil
}

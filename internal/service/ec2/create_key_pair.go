package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// CreateKeyPair generates a key pair; the private key is returned once and
// never stored.
func (s *Service) CreateKeyPair(ctx context.Context, in *ec2api.CreateKeyPairRequest) (*ec2api.KeyPair, error) {
	sc := scopeOf(ctx)
	if err := validKeyName(in.KeyName); err != nil {
		return nil, err
	}
	if in.KeyFormat != "" && in.KeyFormat != ec2api.KeyFormatPem {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value (%s) for parameter keyFormat is not supported by kiln: use pem", in.KeyFormat)
	}
	tags, err := tagSpecs(in.TagSpecifications, "key-pair")
	if err != nil {
		return nil, err
	}
	g, err := generateKey(in.KeyType, in.KeyName)
	if err != nil {
		return nil, err
	}
	kp := keyPair{ID: newID("key"), Name: in.KeyName, Type: in.KeyType, Fingerprint: g.fingerprint, PublicKey: g.public, Created: s.clock.Now()}
	if kp.Type == "" {
		kp.Type = ec2api.KeyTypeRsa
	}
	if err := s.createKeyPair(ctx, sc, kp, tags["key-pair"]); err != nil {
		return nil, err
	}
	return &ec2api.KeyPair{KeyPairId: kp.ID, KeyName: kp.Name, KeyFingerprint: kp.Fingerprint, KeyMaterial: g.private, Tags: tags["key-pair"]}, nil
}

func (s *Service) createKeyPair(ctx context.Context, sc scope, kp keyPair, tags []ec2api.Tag) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := store.CreateJSON(tx, sc.key(kindKeyPair, kp.ID), kp.Name, kp); err != nil {
			return err
		}
		return putTags(tx, sc, kp.ID, "key-pair", tags)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return keyDuplicate(kp.Name)
	}
	return err
}

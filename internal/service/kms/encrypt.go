package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// Encrypt encrypts up to 4 KiB under a key.
func (s *Service) Encrypt(ctx context.Context, in *kmsapi.EncryptRequest) (*kmsapi.EncryptResponse, error) {
	ctx, c := callerOf(ctx)
	if err := symmetricOnly(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	blob, arn, err := s.keys.Encrypt(ctx, c, in.KeyId, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return &kmsapi.EncryptResponse{CiphertextBlob: blob, KeyId: arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

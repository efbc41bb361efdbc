package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// ReEncrypt moves a ciphertext to another key or context server-side.
func (s *Service) ReEncrypt(ctx context.Context, in *kmsapi.ReEncryptRequest) (*kmsapi.ReEncryptResponse, error) {
	ctx, c := callerOf(ctx)
	if err := symmetricOnly(in.SourceEncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := symmetricOnly(in.DestinationEncryptionAlgorithm); err != nil {
		return nil, err
	}
	blob, src, dst, err := s.keys.ReEncrypt(ctx, c, in.CiphertextBlob, in.SourceEncryptionContext, in.SourceKeyId, in.DestinationKeyId, in.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	return &kmsapi.ReEncryptResponse{CiphertextBlob: blob, SourceKeyId: src, KeyId: dst,
		SourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT", DestinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

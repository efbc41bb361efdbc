package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// GenerateDataKeyWithoutPlaintext returns only the encrypted data key.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, in *kmsapi.GenerateDataKeyWithoutPlaintextRequest) (*kmsapi.GenerateDataKeyWithoutPlaintextResponse, error) {
	ctx, c := callerOf(ctx)
	n, err := dataKeySize(in.KeySpec, in.NumberOfBytes)
	if err != nil {
		return nil, err
	}
	_, blob, arn, err := s.keys.GenerateDataKey(ctx, c, in.KeyId, n, in.EncryptionContext, false)
	if err != nil {
		return nil, err
	}
	return &kmsapi.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: blob, KeyId: arn}, nil
}

package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/kms"
)

// GenerateRandom returns random bytes.
func (s *Service) GenerateRandom(ctx context.Context, in *kmsapi.GenerateRandomRequest) (*kmsapi.GenerateRandomResponse, error) {
	if in.CustomKeyStoreId != "" {
		return nil, awserr.New(awserr.NotFound, kms.CodeCustomKeyStoreNotFd, "Custom key store %s does not exist.", in.CustomKeyStoreId)
	}
	if in.Recipient != nil {
		return nil, awserr.New(awserr.InvalidArgument, kms.CodeUnsupported, "Recipient (Nitro Enclaves attestation) is not supported by kiln.")
	}
	if in.NumberOfBytes == nil {
		return nil, awserr.New(awserr.InvalidArgument, kms.CodeValidation, "NumberOfBytes is required.")
	}
	b, err := s.keys.Random(int(*in.NumberOfBytes))
	if err != nil {
		return nil, err
	}
	return &kmsapi.GenerateRandomResponse{Plaintext: b}, nil
}

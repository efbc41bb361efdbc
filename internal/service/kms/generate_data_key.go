package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/kms"
)

// GenerateDataKey returns a data key in clear and encrypted under a key.
func (s *Service) GenerateDataKey(ctx context.Context, in *kmsapi.GenerateDataKeyRequest) (*kmsapi.GenerateDataKeyResponse, error) {
	ctx, c := callerOf(ctx)
	if in.Recipient != nil {
		return nil, awserr.New(awserr.InvalidArgument, kms.CodeUnsupported, "Recipient (Nitro Enclaves attestation) is not supported by kiln.")
	}
	n, err := dataKeySize(in.KeySpec, in.NumberOfBytes)
	if err != nil {
		return nil, err
	}
	pt, blob, arn, err := s.keys.GenerateDataKey(ctx, c, in.KeyId, n, in.EncryptionContext, true)
	if err != nil {
		return nil, err
	}
	return &kmsapi.GenerateDataKeyResponse{CiphertextBlob: blob, Plaintext: pt, KeyId: arn}, nil
}

// dataKeySize is the data key length from exactly one of KeySpec and
// NumberOfBytes, as AWS requires.
func dataKeySize(spec string, n *int32) (int, error) {
	switch {
	case spec != "" && n != nil:
		return 0, awserr.New(awserr.InvalidArgument, kms.CodeValidation, "Please specify either number of bytes or key spec.")
	case spec == "AES_256":
		return 32, nil
	case spec == "AES_128":
		return 16, nil
	case n != nil:
		return int(*n), nil
	}
	return 0, awserr.New(awserr.InvalidArgument, kms.CodeValidation, "Please specify either number of bytes or key spec.")
}

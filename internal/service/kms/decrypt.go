package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/kms"
)

// Decrypt decrypts a ciphertext blob; the blob names its key.
func (s *Service) Decrypt(ctx context.Context, in *kmsapi.DecryptRequest) (*kmsapi.DecryptResponse, error) {
	ctx, c := callerOf(ctx)
	if err := symmetricOnly(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if in.Recipient != nil {
		return nil, awserr.New(awserr.InvalidArgument, kms.CodeUnsupported, "Recipient (Nitro Enclaves attestation) is not supported by kiln.")
	}
	pt, arn, err := s.keys.DecryptWithKey(ctx, c, in.CiphertextBlob, in.EncryptionContext, in.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsapi.DecryptResponse{KeyId: arn, Plaintext: pt, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

// symmetricOnly refuses the asymmetric encryption algorithms: kiln's keys
// are all SYMMETRIC_DEFAULT.
func symmetricOnly(alg string) error {
	if alg != "" && alg != "SYMMETRIC_DEFAULT" {
		return awserr.New(awserr.InvalidArgument, kms.CodeInvalidKeyUsage, "Algorithm %s is incompatible with key spec SYMMETRIC_DEFAULT.", alg)
	}
	return nil
}

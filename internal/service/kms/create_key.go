package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/kms"
)

// CreateKey creates a symmetric customer-managed key.
func (s *Service) CreateKey(ctx context.Context, in *kmsapi.CreateKeyRequest) (*kmsapi.CreateKeyResponse, error) {
	ctx, c := callerOf(ctx)
	info, err := s.keys.CreateKey(ctx, c, kms.CreateKeyInput{
		Description: in.Description, Policy: in.Policy, BypassPolicyLockoutSafetyCheck: in.BypassPolicyLockoutSafetyCheck != nil && *in.BypassPolicyLockoutSafetyCheck,
		KeySpec: in.KeySpec, CustomerMasterKeySpec: in.CustomerMasterKeySpec, KeyUsage: in.KeyUsage, Origin: in.Origin,
		CustomKeyStoreID: in.CustomKeyStoreId, MultiRegion: in.MultiRegion != nil && *in.MultiRegion, Tags: tagsIn(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.CreateKeyResponse{KeyMetadata: metadata(info)}, nil
}

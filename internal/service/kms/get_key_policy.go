package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/kms"
)

// GetKeyPolicy returns a key's policy document.
func (s *Service) GetKeyPolicy(ctx context.Context, in *kmsapi.GetKeyPolicyRequest) (*kmsapi.GetKeyPolicyResponse, error) {
	ctx, c := callerOf(ctx)
	p, err := s.keys.GetPolicy(ctx, c, in.KeyId, in.PolicyName)
	if err != nil {
		return nil, err
	}
	return &kmsapi.GetKeyPolicyResponse{Policy: p, PolicyName: kms.PolicyName}, nil
}

package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// ListKeyPolicies lists a key's policy names: "default".
func (s *Service) ListKeyPolicies(ctx context.Context, in *kmsapi.ListKeyPoliciesRequest) (*kmsapi.ListKeyPoliciesResponse, error) {
	ctx, c := callerOf(ctx)
	names, err := s.keys.ListPolicies(ctx, c, in.KeyId)
	if err != nil {
		return nil, err
	}
	f := false
	return &kmsapi.ListKeyPoliciesResponse{PolicyNames: names, Truncated: &f}, nil
}

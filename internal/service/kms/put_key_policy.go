package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// PutKeyPolicy replaces a key's policy (validated; lockout-checked unless
// BypassPolicyLockoutSafetyCheck).
func (s *Service) PutKeyPolicy(ctx context.Context, in *kmsapi.PutKeyPolicyRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.PutPolicy(ctx, c, in.KeyId, in.PolicyName, in.Policy, in.BypassPolicyLockoutSafetyCheck != nil && *in.BypassPolicyLockoutSafetyCheck)
}

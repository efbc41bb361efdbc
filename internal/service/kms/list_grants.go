package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// ListGrants lists a key's grants, 50 per page by default.
func (s *Service) ListGrants(ctx context.Context, in *kmsapi.ListGrantsRequest) (*kmsapi.ListGrantsResponse, error) {
	ctx, c := callerOf(ctx)
	gs, next, err := s.keys.ListGrants(ctx, c, in.KeyId, in.GrantId, in.GranteePrincipal, limitOf(in.Limit, 50), in.Marker)
	if err != nil {
		return nil, err
	}
	out := &kmsapi.ListGrantsResponse{Grants: []kmsapi.GrantListEntry{}}
	for _, g := range gs {
		created := g.Created
		e := kmsapi.GrantListEntry{KeyId: g.KeyARN, GrantId: g.GrantID, Name: g.Name, CreationDate: &created,
			GranteePrincipal: g.Grantee, RetiringPrincipal: g.Retiring, IssuingAccount: g.IssuingAccount, Operations: g.Operations}
		if len(g.Equals) > 0 || len(g.Subset) > 0 {
			e.Constraints = &kmsapi.GrantConstraints{EncryptionContextEquals: g.Equals, EncryptionContextSubset: g.Subset}
		}
		out.Grants = append(out.Grants, e)
	}
	out.NextMarker, out.Truncated = page(next)
	return out, nil
}

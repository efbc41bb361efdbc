package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/kms"
)

// CreateGrant lets a principal use a key for some operations.
func (s *Service) CreateGrant(ctx context.Context, in *kmsapi.CreateGrantRequest) (*kmsapi.CreateGrantResponse, error) {
	ctx, c := callerOf(ctx)
	g := kms.GrantInput{Grantee: in.GranteePrincipal, Retiring: in.RetiringPrincipal, Operations: in.Operations, Name: in.Name}
	if in.Constraints != nil {
		g.EncryptionContextEquals, g.EncryptionContextSubset = in.Constraints.EncryptionContextEquals, in.Constraints.EncryptionContextSubset
	}
	id, token, err := s.keys.CreateGrant(ctx, c, in.KeyId, g)
	if err != nil {
		return nil, err
	}
	return &kmsapi.CreateGrantResponse{GrantId: id, GrantToken: token}, nil
}

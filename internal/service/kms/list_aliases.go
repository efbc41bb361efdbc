package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// ListAliases lists the account's aliases in the region, optionally of one key.
func (s *Service) ListAliases(ctx context.Context, in *kmsapi.ListAliasesRequest) (*kmsapi.ListAliasesResponse, error) {
	ctx, c := callerOf(ctx)
	as, next, err := s.keys.ListAliases(ctx, c, in.KeyId, limitOf(in.Limit, 50), in.Marker)
	if err != nil {
		return nil, err
	}
	out := &kmsapi.ListAliasesResponse{Aliases: []kmsapi.AliasListEntry{}}
	for _, a := range as {
		created, updated := a.Created, a.Updated
		out.Aliases = append(out.Aliases, kmsapi.AliasListEntry{AliasName: a.Name, AliasArn: a.ARN, TargetKeyId: a.TargetKeyID, CreationDate: &created, LastUpdatedDate: &updated})
	}
	out.NextMarker, out.Truncated = page(next)
	return out, nil
}

package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// notFoundCodes are the codes EC2 answers for a missing resource of each type.
var notFoundCodes = map[string]string{
	"key-pair":       "InvalidKeyPairId.NotFound",
	"security-group": "InvalidGroup.NotFound",
	"vpc":            "InvalidVpcID.NotFound",
	"subnet":         "InvalidSubnetID.NotFound",
	"instance":       "InvalidInstanceID.NotFound",
	"image":          "InvalidAMIID.NotFound",
}

// resolveResources checks that every ID names an existing resource of the
// caller and returns each one's type.
func resolveResources(tx store.Tx, sc scope, ids []string) (map[string]string, error) {
	types := make(map[string]string, len(ids))
	for _, id := range ids {
		typ, kind, ok := resourceOf(id)
		if !ok {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidID", "The ID '%s' is not valid", id)
		}
		if _, err := tx.Get(sc.key(kind, id)); errors.Is(err, store.ErrNotFound) {
			return nil, awserr.New(awserr.NotFound, notFoundCodes[typ], "The %s ID '%s' does not exist", typ, id)
		} else if err != nil {
			return nil, err
		}
		types[id] = typ
	}
	return types, nil
}

// CreateTags adds or overwrites tags on resources, all or nothing.
func (s *Service) CreateTags(ctx context.Context, in *ec2api.CreateTagsRequest) error {
	sc := scopeOf(ctx)
	if len(in.Resources) > 1000 {
		return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Too many resources: at most 1000 per request")
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		types, err := resolveResources(tx, sc, in.Resources)
		if err != nil {
			return err
		}
		for _, id := range in.Resources {
			if err := putTags(tx, sc, id, types[id], in.Tags); err != nil {
				return err
			}
		}
		return nil
	})
}

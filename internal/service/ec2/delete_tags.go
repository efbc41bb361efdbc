package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// DeleteTags removes tags: every tag when none are named, a key regardless
// of value when no value is given, else only a matching key and value.
func (s *Service) DeleteTags(ctx context.Context, in *ec2api.DeleteTagsRequest) error {
	sc := scopeOf(ctx)
	return s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := resolveResources(tx, sc, in.Resources); err != nil {
			return err
		}
		have, err := tx.ListTags(store.TagQuery{Account: sc.account, Region: sc.region, ResourceIDs: in.Resources})
		if err != nil {
			return err
		}
		for _, t := range have {
			if !deleteMatches(in.Tags, t) {
				continue
			}
			if err := tx.DeleteTag(sc.account, sc.region, t.ResourceID, t.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteMatches(spec []ec2api.Tag, t store.Tag) bool {
	if len(spec) == 0 {
		return true
	}
	for _, s := range spec {
		if s.Key == t.Key && (s.Value == "" || s.Value == t.Value) {
			return true
		}
	}
	return false
}

package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

func tagFields(t store.Tag) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "key":
			return []string{t.Key}, true
		case "value":
			return []string{t.Value}, true
		case "resource-id":
			return []string{t.ResourceID}, true
		case "resource-type":
			return []string{t.ResourceType}, true
		}
		return nil, false
	}
}

// DescribeTags lists the caller's tags with filters and pagination.
func (s *Service) DescribeTags(ctx context.Context, in *ec2api.DescribeTagsRequest) (*ec2api.DescribeTagsResult, error) {
	sc := scopeOf(ctx)
	fs := filterSet(in.Filters)
	if err := fs.check(tagFields(store.Tag{})); err != nil {
		return nil, err
	}
	var all []store.Tag
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		all, err = tx.ListTags(store.TagQuery{Account: sc.account, Region: sc.region})
		return err
	})
	if err != nil {
		return nil, err
	}
	var matched []store.Tag
	for _, t := range all {
		if fs.matches(tagFields(t), []ec2api.Tag{{Key: t.Key, Value: t.Value}}) {
			matched = append(matched, t)
		}
	}
	pos := func(t store.Tag) string { return t.ResourceID + "\x00" + t.Key }
	items, next, err := page(matched, pos, in.MaxResults, in.NextToken, 5, 1000)
	if err != nil {
		return nil, err
	}
	out := &ec2api.DescribeTagsResult{Tags: []ec2api.TagDescription{}, NextToken: next}
	for _, t := range items {
		out.Tags = append(out.Tags, ec2api.TagDescription{Key: t.Key, Value: t.Value, ResourceId: t.ResourceID, ResourceType: t.ResourceType})
	}
	return out, nil
}

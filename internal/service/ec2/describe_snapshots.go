package ec2

import (
	"context"
	"slices"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// DescribeSnapshots lists the snapshots the caller can see in the region
// (its own, public ones and those shared with it), ordered by ID: those
// named by SnapshotIds (each must be visible), owned by OwnerIds (self,
// amazon or account IDs), restorable by RestorableByUserIds (self, all or
// account IDs), narrowed by Filters, paged by MaxResults (5–1000, not
// with SnapshotIds) and NextToken. Tags are shown to the owner only.
func (s *Service) DescribeSnapshots(ctx context.Context, in *ec2api.DescribeSnapshotsRequest) (*ec2api.DescribeSnapshotsResult, error) {
	sc := scopeOf(ctx)
	if len(in.SnapshotIds) > 0 && in.MaxResults != nil {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter snapshotSet cannot be used with the parameter maxResults")
	}
	for _, id := range in.SnapshotIds {
		if err := checkSnapshotID(id); err != nil {
			return nil, err
		}
	}
	owners := map[string]bool{}
	for _, o := range in.OwnerIds {
		switch o {
		case "self":
			owners[sc.account] = true
		case "amazon":
			owners[image.AmazonOwnerID] = true
		case "aws-marketplace", "aws-backup-vault":
			owners[o] = true // no such snapshots in kiln
		default:
			if err := checkUserID(o); err != nil {
				return nil, err
			}
			owners[o] = true
		}
	}
	for _, u := range in.RestorableByUserIds {
		if u != "self" && u != "all" {
			if err := checkUserID(u); err != nil {
				return nil, err
			}
		}
	}
	fs := filterSet(in.Filters)
	if err := fs.check(snapshotFields(ebs.Snapshot{})); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeSnapshotsResult{Snapshots: []ec2api.Snapshot{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		all, err := visibleSnapshots(tx, sc)
		if err != nil {
			return err
		}
		want := map[string]bool{}
		for _, id := range in.SnapshotIds {
			if !slices.ContainsFunc(all, func(sn ebs.Snapshot) bool { return sn.ID == id }) {
				return snapshotNotFound(id)
			}
			want[id] = true
		}
		var own []string
		for _, sn := range all {
			if sn.OwnerID == sc.account {
				own = append(own, sn.ID)
			}
		}
		tags, err := loadTags(tx, sc, own)
		if err != nil {
			return err
		}
		tagsOf := func(sn ebs.Snapshot) []ec2api.Tag {
			if sn.OwnerID != sc.account {
				return nil
			}
			return tags.of(sn.ID)
		}
		var sel []ebs.Snapshot
		for _, sn := range all {
			switch {
			case len(want) > 0 && !want[sn.ID]:
			case len(owners) > 0 && !owners[sn.OwnerID]:
			case len(in.RestorableByUserIds) > 0 && !restorableByAny(sn, sc, in.RestorableByUserIds):
			case fs.matches(snapshotFields(sn), tagsOf(sn)):
				sel = append(sel, sn)
			}
		}
		pg, next, err := page(sel, func(sn ebs.Snapshot) string { return sn.ID }, in.MaxResults, in.NextToken, 5, 1000)
		if err != nil {
			return err
		}
		out.NextToken = next
		for _, sn := range pg {
			out.Snapshots = append(out.Snapshots, apiSnapshot(sn, tagsOf(sn)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// restorableByAny reports whether any of users (self, all, account IDs)
// may create volumes from sn.
func restorableByAny(sn ebs.Snapshot, sc scope, users []string) bool {
	for _, u := range users {
		switch u {
		case "all":
			if sn.Public {
				return true
			}
			continue
		case "self":
			u = sc.account
		}
		if snapshotVisible(sn, u) {
			return true
		}
	}
	return false
}

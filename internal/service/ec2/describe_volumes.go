package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// DescribeVolumes lists the caller's volumes in the region, ordered by ID:
// those named by VolumeIds (each must exist) or all, narrowed by Filters,
// paged by MaxResults (5–500, not with VolumeIds) and NextToken.
func (s *Service) DescribeVolumes(ctx context.Context, in *ec2api.DescribeVolumesRequest) (*ec2api.DescribeVolumesResult, error) {
	sc := scopeOf(ctx)
	if len(in.VolumeIds) > 0 && in.MaxResults != nil {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter volumeSet cannot be used with the parameter maxResults")
	}
	for _, id := range in.VolumeIds {
		if err := checkVolumeID(id); err != nil {
			return nil, err
		}
	}
	fs := filterSet(in.Filters)
	if err := fs.check(volumeFields(ebs.Volume{})); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeVolumesResult{Volumes: []ec2api.Volume{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		vols, err := selectVolumes(tx, sc, in.VolumeIds)
		if err != nil {
			return err
		}
		ids := make([]string, len(vols))
		for i, v := range vols {
			ids[i] = v.ID
		}
		tags, err := loadTags(tx, sc, ids)
		if err != nil {
			return err
		}
		var sel []ebs.Volume
		for _, v := range vols {
			if fs.matches(volumeFields(v), tags.of(v.ID)) {
				sel = append(sel, v)
			}
		}
		pg, next, err := page(sel, func(v ebs.Volume) string { return v.ID }, in.MaxResults, in.NextToken, 5, 500)
		if err != nil {
			return err
		}
		out.NextToken = next
		for _, v := range pg {
			out.Volumes = append(out.Volumes, apiVolume(v, tags.of(v.ID)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// selectVolumes reads the caller's volumes named by ids (all when empty),
// ordered by ID; a missing one is InvalidVolume.NotFound.
func selectVolumes(tx store.Tx, sc scope, ids []string) ([]ebs.Volume, error) {
	q := sc.query(ebs.VolumeKind)
	q.IDs = ids
	vols, err := store.ListJSON[ebs.Volume](tx, q)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		have := map[string]bool{}
		for _, v := range vols {
			have[v.ID] = true
		}
		for _, id := range ids {
			if !have[id] {
				return nil, volumeNotFound(id)
			}
		}
	}
	return vols, nil
}

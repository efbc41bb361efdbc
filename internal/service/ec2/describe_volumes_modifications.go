package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// DescribeVolumesModifications lists the last modification of the
// caller's volumes: those named by VolumeIds (each must exist and have
// been modified) or all modified ones, narrowed by Filters, paged by
// MaxResults (5–500) and NextToken.
func (s *Service) DescribeVolumesModifications(ctx context.Context, in *ec2api.DescribeVolumesModificationsRequest) (*ec2api.DescribeVolumesModificationsResult, error) {
	sc := scopeOf(ctx)
	for _, id := range in.VolumeIds {
		if err := checkVolumeID(id); err != nil {
			return nil, err
		}
	}
	fs := filterSet(in.Filters)
	if err := fs.check(modificationFields(ebs.Volume{Modification: &ebs.Modification{}})); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeVolumesModificationsResult{VolumesModifications: []ec2api.VolumeModification{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		vols, err := selectVolumes(tx, sc, in.VolumeIds)
		if err != nil {
			return err
		}
		var sel []ebs.Volume
		for _, v := range vols {
			if v.Modification == nil {
				if len(in.VolumeIds) > 0 {
					return awserr.New(awserr.NotFound, "InvalidVolumeModification.NotFound", "Modification for volume '%s' does not exist.", v.ID)
				}
				continue
			}
			if fs.matches(modificationFields(v), nil) {
				sel = append(sel, v)
			}
		}
		pg, next, err := page(sel, func(v ebs.Volume) string { return v.ID }, in.MaxResults, in.NextToken, 5, 500)
		if err != nil {
			return err
		}
		out.NextToken = next
		for _, v := range pg {
			out.VolumesModifications = append(out.VolumesModifications, apiModification(v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

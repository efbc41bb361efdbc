package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/store"
)

// kindVolumeToken is the kind of CreateVolume client-token records, keyed
// by (account, region, token); they hold the volume's ID.
const kindVolumeToken = "volume-client-token"

// CreateVolume creates an empty volume, or one from a snapshot the caller
// can see, in one of the region's zones. Its data exists only once it is
// first attached (the EBS manager materialises it from the snapshot's
// layers), so the record is available at once; the response says
// creating, as EC2's does, and every later Describe says available.
// A ClientToken makes the request idempotent.
func (s *Service) CreateVolume(ctx context.Context, in *ec2api.CreateVolumeRequest) (*ec2api.Volume, error) {
	sc := scopeOf(ctx)
	d, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	az, err := volumeZone(sc, in.AvailabilityZone, in.AvailabilityZoneId)
	if err != nil {
		return nil, err
	}
	if deref(in.MultiAttachEnabled) {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln does not support Multi-Attach volumes.")
	}
	tags, err := tagSpecs(in.TagSpecifications, "volume")
	if err != nil {
		return nil, err
	}
	if in.ClientToken != "" {
		if v, ok, err := s.volumeByToken(ctx, sc, in.ClientToken); err != nil || ok {
			return v, err
		}
	}
	typ := in.VolumeType
	if typ == "" {
		typ = "gp3"
	}
	var snap ebs.Snapshot
	if in.SnapshotId != "" {
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			snap, err = getVisibleSnapshot(tx, sc, in.SnapshotId)
			return err
		})
		if err != nil {
			return nil, err
		}
		if snap.State != ebs.SnapshotCompleted {
			return nil, awserr.New(awserr.Conflict, "IncorrectState", "Snapshot is in invalid state - %s", snap.State)
		}
	}
	size := deref(in.Size)
	switch {
	case in.Size == nil && in.SnapshotId == "":
		return nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter size or snapshotId")
	case in.Size == nil:
		size = snap.VolumeSize
	case in.SnapshotId != "" && size < snap.VolumeSize:
		return nil, invalidParam("Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", size, snap.ID, snap.VolumeSize)
	}
	spec, err := checkVolumeSpec(typ, size, in.Iops, in.Throughput, volumeSpec{})
	if err != nil {
		return nil, err
	}
	ask := encryptionAsk{Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyId}
	if snap.Encrypted {
		ask.SourceKeyARN, ask.SourceOwned = snap.KmsKeyID, snap.OwnerID == sc.account
	}
	encrypted, keyARN, err := s.ebsEncryption(ctx, d, sc, ask)
	if err != nil {
		return nil, err
	}
	v := ebs.Volume{
		ID: ebs.NewID("vol"), OwnerID: sc.account, Region: sc.region, AZ: az,
		SizeGiB: spec.size, Type: spec.typ, Iops: spec.iops, Throughput: spec.throughput,
		SnapshotID: snap.ID, Encrypted: encrypted, KmsKeyID: keyARN,
		State: ebs.VolumeAvailable, Created: s.clock.Now(),
		Layers: append([]blob.Layer(nil), snap.Layers...),
	}
	var dup *ec2api.Volume
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if in.ClientToken != "" {
			tk := sc.key(kindVolumeToken, in.ClientToken)
			err := store.CreateJSON(tx, tk, "", v.ID)
			if errors.Is(err, store.ErrAlreadyExists) {
				// A concurrent retry won: answer its volume.
				id, err := store.GetJSON[string](tx, tk)
				if err != nil {
					return err
				}
				prev, err := store.GetJSON[ebs.Volume](tx, sc.key(ebs.VolumeKind, id))
				switch {
				case errors.Is(err, store.ErrNotFound):
					// Its volume was deleted: the token is free again.
					err = store.PutJSON(tx, tk, "", v.ID)
				case err == nil:
					ts, err := loadTags(tx, sc, []string{id})
					if err != nil {
						return err
					}
					dup = ptr(apiVolume(prev, ts.of(id)))
					return nil
				}
			}
			if err != nil {
				return err
			}
		}
		if err := store.CreateJSON(tx, v.Key(), "", v); err != nil {
			return err
		}
		return putTags(tx, sc, v.ID, "volume", tags["volume"])
	})
	if err != nil {
		return nil, err
	}
	if dup != nil {
		return dup, nil
	}
	out := apiVolume(v, tags["volume"])
	out.State = ebs.VolumeCreating
	return &out, nil
}

// volumeByToken returns the volume an earlier CreateVolume with the same
// client token created, if it still exists.
func (s *Service) volumeByToken(ctx context.Context, sc scope, token string) (*ec2api.Volume, bool, error) {
	var out *ec2api.Volume
	err := s.st.View(ctx, func(tx store.Tx) error {
		id, err := store.GetJSON[string](tx, sc.key(kindVolumeToken, token))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := store.GetJSON[ebs.Volume](tx, sc.key(ebs.VolumeKind, id))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ts, err := loadTags(tx, sc, []string{id})
		if err != nil {
			return err
		}
		out = ptr(apiVolume(v, ts.of(id)))
		return nil
	})
	return out, out != nil, err
}

// volumeZone checks the zone a volume is created in, given by name or ID.
func volumeZone(sc scope, name, id string) (string, error) {
	if name == "" && id == "" {
		return "", awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter AvailabilityZone or AvailabilityZoneId")
	}
	r, _ := region.Lookup(sc.region)
	for _, z := range r.Zones() {
		if (name == "" || z.Name == name) && (id == "" || z.ID == id) {
			return z.Name, nil
		}
	}
	if name == "" {
		name = id
	}
	return "", awserr.New(awserr.InvalidArgument, "InvalidZone.NotFound", "The zone '%s' does not exist.", name)
}

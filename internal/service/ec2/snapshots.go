package ec2

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

var snapshotIDRE = regexp.MustCompile(`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`)

// checkSnapshotID rejects a malformed snapshot ID as EC2 does.
func checkSnapshotID(id string) error {
	if !snapshotIDRE.MatchString(id) {
		return awserr.New(awserr.InvalidArgument, "InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting \"snap-...\")", id)
	}
	return nil
}

func snapshotNotFound(id string) error {
	return awserr.New(awserr.NotFound, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
}

// snapshotVisible reports whether account may see (describe, copy, create
// volumes from) the snapshot: its own, public ones, and those whose
// createVolumePermission names it.
func snapshotVisible(sn ebs.Snapshot, account string) bool {
	return sn.OwnerID == account || sn.Public || slices.Contains(sn.CreateVolumePermissions, account)
}

// getOwnSnapshot reads one of the caller's snapshots; another account's
// (even one the caller can see) is InvalidSnapshot.NotFound, as EC2
// answers the actions only owners may perform.
func getOwnSnapshot(tx store.Tx, sc scope, id string) (ebs.Snapshot, error) {
	if err := checkSnapshotID(id); err != nil {
		return ebs.Snapshot{}, err
	}
	sn, err := store.GetJSON[ebs.Snapshot](tx, sc.key(ebs.SnapshotKind, id))
	if errors.Is(err, store.ErrNotFound) {
		return sn, snapshotNotFound(id)
	}
	return sn, err
}

// getVisibleSnapshot reads a snapshot the caller can see in sc's region,
// whoever owns it.
func getVisibleSnapshot(tx store.Tx, sc scope, id string) (ebs.Snapshot, error) {
	if err := checkSnapshotID(id); err != nil {
		return ebs.Snapshot{}, err
	}
	all, err := store.ListJSON[ebs.Snapshot](tx, store.Query{AllAccounts: true, Region: sc.region, Kind: ebs.SnapshotKind, IDs: []string{id}})
	if err != nil {
		return ebs.Snapshot{}, err
	}
	for _, sn := range all {
		if snapshotVisible(sn, sc.account) {
			return sn, nil
		}
	}
	return ebs.Snapshot{}, snapshotNotFound(id)
}

// visibleSnapshots lists every snapshot the caller can see in the region,
// ordered by ID.
func visibleSnapshots(tx store.Tx, sc scope) ([]ebs.Snapshot, error) {
	all, err := store.ListJSON[ebs.Snapshot](tx, store.Query{AllAccounts: true, Region: sc.region, Kind: ebs.SnapshotKind})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, sn := range all {
		if snapshotVisible(sn, sc.account) {
			out = append(out, sn)
		}
	}
	slices.SortFunc(out, func(a, b ebs.Snapshot) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// snapshotOwnerAlias is the owner alias EC2 reports ("amazon" for
// snapshots of quick-start images).
func snapshotOwnerAlias(sn ebs.Snapshot) string {
	if sn.OwnerID == image.AmazonOwnerID {
		return "amazon"
	}
	return ""
}

// apiSnapshot renders a snapshot record as EC2 describes it (tags only
// for the owner).
func apiSnapshot(sn ebs.Snapshot, tags []ec2api.Tag) ec2api.Snapshot {
	out := ec2api.Snapshot{
		SnapshotId: sn.ID, VolumeId: sn.VolumeID, VolumeSize: ptr(sn.VolumeSize),
		Description: sn.Description, State: sn.State, StateMessage: sn.StateMessage,
		StartTime: ptr(sn.Started), Progress: fmt.Sprintf("%d%%", sn.Progress),
		OwnerId: sn.OwnerID, OwnerAlias: snapshotOwnerAlias(sn),
		Encrypted: ptr(sn.Encrypted), StorageTier: "standard", Tags: tags,
	}
	if sn.Encrypted {
		out.KmsKeyId = sn.KmsKeyID
	}
	if sn.State == ebs.SnapshotCompleted {
		out.CompletionTime = ptr(sn.Completed)
		out.FullSnapshotSizeInBytes = ptr(sn.Bytes())
	}
	return out
}

// snapshotFields gives DescribeSnapshots' filter values for sn.
func snapshotFields(sn ebs.Snapshot) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "snapshot-id":
			return []string{sn.ID}, true
		case "status":
			return []string{sn.State}, true
		case "owner-id":
			return []string{sn.OwnerID}, true
		case "owner-alias":
			return []string{snapshotOwnerAlias(sn)}, true
		case "volume-id":
			return []string{sn.VolumeID}, true
		case "volume-size":
			return []string{strconv.Itoa(int(sn.VolumeSize))}, true
		case "encrypted":
			return []string{boolStr(sn.Encrypted)}, true
		case "progress":
			return []string{fmt.Sprintf("%d%%", sn.Progress)}, true
		case "description":
			return []string{sn.Description}, true
		case "start-time":
			return []string{isoTime(sn.Started)}, true
		case "kms-key-id":
			if !sn.Encrypted {
				return nil, true
			}
			return []string{sn.KmsKeyID}, true
		case "storage-tier":
			return []string{"standard"}, true
		}
		return nil, false
	}
}

// checkUserID rejects a malformed account ID.
func checkUserID(id string) error {
	if !accountIDRE.MatchString(id) {
		return awserr.New(awserr.InvalidArgument, "InvalidUserID.Malformed", "Invalid user id: \"%s\"", id)
	}
	return nil
}

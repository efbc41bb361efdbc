package ec2

import (
	"sort"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// resourceTypes maps an ID prefix to the EC2 resource type and store kind.
var resourceTypes = map[string]struct{ typ, kind string }{
	"key":    {"key-pair", kindKeyPair},
	"sg":     {"security-group", kindSecurityGroup},
	"vpc":    {"vpc", kindVPC},
	"subnet": {"subnet", kindSubnet},
	"i":      {"instance", kindInstance},
	"ami":    {"image", image.Kind},
	"vol":    {"volume", ebs.VolumeKind},
	"snap":   {"snapshot", ebs.SnapshotKind},
}

// resourceOf classifies a resource ID.
func resourceOf(id string) (typ, kind string, ok bool) {
	prefix, _, found := strings.Cut(id, "-")
	if !found {
		return "", "", false
	}
	rt, ok := resourceTypes[prefix]
	return rt.typ, rt.kind, ok
}

const maxTags = 50

// validateTags applies EC2's tag rules.
func validateTags(tags []ec2api.Tag) error {
	for _, t := range tags {
		switch {
		case t.Key == "":
			return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Tag keys must not be empty")
		case len([]rune(t.Key)) > 128:
			return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters")
		case len([]rune(t.Value)) > 256:
			return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return nil
}

// putTags sets tags on one resource, enforcing the 50-tag limit.
func putTags(tx store.Tx, sc scope, id, typ string, tags []ec2api.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	have, err := tx.ListTags(store.TagQuery{Account: sc.account, Region: sc.region, ResourceIDs: []string{id}})
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for _, t := range have {
		keys[t.Key] = true
	}
	for _, t := range tags {
		keys[t.Key] = true
	}
	if len(keys) > maxTags {
		return awserr.New(awserr.LimitExceeded, "TagLimitExceeded", "The maximum number of tags (%d) for resource %s has been exceeded", maxTags, id)
	}
	for _, t := range tags {
		if err := tx.PutTag(store.Tag{Account: sc.account, Region: sc.region, ResourceID: id, ResourceType: typ, Key: t.Key, Value: t.Value}); err != nil {
			return err
		}
	}
	return nil
}

// tagSpecs picks the tags of TagSpecifications for one resource type and
// rejects specifications for types the action does not create.
func tagSpecs(specs []ec2api.TagSpecification, allowed ...string) (map[string][]ec2api.Tag, error) {
	out := map[string][]ec2api.Tag{}
	for _, sp := range specs {
		ok := false
		for _, a := range allowed {
			ok = ok || sp.ResourceType == a
		}
		if !ok {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", sp.ResourceType)
		}
		if err := validateTags(sp.Tags); err != nil {
			return nil, err
		}
		out[sp.ResourceType] = append(out[sp.ResourceType], sp.Tags...)
	}
	return out, nil
}

// tagIndex loads the tags of many resources at once.
type tagIndex map[string][]ec2api.Tag

func loadTags(tx store.Tx, sc scope, ids []string) (tagIndex, error) {
	q := store.TagQuery{Account: sc.account, Region: sc.region, ResourceIDs: ids}
	ts, err := tx.ListTags(q)
	if err != nil {
		return nil, err
	}
	idx := tagIndex{}
	for _, t := range ts {
		idx[t.ResourceID] = append(idx[t.ResourceID], ec2api.Tag{Key: t.Key, Value: t.Value})
	}
	return idx, nil
}

// of returns a resource's tags sorted by key (nil when it has none, so the
// element is omitted like AWS omits an empty tagSet).
func (ix tagIndex) of(id string) []ec2api.Tag {
	ts := ix[id]
	sort.Slice(ts, func(i, j int) bool { return ts[i].Key < ts[j].Key })
	return ts
}

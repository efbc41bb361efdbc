package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

func keyPairFields(kp keyPair) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "key-pair-id":
			return []string{kp.ID}, true
		case "key-name":
			return []string{kp.Name}, true
		case "fingerprint":
			return []string{kp.Fingerprint}, true
		case "key-type":
			return []string{kp.Type}, true
		}
		return nil, false
	}
}

// DescribeKeyPairs lists key pairs by name, ID and filters. Every name or
// ID asked for must exist.
func (s *Service) DescribeKeyPairs(ctx context.Context, in *ec2api.DescribeKeyPairsRequest) (*ec2api.DescribeKeyPairsResult, error) {
	sc := scopeOf(ctx)
	fs := filterSet(in.Filters)
	if err := fs.check(keyPairFields(keyPair{})); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeKeyPairsResult{KeyPairs: []ec2api.KeyPairInfo{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		q := sc.query(kindKeyPair)
		q.IDs, q.Names = in.KeyPairIds, in.KeyNames
		kps, err := store.ListJSON[keyPair](tx, q)
		if err != nil {
			return err
		}
		if err := requireAll(in.KeyNames, kps, func(k keyPair) string { return k.Name }, keyNotFound); err != nil {
			return err
		}
		if err := requireAll(in.KeyPairIds, kps, func(k keyPair) string { return k.ID }, keyNotFound); err != nil {
			return err
		}
		ids := make([]string, len(kps))
		for i, k := range kps {
			ids[i] = k.ID
		}
		tags, err := loadTags(tx, sc, ids)
		if err != nil {
			return err
		}
		for _, kp := range kps {
			t := tags.of(kp.ID)
			if !fs.matches(keyPairFields(kp), t) {
				continue
			}
			info := ec2api.KeyPairInfo{KeyPairId: kp.ID, KeyName: kp.Name, KeyFingerprint: kp.Fingerprint, KeyType: kp.Type, CreateTime: ptr(kp.Created), Tags: t}
			if deref(in.IncludePublicKey) {
				info.PublicKey = kp.PublicKey
			}
			out.KeyPairs = append(out.KeyPairs, info)
		}
		return nil
	})
	return out, err
}

// requireAll fails with notFound(x) for the first requested x that no
// found item has.
func requireAll[T any](want []string, have []T, key func(T) string, notFound func(string) error) error {
	if len(want) == 0 {
		return nil
	}
	got := make(map[string]bool, len(have))
	for _, h := range have {
		got[key(h)] = true
	}
	for _, w := range want {
		if !got[w] {
			return notFound(w)
		}
	}
	return nil
}

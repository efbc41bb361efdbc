package kms

import (
	"context"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// PolicyName is the only key policy name KMS has.
const PolicyName = "default"

func checkPolicyName(name string) error {
	if name != "" && name != PolicyName {
		return errNotFound("No such policy exists")
	}
	return nil
}

// GetPolicy returns a key's policy (c needs kms:GetKeyPolicy; own account).
func (k *Keys) GetPolicy(ctx context.Context, c Caller, keyRef, name string) (string, error) {
	if err := checkPolicyName(name); err != nil {
		return "", err
	}
	r, err := parseRef(c, keyRef, false)
	if err != nil {
		return "", err
	}
	if err := k.ensureManaged(ctx, c, r); err != nil {
		return "", err
	}
	rec, err := k.use(ctx, c, keyRef, useOpts{}, "kms:GetKeyPolicy")
	return rec.Policy, err
}

// ListPolicies lists the key's policy names: always "default".
func (k *Keys) ListPolicies(ctx context.Context, c Caller, keyRef string) ([]string, error) {
	if _, err := parseRef(c, keyRef, false); err != nil {
		return nil, err
	}
	if _, err := k.use(ctx, c, keyRef, useOpts{}, "kms:ListKeyPolicies"); err != nil {
		return nil, err
	}
	return []string{PolicyName}, nil
}

// PutPolicy replaces a key's policy after validating it
// (MalformedPolicyDocumentException) and, unless bypass, checking that it
// still lets c call PutKeyPolicy (the lockout safety check).
func (k *Keys) PutPolicy(ctx context.Context, c Caller, keyRef, name, doc string, bypass bool) error {
	if err := checkPolicyName(name); err != nil {
		return err
	}
	_, err := k.mutate(ctx, c, keyRef, "kms:PutKeyPolicy", func(_ store.Tx, rec *keyRecord) error {
		if rec.State == StatePendingDeletion {
			return errPendingDeletion(rec.arn())
		}
		if err := k.checkNewPolicy(ctx, c, rec, doc, bypass); err != nil {
			return err
		}
		rec.Policy = doc
		return nil
	})
	return err
}

func validateTags(tags []Tag) error {
	if len(tags) > 50 {
		return awserr.New(awserr.InvalidArgument, CodeTag, "Too many tags: a key can have at most 50 tags.")
	}
	for _, t := range tags {
		if strings.HasPrefix(t.Key, "aws:") {
			return awserr.New(awserr.InvalidArgument, CodeTag, "Tags beginning with aws: are reserved")
		}
	}
	return nil
}

func putTags(tx store.Tx, rec *keyRecord, tags []Tag) error {
	for _, t := range tags {
		if err := tx.PutTag(store.Tag{Account: rec.Account, Region: rec.Region, ResourceID: rec.ID, ResourceType: kindKey, Key: t.Key, Value: t.Value}); err != nil {
			return err
		}
	}
	return nil
}

// TagKey adds or replaces tags on a key of c's account.
func (k *Keys) TagKey(ctx context.Context, c Caller, keyRef string, tags []Tag) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	_, err := k.mutate(ctx, c, keyRef, "kms:TagResource", func(tx store.Tx, rec *keyRecord) error {
		if rec.State == StatePendingDeletion {
			return errPendingDeletion(rec.arn())
		}
		return putTags(tx, rec, tags)
	})
	return err
}

// UntagKey removes tags (by key) from a key of c's account.
func (k *Keys) UntagKey(ctx context.Context, c Caller, keyRef string, keys []string) error {
	_, err := k.mutate(ctx, c, keyRef, "kms:UntagResource", func(tx store.Tx, rec *keyRecord) error {
		if rec.State == StatePendingDeletion {
			return errPendingDeletion(rec.arn())
		}
		for _, key := range keys {
			if err := tx.DeleteTag(rec.Account, rec.Region, rec.ID, key); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// ListTags returns a key's tags, by tag key, limit per page.
func (k *Keys) ListTags(ctx context.Context, c Caller, keyRef string, limit int, marker string) ([]Tag, string, error) {
	after, err := decodeMarker(marker)
	if err != nil {
		return nil, "", err
	}
	rec, err := k.use(ctx, c, keyRef, useOpts{}, "kms:ListResourceTags")
	if err != nil {
		return nil, "", err
	}
	var out []Tag
	err = k.st.View(ctx, func(tx store.Tx) error {
		ts, err := tx.ListTags(store.TagQuery{Account: rec.Account, Region: rec.Region, ResourceIDs: []string{rec.ID}, ResourceTypes: []string{kindKey}})
		for _, t := range ts {
			if t.Key > after {
				out = append(out, Tag{Key: t.Key, Value: t.Value})
			}
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	page, next := paginate(out, limit, func(t Tag) string { return t.Key })
	return page, next, nil
}

// Rotation is a key's automatic rotation status. kiln records it; it does
// not rotate material (old ciphertexts would still decrypt if it did).
type Rotation struct {
	Enabled    bool
	PeriodDays int
	Next       *time.Time
}

// SetRotation enables (periodDays 90–2560, 0 = 365) or disables automatic
// rotation of a customer key of c's account.
func (k *Keys) SetRotation(ctx context.Context, c Caller, keyRef string, enabled bool, periodDays int) error {
	action := "kms:DisableKeyRotation"
	if enabled {
		action = "kms:EnableKeyRotation"
		if periodDays == 0 {
			periodDays = 365
		}
		if periodDays < 90 || periodDays > 2560 {
			return errValidation("1 validation error detected: Value '%d' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 2560 and greater than or equal to 90", periodDays)
		}
	}
	_, err := k.mutate(ctx, c, keyRef, action, func(_ store.Tx, rec *keyRecord) error {
		if err := usable(rec); err != nil {
			return err
		}
		rec.Rotation, rec.RotationDays, rec.RotationSince = enabled, 0, nil
		if enabled {
			now := k.clock.Now()
			rec.RotationDays, rec.RotationSince = periodDays, &now
		}
		return nil
	})
	return err
}

// RotationStatus returns a key's rotation status (cross-account by ARN).
func (k *Keys) RotationStatus(ctx context.Context, c Caller, keyRef string) (Rotation, KeyInfo, error) {
	rec, err := k.use(ctx, c, keyRef, useOpts{cross: true}, "kms:GetKeyRotationStatus")
	if err != nil {
		return Rotation{}, KeyInfo{}, err
	}
	r := Rotation{Enabled: rec.Rotation}
	if rec.Rotation && rec.RotationSince != nil {
		r.PeriodDays = rec.RotationDays
		next := rec.RotationSince.Add(time.Duration(rec.RotationDays) * 24 * time.Hour)
		r.Next = &next
	}
	return r, rec.info(), nil
}

package kms

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/store"
)

// aliasRecord is a stored alias; its store ID is its name.
type aliasRecord struct {
	Name    string    `json:"name"`
	KeyID   string    `json:"keyId"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Alias is an alias as ListAliases shows it.
type Alias struct {
	Name, ARN, TargetKeyID string
	Created, Updated       time.Time
}

func aliasStoreKey(account, region, name string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindAlias, ID: name}
}

var aliasNameRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

// checkAliasName validates a user alias name: "alias/" prefix, allowed
// characters, and not in the reserved alias/aws/ namespace.
func checkAliasName(name string) error {
	if !strings.HasPrefix(name, "alias/") {
		return errInvalidAlias("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return errInvalidAlias("Alias must not begin with \"alias/aws/\". Alias names that begin with \"alias/aws/\" are reserved for AWS managed keys.")
	}
	if !aliasNameRE.MatchString(name) || len(name) > 256 {
		return errValidation("1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", name)
	}
	return nil
}

// CreateAlias names a key of c's account. The caller needs kms:CreateAlias
// on the key; a key pending deletion cannot get an alias.
func (k *Keys) CreateAlias(ctx context.Context, c Caller, name, targetRef string) error {
	if err := checkAliasName(name); err != nil {
		return err
	}
	now := k.clock.Now()
	_, err := k.mutate(ctx, c, targetRef, "kms:CreateAlias", func(tx store.Tx, rec *keyRecord) error {
		if rec.State == StatePendingDeletion {
			return errPendingDeletion(rec.arn())
		}
		err := store.CreateJSON(tx, aliasStoreKey(c.Account, c.Region, name), "", aliasRecord{Name: name, KeyID: rec.ID, Created: now, Updated: now})
		if errors.Is(err, store.ErrAlreadyExists) {
			// A leftover alias of a key already past deletion is replaced.
			old, gerr := store.GetJSON[aliasRecord](tx, aliasStoreKey(c.Account, c.Region, name))
			if gerr != nil {
				return gerr
			}
			if _, lerr := k.load(tx, ref{account: c.Account, region: c.Region, keyID: old.KeyID}); IsNotFound(lerr) {
				return store.PutJSON(tx, aliasStoreKey(c.Account, c.Region, name), "", aliasRecord{Name: name, KeyID: rec.ID, Created: now, Updated: now})
			}
			return errAlreadyExists("An alias with the name %s already exists", aliasARN(c.Region, c.Account, name))
		}
		return err
	})
	return err
}

// UpdateAlias points an existing alias of c's account at another key of
// the same account; the caller needs kms:UpdateAlias on both keys.
func (k *Keys) UpdateAlias(ctx context.Context, c Caller, name, targetRef string) error {
	if err := checkAliasName(name); err != nil {
		return err
	}
	now := k.clock.Now()
	var oldKeyID string
	err := k.st.View(ctx, func(tx store.Tx) error {
		a, err := store.GetJSON[aliasRecord](tx, aliasStoreKey(c.Account, c.Region, name))
		if errors.Is(err, store.ErrNotFound) {
			return errAliasNotFound(aliasARN(c.Region, c.Account, name))
		}
		oldKeyID = a.KeyID
		return err
	})
	if err != nil {
		return err
	}
	if _, err := k.use(ctx, c, oldKeyID, useOpts{}, "kms:UpdateAlias"); err != nil && !IsNotFound(err) {
		return err
	}
	_, err = k.mutate(ctx, c, targetRef, "kms:UpdateAlias", func(tx store.Tx, rec *keyRecord) error {
		if rec.State == StatePendingDeletion {
			return errPendingDeletion(rec.arn())
		}
		a, err := store.GetJSON[aliasRecord](tx, aliasStoreKey(c.Account, c.Region, name))
		if errors.Is(err, store.ErrNotFound) {
			return errAliasNotFound(aliasARN(c.Region, c.Account, name))
		}
		if err != nil {
			return err
		}
		a.KeyID, a.Updated = rec.ID, now
		return store.PutJSON(tx, aliasStoreKey(c.Account, c.Region, name), "", a)
	})
	return err
}

// DeleteAlias deletes an alias of c's account (not the key); the caller
// needs kms:DeleteAlias on its key. Aliases of AWS-managed keys cannot be
// deleted.
func (k *Keys) DeleteAlias(ctx context.Context, c Caller, name string) error {
	if strings.HasPrefix(name, "alias/aws/") {
		return errInvalidAlias("Alias must not begin with \"alias/aws/\". Alias names that begin with \"alias/aws/\" are reserved for AWS managed keys.")
	}
	if !strings.HasPrefix(name, "alias/") {
		return errInvalidAlias("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	k.maybeSweep(ctx, c.Region)
	var keyID string
	err := k.st.View(ctx, func(tx store.Tx) error {
		a, err := store.GetJSON[aliasRecord](tx, aliasStoreKey(c.Account, c.Region, name))
		if errors.Is(err, store.ErrNotFound) {
			return errAliasNotFound(aliasARN(c.Region, c.Account, name))
		}
		keyID = a.KeyID
		return err
	})
	if err != nil {
		return err
	}
	if _, err := k.use(ctx, c, keyID, useOpts{}, "kms:DeleteAlias"); err != nil && !IsNotFound(err) {
		return err
	}
	return k.st.Update(ctx, func(tx store.Tx) error {
		err := tx.Delete(aliasStoreKey(c.Account, c.Region, name))
		if errors.Is(err, store.ErrNotFound) {
			return errAliasNotFound(aliasARN(c.Region, c.Account, name))
		}
		return err
	})
}

// ListAliases lists the aliases of c's account and region, by name, only
// those of keyRef's key when keyRef is not "" (an ID or ARN of an own key).
// AWS-managed aliases appear once their key exists.
func (k *Keys) ListAliases(ctx context.Context, c Caller, keyRef string, limit int, marker string) ([]Alias, string, error) {
	k.maybeSweep(ctx, c.Region)
	after, err := decodeMarker(marker)
	if err != nil {
		return nil, "", err
	}
	var filter ref
	if keyRef != "" {
		if filter, err = parseRef(c, keyRef, false); err != nil {
			return nil, "", err
		}
	}
	var out []Alias
	err = k.st.View(ctx, func(tx store.Tx) error {
		if keyRef != "" {
			rec, err := k.load(tx, filter)
			if err != nil {
				return err
			}
			filter.keyID = rec.ID
		}
		as, err := store.ListJSON[aliasRecord](tx, store.Query{Account: c.Account, Region: c.Region, Kind: kindAlias, After: after})
		if err != nil {
			return err
		}
		for _, a := range as {
			if keyRef != "" && a.KeyID != filter.keyID {
				continue
			}
			if _, err := k.load(tx, ref{account: c.Account, region: c.Region, keyID: a.KeyID}); err != nil {
				continue // the key is gone; so is the alias
			}
			out = append(out, Alias{Name: a.Name, ARN: aliasARN(c.Region, c.Account, a.Name), TargetKeyID: a.KeyID, Created: a.Created, Updated: a.Updated})
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	page, next := paginate(out, limit, func(a Alias) string { return a.Name })
	return page, next, nil
}

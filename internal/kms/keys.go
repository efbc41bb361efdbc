package kms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/store"
)

// Store kinds of KMS records. Keys and grants live in the owning account
// and region; an alias record's ID is its name ("alias/x").
const (
	kindKey   = "kms-key"
	kindAlias = "kms-alias"
	kindGrant = "kms-grant"
)

// Key states kiln uses.
const (
	StateEnabled         = "Enabled"
	StateDisabled        = "Disabled"
	StatePendingDeletion = "PendingDeletion"
)

// Key managers.
const (
	ManagerCustomer = "CUSTOMER"
	ManagerAWS      = "AWS"
)

// Caller is the account using a key and the region of the request.
type Caller struct{ Account, Region string }

// KeyInfo is the metadata of a key.
type KeyInfo struct {
	ARN, ID           string
	Account, Region   string
	State             string // Enabled, Disabled, PendingDeletion
	Manager           string // CUSTOMER or AWS
	Enabled           bool
	Description       string
	Created           time.Time
	DeletionDate      *time.Time // set when PendingDeletion
	PendingWindowDays int        // set when PendingDeletion
}

// Tag is a key tag.
type Tag struct{ Key, Value string }

// Sealer protects key material at rest; *secretbox.Box implements it.
type Sealer interface {
	Seal(plaintext, ad []byte) []byte
	Open(sealed, ad []byte) ([]byte, error)
}

// Keys is the KMS core over a store, a sealer for key material and a clock.
type Keys struct {
	st    store.Store
	box   Sealer
	clock clock.Clock

	mu    sync.Mutex
	swept map[string]time.Time // region → last sweep of expired keys
}

// New returns the KMS core.
func New(st store.Store, box Sealer, clk clock.Clock) *Keys {
	return &Keys{st: st, box: box, clock: clk, swept: map[string]time.Time{}}
}

// keyRecord is a stored key. Material is sealed with kiln's root key,
// bound to the key ARN; it never leaves this package in clear.
type keyRecord struct {
	ID            string     `json:"id"`
	Account       string     `json:"account"`
	Region        string     `json:"region"`
	Created       time.Time  `json:"created"`
	Description   string     `json:"description"`
	State         string     `json:"state"`
	DeletionDate  *time.Time `json:"deletionDate,omitempty"`
	PendingDays   int        `json:"pendingDays,omitempty"`
	Manager       string     `json:"manager"`
	Policy        string     `json:"policy"`
	Sealed        []byte     `json:"sealedMaterial"`
	Rotation      bool       `json:"rotation,omitempty"`
	RotationDays  int        `json:"rotationDays,omitempty"`
	RotationSince *time.Time `json:"rotationSince,omitempty"`
}

func (r *keyRecord) arn() string { return keyARN(r.Region, r.Account, r.ID) }

func (r *keyRecord) info() KeyInfo {
	return KeyInfo{
		ARN: r.arn(), ID: r.ID, Account: r.Account, Region: r.Region, State: r.State, Manager: r.Manager,
		Enabled: r.State == StateEnabled, Description: r.Description, Created: r.Created,
		DeletionDate: r.DeletionDate, PendingWindowDays: r.PendingDays,
	}
}

func keyStoreKey(account, region, id string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindKey, ID: id}
}

// gone reports whether a key pending deletion has passed its deletion date.
func (k *Keys) gone(r *keyRecord) bool {
	return r.State == StatePendingDeletion && r.DeletionDate != nil && !k.clock.Now().Before(*r.DeletionDate)
}

// material opens a key's sealed material.
func (k *Keys) material(r *keyRecord) ([]byte, error) {
	m, err := k.box.Open(r.Sealed, []byte(r.arn()))
	if err != nil {
		return nil, fmt.Errorf("kms: open key material of %s: %w", r.ID, err)
	}
	return m, nil
}

func newUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// newKey mints a key record with fresh material.
func (k *Keys) newKey(account, region, manager, description string) keyRecord {
	r := keyRecord{ID: newUUID(), Account: account, Region: region, Created: k.clock.Now(),
		Description: description, State: StateEnabled, Manager: manager}
	r.Sealed = k.box.Seal(randomBytes(32), []byte(r.arn()))
	return r
}

// CreateKeyInput is a CreateKey request.
type CreateKeyInput struct {
	Description                    string
	Policy                         string // "" for the default policy
	BypassPolicyLockoutSafetyCheck bool
	KeySpec                        string
	CustomerMasterKeySpec          string
	KeyUsage                       string
	Origin                         string
	CustomKeyStoreID               string
	MultiRegion                    bool
	Tags                           []Tag
}

// CreateKey creates a customer-managed symmetric key in c's account and
// region. Only SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT keys of origin AWS_KMS
// exist in kiln.
func (k *Keys) CreateKey(ctx context.Context, c Caller, in CreateKeyInput) (KeyInfo, error) {
	if in.KeySpec != "" && in.CustomerMasterKeySpec != "" {
		return KeyInfo{}, errValidation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	spec := in.KeySpec + in.CustomerMasterKeySpec
	if spec != "" && spec != "SYMMETRIC_DEFAULT" {
		return KeyInfo{}, errUnsupported("KeySpec %s is not supported by kiln: only SYMMETRIC_DEFAULT keys are available.", spec)
	}
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" {
		return KeyInfo{}, errValidation("KeyUsage %s is not compatible with KeySpec SYMMETRIC_DEFAULT", in.KeyUsage)
	}
	if in.Origin != "" && in.Origin != "AWS_KMS" {
		return KeyInfo{}, errUnsupported("Origin %s is not supported by kiln: only AWS_KMS keys are available.", in.Origin)
	}
	if in.CustomKeyStoreID != "" {
		return KeyInfo{}, awserr.New(awserr.NotFound, CodeCustomKeyStoreNotFd, "Custom key store %s does not exist.", in.CustomKeyStoreID)
	}
	if in.MultiRegion {
		return KeyInfo{}, errUnsupported("Multi-Region keys are not supported by kiln.")
	}
	if err := validateTags(in.Tags); err != nil {
		return KeyInfo{}, err
	}
	k.maybeSweep(ctx, c.Region)
	rec := k.newKey(c.Account, c.Region, ManagerCustomer, in.Description)
	rec.Policy = DefaultPolicy(c.Account)
	if in.Policy != "" {
		if err := k.checkNewPolicy(ctx, c, &rec, in.Policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return KeyInfo{}, err
		}
		rec.Policy = in.Policy
	}
	err := k.st.Update(ctx, func(tx store.Tx) error {
		if err := store.CreateJSON(tx, keyStoreKey(rec.Account, rec.Region, rec.ID), "", rec); err != nil {
			return err
		}
		return putTags(tx, &rec, in.Tags)
	})
	if err != nil {
		return KeyInfo{}, err
	}
	return rec.info(), nil
}

// checkNewPolicy validates a policy document for rec and, unless bypass,
// refuses one that would not let c (acting directly) call PutKeyPolicy
// afterwards, as KMS's lockout safety check does.
func (k *Keys) checkNewPolicy(ctx context.Context, c Caller, rec *keyRecord, doc string, bypass bool) error {
	pol, err := parsePolicy(doc)
	if err != nil {
		return err
	}
	if bypass {
		return nil
	}
	ec := evalContext{Account: c.Account, ViaService: viaOf(ctx, c.Region), Action: "kms:PutKeyPolicy", Resource: rec.arn()}
	if pol.evaluate(ec) != allow {
		return errMalformed("The new key policy will not allow you to update the key policy in the future.")
	}
	return nil
}

// ListKeys lists the keys of c's account and region (customer and
// AWS-managed), by key ID, limit per page; marker continues a listing.
func (k *Keys) ListKeys(ctx context.Context, c Caller, limit int, marker string) ([]KeyInfo, string, error) {
	k.maybeSweep(ctx, c.Region)
	after, err := decodeMarker(marker)
	if err != nil {
		return nil, "", err
	}
	var out []KeyInfo
	err = k.st.View(ctx, func(tx store.Tx) error {
		recs, err := store.ListJSON[keyRecord](tx, store.Query{Account: c.Account, Region: c.Region, Kind: kindKey, After: after})
		if err != nil {
			return err
		}
		for i := range recs {
			if !k.gone(&recs[i]) {
				out = append(out, recs[i].info())
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	page, next := paginate(out, limit, func(i KeyInfo) string { return i.ID })
	return page, next, nil
}

// paginate cuts items (sorted by id) to limit and returns the marker of the
// next page ("" at the end).
func paginate[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if limit <= 0 || len(items) <= limit {
		return items, ""
	}
	return items[:limit], base64.RawURLEncoding.EncodeToString([]byte(id(items[limit-1])))
}

func decodeMarker(m string) (string, error) {
	if m == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || len(b) == 0 {
		return "", awserr.New(awserr.InvalidArgument, CodeInvalidMarker, "Invalid marker: %s", m)
	}
	return string(b), nil
}

// SetEnabled enables or disables a key of c's account (EnableKey,
// DisableKey). Keys pending deletion cannot change.
func (k *Keys) SetEnabled(ctx context.Context, c Caller, keyRef string, enabled bool) error {
	action := "kms:DisableKey"
	if enabled {
		action = "kms:EnableKey"
	}
	_, err := k.mutate(ctx, c, keyRef, action, func(_ store.Tx, rec *keyRecord) error {
		if rec.State == StatePendingDeletion {
			return errPendingDeletion(rec.arn())
		}
		rec.State = StateDisabled
		if enabled {
			rec.State = StateEnabled
		}
		return nil
	})
	return err
}

// ScheduleDeletion puts a key in PendingDeletion for days (7–30, 0 means
// 30); when the clock passes its deletion date the key, its aliases and
// grants are gone and its material destroyed.
func (k *Keys) ScheduleDeletion(ctx context.Context, c Caller, keyRef string, days int) (KeyInfo, error) {
	if days == 0 {
		days = 30
	}
	if days < 7 || days > 30 {
		return KeyInfo{}, errValidation("1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 30 and greater than or equal to 7", days)
	}
	rec, err := k.mutate(ctx, c, keyRef, "kms:ScheduleKeyDeletion", func(_ store.Tx, rec *keyRecord) error {
		if rec.State == StatePendingDeletion {
			return errPendingDeletion(rec.arn())
		}
		d := k.clock.Now().Add(time.Duration(days) * 24 * time.Hour)
		rec.State, rec.DeletionDate, rec.PendingDays = StatePendingDeletion, &d, days
		return nil
	})
	return rec.info(), err
}

// CancelDeletion takes a key out of PendingDeletion; it becomes Disabled,
// as in AWS.
func (k *Keys) CancelDeletion(ctx context.Context, c Caller, keyRef string) (KeyInfo, error) {
	rec, err := k.mutate(ctx, c, keyRef, "kms:CancelKeyDeletion", func(_ store.Tx, rec *keyRecord) error {
		if rec.State != StatePendingDeletion {
			return errInvalidState("%s is not pending deletion.", rec.arn())
		}
		rec.State, rec.DeletionDate, rec.PendingDays = StateDisabled, nil, 0
		return nil
	})
	return rec.info(), err
}

// maybeSweep destroys the keys of region whose deletion date has passed
// (with their aliases and grants), at most once a minute of clock time.
// Reads already treat such keys as gone; this reclaims their records.
func (k *Keys) maybeSweep(ctx context.Context, region string) {
	now := k.clock.Now()
	k.mu.Lock()
	last, ok := k.swept[region]
	if ok && now.Sub(last) < time.Minute && !now.Before(last) {
		k.mu.Unlock()
		return
	}
	k.swept[region] = now
	k.mu.Unlock()
	_ = k.Sweep(ctx, region)
}

// Sweep destroys every key of region (all accounts) past its deletion
// date, with its aliases, grants and tags.
func (k *Keys) Sweep(ctx context.Context, region string) error {
	return k.st.Update(ctx, func(tx store.Tx) error {
		keys, err := store.ListJSON[keyRecord](tx, store.Query{AllAccounts: true, Region: region, Kind: kindKey})
		if err != nil {
			return err
		}
		for i := range keys {
			rec := &keys[i]
			if !k.gone(rec) {
				continue
			}
			if err := tx.Delete(keyStoreKey(rec.Account, rec.Region, rec.ID)); err != nil {
				return err
			}
			for _, kind := range []string{kindAlias, kindGrant} {
				rs, err := tx.List(store.Query{Account: rec.Account, Region: rec.Region, Kind: kind})
				if err != nil {
					return err
				}
				for _, r := range rs {
					if strings.Contains(string(r.Body), `"keyId":"`+rec.ID+`"`) {
						if err := tx.Delete(r.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
							return err
						}
					}
				}
			}
		}
		return nil
	})
}

// Random returns n random bytes (GenerateRandom, 1–1024).
func (k *Keys) Random(n int) ([]byte, error) {
	if n < 1 || n > 1024 {
		return nil, errValidation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024", n)
	}
	b := make([]byte, n)
	_, err := rand.Read(b)
	return b, err
}

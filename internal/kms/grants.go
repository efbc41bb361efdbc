package kms

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// grantRecord is a stored grant, kept in the key's account and region.
type grantRecord struct {
	ID             string            `json:"id"`
	KeyID          string            `json:"keyId"`
	Name           string            `json:"name,omitempty"`
	Grantee        string            `json:"grantee"`
	Retiring       string            `json:"retiring,omitempty"`
	IssuingAccount string            `json:"issuingAccount"`
	Operations     []string          `json:"operations"`
	Equals         map[string]string `json:"equals,omitempty"`
	Subset         map[string]string `json:"subset,omitempty"`
	Created        time.Time         `json:"created"`
}

// GrantInput is a CreateGrant request.
type GrantInput struct {
	Grantee                 string // account ID, arn:aws:iam::ACCT:root or an IAM role/user ARN
	Retiring                string // optional, same forms
	Operations              []string
	EncryptionContextEquals map[string]string
	EncryptionContextSubset map[string]string
	Name                    string // idempotency: same name and parameters return the same grant
}

// Grant is a grant as ListGrants shows it.
type Grant struct {
	KeyARN, GrantID, Name string
	Grantee, Retiring     string
	IssuingAccount        string // arn:aws:iam::ACCT:root
	Operations            []string
	Equals, Subset        map[string]string
	Created               time.Time
}

// grantOps are the operations a grant on a symmetric key may allow.
var grantOps = map[string]bool{
	"Decrypt": true, "Encrypt": true, "GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true,
	"ReEncryptFrom": true, "ReEncryptTo": true, "CreateGrant": true, "RetireGrant": true, "DescribeKey": true,
}

var grantIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func grantStoreKey(account, region, id string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindGrant, ID: id}
}

func (g *grantRecord) has(op string) bool { return slices.Contains(g.Operations, op) }

// allowsContext checks the grant's encryption context constraints against
// a request's context (unknown context: only unconstrained grants apply).
func (g *grantRecord) allowsContext(ec map[string]string, have bool) bool {
	if len(g.Equals) == 0 && len(g.Subset) == 0 {
		return true
	}
	if !have {
		return false
	}
	if len(g.Equals) > 0 && !maps.Equal(g.Equals, ec) {
		return false
	}
	for k, v := range g.Subset {
		if got, ok := ec[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (g *grantRecord) public(rec *keyRecord) Grant {
	return Grant{KeyARN: rec.arn(), GrantID: g.ID, Name: g.Name, Grantee: g.Grantee, Retiring: g.Retiring,
		IssuingAccount: "arn:aws:iam::" + g.IssuingAccount + ":root", Operations: slices.Clone(g.Operations),
		Equals: g.Equals, Subset: g.Subset, Created: g.Created}
}

// keyGrants lists the grants of one key.
func (k *Keys) keyGrants(tx store.Tx, rec *keyRecord) ([]grantRecord, error) {
	all, err := store.ListJSON[grantRecord](tx, store.Query{Account: rec.Account, Region: rec.Region, Kind: kindGrant})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, g := range all {
		if g.KeyID == rec.ID {
			out = append(out, g)
		}
	}
	return out, nil
}

func grantToken(arn, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("kiln-grant-v1\x00" + arn + "\x00" + id))
}

func parseGrantToken(tok string) (arn, id string, err error) {
	b, derr := base64.RawURLEncoding.DecodeString(tok)
	p := strings.Split(string(b), "\x00")
	if derr != nil || len(p) != 3 || p[0] != "kiln-grant-v1" || !grantIDRE.MatchString(p[2]) {
		return "", "", awserr.New(awserr.InvalidArgument, CodeInvalidGrantToken, "Invalid grant token")
	}
	return p[1], p[2], nil
}

// CreateGrant lets a principal use a key for some operations. The key may
// be in another account (by ARN) if its policy lets c kms:CreateGrant.
func (k *Keys) CreateGrant(ctx context.Context, c Caller, keyRef string, in GrantInput) (grantID, token string, err error) {
	if _, ok := principalAccount(in.Grantee); !ok {
		return "", "", errValidation("Invalid principal %s for GranteePrincipal", in.Grantee)
	}
	if in.Retiring != "" {
		if _, ok := principalAccount(in.Retiring); !ok {
			return "", "", errValidation("Invalid principal %s for RetiringPrincipal", in.Retiring)
		}
	}
	if len(in.Operations) == 0 {
		return "", "", errValidation("Grant operations must not be empty")
	}
	for _, op := range in.Operations {
		if !grantOps[op] {
			return "", "", errValidation("Grant operation %s is not valid for a SYMMETRIC_DEFAULT key", op)
		}
	}
	r, err := parseRef(c, keyRef, true)
	if err != nil {
		return "", "", err
	}
	if err := k.ensureManaged(ctx, c, r); err != nil {
		return "", "", err
	}
	g := grantRecord{Name: in.Name, Grantee: in.Grantee, Retiring: in.Retiring, IssuingAccount: c.Account,
		Operations: slices.Compact(slices.Sorted(slices.Values(in.Operations))),
		Equals:     in.EncryptionContextEquals, Subset: in.EncryptionContextSubset, Created: k.clock.Now()}
	var arn string
	err = k.st.Update(ctx, func(tx store.Tx) error {
		rec, err := k.load(tx, r)
		if err != nil {
			return err
		}
		arn = rec.arn()
		if err := k.authorize(ctx, tx, c, &rec, "kms:CreateGrant", useOpts{}); err != nil {
			return err
		}
		if err := usable(&rec); err != nil {
			return err
		}
		g.KeyID = rec.ID
		if g.Name != "" {
			existing, err := k.keyGrants(tx, &rec)
			if err != nil {
				return err
			}
			for _, e := range existing {
				if e.Name == g.Name && e.Grantee == g.Grantee && e.Retiring == g.Retiring &&
					slices.Equal(e.Operations, g.Operations) && maps.Equal(e.Equals, g.Equals) && maps.Equal(e.Subset, g.Subset) {
					g.ID = e.ID
					return nil
				}
			}
		}
		g.ID = hex.EncodeToString(randomBytes(32))
		return store.CreateJSON(tx, grantStoreKey(rec.Account, rec.Region, g.ID), "", g)
	})
	if err != nil {
		return "", "", err
	}
	return g.ID, grantToken(arn, g.ID), nil
}

// ListGrants lists a key's grants (c needs kms:ListGrants), optionally
// only one grant ID or one grantee, by grant ID.
func (k *Keys) ListGrants(ctx context.Context, c Caller, keyRef, grantID, grantee string, limit int, marker string) ([]Grant, string, error) {
	after, err := decodeMarker(marker)
	if err != nil {
		return nil, "", err
	}
	r, err := parseRef(c, keyRef, true)
	if err != nil {
		return nil, "", err
	}
	if err := k.ensureManaged(ctx, c, r); err != nil {
		return nil, "", err
	}
	var out []Grant
	err = k.st.View(ctx, func(tx store.Tx) error {
		rec, err := k.load(tx, r)
		if err != nil {
			return err
		}
		if err := k.authorize(ctx, tx, c, &rec, "kms:ListGrants", useOpts{}); err != nil {
			return err
		}
		gs, err := k.keyGrants(tx, &rec)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.ID <= after || (grantID != "" && g.ID != grantID) || (grantee != "" && g.Grantee != grantee) {
				continue
			}
			out = append(out, g.public(&rec))
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	page, next := paginate(out, limit, func(g Grant) string { return g.GrantID })
	return page, next, nil
}

// RevokeGrant deletes a grant of a key; c needs kms:RevokeGrant on it.
func (k *Keys) RevokeGrant(ctx context.Context, c Caller, keyRef, grantID string) error {
	if !grantIDRE.MatchString(grantID) {
		return awserr.New(awserr.InvalidArgument, CodeInvalidGrantID, "Invalid grant ID %s", grantID)
	}
	r, err := parseRef(c, keyRef, true)
	if err != nil {
		return err
	}
	return k.st.Update(ctx, func(tx store.Tx) error {
		rec, err := k.load(tx, r)
		if err != nil {
			return err
		}
		if err := k.authorize(ctx, tx, c, &rec, "kms:RevokeGrant", useOpts{}); err != nil {
			return err
		}
		return k.deleteGrant(tx, &rec, grantID)
	})
}

func (k *Keys) deleteGrant(tx store.Tx, rec *keyRecord, grantID string) error {
	g, err := store.GetJSON[grantRecord](tx, grantStoreKey(rec.Account, rec.Region, grantID))
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.KeyID != rec.ID) {
		return errNotFound("Grant ID %s not found", grantID)
	}
	if err != nil {
		return err
	}
	return tx.Delete(grantStoreKey(rec.Account, rec.Region, grantID))
}

// RetireGrant deletes a grant named by its token, or by key and grant ID.
// The retiring principal's account, the grantee's account when the grant
// allows RetireGrant, and the account that created the grant may retire it.
func (k *Keys) RetireGrant(ctx context.Context, c Caller, token, keyRef, grantID string) error {
	if token != "" {
		arn, id, err := parseGrantToken(token)
		if err != nil {
			return err
		}
		if keyRef == "" {
			keyRef = arn
		}
		if grantID == "" {
			grantID = id
		}
	}
	if keyRef == "" || grantID == "" {
		return errValidation("Either GrantToken, or both KeyId and GrantId, must be specified.")
	}
	if !grantIDRE.MatchString(grantID) {
		return awserr.New(awserr.InvalidArgument, CodeInvalidGrantID, "Invalid grant ID %s", grantID)
	}
	r, err := parseRef(c, keyRef, true)
	if err != nil {
		return err
	}
	return k.st.Update(ctx, func(tx store.Tx) error {
		rec, err := k.load(tx, r)
		if err != nil {
			return err
		}
		g, err := store.GetJSON[grantRecord](tx, grantStoreKey(rec.Account, rec.Region, grantID))
		if errors.Is(err, store.ErrNotFound) || (err == nil && g.KeyID != rec.ID) {
			return errNotFound("Grant ID %s not found", grantID)
		}
		if err != nil {
			return err
		}
		retiring, _ := principalAccount(g.Retiring)
		grantee, _ := principalAccount(g.Grantee)
		if c.Account != g.IssuingAccount && c.Account != retiring && (c.Account != grantee || !g.has("RetireGrant")) {
			return errAccessDenied(c, "kms:RetireGrant", rec.arn())
		}
		return tx.Delete(grantStoreKey(rec.Account, rec.Region, grantID))
	})
}

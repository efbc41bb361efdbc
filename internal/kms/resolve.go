package kms

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/kiln-dev/kiln/internal/store"
)

// viaKey carries the kiln service a call comes through (see WithViaService).
type viaKey struct{}

// WithViaService marks ctx as a call made through the kiln service svc
// (e.g. "ec2"): key policy conditions on kms:ViaService then see
// "svc.REGION.amazonaws.com", and kms:GrantIsForAWSResource is true for
// CreateGrant. svc "" marks a direct call to the KMS API.
//
// Calls to the Go API (Encrypt, Decrypt, Describe, Check) whose context
// carries no mark are taken to come through EC2 ("ec2"), the service that
// encrypts EBS volumes; the KMS API handlers always mark their calls
// direct (see Direct).
func WithViaService(ctx context.Context, svc string) context.Context {
	return context.WithValue(ctx, viaKey{}, svc)
}

// Direct marks ctx as a direct call to the KMS API (no kms:ViaService).
func Direct(ctx context.Context) context.Context { return WithViaService(ctx, "") }

// viaOf returns the kms:ViaService value of a call in region ("" if direct).
func viaOf(ctx context.Context, region string) string {
	svc, ok := ctx.Value(viaKey{}).(string)
	if !ok {
		svc = "ec2"
	}
	if svc == "" {
		return ""
	}
	return viaServiceName(svc, region)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ref is a parsed key reference: a key (keyID) or an alias (alias, with
// its "alias/" prefix) in an account and region.
type ref struct {
	account, region string
	keyID           string
	alias           string
}

func (r ref) keyARN() string   { return keyARN(r.region, r.account, r.keyID) }
func (r ref) aliasARN() string { return aliasARN(r.region, r.account, r.alias) }

func keyARN(region, account, id string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

func aliasARN(region, account, alias string) string {
	return "arn:aws:kms:" + region + ":" + account + ":" + alias
}

// parseRef parses a key ID, key ARN, alias name or alias ARN as seen by c.
// Bare IDs and alias names always name the caller's own account; ARNs may
// name another account only when cross is true (operations AWS allows
// across accounts), else they are not found. A key is usable only in its
// own region.
func parseRef(c Caller, s string, cross bool) (ref, error) {
	r := ref{account: c.Account, region: c.Region}
	switch {
	case strings.HasPrefix(s, "arn:"):
		p := strings.SplitN(s, ":", 6)
		if len(p) != 6 || p[1] != "aws" || p[2] != "kms" || !accountRE.MatchString(p[4]) {
			return r, errNotFound("Invalid arn %s", s)
		}
		if p[3] != c.Region {
			return r, errNotFound("Invalid arn %s", p[3])
		}
		r.account = p[4]
		switch {
		case strings.HasPrefix(p[5], "key/") && uuidRE.MatchString(p[5][4:]):
			r.keyID = p[5][4:]
		case strings.HasPrefix(p[5], "alias/") && len(p[5]) > len("alias/"):
			r.alias = p[5]
		default:
			return r, errNotFound("Invalid arn %s", s)
		}
		if !cross && r.account != c.Account {
			if r.alias != "" {
				return r, errAliasNotFound(s)
			}
			return r, errKeyNotFound(s)
		}
	case strings.HasPrefix(s, "alias/") && len(s) > len("alias/"):
		r.alias = s
	case uuidRE.MatchString(s):
		r.keyID = s
	default:
		return r, errNotFound("Invalid keyId '%s'", s)
	}
	return r, nil
}

// load reads the key r names (following an alias), treating a key past its
// deletion date as gone.
func (k *Keys) load(tx store.Tx, r ref) (keyRecord, error) {
	id := r.keyID
	if r.alias != "" {
		a, err := store.GetJSON[aliasRecord](tx, aliasStoreKey(r.account, r.region, r.alias))
		if errors.Is(err, store.ErrNotFound) {
			return keyRecord{}, errAliasNotFound(r.aliasARN())
		}
		if err != nil {
			return keyRecord{}, err
		}
		id = a.KeyID
	}
	rec, err := store.GetJSON[keyRecord](tx, keyStoreKey(r.account, r.region, id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.gone(&rec)) {
		return keyRecord{}, errKeyNotFound(keyARN(r.region, r.account, id))
	}
	return rec, err
}

// ensureManaged creates the AWS-managed key an own-account alias like
// alias/aws/ebs names, as AWS does on first reference.
func (k *Keys) ensureManaged(ctx context.Context, c Caller, r ref) error {
	if r.alias == "" || r.account != c.Account {
		return nil
	}
	if _, ok := managed[strings.TrimPrefix(r.alias, "alias/")]; !ok {
		return nil
	}
	_, err := k.DefaultKey(ctx, c.Account, c.Region, r.alias)
	return err
}

// grantOperation maps a KMS action ("kms:Decrypt") to its grant operation.
func grantOperation(action string) string { return strings.TrimPrefix(action, "kms:") }

// cryptoOps are the grant operations whose grants honour encryption
// context constraints.
var cryptoOps = map[string]bool{
	"Decrypt": true, "Encrypt": true, "GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true,
	"ReEncryptFrom": true, "ReEncryptTo": true,
}

// useOpts describes one use of a key.
type useOpts struct {
	cross   bool              // the operation may be used across accounts
	enabled bool              // the key must be Enabled
	encCtx  map[string]string // the request's encryption context
	haveCtx bool              // encCtx is known (grant constraints can be checked)
}

// authorize decides whether c may perform action on rec: an explicit Deny
// in the key policy refuses, an Allow or a matching grant permits.
func (k *Keys) authorize(ctx context.Context, tx store.Tx, c Caller, rec *keyRecord, action string, o useOpts) error {
	pol, err := parsePolicy(rec.Policy)
	if err != nil {
		return err
	}
	ec := evalContext{Account: c.Account, ViaService: viaOf(ctx, c.Region), Action: action, Resource: rec.arn()}
	switch pol.evaluate(ec) {
	case explicitDeny:
		return errAccessDenied(c, action, rec.arn())
	case allow:
		return nil
	}
	op := grantOperation(action)
	grants, err := k.keyGrants(tx, rec)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if !g.has(op) {
			continue
		}
		if a, _ := principalAccount(g.Grantee); a != c.Account {
			continue
		}
		if cryptoOps[op] && !g.allowsContext(o.encCtx, o.haveCtx) {
			continue
		}
		return nil
	}
	return errAccessDenied(c, action, rec.arn())
}

// usable reports the state error of a key that must be Enabled.
func usable(rec *keyRecord) error {
	switch rec.State {
	case StateDisabled:
		return errDisabled(rec.arn())
	case StatePendingDeletion:
		return errPendingDeletion(rec.arn())
	}
	return nil
}

// use resolves keyRef for c, checks every action and (when asked) that the
// key is Enabled, in one consistent read.
//
// It never writes (expired keys are skipped, not swept) except to create an
// AWS-managed key named by its alias on first reference.
func (k *Keys) use(ctx context.Context, c Caller, keyRef string, o useOpts, actions ...string) (keyRecord, error) {
	r, err := parseRef(c, keyRef, o.cross)
	if err != nil {
		return keyRecord{}, err
	}
	if err := k.ensureManaged(ctx, c, r); err != nil {
		return keyRecord{}, err
	}
	var rec keyRecord
	err = k.st.View(ctx, func(tx store.Tx) error {
		if rec, err = k.load(tx, r); err != nil {
			return err
		}
		for _, a := range actions {
			if err := k.authorize(ctx, tx, c, &rec, a, o); err != nil {
				return err
			}
		}
		if o.enabled {
			return usable(&rec)
		}
		return nil
	})
	return rec, err
}

// mutate resolves keyRef in c's own account, checks action, and runs fn on
// the record inside one write transaction, storing the record afterwards.
func (k *Keys) mutate(ctx context.Context, c Caller, keyRef, action string, fn func(tx store.Tx, rec *keyRecord) error) (keyRecord, error) {
	k.maybeSweep(ctx, c.Region)
	r, err := parseRef(c, keyRef, false)
	if err != nil {
		return keyRecord{}, err
	}
	if err := k.ensureManaged(ctx, c, r); err != nil {
		return keyRecord{}, err
	}
	var rec keyRecord
	err = k.st.Update(ctx, func(tx store.Tx) error {
		if rec, err = k.load(tx, r); err != nil {
			return err
		}
		if err := k.authorize(ctx, tx, c, &rec, action, useOpts{}); err != nil {
			return err
		}
		if err := fn(tx, &rec); err != nil {
			return err
		}
		return store.PutJSON(tx, keyStoreKey(rec.Account, rec.Region, rec.ID), "", rec)
	})
	return rec, err
}

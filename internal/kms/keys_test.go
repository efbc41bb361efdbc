package kms

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/secretbox"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

const (
	acctA  = "111122223333"
	acctB  = "444455556666"
	region = "us-east-1"
)

var (
	callerA = Caller{Account: acctA, Region: region}
	callerB = Caller{Account: acctB, Region: region}
)

func newTestKeys(t *testing.T) (*Keys, *clock.Fake, store.Store) {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := sqlite.OpenTemp(t)
	return New(st, box, clk), clk, st
}

func direct() context.Context { return Direct(context.Background()) }

func mustKey(t *testing.T, k *Keys, c Caller) KeyInfo {
	t.Helper()
	info, err := k.CreateKey(direct(), c, CreateKeyInput{Description: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestCiphertext(t *testing.T) {
	k, _, _ := newTestKeys(t)
	ctx := direct()
	key := mustKey(t, k, callerA)
	ec := map[string]string{"b": "2", "a": "1"}
	blob, arn, err := k.Encrypt(ctx, callerA, key.ID, []byte("hello"), ec)
	if err != nil || arn != key.ARN {
		t.Fatal(arn, err)
	}
	pt, _, err := k.Decrypt(ctx, callerA, blob, map[string]string{"a": "1", "b": "2"})
	if err != nil || string(pt) != "hello" {
		t.Fatalf("%q %v", pt, err)
	}
	for name, c := range map[string]map[string]string{
		"missing context": nil,
		"wrong value":     {"a": "1", "b": "3"},
		"extra pair":      {"a": "1", "b": "2", "c": "3"},
	} {
		if _, _, err := k.Decrypt(ctx, callerA, blob, c); !IsInvalidCiphertext(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Flip every byte in turn: header, nonce, body and tag are all authenticated.
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x40
		if _, _, err := k.Decrypt(ctx, callerA, bad, ec); err == nil {
			t.Fatalf("byte %d flipped: decrypted", i)
		} else if !IsInvalidCiphertext(err) && !IsNotFound(err) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, junk := range [][]byte{nil, {1}, []byte("not a kiln blob at all, really"), blob[:len(blob)-1]} {
		if _, _, err := k.Decrypt(ctx, callerA, junk, ec); !IsInvalidCiphertext(err) {
			t.Errorf("junk %q: %v", junk, err)
		}
	}
	other := mustKey(t, k, callerA)
	if _, _, err := k.DecryptWithKey(ctx, callerA, blob, ec, other.ID); Code(err) != CodeIncorrectKey {
		t.Fatalf("other key: %v", err)
	}
	// A key is usable only in its own region.
	if _, _, err := k.Decrypt(ctx, Caller{Account: acctA, Region: "eu-west-1"}, blob, ec); !IsInvalidCiphertext(err) {
		t.Fatalf("other region: %v", err)
	}
}

func TestMaterialSealed(t *testing.T) {
	k, _, st := newTestKeys(t)
	key := mustKey(t, k, callerA)
	var rec keyRecord
	_ = st.View(context.Background(), func(tx store.Tx) error {
		var err error
		rec, err = store.GetJSON[keyRecord](tx, keyStoreKey(acctA, region, key.ID))
		return err
	})
	m, err := k.material(&rec)
	if err != nil || len(m) != 32 {
		t.Fatal(len(m), err)
	}
	if bytes.Contains(rec.Sealed, m) {
		t.Fatal("material stored in clear")
	}
	// Bound to its ARN: a sealed blob moved to another key does not open.
	rec.ID = "00000000-0000-4000-8000-000000000000"
	if _, err := k.material(&rec); err == nil {
		t.Fatal("sealed material opened for another key")
	}
}

func TestDeletionWindow(t *testing.T) {
	k, clk, st := newTestKeys(t)
	ctx := direct()
	key := mustKey(t, k, callerA)
	if err := k.CreateAlias(ctx, callerA, "alias/doomed", key.ID); err != nil {
		t.Fatal(err)
	}
	blob, _, _ := k.Encrypt(ctx, callerA, key.ID, []byte("x"), nil)
	for _, days := range []int{1, 6, 31} {
		if _, err := k.ScheduleDeletion(ctx, callerA, key.ID, days); Code(err) != CodeValidation {
			t.Fatalf("%d days: %v", days, err)
		}
	}
	info, err := k.ScheduleDeletion(ctx, callerA, "alias/doomed", 0)
	if err != nil || info.PendingWindowDays != 30 || !info.DeletionDate.Equal(clk.Now().Add(30*24*time.Hour)) || info.State != StatePendingDeletion {
		t.Fatalf("%+v %v", info, err)
	}
	if _, _, err := k.Decrypt(ctx, callerA, blob, nil); !IsInvalidState(err) {
		t.Fatalf("pending: %v", err)
	}
	if _, err := k.Check(ctx, callerA, key.ID, "kms:Decrypt"); !IsInvalidState(err) {
		t.Fatalf("Check pending: %v", err)
	}
	if _, err := k.Describe(ctx, callerA, key.ID); err != nil {
		t.Fatalf("Describe pending: %v", err)
	}
	clk.Advance(30*24*time.Hour - time.Second)
	if _, err := k.Describe(ctx, callerA, key.ID); err != nil {
		t.Fatalf("a second before: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := k.Describe(ctx, callerA, key.ID); !IsNotFound(err) {
		t.Fatalf("after: %v", err)
	}
	if _, _, err := k.Decrypt(ctx, callerA, blob, nil); !IsNotFound(err) {
		t.Fatalf("decrypt after: %v", err)
	}
	// Records are destroyed by the next sweep (ListKeys sweeps).
	if keys, _, err := k.ListKeys(ctx, callerA, 0, ""); err != nil || len(keys) != 0 {
		t.Fatalf("ListKeys: %v %v", keys, err)
	}
	_ = st.View(ctx, func(tx store.Tx) error {
		for _, kind := range []string{kindKey, kindAlias} {
			if rs, _ := tx.List(store.Query{Account: acctA, Region: region, Kind: kind}); len(rs) != 0 {
				t.Errorf("%s records left: %d", kind, len(rs))
			}
		}
		return nil
	})
}

func TestStates(t *testing.T) {
	k, _, _ := newTestKeys(t)
	ctx := direct()
	key := mustKey(t, k, callerA)
	if err := k.SetEnabled(ctx, callerA, key.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.Encrypt(ctx, callerA, key.ID, []byte("x"), nil); !IsDisabled(err) {
		t.Fatalf("disabled: %v", err)
	}
	if _, err := k.Check(ctx, callerA, key.ARN, "kms:Encrypt"); !IsDisabled(err) {
		t.Fatalf("Check disabled: %v", err)
	}
	if _, err := k.ScheduleDeletion(ctx, callerA, key.ID, 7); err != nil {
		t.Fatal(err)
	}
	if err := k.SetEnabled(ctx, callerA, key.ID, true); !IsInvalidState(err) {
		t.Fatalf("enable pending: %v", err)
	}
	if info, err := k.CancelDeletion(ctx, callerA, key.ID); err != nil || info.State != StateDisabled {
		t.Fatalf("cancel: %+v %v", info, err)
	}
	if _, err := k.CancelDeletion(ctx, callerA, key.ID); !IsInvalidState(err) {
		t.Fatalf("cancel again: %v", err)
	}
}

func TestRefs(t *testing.T) {
	k, _, _ := newTestKeys(t)
	ctx := direct()
	key := mustKey(t, k, callerA)
	if err := k.CreateAlias(ctx, callerA, "alias/a", key.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		c    Caller
		ref  string
		want string // "" = ok, else the code
	}{
		{callerA, key.ID, ""},
		{callerA, key.ARN, ""},
		{callerA, "alias/a", ""},
		{callerA, aliasARN(region, acctA, "alias/a"), ""},
		{callerA, "alias/none", CodeNotFound},
		{callerA, "bogus", CodeNotFound},
		{callerA, "arn:aws:kms:eu-west-1:" + acctA + ":key/" + key.ID, CodeNotFound},
		{callerB, key.ID, CodeNotFound},      // bare IDs are B's own
		{callerB, "alias/a", CodeNotFound},   // so are alias names
		{callerB, key.ARN, CodeAccessDenied}, // found, not allowed
		{callerB, aliasARN(region, acctA, "alias/a"), CodeAccessDenied},
	}
	for _, tc := range cases {
		_, err := k.Describe(ctx, tc.c, tc.ref)
		if Code(err) != tc.want {
			t.Errorf("%s as %s: got %v, want %q", tc.ref, tc.c.Account, err, tc.want)
		}
	}
	for name, want := range map[string]string{"alias/aws/x": CodeInvalidAliasName, "noprefix": CodeInvalidAliasName, "alias/a": CodeAlreadyExists, "alias/b c": CodeValidation} {
		if err := k.CreateAlias(ctx, callerA, name, key.ID); Code(err) != want {
			t.Errorf("CreateAlias %s: %v", name, err)
		}
	}
}

func TestGrantsCrossAccount(t *testing.T) {
	k, _, _ := newTestKeys(t)
	ctx := direct()
	key := mustKey(t, k, callerA)
	blob, _, _ := k.Encrypt(ctx, callerA, key.ID, []byte("x"), map[string]string{"vol": "1"})
	if _, _, err := k.Decrypt(ctx, callerB, blob, map[string]string{"vol": "1"}); !IsAccessDenied(err) {
		t.Fatalf("before grant: %v", err)
	}
	id, token, err := k.CreateGrant(ctx, callerA, key.ID, GrantInput{Grantee: "arn:aws:iam::" + acctB + ":role/ebs", Operations: []string{"Decrypt", "CreateGrant"},
		EncryptionContextEquals: map[string]string{"vol": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.Decrypt(ctx, callerB, blob, map[string]string{"vol": "1"}); err != nil {
		t.Fatalf("with grant: %v", err)
	}
	// Constraints: Check knows no context, so only unconstrained ops count.
	if _, err := k.Check(ctx, callerB, key.ARN, "kms:Decrypt"); !IsAccessDenied(err) {
		t.Fatalf("Check constrained: %v", err)
	}
	if _, err := k.Check(ctx, callerB, key.ARN, "kms:CreateGrant"); err != nil {
		t.Fatalf("Check CreateGrant: %v", err)
	}
	// B, holding CreateGrant, may grant on A's key; A cannot be denied by B.
	if _, _, err := k.CreateGrant(ctx, callerB, key.ARN, GrantInput{Grantee: acctB, Operations: []string{"Encrypt"}}); err != nil {
		t.Fatalf("B CreateGrant: %v", err)
	}
	if _, _, err := k.Encrypt(ctx, callerB, key.ARN, []byte("y"), nil); err != nil {
		t.Fatalf("B encrypt via its grant: %v", err)
	}
	// B may not revoke (policy), nor retire (not retiring principal, no RetireGrant op).
	if err := k.RevokeGrant(ctx, callerB, key.ARN, id); !IsAccessDenied(err) {
		t.Fatalf("B revoke: %v", err)
	}
	if err := k.RetireGrant(ctx, callerB, token, "", ""); !IsAccessDenied(err) {
		t.Fatalf("B retire: %v", err)
	}
	if err := k.RetireGrant(ctx, callerA, "garbage", "", ""); Code(err) != CodeInvalidGrantToken {
		t.Fatalf("bad token: %v", err)
	}
	if err := k.RevokeGrant(ctx, callerA, key.ID, "nope"); Code(err) != CodeInvalidGrantID {
		t.Fatalf("bad id: %v", err)
	}
	if err := k.RetireGrant(ctx, callerA, token, "", ""); err != nil {
		t.Fatalf("A retire: %v", err)
	}
	if _, _, err := k.Decrypt(ctx, callerB, blob, map[string]string{"vol": "1"}); !IsAccessDenied(err) {
		t.Fatalf("after retire: %v", err)
	}
	// An explicit Deny in the policy beats a grant.
	deny := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + acctA + `"},"Action":"kms:*","Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":"` + acctB + `"},"Action":"kms:Encrypt","Resource":"*"}]}`
	if err := k.PutPolicy(ctx, callerA, key.ID, "default", deny, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.Encrypt(ctx, callerB, key.ARN, []byte("y"), nil); !IsAccessDenied(err) {
		t.Fatalf("deny over grant: %v", err)
	}
	gs, _, err := k.ListGrants(ctx, callerA, key.ID, "", "", 0, "")
	if err != nil || len(gs) != 1 || gs[0].IssuingAccount != "arn:aws:iam::"+acctB+":root" {
		t.Fatalf("ListGrants: %+v %v", gs, err)
	}
}

func TestPolicyLockout(t *testing.T) {
	k, _, _ := newTestKeys(t)
	ctx := direct()
	key := mustKey(t, k, callerA)
	onlyB := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + acctB + `"},"Action":"kms:*","Resource":"*"}]}`
	if err := k.PutPolicy(ctx, callerA, key.ID, "", onlyB, false); Code(err) != CodeMalformedPolicy {
		t.Fatalf("lockout: %v", err)
	}
	if _, err := k.CreateKey(ctx, callerA, CreateKeyInput{Policy: onlyB}); Code(err) != CodeMalformedPolicy {
		t.Fatalf("CreateKey lockout: %v", err)
	}
	if err := k.PutPolicy(ctx, callerA, key.ID, "", onlyB, true); err != nil {
		t.Fatalf("bypass: %v", err)
	}
	// A is locked out now; B manages nothing (PutKeyPolicy is not cross-account) but may use it.
	if _, err := k.GetPolicy(ctx, callerA, key.ID, ""); !IsAccessDenied(err) {
		t.Fatalf("A after lockout: %v", err)
	}
	if _, _, err := k.Encrypt(ctx, callerB, key.ARN, []byte("x"), nil); err != nil {
		t.Fatalf("B: %v", err)
	}
	if err := k.PutPolicy(ctx, callerA, key.ID, "other", DefaultPolicy(acctA), true); !IsNotFound(err) {
		t.Fatalf("policy name: %v", err)
	}
}

func TestManagedKey(t *testing.T) {
	k, _, _ := newTestKeys(t)
	bg := context.Background()
	arn, err := k.DefaultKey(bg, acctA, region, "aws/ebs")
	if err != nil {
		t.Fatal(err)
	}
	// The Go API is taken to come through EC2; direct API calls are not.
	if _, err := k.Check(bg, callerA, "alias/aws/ebs", "kms:Encrypt", "kms:Decrypt", "kms:CreateGrant"); err != nil {
		t.Fatalf("via ec2: %v", err)
	}
	if _, err := k.Check(WithViaService(bg, "s3"), callerA, arn, "kms:Decrypt"); !IsAccessDenied(err) {
		t.Fatalf("via s3: %v", err)
	}
	if _, _, err := k.Encrypt(direct(), callerA, arn, []byte("x"), nil); !IsAccessDenied(err) {
		t.Fatalf("direct: %v", err)
	}
	if _, err := k.Check(bg, callerB, arn, "kms:Decrypt"); !IsAccessDenied(err) {
		t.Fatalf("other account: %v", err)
	}
	if _, _, err := k.CreateGrant(direct(), callerA, arn, GrantInput{Grantee: acctB, Operations: []string{"Decrypt"}}); !IsAccessDenied(err) {
		t.Fatalf("share aws/ebs: %v", err)
	}
	for name, err := range map[string]error{
		"disable":  k.SetEnabled(direct(), callerA, arn, false),
		"policy":   k.PutPolicy(direct(), callerA, arn, "", DefaultPolicy(acctA), false),
		"rotation": k.SetRotation(direct(), callerA, arn, false, 0),
	} {
		if !IsAccessDenied(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := k.ScheduleDeletion(direct(), callerA, arn, 7); !IsAccessDenied(err) {
		t.Fatalf("delete: %v", err)
	}
	info, err := k.Describe(direct(), callerA, "alias/aws/ebs")
	if err != nil || info.ARN != arn || info.Manager != ManagerAWS {
		t.Fatalf("%+v %v", info, err)
	}
	if _, err := k.DefaultKey(bg, acctA, region, "aws/nothing"); !IsNotFound(err) {
		t.Fatalf("unknown managed alias: %v", err)
	}
}

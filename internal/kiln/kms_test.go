package kiln_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kiln-dev/kiln/internal/clock"
	corekms "github.com/kiln-dev/kiln/internal/kms"
)

// wantCode fails unless err is the API error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := apiCode(t, err); got != code {
		t.Fatalf("want %s, got %s (%v)", code, got, err)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestKMSKeysAndCrypto covers key lifecycle, aliases, crypto, policies,
// tags and rotation for one account through the Go SDK.
func TestKMSKeysAndCrypto(t *testing.T) {
	clk := clock.NewFake(time.Now())
	e := startAt(t, clk)
	ctx := context.Background()
	region := "eu-central-1"
	a := kms.NewFromConfig(e.cfg(region))

	ck := must[*kms.CreateKeyOutput](t)(a.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("test key"),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("img")}}}))
	md := ck.KeyMetadata
	if md.KeyState != types.KeyStateEnabled || md.KeyManager != types.KeyManagerTypeCustomer || *md.Arn != "arn:aws:kms:"+region+":"+testAccount+":key/"+*md.KeyId || md.KeySpec != types.KeySpecSymmetricDefault || *md.MultiRegion {
		t.Fatalf("metadata: %+v", md)
	}
	keyID, keyARN := *md.KeyId, *md.Arn

	_, err := a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = a.CreateKey(ctx, &kms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify})
	wantCode(t, err, "ValidationException")
	_, err = a.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String("{not json")})
	wantCode(t, err, "MalformedPolicyDocumentException")

	// Aliases.
	must[*kms.CreateAliasOutput](t)(a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &keyID}))
	_, err = a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &keyID})
	wantCode(t, err, "AlreadyExistsException")
	_, err = a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: &keyID})
	wantCode(t, err, "InvalidAliasNameException")
	for _, ref := range []string{keyID, keyARN, "alias/app", "arn:aws:kms:" + region + ":" + testAccount + ":alias/app"} {
		d := must[*kms.DescribeKeyOutput](t)(a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)}))
		if *d.KeyMetadata.KeyId != keyID {
			t.Fatalf("DescribeKey %s: %s", ref, *d.KeyMetadata.KeyId)
		}
	}
	_, err = a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/nope")})
	wantCode(t, err, "NotFoundException")
	_, err = a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:" + testAccount + ":key/" + keyID)})
	wantCode(t, err, "NotFoundException")

	// Encrypt / Decrypt / GenerateDataKey / ReEncrypt.
	ec := map[string]string{"purpose": "test", "volume": "vol-1"}
	enc := must[*kms.EncryptOutput](t)(a.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/app"), Plaintext: []byte("secret"), EncryptionContext: ec}))
	if *enc.KeyId != keyARN {
		t.Fatalf("Encrypt KeyId %s", *enc.KeyId)
	}
	dec := must[*kms.DecryptOutput](t)(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}))
	if string(dec.Plaintext) != "secret" || *dec.KeyId != keyARN {
		t.Fatalf("Decrypt: %q %s", dec.Plaintext, *dec.KeyId)
	}
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "other"}})
	wantCode(t, err, "InvalidCiphertextException")
	bad := bytes.Clone(enc.CiphertextBlob)
	bad[len(bad)-1] ^= 1
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: ec})
	wantCode(t, err, "InvalidCiphertextException")

	k2 := *must[*kms.CreateKeyOutput](t)(a.CreateKey(ctx, &kms.CreateKeyInput{})).KeyMetadata.KeyId
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: &k2})
	wantCode(t, err, "IncorrectKeyException")
	re := must[*kms.ReEncryptOutput](t)(a.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: &k2}))
	dec = must[*kms.DecryptOutput](t)(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob}))
	if string(dec.Plaintext) != "secret" || *re.SourceKeyId != keyARN {
		t.Fatalf("ReEncrypt: %q %s", dec.Plaintext, *re.SourceKeyId)
	}

	dk := must[*kms.GenerateDataKeyOutput](t)(a.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &keyID, KeySpec: types.DataKeySpecAes256}))
	if len(dk.Plaintext) != 32 {
		t.Fatalf("data key %d bytes", len(dk.Plaintext))
	}
	dec = must[*kms.DecryptOutput](t)(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob}))
	if !bytes.Equal(dec.Plaintext, dk.Plaintext) {
		t.Fatal("data key does not decrypt to itself")
	}
	wp := must[*kms.GenerateDataKeyWithoutPlaintextOutput](t)(a.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: &keyID, NumberOfBytes: aws.Int32(16)}))
	if dec = must[*kms.DecryptOutput](t)(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob})); len(dec.Plaintext) != 16 {
		t.Fatalf("without plaintext: %d", len(dec.Plaintext))
	}
	_, err = a.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &keyID})
	wantCode(t, err, "ValidationException")
	if r := must[*kms.GenerateRandomOutput](t)(a.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(64)})); len(r.Plaintext) != 64 {
		t.Fatal("GenerateRandom")
	}

	// Lists.
	for i := 0; i < 3; i++ {
		must[*kms.CreateKeyOutput](t)(a.CreateKey(ctx, &kms.CreateKeyInput{}))
	}
	var all []string
	in := &kms.ListKeysInput{Limit: aws.Int32(2)}
	for {
		out := must[*kms.ListKeysOutput](t)(a.ListKeys(ctx, in))
		for _, k := range out.Keys {
			all = append(all, *k.KeyId)
		}
		if !out.Truncated {
			break
		}
		in.Marker = out.NextMarker
	}
	if len(all) != 5 {
		t.Fatalf("ListKeys: %d keys", len(all))
	}
	must[*kms.UpdateAliasOutput](t)(a.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &k2}))
	la := must[*kms.ListAliasesOutput](t)(a.ListAliases(ctx, &kms.ListAliasesInput{KeyId: &k2}))
	if len(la.Aliases) != 1 || *la.Aliases[0].AliasName != "alias/app" || *la.Aliases[0].TargetKeyId != k2 {
		t.Fatalf("ListAliases: %+v", la.Aliases)
	}
	must[*kms.DeleteAliasOutput](t)(a.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")}))
	_, err = a.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	wantCode(t, err, "NotFoundException")

	// aws/ebs appears once created (here: by DescribeKey of its alias, as AWS does).
	ebs := must[*kms.DescribeKeyOutput](t)(a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})).KeyMetadata
	if ebs.KeyManager != types.KeyManagerTypeAws || *ebs.Description != "Default key that protects my EBS volumes when no other key is defined" {
		t.Fatalf("aws/ebs: %+v", ebs)
	}
	la = must[*kms.ListAliasesOutput](t)(a.ListAliases(ctx, &kms.ListAliasesInput{}))
	if len(la.Aliases) != 1 || *la.Aliases[0].AliasName != "alias/aws/ebs" {
		t.Fatalf("ListAliases: %+v", la.Aliases)
	}
	_, err = a.DisableKey(ctx, &kms.DisableKeyInput{KeyId: ebs.KeyId})
	wantCode(t, err, "AccessDeniedException")
	_, err = a.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: ebs.KeyId})
	wantCode(t, err, "AccessDeniedException")
	_, err = a.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/ebs")})
	wantCode(t, err, "InvalidAliasNameException")
	_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/aws/ebs"), Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException") // only through EC2

	// Policies.
	gp := must[*kms.GetKeyPolicyOutput](t)(a.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &keyID, PolicyName: aws.String("default")}))
	if *gp.Policy != corekms.DefaultPolicy(testAccount) {
		t.Fatalf("policy: %s", *gp.Policy)
	}
	lp := must[*kms.ListKeyPoliciesOutput](t)(a.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: &keyID}))
	if len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "default" {
		t.Fatalf("ListKeyPolicies: %v", lp.PolicyNames)
	}
	lockout := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Action":"kms:Encrypt","Resource":"*"}]}`
	_, err = a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &keyID, PolicyName: aws.String("default"), Policy: &lockout})
	wantCode(t, err, "MalformedPolicyDocumentException")
	_, err = a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &keyID, PolicyName: aws.String("default"), Policy: aws.String(`{"Statement":[{"Effect":"Maybe"}]}`)})
	wantCode(t, err, "MalformedPolicyDocumentException")

	// Tags and rotation.
	must[*kms.TagResourceOutput](t)(a.TagResource(ctx, &kms.TagResourceInput{KeyId: &keyID, Tags: []types.Tag{{TagKey: aws.String("env"), TagValue: aws.String("dev")}}}))
	must[*kms.UntagResourceOutput](t)(a.UntagResource(ctx, &kms.UntagResourceInput{KeyId: &keyID, TagKeys: []string{"team"}}))
	tags := must[*kms.ListResourceTagsOutput](t)(a.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &keyID}))
	if len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "env" {
		t.Fatalf("tags: %+v", tags.Tags)
	}
	_, err = a.TagResource(ctx, &kms.TagResourceInput{KeyId: &keyID, Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("y")}}})
	wantCode(t, err, "TagException")
	must[*kms.EnableKeyRotationOutput](t)(a.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &keyID}))
	if rs := must[*kms.GetKeyRotationStatusOutput](t)(a.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &keyID})); !rs.KeyRotationEnabled || *rs.RotationPeriodInDays != 365 {
		t.Fatalf("rotation: %+v", rs)
	}
	must[*kms.DisableKeyRotationOutput](t)(a.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: &keyID}))

	// Disabled key, then deletion scheduled, cancelled, and completed.
	must[*kms.DisableKeyOutput](t)(a.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &keyID}))
	_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	wantCode(t, err, "DisabledException")
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "DisabledException")
	must[*kms.EnableKeyOutput](t)(a.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &keyID}))

	_, err = a.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &keyID, PendingWindowInDays: aws.Int32(3)})
	wantCode(t, err, "ValidationException")
	sd := must[*kms.ScheduleKeyDeletionOutput](t)(a.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &keyID, PendingWindowInDays: aws.Int32(7)}))
	if sd.KeyState != types.KeyStatePendingDeletion || sd.DeletionDate.Sub(clk.Now().Add(7*24*time.Hour)).Abs() > time.Second || *sd.PendingWindowInDays != 7 {
		t.Fatalf("ScheduleKeyDeletion: %+v", sd)
	}
	_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = a.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &keyID})
	wantCode(t, err, "KMSInvalidStateException")
	must[*kms.CancelKeyDeletionOutput](t)(a.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &keyID}))
	if d := must[*kms.DescribeKeyOutput](t)(a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyID})); d.KeyMetadata.KeyState != types.KeyStateDisabled {
		t.Fatalf("after cancel: %s", d.KeyMetadata.KeyState)
	}
	_, err = a.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &keyID})
	wantCode(t, err, "KMSInvalidStateException")
	must[*kms.ScheduleKeyDeletionOutput](t)(a.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &keyID}))
	// Past the deletion date (the fake clock would fail SigV4's skew check,
	// so the rest goes through the Go API).
	clk.Advance(30*24*time.Hour + time.Second)
	c := corekms.Caller{Account: testAccount, Region: region}
	if _, err := e.k.KMS.Describe(ctx, c, keyID); !corekms.IsNotFound(err) {
		t.Fatalf("deleted key: %v", err)
	}
	if _, _, err := e.k.KMS.Decrypt(ctx, c, enc.CiphertextBlob, ec); !corekms.IsNotFound(err) {
		t.Fatalf("deleted key decrypt: %v", err)
	}
	if lk, _, err := e.k.KMS.ListKeys(ctx, c, 100, ""); err != nil || len(lk) != 5 { // 4 customer keys left + aws/ebs
		t.Fatalf("ListKeys after deletion: %d %v", len(lk), err)
	}
}

// TestKMSCrossAccount: account B uses A's key only after a key policy or a
// grant allows it, by ARN, and loses access when the grant is revoked.
func TestKMSCrossAccount(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	region := "us-west-2"
	a := kms.NewFromConfig(e.cfg(region))
	b := kms.NewFromConfig(e.cfgAs(region, otherKey, otherSecret))

	md := must[*kms.CreateKeyOutput](t)(a.CreateKey(ctx, &kms.CreateKeyInput{})).KeyMetadata
	keyID, keyARN := *md.KeyId, *md.Arn
	must[*kms.CreateAliasOutput](t)(a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/shared"), TargetKeyId: &keyID}))
	blob := must[*kms.EncryptOutput](t)(a.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("for B")})).CiphertextBlob

	// Before anything: refused.
	_, err := b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	wantCode(t, err, "AccessDeniedException")
	_, err = b.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyARN})
	wantCode(t, err, "AccessDeniedException")
	_, err = b.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyID}) // a bare ID names B's own keys
	wantCode(t, err, "NotFoundException")

	// A grant lets B decrypt, by ARN.
	g := must[*kms.CreateGrantOutput](t)(a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String("arn:aws:iam::" + otherAcct + ":root"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt, types.GrantOperationDescribeKey}, Name: aws.String("b-decrypt")}))
	again := must[*kms.CreateGrantOutput](t)(a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String("arn:aws:iam::" + otherAcct + ":root"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt, types.GrantOperationDescribeKey}, Name: aws.String("b-decrypt")}))
	if *again.GrantId != *g.GrantId {
		t.Fatal("CreateGrant with the same name and parameters made a second grant")
	}
	dec := must[*kms.DecryptOutput](t)(b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, GrantTokens: []string{*g.GrantToken}}))
	if string(dec.Plaintext) != "for B" {
		t.Fatalf("B decrypt: %q", dec.Plaintext)
	}
	must[*kms.DescribeKeyOutput](t)(b.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyARN}))
	_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyARN, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException") // the grant allows Decrypt only
	_, err = b.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/shared")})
	wantCode(t, err, "NotFoundException") // aliases resolve in the caller's own account
	lg := must[*kms.ListGrantsOutput](t)(a.ListGrants(ctx, &kms.ListGrantsInput{KeyId: &keyID}))
	if len(lg.Grants) != 1 || *lg.Grants[0].GrantId != *g.GrantId || *lg.Grants[0].IssuingAccount != "arn:aws:iam::"+testAccount+":root" {
		t.Fatalf("ListGrants: %+v", lg.Grants)
	}
	must[*kms.RevokeGrantOutput](t)(a.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: &keyID, GrantId: g.GrantId}))
	_, err = b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	wantCode(t, err, "AccessDeniedException")
	_, err = a.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: &keyID, GrantId: g.GrantId})
	wantCode(t, err, "NotFoundException")

	// A grant with a retiring principal, retired by B with its token.
	g2 := must[*kms.CreateGrantOutput](t)(a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String(otherAcct),
		RetiringPrincipal: aws.String("arn:aws:iam::" + otherAcct + ":root"), Operations: []types.GrantOperation{types.GrantOperationEncrypt},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"app": "x"}}}))
	_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyARN, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException") // context constraint not met
	must[*kms.EncryptOutput](t)(b.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyARN, Plaintext: []byte("x"), EncryptionContext: map[string]string{"app": "x", "more": "y"}}))
	must[*kms.RetireGrantOutput](t)(b.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: g2.GrantToken}))
	_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyARN, Plaintext: []byte("x"), EncryptionContext: map[string]string{"app": "x"}})
	wantCode(t, err, "AccessDeniedException")
	_, err = a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String("nobody"), Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	wantCode(t, err, "ValidationException")

	// A key policy shares the key with B, with an explicit Deny for Encrypt.
	pol := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Sid":"owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"b","Effect":"Allow","Principal":{"AWS":["%s"]},"Action":["kms:Decrypt","kms:Encrypt","kms:Describe*","kms:CreateGrant"],"Resource":"*"},
 {"Sid":"no-encrypt","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"%s"}}}]}`, testAccount, otherAcct, otherAcct)
	must[*kms.PutKeyPolicyOutput](t)(a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &keyID, PolicyName: aws.String("default"), Policy: &pol}))
	dec = must[*kms.DecryptOutput](t)(b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob}))
	if string(dec.Plaintext) != "for B" {
		t.Fatal("B decrypt after PutKeyPolicy")
	}
	_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyARN, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	must[*kms.EncryptOutput](t)(a.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}))
	// B cannot manage A's key even by ARN.
	_, err = b.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &keyARN})
	wantCode(t, err, "NotFoundException")
	// Disabled key: B sees DisabledException.
	must[*kms.DisableKeyOutput](t)(a.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &keyID}))
	_, err = b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	wantCode(t, err, "DisabledException")

	// B's own aws/ebs key cannot be used by A.
	ebsARN, err := e.k.KMS.DefaultKey(ctx, otherAcct, region, "aws/ebs")
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &ebsARN})
	wantCode(t, err, "AccessDeniedException")
}

// TestKMSGoAPI drives the Go API EC2 uses for EBS encryption.
func TestKMSGoAPI(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	keys := e.k.KMS
	c := corekms.Caller{Account: testAccount, Region: "eu-west-1"}
	arn, err := keys.DefaultKey(ctx, testAccount, "eu-west-1", "aws/ebs")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := keys.DefaultKey(ctx, testAccount, "eu-west-1", "alias/aws/ebs"); again != arn {
		t.Fatalf("DefaultKey not stable: %s %s", arn, again)
	}
	ec := map[string]string{"aws:ebs:id": "vol-0123"}
	blob, karn, err := keys.Encrypt(ctx, c, "alias/aws/ebs", make([]byte, 32), ec)
	if err != nil || karn != arn {
		t.Fatal(karn, err)
	}
	if _, _, err := keys.Decrypt(ctx, c, blob, ec); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Check(ctx, c, arn, "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext"); err != nil {
		t.Fatal(err)
	}
	other := corekms.Caller{Account: otherAcct, Region: "eu-west-1"}
	if _, err := keys.Check(ctx, other, arn, "kms:Decrypt"); !corekms.IsAccessDenied(err) {
		t.Fatalf("aws/ebs of another account: %v", err)
	}
	if _, err := keys.Check(ctx, corekms.Caller{Account: testAccount, Region: "us-east-1"}, arn, "kms:Decrypt"); !corekms.IsNotFound(err) {
		t.Fatalf("other region: %v", err)
	}
	info, err := keys.Describe(ctx, c, "alias/aws/ebs")
	if err != nil || info.Manager != corekms.ManagerAWS || !info.Enabled || info.Account != testAccount {
		t.Fatalf("Describe: %+v %v", info, err)
	}
}

// TestKMSBoto3 drives KMS with boto3.
func TestKMSBoto3(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("precondition: python3 with boto3 is not installed (scripts/setup.sh installs python3-boto3)")
	}
	e := start(t)
	out, err := exec.Command("python3", "testdata/kms_boto3.py", e.endpoint, testKey, testSecret, testAccount).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

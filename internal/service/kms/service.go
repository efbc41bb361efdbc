// Package kms implements kiln's KMS API (awsJson 1.1): one file per action,
// each a thin handler over the core in internal/kms, which owns keys,
// aliases, grants, key policies and the cryptography.
package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/kms"
	"github.com/kiln-dev/kiln/internal/reqctx"
)

// Service is the KMS API.
type Service struct{ keys *kms.Keys }

var _ kmsapi.Handler = (*Service)(nil)

// New returns the KMS API over the core.
func New(keys *kms.Keys) *Service { return &Service{keys: keys} }

// callerOf returns the request's caller and a context marking the call as a
// direct KMS API call (no kms:ViaService).
func callerOf(ctx context.Context) (context.Context, kms.Caller) {
	c := reqctx.Must(ctx)
	return kms.Direct(ctx), kms.Caller{Account: c.AccountID, Region: c.Region}
}

func limitOf(l *int32, def int) int {
	if l == nil {
		return def
	}
	return int(*l)
}

// page fills the Truncated/NextMarker pair of list outputs.
func page(next string) (string, *bool) {
	t := next != ""
	return next, &t
}

func metadata(i kms.KeyInfo) *kmsapi.KeyMetadata {
	created := i.Created
	enabled := i.Enabled
	multi := false
	m := &kmsapi.KeyMetadata{
		AWSAccountId: i.Account, KeyId: i.ID, Arn: i.ARN, CreationDate: &created, Enabled: &enabled,
		Description: i.Description, KeyUsage: "ENCRYPT_DECRYPT", KeyState: i.State, Origin: "AWS_KMS",
		KeyManager: i.Manager, CustomerMasterKeySpec: "SYMMETRIC_DEFAULT", KeySpec: "SYMMETRIC_DEFAULT",
		EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"}, MultiRegion: &multi,
	}
	if i.DeletionDate != nil {
		d := *i.DeletionDate
		m.DeletionDate = &d
		if i.PendingWindowDays != 0 {
			w := int32(i.PendingWindowDays)
			m.PendingDeletionWindowInDays = &w
		}
	}
	return m
}

func tagsIn(ts []kmsapi.Tag) []kms.Tag {
	out := make([]kms.Tag, len(ts))
	for i, t := range ts {
		out[i] = kms.Tag{Key: t.TagKey, Value: t.TagValue}
	}
	return out
}

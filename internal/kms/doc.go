// Package kms is kiln's key management core: symmetric KMS keys
// (AES-256-GCM), aliases, grants, key policies and the AWS-managed keys
// kiln's services create on first use (aws/ebs).
//
// The package is pure logic over the state store and kiln's root key: it
// mints IDs, keeps its records in internal/store, seals key material with
// internal/secretbox and takes time from an injected clock, so deletion
// windows are tested by moving a fake clock. It knows nothing of HTTP: the
// KMS API (internal/service/kms) is a thin layer of handlers over it, and
// other kiln services (EC2's EBS encryption) call the Go API directly:
// Encrypt, Decrypt, Describe, Check and DefaultKey.
//
// Callers are accounts (kiln has no IAM users): a request from an account
// acts as that account's root user. Access to a key is decided by its key
// policy (evaluated by policy.go, see docs/kms.md for the supported subset)
// and its grants; an explicit Deny in the policy wins over any allow.
//
// Errors are *awserr.Error values carrying the KMS error codes
// (NotFoundException, DisabledException, KMSInvalidStateException,
// AccessDeniedException, InvalidCiphertextException, ...); Code and the
// Is* helpers let callers tell them apart.
package kms

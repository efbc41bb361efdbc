package kms

import (
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// The KMS error codes kiln answers.
const (
	CodeNotFound            = "NotFoundException"
	CodeDisabled            = "DisabledException"
	CodeInvalidState        = "KMSInvalidStateException"
	CodeAccessDenied        = "AccessDeniedException"
	CodeInvalidCiphertext   = "InvalidCiphertextException"
	CodeIncorrectKey        = "IncorrectKeyException"
	CodeAlreadyExists       = "AlreadyExistsException"
	CodeInvalidAliasName    = "InvalidAliasNameException"
	CodeValidation          = "ValidationException"
	CodeInvalidGrantID      = "InvalidGrantIdException"
	CodeInvalidGrantToken   = "InvalidGrantTokenException"
	CodeMalformedPolicy     = "MalformedPolicyDocumentException"
	CodeUnsupported         = "UnsupportedOperationException"
	CodeTag                 = "TagException"
	CodeInvalidMarker       = "InvalidMarkerException"
	CodeLimitExceeded       = "LimitExceededException"
	CodeInvalidKeyUsage     = "InvalidKeyUsageException"
	CodeInvalidArn          = "InvalidArnException"
	CodeCustomKeyStoreNotFd = "CustomKeyStoreNotFoundException"
)

// Code returns the KMS error code of err ("" if err is not an AWS error).
func Code(err error) string {
	var e *awserr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports whether err is NotFoundException (no such key, alias
// or grant visible to the caller, or a key deleted after its window).
func IsNotFound(err error) bool { return Code(err) == CodeNotFound }

// IsDisabled reports whether err is DisabledException (the key is disabled).
func IsDisabled(err error) bool { return Code(err) == CodeDisabled }

// IsInvalidState reports whether err is KMSInvalidStateException (e.g. the
// key is pending deletion).
func IsInvalidState(err error) bool { return Code(err) == CodeInvalidState }

// IsAccessDenied reports whether err is AccessDeniedException.
func IsAccessDenied(err error) bool { return Code(err) == CodeAccessDenied }

// IsInvalidCiphertext reports whether err is InvalidCiphertextException
// (tampered blob, wrong encryption context, not a kiln ciphertext).
func IsInvalidCiphertext(err error) bool { return Code(err) == CodeInvalidCiphertext }

func errNotFound(format string, args ...any) error {
	return awserr.New(awserr.NotFound, CodeNotFound, format, args...)
}

func errKeyNotFound(arn string) error { return errNotFound("Key '%s' does not exist", arn) }

func errAliasNotFound(arn string) error { return errNotFound("Alias '%s' is not found.", arn) }

func errDisabled(arn string) error {
	return awserr.New(awserr.Conflict, CodeDisabled, "%s is disabled.", arn)
}

func errPendingDeletion(arn string) error {
	return awserr.New(awserr.Conflict, CodeInvalidState, "%s is pending deletion.", arn)
}

func errInvalidState(format string, args ...any) error {
	return awserr.New(awserr.Conflict, CodeInvalidState, format, args...)
}

func errAccessDenied(c Caller, action, arn string) error {
	return awserr.New(awserr.Forbidden, CodeAccessDenied,
		"User: arn:aws:iam::%s:root is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action",
		c.Account, action, arn, action)
}

func errInvalidCiphertext() error {
	return awserr.New(awserr.InvalidArgument, CodeInvalidCiphertext, "")
}

func errValidation(format string, args ...any) error {
	return awserr.New(awserr.InvalidArgument, CodeValidation, format, args...)
}

func errMalformed(format string, args ...any) error {
	return awserr.New(awserr.InvalidArgument, CodeMalformedPolicy, format, args...)
}

func errUnsupported(format string, args ...any) error {
	return awserr.New(awserr.InvalidArgument, CodeUnsupported, format, args...)
}

func errInvalidAlias(format string, args ...any) error {
	return awserr.New(awserr.InvalidArgument, CodeInvalidAliasName, format, args...)
}

func errAlreadyExists(format string, args ...any) error {
	return awserr.New(awserr.AlreadyExists, CodeAlreadyExists, format, args...)
}

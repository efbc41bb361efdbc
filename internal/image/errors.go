package image

import "errors"

// ErrNotFound: no such image visible to the caller.
var ErrNotFound = errors.New("image: not found")

// ErrAlreadyExists: the owner already has an image of that name in the
// region (InvalidAMIName.Duplicate on the wire).
var ErrAlreadyExists = errors.New("image: already exists")

// ErrInvalid: a malformed image or build input.
var ErrInvalid = errors.New("image: invalid")

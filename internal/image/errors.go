package image

import "errors"

// ErrNotFound: no such image visible to the caller.
var ErrNotFound = errors.New("image: not found")

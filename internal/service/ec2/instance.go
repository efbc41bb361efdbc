package ec2

import "github.com/kiln-dev/kiln/internal/awserr"

var errNotImplemented = awserr.New(awserr.UnknownOperation, "InvalidAction", "not yet implemented")

// Package awsgen holds kiln's code generated from the AWS service models:
// one sub-package per service (ec2api, stsapi, …) with typed inputs and
// outputs, the shape and operation tables the codecs walk, and the typed
// Handler interface of the operations kiln implements.
//
// Regenerate with `go generate ./internal/awsgen` after editing
// implemented.txt. The models are read from ../shared/aws-models, or from
// $KILN_AWS_MODELS (botocore's data directory works too).
package awsgen

//go:generate go run ./gen -config implemented.txt -out . -scope ../../docs/SCOPE.md

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kiln-dev/kiln/internal/toe/action"
	"github.com/kiln-dev/kiln/internal/toe/document"
)

// loader fetches documents from files, s3:// URIs and (later) component
// ARNs.
type loader struct {
	s3    func(ctx context.Context) (action.S3API, error)
	owner string
	os    string
}

// IsComponentARN reports whether ref looks like an Image Builder
// component build-version ARN.
func IsComponentARN(ref string) bool {
	return strings.HasPrefix(ref, "arn:") && strings.Contains(ref, ":imagebuilder:") && strings.Contains(ref, ":component/")
}

// read returns the raw bytes of a reference and its identity key.
func (l *loader) read(ctx context.Context, ref, owner string) ([]byte, string, error) {
	if owner == "" {
		owner = l.owner
	}
	switch {
	case strings.HasPrefix(ref, "s3://"):
		bucket, key, err := action.ParseS3URI(ref)
		if err != nil {
			return nil, "", err
		}
		cl, err := l.s3(ctx)
		if err != nil {
			return nil, "", err
		}
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if owner != "" {
			in.ExpectedBucketOwner = aws.String(owner)
		}
		out, err := cl.GetObject(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("fetching %s: %w", ref, err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", ref, err)
		}
		return b, ref, nil
	case IsComponentARN(ref):
		return nil, "", fmt.Errorf("%s: component ARNs are fetched from kiln's Image Builder service, which this build does not have yet; pass the document as a file or s3:// URI", ref)
	}
	b, err := os.ReadFile(ref)
	if err != nil {
		return nil, "", fmt.Errorf("reading document: %w", err)
	}
	abs, err := filepath.Abs(ref)
	if err != nil {
		abs = ref
	}
	return b, abs, nil
}

// load reads and validates a document.
func (l *loader) load(ctx context.Context, ref, owner string) (*document.Document, string, error) {
	b, key, err := l.read(ctx, ref, owner)
	if err != nil {
		return nil, "", err
	}
	d, err := document.Parse(ref, b, document.Options{OS: l.os})
	if err != nil {
		return nil, "", err
	}
	return d, key, nil
}

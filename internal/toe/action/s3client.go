package action

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Endpoint returns the S3 endpoint override: the explicit value, else
// AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL ("" = AWS).
func S3Endpoint(explicit string) string {
	for _, v := range []string{explicit, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL")} {
		if v != "" {
			return v
		}
	}
	return ""
}

// NewS3Client builds an S3 client from the default AWS configuration
// (environment, shared profile, instance role). With an endpoint override
// (any S3-compatible service, including kiln's own) path-style addressing
// is used and checksums are only sent when required, which every
// S3-compatible server accepts.
func NewS3Client(ctx context.Context, endpoint, region string) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	endpoint = S3Endpoint(endpoint)
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	}), nil
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// ssmResolver implements {{ aws:ssm:resolve(name) }} with SSM
// GetParameter (decrypted). The endpoint follows the AWS SDK
// configuration (AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL).
func ssmResolver(opts *Options) exec.FuncResolver {
	return func(name, arg string) (string, error) {
		if name != "aws:ssm:resolve" {
			return "", fmt.Errorf("unknown function %s", name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var lo []func(*config.LoadOptions) error
		if opts.Region != "" {
			lo = append(lo, config.WithRegion(opts.Region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, lo...)
		if err != nil {
			return "", fmt.Errorf("loading AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(arg), WithDecryption: aws.Bool(true)})
		if err != nil {
			return "", fmt.Errorf("aws:ssm:resolve(%s): %w", arg, err)
		}
		return aws.ToString(out.Parameter.Value), nil
	}
}

func loadChains(path string) []exec.ChainRecord {
	var out []exec.ChainRecord
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

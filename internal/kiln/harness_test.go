package kiln_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kiln-dev/kiln/internal/account"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/kiln"
)

// Fixed credentials, as CI suites use them.
const (
	testAccount = "123456789012"
	testKey     = "FOOBARKEY"
	testSecret  = "FOOBARSECRET"
	otherAcct   = "210987654321"
	otherKey    = "OTHERKEY"
	otherSecret = "OTHERSECRET"
)

// env is a running in-process kiln with two accounts.
type env struct {
	t        *testing.T
	k        *kiln.Kiln
	endpoint string
	dir      string
}

func start(t *testing.T) *env { return startAt(t, nil) }

// startAt starts kiln with its own clock (nil: the real one).
func startAt(t *testing.T, clk clock.Clock) *env {
	t.Helper()
	return startWith(t, kiln.Options{Clock: clk})
}

// startWith starts kiln with opts in a fresh data directory (opts.DataDir
// and opts.Log are set here).
func startWith(t *testing.T, opts kiln.Options) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("KILN_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts.DataDir, opts.Log = dir, log
	k, err := kiln.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, a := range []struct{ name, id, key, secret string }{
		{"test", testAccount, testKey, testSecret},
		{"other", otherAcct, otherKey, otherSecret},
	} {
		_, key, err := k.Accounts.Create(ctx, a.name, account.CreateOptions{AccountID: a.id, AccessKeyID: a.key, SecretAccessKey: a.secret})
		if err != nil {
			t.Fatal(err)
		}
		if err := account.AppendProfile(kiln.CredentialsPath(dir), a.name, key); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(func() {
		srv.Close()
		k.Close()
	})
	return &env{t: t, k: k, endpoint: srv.URL, dir: dir}
}

// cfg is an aws-sdk-go-v2 config for the test account in region.
func (e *env) cfg(region string) aws.Config {
	return e.cfgAs(region, testKey, testSecret)
}

func (e *env) cfgAs(region, key, secret string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(e.endpoint),
	}
}

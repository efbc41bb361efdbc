package kiln_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kiln-dev/kiln/internal/clock"
)

// call makes one request per protocol family with the given config.
var calls = map[string]func(aws.Config) error{
	"ec2": func(c aws.Config) error {
		_, err := ec2.NewFromConfig(c).DescribeKeyPairs(context.Background(), &ec2.DescribeKeyPairsInput{})
		return err
	},
	"query": func(c aws.Config) error {
		_, err := sts.NewFromConfig(c).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		return err
	},
	"cbor": func(c aws.Config) error {
		_, err := cloudwatch.NewFromConfig(c).ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{})
		return err
	},
	"restjson": func(c aws.Config) error {
		_, err := scheduler.NewFromConfig(c).ListScheduleGroups(context.Background(), &scheduler.ListScheduleGroupsInput{})
		return err
	},
}

func TestAuthFailuresPerProtocol(t *testing.T) {
	e := start(t)
	stale := startAt(t, clock.NewFake(time.Now().Add(10*time.Minute)))
	want := map[string][3]string{ // wrong secret, unknown key, stale date
		"ec2":      {"AuthFailure", "AuthFailure", "RequestExpired"},
		"query":    {"SignatureDoesNotMatch", "InvalidClientTokenId", "SignatureDoesNotMatch"},
		"cbor":     {"InvalidSignatureException", "UnrecognizedClientException", "InvalidSignatureException"},
		"restjson": {"InvalidSignatureException", "UnrecognizedClientException", "InvalidSignatureException"},
	}
	for proto, call := range calls {
		t.Run(proto, func(t *testing.T) {
			if err := call(e.cfg("us-east-1")); err != nil {
				t.Fatalf("good credentials refused: %v", err)
			}
			cases := []aws.Config{e.cfgAs("us-east-1", testKey, "wrong"), e.cfgAs("us-east-1", "AKIANOSUCHKEY", "x"), stale.cfg("us-east-1")}
			for i, cfg := range cases {
				cfg.RetryMaxAttempts = 1 // see the first answer, not the SDK's clock-skew retry
				if got := apiCode(t, call(cfg)); got != want[proto][i] {
					t.Errorf("case %d: code %s, want %s", i, got, want[proto][i])
				}
			}
		})
	}
}

// signedPost sends a form body to kiln signed for service in us-east-1.
func signedPost(t *testing.T, e *env, service, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.endpoint+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	creds, _ := credentials.NewStaticCredentialsProvider(testKey, testSecret, "").Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUnknownAndUnimplementedActions(t *testing.T) {
	e := start(t)
	status, body := signedPost(t, e, "ec2", "Action=FrobnicateInstances&Version=2016-11-15")
	if status != 400 || !strings.Contains(body, "<Response><Errors><Error><Code>InvalidAction</Code>") || !strings.Contains(body, "<RequestID>") {
		t.Fatalf("unknown EC2 action: %d %s", status, body)
	}
	status, body = signedPost(t, e, "ec2", "Action=AllocateAddress&Version=2016-11-15")
	if status != 400 || !strings.Contains(body, "AllocateAddress is not implemented") {
		t.Fatalf("unimplemented EC2 action: %d %s", status, body)
	}
	status, body = signedPost(t, e, "sts", "Action=AssumeRole&Version=2011-06-15")
	if status != 400 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "<Type>Sender</Type>") {
		t.Fatalf("unimplemented STS action: %d %s", status, body)
	}
	status, body = signedPost(t, e, "ec2", "Action=DescribeKeyPairs&Version=2016-11-15")
	if status != 200 || !strings.Contains(body, "<DescribeKeyPairsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>") {
		t.Fatalf("DescribeKeyPairs: %d %s", status, body)
	}
	status, body = signedPost(t, e, "ec2", "Action=DeleteKeyPair&Version=2016-11-15")
	if status != 400 || !strings.Contains(body, "MissingParameter") {
		t.Fatalf("missing parameter: %d %s", status, body)
	}
}

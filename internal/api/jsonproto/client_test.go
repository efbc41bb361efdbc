package jsonproto

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kmssdk "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kiln-dev/kiln/internal/api/codectest"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudwatchapi"
)

type fakeCW struct {
	first, last *cloudwatchapi.ListMetricsInput
}

func (f *fakeCW) ListMetrics(_ context.Context, in *cloudwatchapi.ListMetricsInput) (*cloudwatchapi.ListMetricsOutput, error) {
	if f.first == nil {
		f.first = in
	}
	f.last = in
	if in.Namespace == "Bad/Namespace" {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValueException", "The namespace Bad/Namespace is not valid.")
	}
	return &cloudwatchapi.ListMetricsOutput{
		Metrics: []cloudwatchapi.Metric{
			{Namespace: "AWS/EC2", MetricName: "CPUUtilization", Dimensions: []cloudwatchapi.Dimension{{Name: "InstanceId", Value: "i-0123"}}},
			{Namespace: "AWS/EC2", MetricName: "NetworkIn", Dimensions: []cloudwatchapi.Dimension{{Name: "InstanceId", Value: "i-0123"}, {Name: "AutoScalingGroupName", Value: "asg"}}},
		},
		NextToken: "next-page",
	}, nil
}

const botoScript = `
import json, sys
import boto3, botocore
c = boto3.client('cloudwatch', endpoint_url=sys.argv[1], region_name='us-east-1',
                 aws_access_key_id='x', aws_secret_access_key='y',
                 config=botocore.config.Config(retries={'max_attempts': 0}))
out = {'protocol': c.meta.service_model.resolved_protocol if hasattr(c.meta.service_model, 'resolved_protocol') else c.meta.service_model.protocol}
r = c.list_metrics(Namespace='AWS/EC2', Dimensions=[{'Name': 'InstanceId', 'Value': 'i-0123'}])
out['metrics'] = r['Metrics']
out['next'] = r.get('NextToken')
out['requestId'] = r['ResponseMetadata']['RequestId']
try:
    c.list_metrics(Namespace='Bad/Namespace')
    out['error'] = 'no error'
except c.exceptions.InvalidParameterValueException as e:
    out['error'] = {'class': type(e).__name__, 'code': e.response['Error']['Code'],
                    'message': e.response['Error']['Message'],
                    'queryCode': e.response['Error'].get('QueryErrorCode'),
                    'status': e.response['ResponseMetadata']['HTTPStatusCode']}
except Exception as e:
    out['error'] = {'unexpected': repr(e)}
try:
    c.delete_alarms(AlarmNames=['a'])
    out['unimpl'] = 'no error'
except botocore.exceptions.ClientError as e:
    out['unimpl'] = {'code': e.response['Error']['Code'], 'status': e.response['ResponseMetadata']['HTTPStatusCode']}
print(json.dumps(out))
`

// TestCloudWatchBotocore calls the codec with boto3 1.43, which speaks
// awsJson1_0 with awsQueryCompatible to CloudWatch.
func TestCloudWatchBotocore(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 with boto3 is not installed; skipping the botocore client test")
	}
	fake := &fakeCW{}
	s := &codectest.Server{Codec: JSON, Svc: cw, Handlers: cloudwatchapi.Handlers(fake)}
	ts := httptest.NewServer(s)
	defer ts.Close()
	cmd := exec.Command("python3", "-c", botoScript, ts.URL)
	cmd.Env = append(cmd.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	outb, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got struct {
		Protocol string
		Metrics  []struct {
			Namespace, MetricName string
			Dimensions            []struct{ Name, Value string }
		}
		Next      string
		RequestID string
		Error     map[string]any
		Unimpl    map[string]any
	}
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	if h := s.Header(0); h.Get("Content-Type") != "application/x-amz-json-1.0" || h.Get("X-Amz-Target") != "GraniteServiceVersion20100801.ListMetrics" {
		t.Errorf("botocore did not speak awsJson1_0: %v", h)
	}
	if fake.first == nil || len(fake.first.Dimensions) != 1 || fake.first.Dimensions[0].Name != "InstanceId" {
		t.Errorf("handler input %+v", fake.first)
	}
	if len(got.Metrics) != 2 || got.Metrics[1].Dimensions[1].Value != "asg" || got.Next != "next-page" {
		t.Errorf("output %s", outb)
	}
	e := got.Error
	if e["class"] != "InvalidParameterValueException" || e["code"] != "InvalidParameterValue" || e["queryCode"] != "InvalidParameterValueException" ||
		e["message"] != "The namespace Bad/Namespace is not valid." || e["status"] != 400.0 {
		t.Errorf("error %v", e)
	}
	if got.Unimpl["code"] != "UnknownOperationException" || got.Unimpl["status"] != 400.0 {
		t.Errorf("unimplemented %v", got.Unimpl)
	}
}

func kmsClient(url string) *kmssdk.Client {
	return kmssdk.New(kmssdk.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 3,
	})
}

// TestKMSGoSDK checks the awsJson1_1 error path with aws-sdk-go-v2's KMS
// client (schema-serde): unimplemented operations and modelled errors.
func TestKMSGoSDK(t *testing.T) {
	s := &codectest.Server{Codec: JSON, Svc: kms, Errs: map[string]*awserr.Error{
		"DescribeKey": awserr.New(awserr.NotFound, "NotFoundException", "Key 'alias/x' does not exist"),
		"Decrypt":     awserr.New(awserr.Unauthenticated, "InvalidClientTokenId", "The security token included in the request is invalid."),
	}}
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := kmsClient(ts.URL)
	ctx := context.Background()

	_, err := c.ListKeys(ctx, &kmssdk.ListKeysInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" || !strings.Contains(api.ErrorMessage(), "ListKeys") {
		t.Fatalf("ListKeys err = %T %v", err, err)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("status: %v", err)
	}
	if s.Calls() != 1 {
		t.Errorf("%d calls, want 1 (no retries)", s.Calls())
	}
	if h := s.Header(0); h.Get("Content-Type") != "application/x-amz-json-1.1" || h.Get("X-Amz-Target") != "TrentService.ListKeys" {
		t.Errorf("request headers %v", h)
	}

	_, err = c.DescribeKey(ctx, &kmssdk.DescribeKeyInput{KeyId: aws.String("alias/x")})
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) || nf.ErrorMessage() != "Key 'alias/x' does not exist" || nf.ErrorCode() != "NotFoundException" {
		t.Fatalf("DescribeKey err = %T %v", err, err)
	}

	_, err = c.Decrypt(ctx, &kmssdk.DecryptInput{CiphertextBlob: []byte{1}})
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("Decrypt err = %T %v", err, err)
	}
}

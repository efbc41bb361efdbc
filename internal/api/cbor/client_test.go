package cbor

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-dev/kiln/internal/api/codectest"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudwatchapi"
)

type fakeCW struct {
	last *cloudwatchapi.ListMetricsInput
}

func (f *fakeCW) ListMetrics(_ context.Context, in *cloudwatchapi.ListMetricsInput) (*cloudwatchapi.ListMetricsOutput, error) {
	f.last = in
	if in.Namespace == "Bad/Namespace" {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValueException", "The namespace Bad/Namespace is not valid.")
	}
	if in.Namespace == "Boom" {
		return nil, awserr.New(awserr.Internal, "InternalServiceFault", "boom")
	}
	return &cloudwatchapi.ListMetricsOutput{
		Metrics: []cloudwatchapi.Metric{
			{Namespace: "AWS/EC2", MetricName: "CPUUtilization", Dimensions: []cloudwatchapi.Dimension{{Name: "InstanceId", Value: "i-0123"}}},
			{Namespace: "AWS/EC2", MetricName: "NetworkIn", Dimensions: []cloudwatchapi.Dimension{{Name: "InstanceId", Value: "i-0123"}, {Name: "AutoScalingGroupName", Value: "asg"}}},
		},
		NextToken:      "next-page",
		OwningAccounts: []string{"000000000000"},
	}, nil
}

func cloudwatchClient(url string) *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 3,
	})
}

func TestCloudWatchGoSDK(t *testing.T) {
	fake := &fakeCW{}
	s := &codectest.Server{Codec: CBOR, Svc: cw, Handlers: cloudwatchapi.Handlers(fake)}
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := cloudwatchClient(ts.URL)
	ctx := context.Background()

	out, err := c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{
		Namespace:  aws.String("AWS/EC2"),
		Dimensions: []cwtypes.DimensionFilter{{Name: aws.String("InstanceId"), Value: aws.String("i-0123")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The SDK spoke rpcv2Cbor with indefinite-length containers.
	if h := s.Header(0); h.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		t.Errorf("request headers %v", h)
	}
	if b := s.Body(0); len(b) == 0 || b[0] != 0xbf {
		t.Errorf("request body does not start with an indefinite map: % x", b)
	}
	if fake.last.Namespace != "AWS/EC2" || len(fake.last.Dimensions) != 1 || fake.last.Dimensions[0].Value != "i-0123" {
		t.Errorf("handler input %+v", fake.last)
	}
	if len(out.Metrics) != 2 || aws.ToString(out.NextToken) != "next-page" || len(out.OwningAccounts) != 1 {
		t.Fatalf("output %+v", out)
	}
	m := out.Metrics[1]
	if aws.ToString(m.MetricName) != "NetworkIn" || len(m.Dimensions) != 2 || aws.ToString(m.Dimensions[1].Value) != "asg" {
		t.Errorf("metric %+v", m)
	}

	// Modelled error, query-compatible code override.
	s.ResetCalls()
	_, err = c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("Bad/Namespace")})
	var ipv *cwtypes.InvalidParameterValueException
	if !errors.As(err, &ipv) {
		t.Fatalf("err = %T %v, want *types.InvalidParameterValueException", err, err)
	}
	if ipv.ErrorCode() != "InvalidParameterValue" || ipv.ErrorMessage() != "The namespace Bad/Namespace is not valid." || ipv.ErrorFault() != smithy.FaultClient {
		t.Errorf("code %q message %q fault %v", ipv.ErrorCode(), ipv.ErrorMessage(), ipv.ErrorFault())
	}
	if s.Calls() != 1 {
		t.Errorf("%d calls for a 400, want no retries", s.Calls())
	}

	// Validation (Namespace longer than 255) goes through wire.ValidationError.
	_, err = c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(strings.Repeat("n", 256))})
	if !errors.As(err, &ipv) || ipv.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("validation err = %v", err)
	}

	// Unimplemented operation: 4xx generic error with the query code, no retries.
	s.ResetCalls()
	_, err = c.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"a"}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
		t.Errorf("unimplemented err = %T %v", err, err)
	}
	if s.Calls() != 1 {
		t.Errorf("%d calls for unimplemented op, want 1", s.Calls())
	}
}

func TestCloudWatchGoSDKServerFault(t *testing.T) {
	s := &codectest.Server{Codec: CBOR, Svc: cw, Handlers: cloudwatchapi.Handlers(&fakeCW{})}
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := cloudwatch.New(cloudwatch.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ts.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	_, err := c.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{Namespace: aws.String("Boom")})
	var f *cwtypes.InternalServiceFault
	if !errors.As(err, &f) || f.ErrorCode() != "InternalServiceError" || f.ErrorFault() != smithy.FaultServer {
		t.Fatalf("err = %T %v", err, err)
	}
}

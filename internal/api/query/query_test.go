package query

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudwatchapi"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/awsgen/stsapi"
	"github.com/kiln-dev/kiln/internal/shape"
)

func request(body string) *wire.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return &wire.Request{HTTP: r, Body: []byte(body)}
}

func TestEC2Decode(t *testing.T) {
	body := url.Values{
		"Action": {"DescribeKeyPairs"}, "Version": {"2016-11-15"},
		"KeyName.1": {"a"}, "KeyName.2": {"b"},
		"Filter.1.Name": {"tag:Name"}, "Filter.1.Value.1": {"x"}, "Filter.1.Value.2": {"y"},
		"Filter.2.Name": {"key-type"}, "Filter.2.Value.1": {"rsa"},
		"IncludePublicKey": {"true"}, "DryRun": {"false"},
	}.Encode()
	req := request(body)
	rt, err := EC2.Route(req, ec2api.Service)
	if err != nil || rt.Op == nil || rt.Name != "DescribeKeyPairs" {
		t.Fatalf("route %+v %v", rt, err)
	}
	v, err := EC2.Decode(req, ec2api.Service, rt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"KeyNames":         []any{"a", "b"},
		"IncludePublicKey": true,
		"DryRun":           false,
		"Filters": []any{
			map[string]any{"Name": "tag:Name", "Values": []any{"x", "y"}},
			map[string]any{"Name": "key-type", "Values": []any{"rsa"}},
		},
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v\nwant %#v", v, want)
	}
}

func TestEC2DecodeBadScalar(t *testing.T) {
	req := request("Action=DescribeTags&MaxResults=lots")
	rt, _ := EC2.Route(req, ec2api.Service)
	_, err := EC2.Decode(req, ec2api.Service, rt)
	if e := awserr.From(err); e.Code != "InvalidParameterValue" {
		t.Fatalf("got %v", err)
	}
}

func TestQueryDecodeMemberLists(t *testing.T) {
	// CLI v2 sends CloudWatch as awsQuery: lists are Name.member.N.
	body := "Action=ListMetrics&Version=2010-08-01&Namespace=AWS%2FEC2&Dimensions.member.1.Name=InstanceId&Dimensions.member.1.Value=i-1"
	req := request(body)
	rt, _ := Query.Route(req, cloudwatchapi.Service)
	v, err := Query.Decode(req, cloudwatchapi.Service, rt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Namespace": "AWS/EC2", "Dimensions": []any{map[string]any{"Name": "InstanceId", "Value": "i-1"}}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	// An empty list is sent as "Dimensions=".
	req = request("Action=ListMetrics&Dimensions=")
	v, _ = Query.Decode(req, cloudwatchapi.Service, rt)
	if d := v.(map[string]any)["Dimensions"]; !reflect.DeepEqual(d, []any{}) {
		t.Fatalf("empty list: %#v", d)
	}
}

func TestEC2Output(t *testing.T) {
	w := httptest.NewRecorder()
	op := ec2api.Service.Operations["DescribeKeyPairs"]
	out := map[string]any{"KeyPairs": []any{map[string]any{"KeyName": "a<b", "Tags": []any{map[string]any{"Key": "k", "Value": "v"}}}}}
	EC2.WriteOutput(w, ec2api.Service, op, out, "req-1")
	body := w.Body.String()
	want := `<DescribeKeyPairsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId><keySet><item><tagSet><item><key>k</key><value>v</value></item></tagSet><keyName>a&lt;b</keyName></item></keySet></DescribeKeyPairsResponse>`
	if !strings.Contains(body, want) || w.Header().Get(wire.RequestIDHeader) != "req-1" {
		t.Fatalf("got %s", body)
	}
	w = httptest.NewRecorder()
	EC2.WriteOutput(w, ec2api.Service, ec2api.Service.Operations["CreateTags"], map[string]any{}, "r")
	if !strings.Contains(w.Body.String(), "<return>true</return>") {
		t.Fatalf("no-output op: %s", w.Body.String())
	}
}

func TestQueryOutputAndErrors(t *testing.T) {
	w := httptest.NewRecorder()
	op := stsapi.Service.Operations["GetCallerIdentity"]
	Query.WriteOutput(w, stsapi.Service, op, map[string]any{"Account": "123456789012"}, "rid")
	if !strings.Contains(w.Body.String(), "<GetCallerIdentityResult><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata>") {
		t.Fatalf("got %s", w.Body.String())
	}
	w = httptest.NewRecorder()
	Query.WriteError(w, cloudwatchapi.Service, nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValueException", "bad"), "rid")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "<Code>InvalidParameterValue</Code>") || !strings.Contains(w.Body.String(), "<Type>Sender</Type>") {
		t.Fatalf("query-compatible error: %d %s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	EC2.WriteError(w, ec2api.Service, nil, awserr.New(awserr.Unauthenticated, "AuthFailure", "no"), "rid")
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "<Response><Errors><Error><Code>AuthFailure</Code><Message>no</Message></Error></Errors><RequestID>rid</RequestID></Response>") {
		t.Fatalf("ec2 error: %d %s", w.Code, w.Body.String())
	}
}

// FuzzQueryDecode feeds arbitrary form bodies through both codecs for an
// operation with nested lists and structures: they must never panic.
func FuzzQueryDecode(f *testing.F) {
	for _, s := range []string{
		"Action=DescribeKeyPairs&Filter.1.Name=a&Filter.1.Value.1=b",
		"Action=CreateKeyPair&KeyName=x&TagSpecification.1.Tag.1.Key=k",
		"Action=ListMetrics&Dimensions.member.1.Name=a&Dimensions=",
		"Action=DescribeTags&MaxResults=9999999999999999999999",
		"%zz&&==.1.1..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, c := range []struct {
			codec wire.Codec
			svc   *shape.Service
		}{{EC2, ec2api.Service}, {Query, cloudwatchapi.Service}} {
			svc := c.svc
			req := request(body)
			rt, err := c.codec.Route(req, svc)
			if err != nil || rt.Op == nil || rt.Op.Input == nil {
				continue
			}
			_, _ = c.codec.Decode(req, svc, rt)
		}
	})
}

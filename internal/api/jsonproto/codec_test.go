package jsonproto

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/api/codectest"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudwatchapi"
	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/shape"
)

var (
	cw  = cloudwatchapi.Service
	kms = kmsapi.Service
)

// TestMain re-indexes the generated services (see codectest.Main).
func TestMain(m *testing.M) {
	codectest.Main(m, cw, kms)
}

func newReq(target, ct string, body []byte) *wire.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return &wire.Request{HTTP: r, Body: body}
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name    string
		svc     *shape.Service
		target  string
		op      string
		hasOp   bool
		errCode string
	}{
		{"cloudwatch implemented", cw, "GraniteServiceVersion20100801.ListMetrics", "ListMetrics", true, ""},
		{"cloudwatch unimplemented", cw, "GraniteServiceVersion20100801.PutMetricData", "PutMetricData", true, ""},
		{"kms", kms, "TrentService.CreateKey", "CreateKey", true, ""},
		{"unknown op", kms, "TrentService.FlyToTheMoon", "FlyToTheMoon", false, ""},
		{"missing target", kms, "", "", false, "UnknownOperationException"},
		{"no dot", kms, "TrentServiceCreateKey", "", false, "UnknownOperationException"},
		{"trailing dot", kms, "TrentService.", "", false, "UnknownOperationException"},
		{"leading dot", kms, ".CreateKey", "", false, "UnknownOperationException"},
		{"wrong prefix", kms, "AmazonSSM.CreateKey", "", false, "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := JSON.Route(newReq(tc.target, "application/x-amz-json-1.1", nil), tc.svc)
			if tc.errCode != "" {
				e, ok := err.(*awserr.Error)
				if !ok || e.Code != tc.errCode {
					t.Fatalf("err = %v, want %s", err, tc.errCode)
				}
				if s := awserr.Status(e, tc.svc); s != 400 {
					t.Errorf("status %d, want 400", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rt.Name != tc.op || (rt.Op != nil) != tc.hasOp {
				t.Fatalf("route %+v", rt)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	for ct, want := range map[string]string{
		"application/x-amz-json-1.0":                "1.0",
		"application/x-amz-json-1.1":                "1.1",
		"application/x-amz-json-1.1; charset=utf-8": "1.1",
		"Application/X-Amz-Json-1.0":                "1.0",
		"application/json":                          "",
		"":                                          "",
	} {
		if got := ContentTypeVersion(ct); got != want {
			t.Errorf("%q: %q, want %q", ct, got, want)
		}
	}
	if got := (Codec{}).ContentType(cw); got != "application/x-amz-json-1.0" {
		t.Errorf("cloudwatch content type %s", got)
	}
	if got := (Codec{}).ContentType(kms); got != "application/x-amz-json-1.1" {
		t.Errorf("kms content type %s", got)
	}
	if c, ok := ForContentType("application/x-amz-json-1.0"); !ok || c.ContentType(kms) != "application/x-amz-json-1.0" {
		t.Errorf("ForContentType: %v %v", c, ok)
	}
}

// testShape covers every kind.
func testShape() *shape.Shape {
	str := &shape.Shape{Name: "S", Kind: shape.String}
	i := &shape.Shape{Name: "I", Kind: shape.Integer}
	l := &shape.Shape{Name: "L", Kind: shape.Long}
	d := &shape.Shape{Name: "D", Kind: shape.Double}
	b := &shape.Shape{Name: "B", Kind: shape.Boolean}
	ts := &shape.Shape{Name: "T", Kind: shape.Timestamp}
	iso := &shape.Shape{Name: "ISO", Kind: shape.Timestamp, TimestampFormat: "iso8601"}
	blob := &shape.Shape{Name: "Blob", Kind: shape.Blob}
	inner := &shape.Shape{Name: "Inner", Kind: shape.Structure, Members: []*shape.Member{{Name: "K", Shape: str}, {Name: "V", Shape: i}}}
	list := &shape.Shape{Name: "List", Kind: shape.List, Member: &shape.Member{Name: "member", Shape: inner}}
	m := &shape.Shape{Name: "Map", Kind: shape.Map, Key: &shape.Member{Name: "key", Shape: str}, Value: &shape.Member{Name: "value", Shape: l}}
	return &shape.Shape{Name: "All", Kind: shape.Structure, Members: []*shape.Member{
		{Name: "Str", Shape: str}, {Name: "Int", Shape: i}, {Name: "Long", Shape: l},
		{Name: "Double", Shape: d}, {Name: "Bool", Shape: b}, {Name: "Time", Shape: ts},
		{Name: "Iso", Shape: iso}, {Name: "Blob", Shape: blob}, {Name: "List", Shape: list},
		{Name: "Map", Shape: m}, {Name: "Policy", Shape: str, JSONValue: true},
		{Name: "Renamed", Shape: str, LocationName: "renamed"},
	}}
}

func TestUnmarshal(t *testing.T) {
	all := testShape()
	lmi := cw.Operations["ListMetrics"].Input
	tests := []struct {
		name    string
		sh      *shape.Shape
		body    string
		want    map[string]any
		errCode string
	}{
		{"empty body", lmi, "", map[string]any{}, ""},
		{"whitespace body", lmi, " \n", map[string]any{}, ""},
		{"empty object", lmi, "{}", map[string]any{}, ""},
		{"null body", lmi, "null", map[string]any{}, ""},
		{
			"ListMetrics as botocore sends it", lmi,
			`{"Namespace":"AWS/EC2","MetricName":"CPUUtilization","Dimensions":[{"Name":"InstanceId","Value":"i-1"},{"Name":"AutoScalingGroupName"}],"IncludeLinkedAccounts":false,"NextToken":null,"Extra":{"x":1}}`,
			map[string]any{
				"Namespace": "AWS/EC2", "MetricName": "CPUUtilization", "IncludeLinkedAccounts": false,
				"Dimensions": []any{map[string]any{"Name": "InstanceId", "Value": "i-1"}, map[string]any{"Name": "AutoScalingGroupName"}},
			}, "",
		},
		{
			"all kinds", all,
			`{"Str":"s\u00e9","Int":-5,"Long":9007199254740993,"Double":1.5e3,"Bool":true,"Time":1700000000,"Iso":"2023-11-14T22:13:20.5Z","Blob":"AQID","List":[{"K":"k","V":2},null],"Map":{"a":1,"b":null},"Policy":"{\"a\":1}","renamed":"r"}`,
			map[string]any{
				"Str": "sé", "Int": int64(-5), "Long": int64(9007199254740993), "Double": 1500.0, "Bool": true,
				"Time": time.Unix(1700000000, 0).UTC(), "Iso": time.Unix(1700000000, 500e6).UTC(), "Blob": []byte{1, 2, 3},
				"List": []any{map[string]any{"K": "k", "V": int64(2)}}, "Map": map[string]any{"a": int64(1)},
				"Policy": `{"a":1}`, "Renamed": "r",
			}, "",
		},
		{"fractional epoch", all, `{"Time":1700000000.123}`, map[string]any{"Time": time.UnixMilli(1700000000123).UTC()}, ""},
		{"integral float for int", all, `{"Int":3.0}`, map[string]any{"Int": int64(3)}, ""},
		{"NaN double", all, `{"Double":"NaN"}`, nil, ""},
		{"member name also accepted for locationName", all, `{"Renamed":"r"}`, map[string]any{"Renamed": "r"}, ""},
		{"not JSON", lmi, `{"Namespace":`, nil, "SerializationException"},
		{"trailing garbage", lmi, `{} {}`, nil, "SerializationException"},
		{"array body", lmi, `[]`, nil, "SerializationException"},
		{"number for string", lmi, `{"Namespace":5}`, nil, "SerializationException"},
		{"string for bool", lmi, `{"IncludeLinkedAccounts":"true"}`, nil, "SerializationException"},
		{"object for list", lmi, `{"Dimensions":{"Name":"x"}}`, nil, "SerializationException"},
		{"fraction for int", all, `{"Int":1.5}`, nil, "SerializationException"},
		{"string for int", all, `{"Int":"1"}`, nil, "SerializationException"},
		{"bad base64", all, `{"Blob":"***"}`, nil, "SerializationException"},
		{"bad timestamp", all, `{"Time":"yesterday"}`, nil, "SerializationException"},
		{"bool for timestamp", all, `{"Time":true}`, nil, "SerializationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unmarshal(tc.sh, []byte(tc.body), Options{}, nil)
			if tc.errCode != "" {
				e, ok := err.(*awserr.Error)
				if !ok || e.Code != tc.errCode {
					t.Fatalf("err = %v, want %s", err, tc.errCode)
				}
				if awserr.Status(e, cw) != 400 {
					t.Errorf("status %d", awserr.Status(e, cw))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil { // NaN
				if f, _ := got["Double"].(float64); !math.IsNaN(f) {
					t.Fatalf("got %v", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	all := testShape()
	v := map[string]any{
		"Renamed": "r", "Map": map[string]any{"b": int64(2), "a": int64(1)}, "Str": "q\"\\\n\x01<\u2028\xff",
		"Int": int64(-5), "Long": int64(1 << 53), "Double": 0.1, "Bool": false,
		"Time": time.Unix(1700000000, 0), "Iso": time.UnixMilli(1700000000500), "Blob": []byte{1, 2, 3},
		"List": []any{map[string]any{"K": "k", "V": int64(2), "Unknown": 1}}, "Policy": `{"a":1}`,
		"Absent": nil,
	}
	got := string(Marshal(all, v, Options{}))
	want := `{"Str":"q\"\\\n\u0001<\u2028\ufffd","Int":-5,"Long":9007199254740992,"Double":0.1,"Bool":false,"Time":1700000000,"Iso":"2023-11-14T22:13:20.500Z","Blob":"AQID","List":[{"K":"k","V":2}],"Map":{"a":1,"b":2},"Policy":"{\"a\":1}","Renamed":"r"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("invalid JSON")
	}
	if got := string(Marshal(all, map[string]any{"Renamed": "r"}, Options{LocationNames: true})); got != `{"renamed":"r"}` {
		t.Errorf("location names: %s", got)
	}
	for _, tc := range []struct {
		f    float64
		want string
	}{{1, "1"}, {1.5, "1.5"}, {1e21, "1e+21"}, {1e-7, "1e-07"}, {math.NaN(), `"NaN"`}, {math.Inf(-1), `"-Infinity"`}} {
		if got := string(Marshal(all, map[string]any{"Double": tc.f}, Options{})); got != `{"Double":`+tc.want+`}` {
			t.Errorf("%v: %s", tc.f, got)
		}
	}
	if got := string(Marshal(all, map[string]any{"Time": time.UnixMilli(1700000000123)}, Options{})); got != `{"Time":1700000000.123}` {
		t.Errorf("fractional time: %s", got)
	}
	if got := string(Marshal(all, nil, Options{})); got != "{}" {
		t.Errorf("nil: %s", got)
	}
}

func TestWriteOutput(t *testing.T) {
	op := cw.Operations["ListMetrics"]
	w := httptest.NewRecorder()
	JSON.WriteOutput(w, cw, op, map[string]any{
		"NextToken": "t",
		"Metrics":   []any{map[string]any{"MetricName": "m", "Namespace": "n", "Dimensions": []any{map[string]any{"Value": "v", "Name": "k"}}}},
	}, "rid")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/x-amz-json-1.0" || w.Header().Get(wire.RequestIDHeader) != "rid" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	want := `{"Metrics":[{"Namespace":"n","MetricName":"m","Dimensions":[{"Name":"k","Value":"v"}]}],"NextToken":"t"}`
	if w.Body.String() != want {
		t.Fatalf("body %s\nwant %s", w.Body.String(), want)
	}
	w = httptest.NewRecorder()
	JSON11.WriteOutput(w, kms, kms.Operations["ListKeys"], map[string]any{}, "rid")
	if w.Body.String() != "{}" || w.Header().Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Fatalf("empty output: %s %v", w.Body.String(), w.Header())
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		svc        *shape.Service
		err        *awserr.Error
		status     int
		body       string
		queryError string
	}{
		{"query-compatible", cw, awserr.New(awserr.InvalidArgument, "InvalidParameterValueException", "bad value"), 400,
			`{"__type":"InvalidParameterValueException","message":"bad value"}`, "InvalidParameterValue;Sender"},
		{"query-compatible from legacy code", cw, awserr.New(awserr.InvalidArgument, "MissingParameter", "need it"), 400,
			`{"__type":"MissingRequiredParameterException","message":"need it"}`, "MissingParameter;Sender"},
		{"query-compatible Message member", cw, awserr.New(awserr.Conflict, "ConflictException", "busy"), 409,
			`{"__type":"ConflictException","message":"busy","Message":"busy"}`, "ConflictException;Sender"},
		{"query-compatible 5xx", cw, awserr.New(awserr.Internal, "InternalServiceFault", "boom"), 500,
			`{"__type":"InternalServiceFault","message":"boom","Message":"boom"}`, "InternalServiceError;Receiver"},
		{"query-compatible auth", cw, awserr.New(awserr.Unauthenticated, "SignatureDoesNotMatch", "sig"), 403,
			`{"__type":"SignatureDoesNotMatch","message":"sig"}`, "SignatureDoesNotMatch;Sender"},
		{"kms modelled", kms, awserr.New(awserr.NotFound, "NotFoundException", "no key"), 404,
			`{"__type":"NotFoundException","message":"no key"}`, ""},
		{"kms unknown op", kms, awserr.New(awserr.UnknownOperation, "UnknownOperationException", "nope"), 400,
			`{"__type":"UnknownOperationException","message":"nope"}`, ""},
		{"kms auth", kms, awserr.New(awserr.Unauthenticated, "IncompleteSignature", "x"), 403,
			`{"__type":"IncompleteSignature","message":"x"}`, ""},
		{"empty code", kms, &awserr.Error{Kind: awserr.Internal, Message: "?"}, 500,
			`{"__type":"InternalFailure","message":"?"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			JSON.WriteError(w, tc.svc, nil, tc.err, "rid")
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if w.Body.String() != tc.body {
				t.Errorf("body %s\nwant %s", w.Body.String(), tc.body)
			}
			var typ struct {
				Type string `json:"__type"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &typ)
			if got := w.Header().Get("X-Amzn-Errortype"); got != typ.Type {
				t.Errorf("X-Amzn-Errortype %q, want %q", got, typ.Type)
			}
			if got := w.Header().Get("X-Amzn-Query-Error"); got != tc.queryError {
				t.Errorf("x-amzn-query-error %q, want %q", got, tc.queryError)
			}
			if w.Header().Get(wire.RequestIDHeader) != "rid" || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/x-amz-json-1.") {
				t.Errorf("headers %v", w.Header())
			}
		})
	}
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{"", "{}", "null", "[]", `{"Str":"x","List":[{"K":"k"}],"Map":{"a":1}}`, `{"Time":1e400}`, `{"Int":1e30}`, `{"Blob":"AQ=="}`, `{"Double":"Infinity"}`, strings.Repeat("[", 300)} {
		f.Add([]byte(s))
	}
	all := testShape()
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := Unmarshal(all, body, Options{}, nil)
		if err != nil {
			if _, ok := err.(*awserr.Error); !ok {
				t.Fatalf("error %T", err)
			}
			return
		}
		if out := Marshal(all, v, Options{}); !json.Valid(out) {
			t.Fatalf("re-encoded invalid JSON %s", out)
		}
	})
}

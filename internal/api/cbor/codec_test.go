package cbor

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	scbor "github.com/aws/smithy-go/encoding/cbor"

	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudwatchapi"
	"github.com/kiln-dev/kiln/internal/shape"
)

var cw = cloudwatchapi.Service

func newReq(method, path string, body []byte, hdr map[string]string) *wire.Request {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return &wire.Request{HTTP: r, Body: body}
}

func TestRoute(t *testing.T) {
	proto := map[string]string{"Smithy-Protocol": "rpc-v2-cbor"}
	tests := []struct {
		name    string
		method  string
		path    string
		hdr     map[string]string
		op      string
		hasOp   bool
		errCode string
	}{
		{"implemented", "POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics", proto, "ListMetrics", true, ""},
		{"unimplemented still found", "POST", "/service/GraniteServiceVersion20100801/operation/PutMetricData", proto, "PutMetricData", true, ""},
		{"unknown op", "POST", "/service/GraniteServiceVersion20100801/operation/Nope", proto, "Nope", false, ""},
		{"base path prefix", "POST", "/prefix/x/service/GraniteServiceVersion20100801/operation/ListMetrics", proto, "ListMetrics", true, ""},
		{"missing protocol header tolerated", "POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics", nil, "ListMetrics", true, ""},
		{"wrong protocol header", "POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics", map[string]string{"Smithy-Protocol": "rpc-v2-json"}, "", false, "UnsupportedProtocolException"},
		{"wrong service", "POST", "/service/TrentService/operation/ListMetrics", proto, "", false, "UnknownOperationException"},
		{"garbled path", "POST", "/service/GraniteServiceVersion20100801/ListMetrics", proto, "", false, "UnknownOperationException"},
		{"no op", "POST", "/service/GraniteServiceVersion20100801/operation/", proto, "", false, "UnknownOperationException"},
		{"extra segment", "POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics/x", proto, "", false, "UnknownOperationException"},
		{"not POST", "GET", "/service/GraniteServiceVersion20100801/operation/ListMetrics", proto, "", false, "UnknownOperationException"},
		{"root", "POST", "/", proto, "", false, "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := CBOR.Route(newReq(tc.method, tc.path, nil, tc.hdr), cw)
			if tc.errCode != "" {
				e, ok := err.(*awserr.Error)
				if !ok || e.Code != tc.errCode {
					t.Fatalf("err = %v, want code %s", err, tc.errCode)
				}
				if s := awserr.Status(e, cw); s < 400 || s >= 500 {
					t.Errorf("status %d, want 4xx", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rt.Name != tc.op || (rt.Op != nil) != tc.hasOp {
				t.Fatalf("route = %+v", rt)
			}
		})
	}
}

// Hand-encoded CBOR helpers for request bodies.
func text(s string) []byte    { return appendText(nil, s) }
func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// testShape covers every scalar kind, nesting, maps and timestamps.
func testShape() *shape.Shape {
	str := &shape.Shape{Name: "S", Kind: shape.String}
	i := &shape.Shape{Name: "I", Kind: shape.Integer}
	l := &shape.Shape{Name: "L", Kind: shape.Long}
	d := &shape.Shape{Name: "D", Kind: shape.Double}
	f := &shape.Shape{Name: "F", Kind: shape.Float}
	b := &shape.Shape{Name: "B", Kind: shape.Boolean}
	ts := &shape.Shape{Name: "T", Kind: shape.Timestamp}
	blob := &shape.Shape{Name: "Blob", Kind: shape.Blob}
	inner := &shape.Shape{Name: "Inner", Kind: shape.Structure, Members: []*shape.Member{{Name: "K", Shape: str}, {Name: "V", Shape: i}}}
	list := &shape.Shape{Name: "List", Kind: shape.List, Member: &shape.Member{Name: "member", Shape: inner}}
	m := &shape.Shape{Name: "Map", Kind: shape.Map, Key: &shape.Member{Name: "key", Shape: str}, Value: &shape.Member{Name: "value", Shape: ts}}
	return &shape.Shape{Name: "All", Kind: shape.Structure, Members: []*shape.Member{
		{Name: "Str", Shape: str}, {Name: "Int", Shape: i}, {Name: "Long", Shape: l},
		{Name: "Double", Shape: d}, {Name: "Float", Shape: f}, {Name: "Bool", Shape: b},
		{Name: "Time", Shape: ts}, {Name: "Blob", Shape: blob}, {Name: "List", Shape: list},
		{Name: "Map", Shape: m},
	}}
}

func TestUnmarshal(t *testing.T) {
	all := testShape()
	lmi := cw.Operations["ListMetrics"].Input
	tests := []struct {
		name    string
		sh      *shape.Shape
		body    []byte
		want    map[string]any
		errCode string
	}{
		{"empty body", lmi, nil, map[string]any{}, ""},
		{"empty map", lmi, []byte{0xa0}, map[string]any{}, ""},
		{"indefinite empty map", lmi, []byte{0xbf, 0xff}, map[string]any{}, ""},
		{
			// What the Go SDK writes: indefinite maps and arrays.
			"ListMetrics indefinite", lmi,
			cat([]byte{0xbf}, text("Namespace"), text("AWS/EC2"),
				text("Dimensions"), []byte{0x9f, 0xbf}, text("Name"), text("InstanceId"), text("Value"), text("i-1"), []byte{0xff, 0xff},
				text("IncludeLinkedAccounts"), []byte{0xf5},
				text("Unknown"), text("ignored"),
				text("NextToken"), []byte{0xf6}, // null → absent
				[]byte{0xff}),
			map[string]any{
				"Namespace":             "AWS/EC2",
				"Dimensions":            []any{map[string]any{"Name": "InstanceId", "Value": "i-1"}},
				"IncludeLinkedAccounts": true,
			}, "",
		},
		{
			"ListMetrics definite", lmi,
			cat([]byte{0xa2}, text("MetricName"), text("CPUUtilization"), text("RecentlyActive"), text("PT3H")),
			map[string]any{"MetricName": "CPUUtilization", "RecentlyActive": "PT3H"}, "",
		},
		{
			"all kinds", all,
			cat([]byte{0xbf},
				text("Str"), text("s"),
				text("Int"), []byte{0x38, 0x63}, // -100
				text("Long"), []byte{0x1b, 0, 0, 0, 1, 0, 0, 0, 0}, // 2^32
				text("Double"), appendFloat(nil, 1.5),
				text("Float"), []byte{0xfa, 0x3f, 0xc0, 0, 0}, // float32 1.5
				text("Bool"), []byte{0xf4},
				text("Time"), []byte{0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00}, // tag1 1700000000
				text("Blob"), []byte{0x43, 1, 2, 3},
				text("List"), []byte{0x9f, 0xbf}, text("K"), text("k"), text("V"), []byte{0x01}, []byte{0xff, 0xff},
				text("Map"), []byte{0xbf}, text("a"), []byte{0xc1, 0xfb, 0x41, 0xd9, 0x54, 0xfc, 0x40, 0x20, 0, 0}, []byte{0xff}, // 1700000000.5
				[]byte{0xff}),
			map[string]any{
				"Str": "s", "Int": int64(-100), "Long": int64(1 << 32), "Double": 1.5, "Float": 1.5, "Bool": false,
				"Time": time.Unix(1700000000, 0).UTC(), "Blob": []byte{1, 2, 3},
				"List": []any{map[string]any{"K": "k", "V": int64(1)}},
				"Map":  map[string]any{"a": time.Unix(1700000000, 500e6).UTC()},
			}, "",
		},
		{"untagged timestamp accepted", all, cat([]byte{0xa1}, text("Time"), []byte{0x18, 100}), map[string]any{"Time": time.Unix(100, 0).UTC()}, ""},
		{"indefinite text string", lmi, cat([]byte{0xa1}, text("Namespace"), []byte{0x7f}, text("AWS/"), text("EC2"), []byte{0xff}), map[string]any{"Namespace": "AWS/EC2"}, ""},
		{"not a map", lmi, []byte{0x80}, nil, "SerializationException"},
		{"truncated", lmi, []byte{0xbf, 0x69, 'N', 'a'}, nil, "SerializationException"},
		{"string for list", lmi, cat([]byte{0xa1}, text("Dimensions"), text("x")), nil, "SerializationException"},
		{"int for string", lmi, cat([]byte{0xa1}, text("Namespace"), []byte{0x01}), nil, "SerializationException"},
		{"string for bool", lmi, cat([]byte{0xa1}, text("IncludeLinkedAccounts"), text("true")), nil, "SerializationException"},
		{"wrong tag for time", all, cat([]byte{0xa1}, text("Time"), []byte{0xc0}, text("2020-01-01T00:00:00Z")), nil, "SerializationException"},
		{"int overflow", all, cat([]byte{0xa1}, text("Int"), []byte{0x1b, 0xff, 0, 0, 0, 0, 0, 0, 0}), nil, "SerializationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unmarshal(tc.sh, tc.body)
			if tc.errCode != "" {
				e, ok := err.(*awserr.Error)
				if !ok || e.Code != tc.errCode {
					t.Fatalf("err = %v, want %s", err, tc.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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
		"Str": "s", "Int": int64(-100), "Long": int64(1 << 40), "Double": 2.25, "Float": math.Inf(1), "Bool": true,
		"Time": time.Unix(1700000000, 0), "Blob": []byte("hi"),
		"List": []any{map[string]any{"K": "k", "V": int64(7)}},
		"Map":  map[string]any{"b": time.UnixMilli(1700000000500), "a": time.Unix(5, 0)},
	}
	b := Marshal(all, v)
	// Keys in model order, definite lengths.
	if b[0] != 0xaa || !bytes.HasPrefix(b[1:], text("Str")) {
		t.Fatalf("unexpected head % x", b[:8])
	}
	dv, err := scbor.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m := dv.(scbor.Map)
	tm, ok := m["Time"].(*scbor.Tag)
	if !ok || tm.ID != 1 || tm.Value != scbor.Uint(1700000000) {
		t.Errorf("Time = %#v, want tag 1 uint", m["Time"])
	}
	mt := m["Map"].(scbor.Map)["b"].(*scbor.Tag)
	if mt.ID != 1 || mt.Value != scbor.Float64(1700000000.5) {
		t.Errorf("Map.b = %#v, want tag 1 float64", mt)
	}
	if m["Int"] != scbor.NegInt(100) || m["Long"] != scbor.Uint(1<<40) || m["Double"] != scbor.Float64(2.25) || m["Bool"] != scbor.Bool(true) {
		t.Errorf("scalars: %#v", m)
	}
	if !reflect.DeepEqual(m["Blob"], scbor.Slice("hi")) || m["Str"] != scbor.String("s") {
		t.Errorf("Blob/Str: %#v %#v", m["Blob"], m["Str"])
	}
	// And it round-trips through our decoder.
	back, err := Unmarshal(all, b)
	if err != nil {
		t.Fatal(err)
	}
	if back["Map"].(map[string]any)["b"].(time.Time).UnixMilli() != 1700000000500 || back["Long"] != int64(1<<40) {
		t.Errorf("round trip: %#v", back)
	}
	// Absent and nil members are left out; nil output is an empty map.
	if got := Marshal(all, map[string]any{"Str": nil}); !bytes.Equal(got, []byte{0xa0}) {
		t.Errorf("nil member: % x", got)
	}
	if got := Marshal(nil, nil); !bytes.Equal(got, []byte{0xa0}) {
		t.Errorf("nil: % x", got)
	}
}

func TestWriteOutput(t *testing.T) {
	op := cw.Operations["ListMetrics"]
	w := httptest.NewRecorder()
	CBOR.WriteOutput(w, cw, op, map[string]any{"Metrics": []any{map[string]any{"Namespace": "N", "Dimensions": []any{map[string]any{"Name": "a", "Value": "b"}}}}, "NextToken": "t"}, "rid")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/cbor" || w.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" || w.Header().Get(wire.RequestIDHeader) != "rid" {
		t.Fatalf("status/headers: %d %v", w.Code, w.Header())
	}
	want := cat([]byte{0xa2}, text("Metrics"), []byte{0x81, 0xa2}, text("Namespace"), text("N"), text("Dimensions"), []byte{0x81, 0xa2}, text("Name"), text("a"), text("Value"), text("b"), text("NextToken"), text("t"))
	if !bytes.Equal(w.Body.Bytes(), want) {
		t.Fatalf("body\n% x\nwant\n% x", w.Body.Bytes(), want)
	}
}

func TestWriteError(t *testing.T) {
	kms := &shape.Service{Name: "kms", Protocol: "json"}
	tests := []struct {
		name       string
		svc        *shape.Service
		err        *awserr.Error
		status     int
		typ        string
		queryError string
	}{
		{"query-compatible by shape name", cw, awserr.New(awserr.InvalidArgument, "InvalidParameterValueException", "bad"), 400, "InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"query-compatible by query code", cw, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "bad"), 400, "InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"modelled 404", cw, awserr.New(awserr.NotFound, "ResourceNotFound", "gone"), 404, "ResourceNotFound", "ResourceNotFound;Sender"},
		{"server fault", cw, awserr.New(awserr.Internal, "InternalServiceFault", "boom"), 500, "InternalServiceFault", "InternalServiceError;Receiver"},
		{"unmodelled auth", cw, awserr.New(awserr.Unauthenticated, "InvalidClientTokenId", "who"), 403, "InvalidClientTokenId", "InvalidClientTokenId;Sender"},
		{"unknown operation", cw, awserr.New(awserr.UnknownOperation, "UnknownOperationException", "nope"), 400, "UnknownOperationException", "UnknownOperationException;Sender"},
		{"not query-compatible", kms, awserr.New(awserr.NotFound, "NotFoundException", "x"), 404, "NotFoundException", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			CBOR.WriteError(w, tc.svc, nil, tc.err, "rid")
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("X-Amzn-Query-Error"); got != tc.queryError {
				t.Errorf("x-amzn-query-error %q, want %q", got, tc.queryError)
			}
			if w.Header().Get("Content-Type") != "application/cbor" || w.Header().Get(wire.RequestIDHeader) != "rid" {
				t.Errorf("headers %v", w.Header())
			}
			v, err := scbor.Decode(w.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			m := v.(scbor.Map)
			if m["__type"] != scbor.String(tc.typ) || m["message"] != scbor.String(tc.err.Message) {
				t.Errorf("body %#v", m)
			}
		})
	}
}

func TestUnmarshalNeverPanicsOnSeeds(t *testing.T) {
	for _, seed := range fuzzSeeds() {
		_, _ = Unmarshal(testShape(), seed)
		_, _ = Unmarshal(cw.Operations["ListMetrics"].Input, seed)
	}
}

func fuzzSeeds() [][]byte {
	return [][]byte{
		nil, {0xa0}, {0xbf, 0xff}, {0xbf}, {0x9f}, {0xff}, {0x7f, 0xff}, {0x5f, 0x41},
		cat([]byte{0xbf}, text("Namespace"), text("AWS/EC2"), []byte{0xff}),
		cat([]byte{0xa1}, text("Time"), []byte{0xc1, 0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}),
		cat([]byte{0xa1}, text("List"), []byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		cat([]byte{0xa1}, text("Blob"), []byte{0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		bytes.Repeat([]byte{0x81}, 200),
		[]byte(strings.Repeat("\xbf", 300)),
	}
}

func FuzzCBORDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	all := testShape()
	lmi := cw.Operations["ListMetrics"].Input
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := Unmarshal(all, body)
		if err == nil {
			// Whatever decodes must encode again.
			_ = Marshal(all, v)
		} else if _, ok := err.(*awserr.Error); !ok {
			t.Fatalf("error %T is not *awserr.Error", err)
		}
		_, _ = Unmarshal(lmi, body)
		req := newReq(http.MethodPost, "/service/GraniteServiceVersion20100801/operation/ListMetrics", body, nil)
		rt, err := CBOR.Route(req, cw)
		if err == nil {
			_, _ = CBOR.Decode(req, cw, rt)
		}
	})
}

package restjson

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

func newReq(method, target string, body []byte, hdr map[string]string) *wire.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return &wire.Request{HTTP: r, Body: body}
}

// synthetic is a service exercising greedy labels, literal query parts and
// precedence.
func synthetic() *shape.Service {
	ops := map[string]*shape.Operation{}
	add := func(name, method, uri string) {
		ops[name] = &shape.Operation{Name: name, Method: method, RequestURI: uri}
	}
	add("GetObject", "GET", "/{Bucket}/{Key+}")
	add("GetObjectTagging", "GET", "/{Bucket}/{Key+}?tagging")
	add("GetObjectAcl", "GET", "/{Bucket}/{Key+}?x-id=GetAcl")
	add("ListBuckets", "GET", "/")
	add("GetSpecial", "GET", "/special/{Id}")
	add("GetSpecialLatest", "GET", "/special/latest")
	add("GetThing", "GET", "/things/{Id}/details")
	add("GetThingVersion", "GET", "/things/{Id}/versions/{Version}")
	add("InvokeAsync", "POST", "/functions/{FunctionName}/invoke-async/")
	add("GetFile", "GET", "/files/{Path+}/meta")
	add("GetReport", "GET", "/reports/{Id}.json")
	return &shape.Service{Name: "synthetic", Protocol: "rest-json", Operations: ops}
}

func TestRoute(t *testing.T) {
	syn := synthetic()
	tests := []struct {
		name   string
		svc    *shape.Service
		method string
		target string
		op     string
		labels map[string]string
		err    error
	}{
		{"scheduler create", sched, "POST", "/schedule-groups/nightly", "CreateScheduleGroup", map[string]string{"Name": "nightly"}, nil},
		{"scheduler get", sched, "GET", "/schedule-groups/nightly", "GetScheduleGroup", map[string]string{"Name": "nightly"}, nil},
		{"scheduler delete with query", sched, "DELETE", "/schedule-groups/nightly?clientToken=abc", "DeleteScheduleGroup", map[string]string{"Name": "nightly"}, nil},
		{"scheduler list", sched, "GET", "/schedule-groups?MaxResults=5", "ListScheduleGroups", nil, nil},
		{"scheduler list trailing slash", sched, "GET", "/schedule-groups/", "ListScheduleGroups", nil, nil},
		{"scheduler tags encoded ARN", sched, "GET", "/tags/arn%3Aaws%3Ascheduler%3Aus-east-1%3A000000000000%3Aschedule-group%2Fnightly", "ListTagsForResource",
			map[string]string{"ResourceArn": "arn:aws:scheduler:us-east-1:000000000000:schedule-group/nightly"}, nil},
		{"scheduler wrong method", sched, "PUT", "/schedule-groups/nightly", "", nil, ErrMethod},
		{"scheduler unknown path", sched, "GET", "/nope", "", nil, ErrNoRoute},
		{"scheduler too deep", sched, "GET", "/schedule-groups/a/b", "", nil, ErrNoRoute},
		{"imagebuilder get", ib, "GET", "/GetImageRecipe?imageRecipeArn=arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A0%3Aimage-recipe%2Fr%2F1.0.0", "GetImageRecipe", nil, nil},
		{"imagebuilder put", ib, "PUT", "/CreateImageRecipe", "CreateImageRecipe", nil, nil},
		{"imagebuilder list is POST", ib, "POST", "/ListImages", "ListImages", nil, nil},
		{"imagebuilder tag", ib, "POST", "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A000000000000%3Aimage%2Fmy-image%2F1.0.0%2F1", "TagResource",
			map[string]string{"resourceArn": "arn:aws:imagebuilder:us-east-1:000000000000:image/my-image/1.0.0/1"}, nil},
		{"imagebuilder untag", ib, "DELETE", "/tags/arn%3Ax?tagKeys=a&tagKeys=b", "UntagResource", map[string]string{"resourceArn": "arn:x"}, nil},
		{"imagebuilder list tags", ib, "GET", "/tags/arn%3Ax", "ListTagsForResource", map[string]string{"resourceArn": "arn:x"}, nil},
		{"imagebuilder GET on PUT op", ib, "GET", "/CreateImageRecipe", "", nil, ErrMethod},
		{"literal beats label", syn, "GET", "/special/latest", "GetSpecialLatest", nil, nil},
		{"label when literal differs", syn, "GET", "/special/other", "GetSpecial", map[string]string{"Id": "other"}, nil},
		{"label then literal", syn, "GET", "/things/t1/details", "GetThing", map[string]string{"Id": "t1"}, nil},
		{"two labels", syn, "GET", "/things/t1/versions/v%202", "GetThingVersion", map[string]string{"Id": "t1", "Version": "v 2"}, nil},
		{"greedy", syn, "GET", "/bucket/a/b/c.txt", "GetObject", map[string]string{"Bucket": "bucket", "Key": "a/b/c.txt"}, nil},
		{"greedy one segment", syn, "GET", "/bucket/k", "GetObject", map[string]string{"Bucket": "bucket", "Key": "k"}, nil},
		{"greedy needs a segment", syn, "GET", "/bucket", "", nil, ErrNoRoute},
		{"query literal key", syn, "GET", "/bucket/a/b?tagging", "GetObjectTagging", map[string]string{"Bucket": "bucket", "Key": "a/b"}, nil},
		{"query literal key=value", syn, "GET", "/bucket/a?x-id=GetAcl", "GetObjectAcl", map[string]string{"Bucket": "bucket", "Key": "a"}, nil},
		{"query literal other value", syn, "GET", "/bucket/a?x-id=Other", "GetObject", map[string]string{"Bucket": "bucket", "Key": "a"}, nil},
		{"root", syn, "GET", "/", "ListBuckets", nil, nil},
		{"trailing-slash URI", syn, "POST", "/functions/f/invoke-async/", "InvokeAsync", map[string]string{"FunctionName": "f"}, nil},
		{"greedy with suffix", syn, "GET", "/files/a/b/meta", "GetFile", map[string]string{"Path": "a/b"}, nil},
		{"label with literal suffix", syn, "GET", "/reports/r1.json", "GetReport", map[string]string{"Id": "r1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := RestJSON.Route(newReq(tc.method, tc.target, nil, nil), tc.svc)
			if tc.err != nil {
				e, ok := err.(*awserr.Error)
				if !ok || e.Code != "UnknownOperationException" || e.Err != tc.err {
					t.Fatalf("err = %#v, want UnknownOperationException wrapping %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rt.Name != tc.op || rt.Op == nil || rt.Op.Name != tc.op {
				t.Fatalf("route %+v, want %s", rt, tc.op)
			}
			if len(tc.labels) > 0 || len(rt.Labels) > 0 {
				if !reflect.DeepEqual(rt.Labels, tc.labels) {
					t.Fatalf("labels %v, want %v", rt.Labels, tc.labels)
				}
			}
		})
	}
	if RouterFor(sched) != RouterFor(sched) {
		t.Error("router not cached")
	}
}

// bindings is an input/output shape with every binding.
func bindings() *shape.Shape {
	str := &shape.Shape{Name: "S", Kind: shape.String}
	i := &shape.Shape{Name: "I", Kind: shape.Integer}
	b := &shape.Shape{Name: "B", Kind: shape.Boolean}
	ts := &shape.Shape{Name: "T", Kind: shape.Timestamp}
	strs := &shape.Shape{Name: "Strs", Kind: shape.List, Member: &shape.Member{Name: "member", Shape: str}}
	smap := &shape.Shape{Name: "SMap", Kind: shape.Map, Key: &shape.Member{Name: "key", Shape: str}, Value: &shape.Member{Name: "value", Shape: str}}
	tag := &shape.Shape{Name: "Tag", Kind: shape.Structure, Members: []*shape.Member{{Name: "Key", Shape: str, LocationName: "key"}, {Name: "Value", Shape: str, LocationName: "value"}}}
	tags := &shape.Shape{Name: "Tags", Kind: shape.List, Member: &shape.Member{Name: "member", Shape: tag}}
	return &shape.Shape{Name: "Bindings", Kind: shape.Structure, Members: []*shape.Member{
		{Name: "Arn", Shape: str, Location: "uri", LocationName: "resourceArn"},
		{Name: "Count", Shape: i, Location: "querystring", LocationName: "count"},
		{Name: "Keys", Shape: strs, Location: "querystring", LocationName: "tagKeys"},
		{Name: "Extra", Shape: smap, Location: "querystring"},
		{Name: "Since", Shape: ts, Location: "header", LocationName: "X-Since"},
		{Name: "IsoTime", Shape: ts, Location: "header", LocationName: "X-Iso", TimestampFormat: "iso8601"},
		{Name: "Flag", Shape: b, Location: "header", LocationName: "X-Flag"},
		{Name: "Policy", Shape: str, Location: "header", LocationName: "X-Policy", JSONValue: true},
		{Name: "Names", Shape: strs, Location: "header", LocationName: "X-Names"},
		{Name: "Meta", Shape: smap, Location: "headers", LocationName: "X-Meta-"},
		{Name: "Status", Shape: i, Location: "statusCode"},
		{Name: "Description", Shape: str, LocationName: "description"},
		{Name: "Tags", Shape: tags, LocationName: "tags"},
		{Name: "Created", Shape: ts},
	}}
}

func TestDecode(t *testing.T) {
	in := bindings()
	op := &shape.Operation{Name: "Op", Method: "POST", RequestURI: "/r/{resourceArn}", Input: in, Implemented: true}
	policy := `{"Version":"2012-10-17"}`
	req := newReq("POST", "/r/arn%3Aaws%3Ax%2Fy?count=3&tagKeys=a&tagKeys=b&other=1&more=x", []byte(`{"description":"d","tags":[{"key":"k","value":"v"}],"Created":1700000000.5,"resourceArn":"ignored"}`), map[string]string{
		"X-Since":       "Tue, 14 Nov 2023 22:13:20 GMT",
		"X-Iso":         "2023-11-14T22:13:20Z",
		"X-Flag":        "true",
		"X-Policy":      base64.StdEncoding.EncodeToString([]byte(policy)),
		"X-Names":       `a, "b,c", d`,
		"X-Meta-Color":  "blue",
		"X-Meta-Shape":  "round",
		"Content-Type":  "application/json",
		"Authorization": "x",
	})
	svc := &shape.Service{Name: "t", Protocol: "rest-json", Operations: map[string]*shape.Operation{"Op": op}}
	rt, err := RestJSON.Route(req, svc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := RestJSON.Decode(req, svc, rt)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Unix(1700000000, 0).UTC()
	want := map[string]any{
		"Arn":         "arn:aws:x/y",
		"Count":       int64(3),
		"Keys":        []any{"a", "b"},
		"Extra":       map[string]any{"other": "1", "more": "x"},
		"Since":       when,
		"IsoTime":     when,
		"Flag":        true,
		"Policy":      policy,
		"Names":       []any{"a", "b,c", "d"},
		"Meta":        map[string]any{"color": "blue", "shape": "round"},
		"Description": "d",
		"Tags":        []any{map[string]any{"Key": "k", "Value": "v"}},
		"Created":     time.UnixMilli(1700000000500).UTC(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}

	// Errors.
	bad := []struct {
		name   string
		target string
		body   string
		hdr    map[string]string
	}{
		{"bad int query", "/r/x?count=three", "", nil},
		{"bad bool header", "/r/x", "", map[string]string{"X-Flag": "yes"}},
		{"bad timestamp header", "/r/x", "", map[string]string{"X-Since": "soon"}},
		{"bad jsonvalue header", "/r/x", "", map[string]string{"X-Policy": "%%%"}},
		{"bad body", "/r/x", `{"description":`, nil},
		{"body type mismatch", "/r/x", `{"tags":"x"}`, nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq("POST", tc.target, []byte(tc.body), tc.hdr)
			rt, err := RestJSON.Route(req, svc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = RestJSON.Decode(req, svc, rt)
			e, ok := err.(*awserr.Error)
			if !ok || e.Code != "SerializationException" {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestDecodeScheduler(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		body   string
		want   map[string]any
	}{
		{"create", "POST", "/schedule-groups/g1", `{"ClientToken":"tok","Tags":[{"Key":"a","Value":"b"}]}`,
			map[string]any{"Name": "g1", "ClientToken": "tok", "Tags": []any{map[string]any{"Key": "a", "Value": "b"}}}},
		{"create empty body", "POST", "/schedule-groups/g1", ``, map[string]any{"Name": "g1"}},
		{"delete", "DELETE", "/schedule-groups/g1?clientToken=tok", ``, map[string]any{"Name": "g1", "ClientToken": "tok"}},
		{"list", "GET", "/schedule-groups?MaxResults=10&NamePrefix=g&NextToken=n", ``, map[string]any{"MaxResults": int64(10), "NamePrefix": "g", "NextToken": "n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(tc.method, tc.target, []byte(tc.body), nil)
			rt, err := RestJSON.Route(req, sched)
			if err != nil {
				t.Fatal(err)
			}
			got, err := RestJSON.Decode(req, sched, rt)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestWriteOutput(t *testing.T) {
	out := bindings()
	op := &shape.Operation{Name: "Op", Output: out, ResponseCode: 201}
	w := httptest.NewRecorder()
	RestJSON.WriteOutput(w, nil, op, map[string]any{
		"Since":       time.Unix(1700000000, 0),
		"IsoTime":     time.Unix(1700000000, 0),
		"Flag":        true,
		"Policy":      `{"a":1}`,
		"Names":       []any{"a", "b,c"},
		"Meta":        map[string]any{"color": "blue"},
		"Description": "d",
		"Tags":        []any{map[string]any{"Key": "k", "Value": "v"}},
		"Created":     time.UnixMilli(1700000000500),
		"Count":       int64(2), // querystring: not written
	}, "rid")
	if w.Code != 201 {
		t.Errorf("status %d", w.Code)
	}
	h := w.Header()
	for k, v := range map[string]string{
		"X-Since": "Tue, 14 Nov 2023 22:13:20 GMT", "X-Iso": "2023-11-14T22:13:20.000Z", "X-Flag": "true",
		"X-Policy": base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)), "X-Names": `a, "b,c"`, "X-Meta-Color": "blue",
		"Content-Type": "application/json", wire.RequestIDHeader: "rid",
	} {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if want := `{"description":"d","tags":[{"key":"k","value":"v"}],"Created":1700000000.5}`; w.Body.String() != want {
		t.Errorf("body %s\nwant %s", w.Body.String(), want)
	}

	// statusCode-bound member overrides.
	w = httptest.NewRecorder()
	RestJSON.WriteOutput(w, nil, op, map[string]any{"Status": int64(202)}, "")
	if w.Code != 202 || w.Body.String() != "{}" {
		t.Errorf("status member: %d %s", w.Code, w.Body.String())
	}

	// Scheduler GetScheduleGroup: epoch-second timestamps, 200.
	w = httptest.NewRecorder()
	RestJSON.WriteOutput(w, sched, sched.Operations["GetScheduleGroup"], map[string]any{
		"Arn": "arn", "Name": "g", "State": "ACTIVE", "CreationDate": time.Unix(1700000000, 0),
	}, "rid")
	if want := `{"Arn":"arn","CreationDate":1700000000,"Name":"g","State":"ACTIVE"}`; w.Code != 200 || w.Body.String() != want {
		t.Errorf("scheduler: %d %s", w.Code, w.Body.String())
	}
}

func TestPayload(t *testing.T) {
	str := &shape.Shape{Name: "S", Kind: shape.String}
	doc := &shape.Shape{Name: "Doc", Kind: shape.Structure, Members: []*shape.Member{{Name: "A", Shape: str, LocationName: "a"}}}
	blob := &shape.Shape{Name: "Blob", Kind: shape.Blob}
	structIn := &shape.Shape{Name: "In", Kind: shape.Structure, Payload: "Doc", Members: []*shape.Member{{Name: "Id", Shape: str, Location: "uri", LocationName: "Id"}, {Name: "Doc", Shape: doc}}}
	blobOut := &shape.Shape{Name: "Out", Kind: shape.Structure, Payload: "Body", Members: []*shape.Member{{Name: "Body", Shape: blob}, {Name: "Type", Shape: str, Location: "header", LocationName: "Content-Type"}}}
	op := &shape.Operation{Name: "Put", Method: "PUT", RequestURI: "/docs/{Id}", Input: structIn, Output: blobOut}
	svc := &shape.Service{Name: "p", Protocol: "rest-json", Operations: map[string]*shape.Operation{"Put": op}}
	req := newReq("PUT", "/docs/7", []byte(`{"a":"x"}`), nil)
	rt, err := RestJSON.Route(req, svc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := RestJSON.Decode(req, svc, rt)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"Id": "7", "Doc": map[string]any{"A": "x"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	w := httptest.NewRecorder()
	RestJSON.WriteOutput(w, svc, op, map[string]any{"Body": []byte("raw"), "Type": "text/csv"}, "")
	if w.Body.String() != "raw" || w.Header().Get("Content-Type") != "text/csv" {
		t.Errorf("blob payload: %q %v", w.Body.String(), w.Header())
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name   string
		err    *awserr.Error
		status int
		typ    string
		body   string
	}{
		{"not found", awserr.New(awserr.NotFound, "ResourceNotFoundException", "gone"), 404, "ResourceNotFoundException",
			`{"__type":"ResourceNotFoundException","message":"gone","Message":"gone"}`},
		{"conflict", awserr.New(awserr.Conflict, "ConflictException", "busy"), 409, "ConflictException",
			`{"__type":"ConflictException","message":"busy","Message":"busy"}`},
		{"quota 402", awserr.New(awserr.LimitExceeded, "ServiceQuotaExceededException", "quota"), 402, "ServiceQuotaExceededException",
			`{"__type":"ServiceQuotaExceededException","message":"quota","Message":"quota"}`},
		{"auth", awserr.New(awserr.Unauthenticated, "InvalidSignatureException", "sig"), 403, "InvalidSignatureException",
			`{"__type":"InvalidSignatureException","message":"sig"}`},
		{"unimplemented", awserr.New(awserr.UnknownOperation, "UnknownOperationException", "not implemented"), 400, "UnknownOperationException",
			`{"__type":"UnknownOperationException","message":"not implemented"}`},
		{"no route", awserr.Wrap(ErrNoRoute, awserr.UnknownOperation, "UnknownOperationException", "no route"), 404, "UnknownOperationException",
			`{"__type":"UnknownOperationException","message":"no route"}`},
		{"wrong method", awserr.Wrap(ErrMethod, awserr.UnknownOperation, "UnknownOperationException", "no route"), 404, "UnknownOperationException",
			`{"__type":"UnknownOperationException","message":"no route"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			RestJSON.WriteError(w, sched, nil, tc.err, "rid")
			if w.Code != tc.status || w.Header().Get("X-Amzn-Errortype") != tc.typ || w.Body.String() != tc.body {
				t.Errorf("got %d %q %s", w.Code, w.Header().Get("X-Amzn-Errortype"), w.Body.String())
			}
			if w.Header().Get(wire.RequestIDHeader) != "rid" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", w.Header())
			}
		})
	}
	// The route error itself is answered 404.
	_, err := RestJSON.Route(newReq(http.MethodGet, "/nope", nil, nil), sched)
	w := httptest.NewRecorder()
	RestJSON.WriteError(w, sched, nil, awserr.From(err), "")
	if w.Code != 404 || w.Header().Get("X-Amzn-Errortype") != "UnknownOperationException" {
		t.Errorf("route error: %d %v", w.Code, w.Header())
	}
}

func FuzzRestJSONRoute(f *testing.F) {
	for _, s := range []string{"/", "/schedule-groups/x", "/tags/arn%3Ax", "/a/b/c", "/%zz", "//", "/schedule-groups/"} {
		f.Add("GET", s, []byte("{}"))
	}
	syn := synthetic()
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if len(path) == 0 || path[0] != '/' {
			path = "/" + path
		}
		r, err := http.NewRequest(method, "http://h"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req := &wire.Request{HTTP: r, Body: body}
		for _, svc := range []*shape.Service{sched, ib, syn} {
			rt, err := RestJSON.Route(req, svc)
			if err == nil && rt.Op != nil && rt.Op.Input != nil {
				_, _ = RestJSON.Decode(req, svc, rt)
			}
		}
	})
}

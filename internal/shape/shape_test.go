package shape_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/shape"
)

func TestParseScalar(t *testing.T) {
	str := &shape.Shape{Kind: shape.String}
	num := &shape.Shape{Kind: shape.Integer}
	dbl := &shape.Shape{Kind: shape.Double}
	bl := &shape.Shape{Kind: shape.Boolean}
	ts := &shape.Shape{Kind: shape.Timestamp}
	blob := &shape.Shape{Kind: shape.Blob}
	cases := []struct {
		sh      *shape.Shape
		in      string
		want    any
		wantErr bool
	}{
		{str, "a b", "a b", false},
		{num, "42", int64(42), false},
		{num, " 7 ", int64(7), false},
		{num, "4.2", nil, true},
		{dbl, "1.5", 1.5, false},
		{bl, "TRUE", true, false},
		{bl, "yes", nil, true},
		{ts, "2026-11-22T03:10:05Z", time.Date(2026, 11, 22, 3, 10, 5, 0, time.UTC), false},
		{ts, "2026-11-22T03:10:05.123456Z", time.Date(2026, 11, 22, 3, 10, 5, 123456000, time.UTC), false},
		{ts, "1700000000.5", time.Unix(1700000000, 5e8).UTC(), false},
		{ts, "Sun, 22 Nov 2026 03:10:05 GMT", time.Date(2026, 11, 22, 3, 10, 5, 0, time.UTC), false},
		{ts, "yesterday", nil, true},
		{blob, "aGVsbG8=", []byte("hello"), false},
		{blob, "!!", nil, true},
	}
	for _, c := range cases {
		got, err := shape.ParseScalar(c.sh, c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("%s %q: err %v", c.sh.Kind, c.in, err)
			continue
		}
		if !c.wantErr && !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q: got %#v want %#v", c.sh.Kind, c.in, got, c.want)
		}
	}
}

func TestRoundTripThroughGo(t *testing.T) {
	op := ec2api.Service.Operations["DescribeKeyPairs"]
	v := map[string]any{
		"KeyNames":         []any{"a", "b"},
		"IncludePublicKey": true,
		"Filters":          []any{map[string]any{"Name": "tag:x", "Values": []any{"1", "2"}}},
		"Unknown":          "ignored",
	}
	in, err := shape.NewInput(op, v)
	if err != nil {
		t.Fatal(err)
	}
	got := in.(*ec2api.DescribeKeyPairsRequest)
	if !reflect.DeepEqual(got.KeyNames, []string{"a", "b"}) || !*got.IncludePublicKey || got.Filters[0].Values[1] != "2" {
		t.Fatalf("decoded %+v", got)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out := &ec2api.DescribeKeyPairsResult{KeyPairs: []ec2api.KeyPairInfo{{KeyName: "a", CreateTime: &now, Tags: []ec2api.Tag{{Key: "k", Value: "v"}}}}}
	tree := shape.OutputValue(ec2api.Service.Operations["DescribeKeyPairs"], out).(map[string]any)
	kp := tree["KeyPairs"].([]any)[0].(map[string]any)
	if kp["KeyName"] != "a" || kp["CreateTime"] != now || kp["KeyPairId"] != nil {
		t.Fatalf("encoded %#v", kp)
	}
}

func TestValidate(t *testing.T) {
	op := ec2api.Service.Operations["CreateKeyPair"] // KeyName is required
	vs := shape.Validate(op.Input, map[string]any{})
	if len(vs) == 0 || !vs[0].Missing {
		t.Fatalf("missing required member not reported: %+v", vs)
	}
	enum := &shape.Shape{Name: "E", Kind: shape.String, Enum: []string{"a", "b"}}
	length := &shape.Shape{Name: "L", Kind: shape.String, Min: 2, HasMin: true, Max: 3, HasMax: true, Pattern: "^[a-z]+$"}
	rng := &shape.Shape{Name: "R", Kind: shape.Integer, Min: 5, HasMin: true, Max: 1000, HasMax: true}
	st := &shape.Shape{Name: "S", Kind: shape.Structure, Members: []*shape.Member{
		{Name: "Mode", Shape: enum}, {Name: "Name", Shape: length, Field: 1}, {Name: "MaxResults", Shape: rng, Field: 2},
	}}
	vs = shape.Validate(st, map[string]any{"Mode": "c", "Name": "ABCD", "MaxResults": int64(1)})
	if len(vs) != 4 {
		t.Fatalf("want 4 violations (enum, length, pattern, range), got %+v", vs)
	}
	msg := shape.Summary(vs)
	for _, want := range []string{"4 validation errors detected", "Value 'c' at 'mode' failed to satisfy constraint: Member must satisfy enum value set: [a, b]",
		"Member must have length less than or equal to 3", "Value '1' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 5"} {
		if !strings.Contains(msg, want) {
			t.Errorf("summary lacks %q:\n%s", want, msg)
		}
	}
	if vs := shape.Validate(st, map[string]any{"Mode": "a", "Name": "ab", "MaxResults": int64(5)}); len(vs) != 0 {
		t.Fatalf("valid input rejected: %+v", vs)
	}
}

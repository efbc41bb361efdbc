// Package query implements the two form-in, XML-out protocols: ec2Query
// (EC2) and awsQuery (STS, IAM, Auto Scaling, CloudFormation, and CloudWatch
// from older clients). Both walk the operation's shapes; handlers never see
// the wire.
package query

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// form is a decoded request: every key/value plus the set of dotted
// prefixes present (so that "Filter.1" is known to exist when only
// "Filter.1.Name" was sent).
type form struct {
	vals     url.Values
	prefixes map[string]bool
	ec2      bool
}

func newForm(vals url.Values, ec2 bool) *form {
	f := &form{vals: vals, prefixes: make(map[string]bool, len(vals)*2), ec2: ec2}
	for k := range vals {
		for i := 0; i < len(k); i++ {
			if k[i] == '.' {
				f.prefixes[k[:i]] = true
			}
		}
	}
	return f
}

func (f *form) has(key string) bool {
	_, ok := f.vals[key]
	return ok || f.prefixes[key]
}

// decodeStruct builds the Value of a structure whose members sit under prefix.
func (f *form) decodeStruct(sh *shape.Shape, prefix string) (map[string]any, error) {
	out := map[string]any{}
	for _, m := range sh.Members {
		name := m.SerializedName()
		if f.ec2 {
			name = m.EC2Name()
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		v, err := f.decode(m.Shape, m, key)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[m.Name] = v
		}
	}
	return out, nil
}

func (f *form) decode(sh *shape.Shape, m *shape.Member, key string) (shape.Value, error) {
	switch sh.Kind {
	case shape.Structure:
		if !f.prefixes[key] {
			return nil, nil
		}
		return f.decodeStruct(sh, key)
	case shape.List:
		return f.decodeList(sh, m, key)
	case shape.Map:
		return f.decodeMap(sh, m, key)
	}
	vs, ok := f.vals[key]
	if !ok || len(vs) == 0 {
		return nil, nil
	}
	v, err := shape.ParseScalar(sh, vs[0])
	if err != nil {
		return nil, invalid(f.ec2, key, vs[0], err)
	}
	return v, nil
}

func (f *form) decodeList(sh *shape.Shape, m *shape.Member, key string) (shape.Value, error) {
	base := key
	if !f.ec2 && !sh.Flattened && !(m != nil && m.Flattened) {
		item := "member"
		if sh.Member.LocationName != "" {
			item = sh.Member.LocationName
		}
		base = key + "." + item
	}
	if !f.has(base) {
		if vs, ok := f.vals[key]; ok && len(vs) > 0 && vs[0] == "" {
			return []any{}, nil // awsQuery sends an empty list as "Key="
		}
		return nil, nil
	}
	out := []any{}
	for n := 1; ; n++ {
		k := base + "." + strconv.Itoa(n)
		if !f.has(k) {
			break
		}
		v, err := f.decode(sh.Member.Shape, sh.Member, k)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (f *form) decodeMap(sh *shape.Shape, m *shape.Member, key string) (shape.Value, error) {
	base := key
	if !sh.Flattened && !(m != nil && m.Flattened) {
		base = key + ".entry"
	}
	kn, vn := "key", "value"
	if sh.Key.LocationName != "" {
		kn = sh.Key.LocationName
	}
	if sh.Value.LocationName != "" {
		vn = sh.Value.LocationName
	}
	if !f.has(base) {
		return nil, nil
	}
	out := map[string]any{}
	for n := 1; ; n++ {
		k := base + "." + strconv.Itoa(n)
		if !f.has(k) {
			break
		}
		name := f.vals.Get(k + "." + kn)
		v, err := f.decode(sh.Value.Shape, sh.Value, k+"."+vn)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

func invalid(ec2 bool, key, val string, err error) *awserr.Error {
	if ec2 {
		return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value (%s) for parameter %s is invalid. %v", val, key, err)
	}
	return awserr.New(awserr.InvalidArgument, "ValidationError", "Value '%s' at '%s' failed to satisfy constraint: %v", val, key, err)
}

// action reads the Action parameter of a form request.
func action(vals url.Values) (string, error) {
	a := strings.TrimSpace(vals.Get("Action"))
	if a == "" {
		return "", fmt.Errorf("missing Action")
	}
	return a, nil
}

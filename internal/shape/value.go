package shape

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// A Value is a protocol-neutral decoded value, shaped by a Shape:
//
//	structure → map[string]any keyed by member name
//	list      → []any
//	map       → map[string]any
//	string    → string
//	integer, long → int64
//	float, double → float64
//	boolean   → bool
//	timestamp → time.Time
//	blob      → []byte
//
// Codecs produce and consume Values; ToGo and FromGo move them into and out
// of generated structs.
type Value = any

// ParseScalar parses the text form of a scalar (form fields, headers, query
// strings, XML text) into the Value for sh.
func ParseScalar(sh *Shape, s string) (Value, error) {
	switch sh.Kind {
	case String:
		return s, nil
	case Integer, Long:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid integer", s)
		}
		return n, nil
	case Float, Double:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid number", s)
		}
		return f, nil
	case Boolean:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a valid boolean", s)
	case Timestamp:
		return ParseTime(s)
	case Blob:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("value is not valid base64")
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s is not a scalar", sh.Kind)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z",
	"2006-01-02",
	time.RFC1123,
	time.RFC1123Z,
}

// ParseTime accepts the timestamp forms clients send: ISO 8601 (with or
// without fractions and zone), RFC 822/1123, and epoch seconds.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "-:") {
		return EpochTime(f), nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a valid timestamp", s)
}

// EpochTime converts fractional epoch seconds to a time, to the millisecond.
func EpochTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC()
}

// EpochSeconds is the inverse of EpochTime.
func EpochSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// FormatScalar renders a scalar Value as text (XML, headers, query strings).
// Timestamps use format ("iso8601" default, "rfc822", "unixTimestamp").
func FormatScalar(v Value, format string) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		switch format {
		case "rfc822":
			return x.UTC().Format(time.RFC1123)
		case "unixTimestamp":
			return strconv.FormatFloat(EpochSeconds(x), 'f', -1, 64)
		}
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	return fmt.Sprint(v)
}

// ToGo stores the Value v (shaped by sh) into dst, which must be settable and
// of the generated Go type for sh (or a pointer to it).
func ToGo(sh *Shape, v Value, dst reflect.Value) error {
	if v == nil {
		return nil
	}
	if dst.Kind() == reflect.Pointer && sh.Kind != Blob {
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		dst = dst.Elem()
	}
	switch sh.Kind {
	case Structure:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: expected a structure", sh.Name)
		}
		for name, mv := range m {
			mem := sh.MemberByName(name)
			if mem == nil {
				continue // unknown members are ignored, as AWS does
			}
			if err := ToGo(mem.Shape, mv, dst.Field(mem.Field)); err != nil {
				return err
			}
		}
	case List:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: expected a list", sh.Name)
		}
		s := reflect.MakeSlice(dst.Type(), len(l), len(l))
		for i, e := range l {
			if err := ToGo(sh.Member.Shape, e, s.Index(i)); err != nil {
				return err
			}
		}
		dst.Set(s)
	case Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: expected a map", sh.Name)
		}
		out := reflect.MakeMapWithSize(dst.Type(), len(m))
		et := dst.Type().Elem()
		for k, e := range m {
			ev := reflect.New(et).Elem()
			if err := ToGo(sh.Value.Shape, e, ev); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(dst.Type().Key()), ev)
		}
		dst.Set(out)
	default:
		return setScalar(sh, v, dst)
	}
	return nil
}

func setScalar(sh *Shape, v Value, dst reflect.Value) error {
	bad := func() error { return fmt.Errorf("%s: unexpected %T for %s", sh.Name, v, sh.Kind) }
	switch sh.Kind {
	case String:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		dst.SetString(s)
	case Integer, Long:
		n, ok := toInt(v)
		if !ok {
			return bad()
		}
		dst.SetInt(n)
	case Float, Double:
		f, ok := toFloat(v)
		if !ok {
			return bad()
		}
		dst.SetFloat(f)
	case Boolean:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		dst.SetBool(b)
	case Timestamp:
		t, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		dst.Set(reflect.ValueOf(t))
	case Blob:
		b, ok := v.([]byte)
		if !ok {
			return bad()
		}
		dst.SetBytes(b)
	}
	return nil
}

func toInt(v Value) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) {
			return int64(x), true
		}
	}
	return 0, false
}

func toFloat(v Value) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// FromGo turns a generated Go value for sh into a Value. Nil pointers, nil
// slices and maps, and empty strings are absent (nil).
func FromGo(sh *Shape, src reflect.Value) Value {
	if src.Kind() == reflect.Pointer || src.Kind() == reflect.Interface {
		if src.IsNil() {
			return nil
		}
		if sh.Kind != Blob {
			src = src.Elem()
		}
	}
	switch sh.Kind {
	case Structure:
		out := make(map[string]any, len(sh.Members))
		for _, mem := range sh.Members {
			if v := FromGo(mem.Shape, src.Field(mem.Field)); v != nil {
				out[mem.Name] = v
			}
		}
		return out
	case List:
		if src.IsNil() {
			return nil
		}
		out := make([]any, src.Len())
		for i := range out {
			out[i] = FromGo(sh.Member.Shape, src.Index(i))
		}
		return out
	case Map:
		if src.IsNil() {
			return nil
		}
		out := make(map[string]any, src.Len())
		it := src.MapRange()
		for it.Next() {
			out[it.Key().String()] = FromGo(sh.Value.Shape, it.Value())
		}
		return out
	case String:
		if s := src.String(); s != "" {
			return s
		}
		return nil
	case Integer, Long:
		return src.Int()
	case Float, Double:
		return src.Float()
	case Boolean:
		return src.Bool()
	case Timestamp:
		t := src.Interface().(time.Time)
		if t.IsZero() {
			return nil
		}
		return t
	case Blob:
		if src.IsNil() {
			return nil
		}
		return src.Bytes()
	}
	return nil
}

// NewInput allocates the Go input struct for an operation and fills it from v.
func NewInput(op *Operation, v Value) (any, error) {
	if op.Input == nil || op.Input.GoType == nil {
		return nil, nil
	}
	p := reflect.New(op.Input.GoType)
	if v == nil {
		return p.Interface(), nil
	}
	if err := ToGo(op.Input, v, p.Elem()); err != nil {
		return nil, err
	}
	return p.Interface(), nil
}

// OutputValue converts a handler's result into a Value for encoding.
func OutputValue(op *Operation, out any) Value {
	if op.Output == nil || out == nil {
		return map[string]any{}
	}
	v := FromGo(op.Output, reflect.ValueOf(out))
	if v == nil {
		return map[string]any{}
	}
	return v
}

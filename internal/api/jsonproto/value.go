package jsonproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// Options selects how structure members are named in JSON.
type Options struct {
	// LocationNames keys structure members by their locationName when the
	// model sets one (restJson1's jsonName); awsJson uses member names.
	LocationNames bool
}

func (o Options) key(m *shape.Member) string {
	if o.LocationNames && m.LocationName != "" {
		return m.LocationName
	}
	return m.Name
}

// SerializationError is the error a malformed JSON body produces: AWS JSON
// services answer SerializationException (400).
func SerializationError(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "SerializationException", format, args...)
}

// Unmarshal parses body as a JSON object and walks it by the structure sh
// into a Value tree (map keyed by member name). An empty body is {}. Only
// the members in filter are read when filter is non-nil (restJson uses it to
// leave out members bound to the URI, query string or headers).
func Unmarshal(sh *shape.Shape, body []byte, o Options, filter func(*shape.Member) bool) (map[string]any, error) {
	out := map[string]any{}
	if len(bytes.TrimSpace(body)) == 0 {
		return out, nil
	}
	raw, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return out, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, SerializationError("Start of structure or map found where not expected: the request body must be a JSON object")
	}
	if sh == nil {
		return out, nil
	}
	return decodeStruct(sh, obj, o, filter, "")
}

// UnmarshalValue parses body as JSON and walks it by sh (any kind).
func UnmarshalValue(sh *shape.Shape, body []byte, o Options) (shape.Value, error) {
	raw, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	return DecodeValue(sh, raw, o)
}

func parseJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, SerializationError("The request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, SerializationError("The request body is not valid JSON: unexpected data after the top-level value")
	}
	return raw, nil
}

// DecodeValue walks a generic JSON value (as encoding/json decodes it with
// UseNumber) by sh into a Value. JSON null is absent (nil).
func DecodeValue(sh *shape.Shape, raw any, o Options) (shape.Value, error) {
	return decode(sh, raw, o, "")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func mismatch(path string, sh *shape.Shape, raw any) *awserr.Error {
	if path == "" {
		path = sh.Name
	}
	return SerializationError("Unexpected %s for %s (%s)", jsonKind(raw), path, kindName(sh))
}

func kindName(sh *shape.Shape) string {
	return sh.Kind.String()
}

func jsonKind(raw any) string {
	switch raw.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "value"
}

func decodeStruct(sh *shape.Shape, obj map[string]any, o Options, filter func(*shape.Member) bool, path string) (map[string]any, error) {
	out := make(map[string]any, len(obj))
	for _, m := range sh.Members {
		if filter != nil && !filter(m) {
			continue
		}
		rv, ok := obj[o.key(m)]
		if !ok && m.LocationName != "" {
			// Be lenient: accept the other spelling too.
			if o.LocationNames {
				rv, ok = obj[m.Name]
			} else {
				rv, ok = obj[m.LocationName]
			}
		}
		if !ok || rv == nil {
			continue
		}
		v, err := decode(m.Shape, rv, o, join(path, m.Name))
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[m.Name] = v
		}
	}
	return out, nil
}

func decode(sh *shape.Shape, raw any, o Options, path string) (shape.Value, error) {
	if raw == nil {
		return nil, nil
	}
	switch sh.Kind {
	case shape.Structure:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, mismatch(path, sh, raw)
		}
		return decodeStruct(sh, obj, o, nil, path)
	case shape.List:
		arr, ok := raw.([]any)
		if !ok {
			return nil, mismatch(path, sh, raw)
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			if e == nil {
				continue // sparse lists are not used by these services
			}
			v, err := decode(sh.Member.Shape, e, o, join(path, strconv.Itoa(i)))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case shape.Map:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, mismatch(path, sh, raw)
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if e == nil {
				continue
			}
			v, err := decode(sh.Value.Shape, e, o, join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case shape.String:
		s, ok := raw.(string)
		if !ok {
			return nil, mismatch(path, sh, raw)
		}
		return s, nil
	case shape.Boolean:
		b, ok := raw.(bool)
		if !ok {
			return nil, mismatch(path, sh, raw)
		}
		return b, nil
	case shape.Integer, shape.Long:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, mismatch(path, sh, raw)
		}
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<63 {
			return nil, SerializationError("Value %s at %s is not a valid %s", n, pathOr(path, sh), kindName(sh))
		}
		return int64(f), nil
	case shape.Float, shape.Double:
		switch x := raw.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return nil, SerializationError("Value %s at %s is not a valid %s", x, pathOr(path, sh), kindName(sh))
			}
			return f, nil
		case string:
			switch x {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
		return nil, mismatch(path, sh, raw)
	case shape.Timestamp:
		switch x := raw.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, SerializationError("Value %s at %s is not a valid timestamp", x, pathOr(path, sh))
			}
			return shape.EpochTime(f), nil
		case string:
			t, err := shape.ParseTime(x)
			if err != nil {
				return nil, SerializationError("Value at %s: %v", pathOr(path, sh), err)
			}
			return t, nil
		}
		return nil, mismatch(path, sh, raw)
	case shape.Blob:
		s, ok := raw.(string)
		if !ok {
			return nil, mismatch(path, sh, raw)
		}
		b, err := DecodeBase64(s)
		if err != nil {
			return nil, SerializationError("Value at %s is not valid base64", pathOr(path, sh))
		}
		return b, nil
	}
	return nil, SerializationError("Unsupported shape %s at %s", sh.Name, pathOr(path, sh))
}

func pathOr(path string, sh *shape.Shape) string {
	if path == "" {
		return sh.Name
	}
	return path
}

// DecodeBase64 accepts standard base64 with or without padding (and the
// URL-safe alphabet, which some hand-written clients send).
func DecodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	t := strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(t); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(t)
}

// Marshal encodes the Value v (shaped by sh) as JSON. A nil v is {} for a
// structure.
func Marshal(sh *shape.Shape, v shape.Value, o Options) []byte {
	if v == nil && (sh == nil || sh.Kind == shape.Structure) {
		return []byte("{}")
	}
	return AppendValue(make([]byte, 0, 256), sh, v, "", o)
}

// MarshalStruct encodes the members of structure sh for which filter is true
// (all when filter is nil), in model order, omitting absent ones.
func MarshalStruct(sh *shape.Shape, v map[string]any, o Options, filter func(*shape.Member) bool) []byte {
	return appendStruct(make([]byte, 0, 256), sh, v, o, filter)
}

// TimestampFormat is the effective timestampFormat of a member ("" when the
// model leaves it to the protocol default).
func TimestampFormat(m *shape.Member) string {
	if m == nil {
		return ""
	}
	if m.TimestampFormat != "" {
		return m.TimestampFormat
	}
	return m.Shape.TimestampFormat
}

func appendStruct(b []byte, sh *shape.Shape, m map[string]any, o Options, filter func(*shape.Member) bool) []byte {
	b = append(b, '{')
	first := true
	if sh != nil {
		for _, mem := range sh.Members {
			if filter != nil && !filter(mem) {
				continue
			}
			mv, ok := m[mem.Name]
			if !ok || mv == nil {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = AppendString(b, o.key(mem))
			b = append(b, ':')
			b = AppendValue(b, mem.Shape, mv, TimestampFormat(mem), o)
		}
	}
	return append(b, '}')
}

// AppendValue appends the JSON form of v (shaped by sh; tsFormat is the
// member's timestampFormat, "" for epoch seconds).
func AppendValue(b []byte, sh *shape.Shape, v shape.Value, tsFormat string, o Options) []byte {
	if sh == nil {
		return appendDynamic(b, v)
	}
	switch sh.Kind {
	case shape.Structure:
		m, ok := v.(map[string]any)
		if !ok {
			return appendDynamic(b, v)
		}
		return appendStruct(b, sh, m, o, nil)
	case shape.List:
		l, ok := v.([]any)
		if !ok {
			return appendDynamic(b, v)
		}
		b = append(b, '[')
		for i, e := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendValue(b, sh.Member.Shape, e, TimestampFormat(sh.Member), o)
		}
		return append(b, ']')
	case shape.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return appendDynamic(b, v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			b = AppendValue(b, sh.Value.Shape, m[k], TimestampFormat(sh.Value), o)
		}
		return append(b, '}')
	case shape.Timestamp:
		t, ok := v.(time.Time)
		if !ok {
			return appendDynamic(b, v)
		}
		if tsFormat == "" {
			tsFormat = sh.TimestampFormat
		}
		switch tsFormat {
		case "iso8601", "rfc822":
			return AppendString(b, shape.FormatScalar(t, tsFormat))
		}
		return AppendEpoch(b, t)
	case shape.Blob:
		switch x := v.(type) {
		case []byte:
			return AppendString(b, base64.StdEncoding.EncodeToString(x))
		case string:
			return AppendString(b, base64.StdEncoding.EncodeToString([]byte(x)))
		}
	case shape.Float, shape.Double:
		switch x := v.(type) {
		case float64:
			return AppendFloat(b, x)
		case int64:
			return strconv.AppendInt(b, x, 10)
		}
	}
	return appendDynamic(b, v)
}

// AppendEpoch appends t as epoch seconds: an integer when t has no
// sub-second part, else a decimal with millisecond precision.
func AppendEpoch(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return strconv.AppendInt(b, ms/1000, 10)
	}
	return strconv.AppendFloat(b, float64(ms)/1000, 'f', -1, 64)
}

// AppendFloat appends f as a JSON number, or as the strings "NaN",
// "Infinity" and "-Infinity" that Smithy's JSON protocols use.
func AppendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

// appendDynamic encodes a value whose Go type does not match its shape (or
// that has no shape) by its dynamic type.
func appendDynamic(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return AppendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		return AppendFloat(b, x)
	case time.Time:
		return AppendEpoch(b, x)
	case []byte:
		return AppendString(b, base64.StdEncoding.EncodeToString(x))
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendDynamic(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			b = appendDynamic(b, x[k])
		}
		return append(b, '}')
	}
	out, err := json.Marshal(v)
	if err != nil {
		return AppendString(b, fmt.Sprint(v))
	}
	return append(b, out...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so the output is also valid JavaScript.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

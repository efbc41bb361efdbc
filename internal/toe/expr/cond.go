package expr

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Operator groups.
const (
	OpAnd = "and"
	OpOr  = "or"
	OpNot = "not"
)

// OpKind describes the operand shape an operator takes.
type OpKind int

// Operator kinds.
const (
	KindLogical OpKind = iota + 1
	KindCompare        // operator value is the baseline, `value:` the subject
	KindUnary          // the operator value is the subject (stringIsEmpty, binaryExists…)
	KindHash           // operator value is the expected hash, `path:` the file
)

// Operators lists every operator the engine knows and its kind.
var Operators = map[string]OpKind{
	OpAnd: KindLogical, OpOr: KindLogical, OpNot: KindLogical,
	"stringIsEmpty": KindUnary, "stringIsWhitespace": KindUnary,
	"stringEquals": KindCompare, "stringLessThan": KindCompare, "stringLessThanEquals": KindCompare,
	"stringGreaterThan": KindCompare, "stringGreaterThanEquals": KindCompare, "patternMatches": KindCompare,
	"numberEquals": KindCompare, "numberLessThan": KindCompare, "numberLessThanEquals": KindCompare,
	"numberGreaterThan": KindCompare, "numberGreaterThanEquals": KindCompare,
	"booleanEquals": KindCompare,
	"binaryExists":  KindUnary, "fileExists": KindUnary, "folderExists": KindUnary,
	"fileMD5Equals": KindHash, "fileSHA1Equals": KindHash, "fileSHA256Equals": KindHash, "fileSHA512Equals": KindHash,
}

// MaxLogicalDepth is the deepest nesting of logical operators allowed.
const MaxLogicalDepth = 4

// Cond is one node of a condition tree.
type Cond struct {
	Op      string
	Operand any     // the operator's own value
	Value   any     // `value:` (KindCompare)
	Path    string  // `path:` (KindHash)
	Args    []*Cond // and/or children; not has exactly one
	Line    int
}

// LogicalDepth returns the deepest chain of nested logical operators.
func (c *Cond) LogicalDepth() int {
	if c == nil || Operators[c.Op] != KindLogical {
		return 0
	}
	m := 0
	for _, a := range c.Args {
		if d := a.LogicalDepth(); d > m {
			m = d
		}
	}
	return m + 1
}

// Refs returns every reference used in the condition's operands.
func (c *Cond) Refs() []Ref {
	if c == nil {
		return nil
	}
	var out []Ref
	add := func(v any) { WalkStrings(v, func(s string) { out = append(out, Refs(s)...) }) }
	add(c.Operand)
	add(c.Value)
	add(c.Path)
	for _, a := range c.Args {
		out = append(out, a.Refs()...)
	}
	return out
}

// Env provides the file-system facts some operators need.
type Env interface {
	// BinaryExists reports whether name is found on PATH.
	BinaryExists(name string) bool
	// Stat reports whether path is a regular file or a directory.
	Stat(path string) (isFile, isDir bool)
	// HashFile returns the lower-case hex digest of the file with the
	// given algorithm ("md5", "sha1", "sha256", "sha512").
	HashFile(alg, path string) (string, error)
}

// Eval evaluates the condition. Operand strings are expanded with scope
// first. Logical operators short-circuit in listed order.
func (c *Cond) Eval(env Env, scope Scope) (bool, error) {
	switch c.Op {
	case OpAnd:
		for _, a := range c.Args {
			ok, err := a.Eval(env, scope)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case OpOr:
		for _, a := range c.Args {
			ok, err := a.Eval(env, scope)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case OpNot:
		if len(c.Args) != 1 {
			return false, fmt.Errorf("not takes exactly one expression")
		}
		ok, err := c.Args[0].Eval(env, scope)
		return !ok && err == nil, err
	}
	op, err := expandAny(c.Operand, scope)
	if err != nil {
		return false, err
	}
	switch Operators[c.Op] {
	case KindUnary:
		s := Stringify(op)
		switch c.Op {
		case "stringIsEmpty":
			return s == "", nil
		case "stringIsWhitespace":
			return strings.TrimSpace(s) == "", nil
		case "binaryExists":
			return env.BinaryExists(s), nil
		case "fileExists":
			f, _ := env.Stat(s)
			return f, nil
		case "folderExists":
			_, d := env.Stat(s)
			return d, nil
		}
	case KindHash:
		path, err := Expand(c.Path, scope)
		if err != nil {
			return false, err
		}
		alg := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(c.Op, "file"), "Equals"))
		got, err := env.HashFile(alg, path)
		if err != nil {
			return false, nil
		}
		return strings.EqualFold(got, Stringify(op)), nil
	case KindCompare:
		val, err := expandAny(c.Value, scope)
		if err != nil {
			return false, err
		}
		return Compare(c.Op, op, val)
	}
	return false, fmt.Errorf("unknown operator %q", c.Op)
}

func expandAny(v any, scope Scope) (any, error) {
	if s, ok := v.(string); ok {
		return Expand(s, scope)
	}
	return v, nil
}

var numberRe = regexp.MustCompile(`^[-+]?([0-9]+[.])?[0-9]+$`)

// ToNumber converts an operand to a big.Float: ints, floats and strings
// matching ^[-+]?([0-9]+[.])?[0-9]+$.
func ToNumber(v any) (*big.Float, bool) {
	switch x := v.(type) {
	case int:
		return new(big.Float).SetInt64(int64(x)), true
	case int64:
		return new(big.Float).SetInt64(x), true
	case float64:
		return new(big.Float).SetFloat64(x), true
	case string:
		if !numberRe.MatchString(x) {
			return nil, false
		}
		f, _, err := big.ParseFloat(x, 10, 128, big.ToNearestEven)
		return f, err == nil
	}
	return nil, false
}

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(x)))
		return b, err == nil
	}
	return false, false
}

// Compare applies a comparison operator: baseline is the operator's value,
// value the thing tested (`numberLessThan: 2, value: 1` is true).
func Compare(op string, baseline, value any) (bool, error) {
	switch {
	case op == "booleanEquals":
		a, ok1 := toBool(baseline)
		b, ok2 := toBool(value)
		return ok1 && ok2 && a == b, nil
	case op == "patternMatches":
		re, err := regexp.Compile(Stringify(baseline))
		if err != nil {
			return false, fmt.Errorf("patternMatches: invalid pattern: %w", err)
		}
		return re.MatchString(Stringify(value)), nil
	case strings.HasPrefix(op, "string"):
		a := strings.ToLower(Stringify(baseline))
		b := strings.ToLower(Stringify(value))
		c := strings.Compare(b, a)
		return cmpResult(strings.TrimPrefix(op, "string"), c), nil
	case strings.HasPrefix(op, "number"):
		a, ok1 := ToNumber(baseline)
		b, ok2 := ToNumber(value)
		if !ok1 || !ok2 {
			return false, nil
		}
		return cmpResult(strings.TrimPrefix(op, "number"), b.Cmp(a)), nil
	}
	return false, fmt.Errorf("unknown comparison operator %q", op)
}

func cmpResult(rel string, c int) bool {
	switch rel {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThan":
		return c > 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

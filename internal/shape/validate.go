package shape

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Violation is one failed model constraint in a request.
type Violation struct {
	Path    string // dotted member path, e.g. "Filter.1.Name" style for humans
	Member  string // the innermost member name
	Missing bool   // a required member is absent
	Value   Value
	Message string // "Member must not be null", "Member must have length less than or equal to 5", …
}

// Validate checks v against sh: required members, enums, length and value
// ranges and patterns. It returns every violation found, in a stable order.
func Validate(sh *Shape, v Value) []Violation {
	var out []Violation
	validate(sh, v, "", "", &out)
	return out
}

func validate(sh *Shape, v Value, path, member string, out *[]Violation) {
	add := func(msg string) {
		*out = append(*out, Violation{Path: path, Member: member, Value: v, Message: msg})
	}
	switch sh.Kind {
	case Structure:
		m, _ := v.(map[string]any)
		for _, mem := range sh.Members {
			mv, ok := m[mem.Name]
			p := join(path, mem.Name)
			if !ok || mv == nil {
				if mem.Required && mem.Location != "statusCode" {
					*out = append(*out, Violation{Path: p, Member: mem.Name, Missing: true, Message: "Member must not be null"})
				}
				continue
			}
			validate(mem.Shape, mv, p, mem.Name, out)
		}
		return
	case List:
		l, _ := v.([]any)
		checkLen(sh, len(l), add)
		for i, e := range l {
			validate(sh.Member.Shape, e, fmt.Sprintf("%s.%d", path, i+1), member, out)
		}
		return
	case Map:
		m, _ := v.(map[string]any)
		checkLen(sh, len(m), add)
		for k, e := range m {
			validate(sh.Key.Shape, k, path+"."+k, member, out)
			validate(sh.Value.Shape, e, path+"."+k, member, out)
		}
		return
	case String:
		s, _ := v.(string)
		checkLen(sh, utf8.RuneCountInString(s), add)
		if len(sh.Enum) > 0 && !contains(sh.Enum, s) {
			add("Member must satisfy enum value set: [" + strings.Join(sh.Enum, ", ") + "]")
		}
		if re := pattern(sh.Pattern); re != nil && !re.MatchString(s) {
			add("Member must satisfy regular expression pattern: " + sh.Pattern)
		}
	case Blob:
		b, _ := v.([]byte)
		checkLen(sh, len(b), add)
	case Integer, Long, Float, Double:
		f, _ := toFloat(v)
		if sh.HasMin && f < sh.Min {
			add(fmt.Sprintf("Member must have value greater than or equal to %s", num(sh.Min)))
		}
		if sh.HasMax && f > sh.Max {
			add(fmt.Sprintf("Member must have value less than or equal to %s", num(sh.Max)))
		}
	}
}

func checkLen(sh *Shape, n int, add func(string)) {
	if sh.HasMin && float64(n) < sh.Min {
		add(fmt.Sprintf("Member must have length greater than or equal to %s", num(sh.Min)))
	}
	if sh.HasMax && float64(n) > sh.Max {
		add(fmt.Sprintf("Member must have length less than or equal to %s", num(sh.Max)))
	}
}

func num(f float64) string { return FormatScalar(f, "") }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

var patterns sync.Map // pattern string → *regexp.Regexp (nil when Go cannot compile it)

// pattern compiles a model pattern once. Patterns Go's RE2 cannot express
// (look-arounds) are not enforced.
func pattern(p string) *regexp.Regexp {
	if p == "" {
		return nil
	}
	if re, ok := patterns.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	patterns.Store(p, re)
	return re
}

// Summary renders violations the way AWS's JSON services do:
// "2 validation errors detected: Value null at 'keyId' failed to satisfy
// constraint: Member must not be null; …".
func Summary(vs []Violation) string {
	var b strings.Builder
	if len(vs) == 1 {
		b.WriteString("1 validation error detected: ")
	} else {
		fmt.Fprintf(&b, "%d validation errors detected: ", len(vs))
	}
	for i, v := range vs {
		if i > 0 {
			b.WriteString("; ")
		}
		val := "null"
		if !v.Missing {
			val = "'" + FormatScalar(v.Value, "") + "'"
			if _, ok := v.Value.([]any); ok {
				val = "'[…]'"
			} else if _, ok := v.Value.(map[string]any); ok {
				val = "'{…}'"
			}
		}
		fmt.Fprintf(&b, "Value %s at '%s' failed to satisfy constraint: %s", val, lowerFirst(v.Path), v.Message)
	}
	return b.String()
}

func lowerFirst(p string) string {
	parts := strings.Split(p, ".")
	for i, s := range parts {
		if s != "" {
			parts[i] = strings.ToLower(s[:1]) + s[1:]
		}
	}
	return strings.Join(parts, ".")
}

package expr

import (
	"errors"
	"strings"
	"testing"
)

type testScope struct {
	vars  map[string]string
	loop  *[3]string // name, index, value
	chain map[string]any
}

func (s testScope) Variable(n string) (string, bool) { v, ok := s.vars[n]; return v, ok }
func (s testScope) Loop(n string) (int, string, bool) {
	if s.loop == nil || (n != "loop" && n != s.loop[0]) {
		return 0, "", false
	}
	return len(s.loop[1]), s.loop[2], true
}
func (s testScope) Chain(p, st, sec string, i int, k string) (any, error) {
	key := p + "." + st + "." + sec + "." + string(rune('0'+i)) + "." + k
	v, ok := s.chain[key]
	if !ok {
		return nil, errors.New("not run")
	}
	return v, nil
}
func (s testScope) Func(n, a string) (string, error) { return n + "(" + a + ")", nil }

func TestParseRef(t *testing.T) {
	cases := []struct {
		in   string
		kind RefKind
		want string
	}{
		{" Name ", RefVariable, "Name"},
		{"build.Step.outputs.stdout", RefChain, "build/Step/outputs/0/stdout"},
		{"build.Step.inputs[2].destination", RefChain, "build/Step/inputs/2/destination"},
		{"loop.value", RefLoop, "loop/value"},
		{"myLoop.index", RefLoop, "myLoop/index"},
		{"aws:ssm:resolve(secretName)", RefFunc, "aws:ssm:resolve/secretName"},
		{".Id", RefOther, ""},
		{"json .State", RefOther, ""},
		{"build.Step.outputs", RefOther, ""},
	}
	for _, c := range cases {
		r := ParseRef(c.in)
		if r.Kind != c.kind {
			t.Errorf("%q: kind %v want %v", c.in, r.Kind, c.kind)
			continue
		}
		var got string
		switch r.Kind {
		case RefVariable:
			got = r.Name
		case RefChain:
			got = strings.Join([]string{r.Phase, r.Step, r.Section, string(rune('0' + r.Index)), r.Key}, "/")
		case RefLoop:
			got = r.Name + "/" + r.Field
		case RefFunc:
			got = r.Name + "/" + r.Arg
		}
		if got != c.want {
			t.Errorf("%q: got %q want %q", c.in, got, c.want)
		}
	}
}

func TestExpand(t *testing.T) {
	s := testScope{
		vars:  map[string]string{"Who": "world", "Num": "3"},
		loop:  &[3]string{"items", "xx", "apple"},
		chain: map[string]any{"build.A.outputs.0.stdout": "out", "build.A.inputs.1.list": []any{"a", "b"}, "build.A.outputs.0.n": int64(7)},
	}
	cases := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"hello {{Who}}!", "hello world!", ""},
		{"{{ Who }}{{ Num }}", "world3", ""},
		{"{{ build.A.outputs.stdout }}-{{ build.A.outputs[0].n }}", "out-7", ""},
		{"{{ build.A.inputs[1].list }}", `["a","b"]`, ""},
		{"{{ loop.value }}@{{ loop.index }} {{ items.value }}", "apple@2 apple", ""},
		{"{{ other.value }}", "{{ other.value }}", ""},
		{"docker inspect -f '{{ .Id }}' x", "docker inspect -f '{{ .Id }}' x", ""},
		{"unterminated {{ Who", "unterminated {{ Who", ""},
		{"{{ aws:ssm:resolve(Who) }}", "aws:ssm:resolve(Who)", ""},
		{"{{ Missing }}", "", "unknown parameter"},
		{"{{ build.B.outputs.stdout }}", "", "not run"},
	}
	for _, c := range cases {
		got, err := Expand(c.in, s)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v want %q", c.in, got, err, c.want)
		}
	}
	// Loop references outside a loop are left verbatim.
	got, _ := Expand("{{ loop.value }}", testScope{})
	if got != "{{ loop.value }}" {
		t.Errorf("outside loop: %q", got)
	}
}

func TestCompare(t *testing.T) {
	cases := []struct {
		op              string
		baseline, value any
		want            bool
	}{
		{"numberLessThan", int64(2), int64(1), true},
		{"numberLessThan", int64(2), int64(3), false},
		{"numberEquals", "1.0", int64(1), true},
		{"numberEquals", "+5", "5", true},
		{"numberGreaterThan", 1.5, "2", true},
		{"numberGreaterThanEquals", int64(2), "2.0", true},
		{"numberLessThanEquals", int64(2), "abc", false},
		{"numberEquals", "1e3", "1000", false},
		{"stringEquals", "Hello", "hello", true},
		{"stringEquals", " a", "a", false},
		{"stringEquals", "2.1.1", "2.1.1", true},
		{"stringEquals", int64(1), "1", true},
		{"stringLessThan", "b", "A", true},
		{"stringLessThanEquals", "b", "B", true},
		{"stringGreaterThan", "b", "c", true},
		{"stringGreaterThanEquals", "b", "a", false},
		{"patternMatches", `^v[0-9]+\.`, "v12.3", true},
		{"patternMatches", `^v[0-9]+$`, "v12.3", false},
		{"booleanEquals", true, "TRUE", true},
		{"booleanEquals", "false", true, false},
	}
	for _, c := range cases {
		got, err := Compare(c.op, c.baseline, c.value)
		if err != nil || got != c.want {
			t.Errorf("%s(%v, value %v) = %v, %v want %v", c.op, c.baseline, c.value, got, err, c.want)
		}
	}
	if _, err := Compare("patternMatches", "(", "x"); err == nil {
		t.Error("invalid pattern must be an error")
	}
}

type fakeEnv struct{}

func (fakeEnv) BinaryExists(n string) bool { return n == "bash" }
func (fakeEnv) Stat(p string) (bool, bool) { return p == "/file", p == "/dir" }
func (fakeEnv) HashFile(alg, p string) (string, error) {
	if p != "/file" {
		return "", errors.New("no file")
	}
	return alg + "-digest", nil
}

func TestEvalLogicalAndFileOperators(t *testing.T) {
	s := testScope{vars: map[string]string{"P": "/file"}}
	leaf := func(op string, operand any) *Cond { return &Cond{Op: op, Operand: operand} }
	cases := []struct {
		c    *Cond
		want bool
	}{
		{leaf("binaryExists", "bash"), true},
		{leaf("binaryExists", "dnf"), false},
		{leaf("fileExists", "{{ P }}"), true},
		{leaf("fileExists", "/dir"), false},
		{leaf("folderExists", "/dir"), true},
		{&Cond{Op: "fileSHA256Equals", Operand: "SHA256-DIGEST", Path: "{{ P }}"}, true},
		{&Cond{Op: "fileMD5Equals", Operand: "x", Path: "/missing"}, false},
		{leaf("stringIsEmpty", ""), true},
		{leaf("stringIsWhitespace", " \t"), true},
		{leaf("stringIsWhitespace", " a"), false},
		{&Cond{Op: "and", Args: []*Cond{leaf("binaryExists", "bash"), {Op: "not", Args: []*Cond{leaf("binaryExists", "dnf")}}}}, true},
		{&Cond{Op: "or", Args: []*Cond{leaf("binaryExists", "dnf"), leaf("folderExists", "/dir")}}, true},
		{&Cond{Op: "or", Args: []*Cond{leaf("binaryExists", "dnf")}}, false},
		{&Cond{Op: "numberLessThan", Operand: int64(2), Value: "{{ P }}"}, false},
	}
	for i, c := range cases {
		got, err := c.c.Eval(fakeEnv{}, s)
		if err != nil || got != c.want {
			t.Errorf("case %d (%s): %v, %v want %v", i, c.c.Op, got, err, c.want)
		}
	}
	// Short-circuit: the second operand would fail to expand.
	bad := &Cond{Op: "stringEquals", Operand: "{{ Missing }}", Value: "x"}
	if ok, err := (&Cond{Op: "and", Args: []*Cond{leaf("binaryExists", "dnf"), bad}}).Eval(fakeEnv{}, s); ok || err != nil {
		t.Errorf("and did not short-circuit: %v %v", ok, err)
	}
	if ok, err := (&Cond{Op: "or", Args: []*Cond{leaf("binaryExists", "bash"), bad}}).Eval(fakeEnv{}, s); !ok || err != nil {
		t.Errorf("or did not short-circuit: %v %v", ok, err)
	}
	deep := leaf("binaryExists", "bash")
	for i := 0; i < 5; i++ {
		deep = &Cond{Op: "not", Args: []*Cond{deep}}
	}
	if deep.LogicalDepth() != 5 {
		t.Errorf("depth %d", deep.LogicalDepth())
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "{{ a }}", "x{{ loop.value }}y", "{{ build.S.outputs[3].k }}", "{{", "}}{{", "{{ aws:ssm:resolve(p) }}", "{{{{ a }}}}", "{{ .Id }}"} {
		f.Add(s)
	}
	sc := testScope{vars: map[string]string{"a": "A"}, loop: &[3]string{"l", "", "v"}, chain: map[string]any{}}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Expand(s, sc)
		if err == nil && !strings.Contains(s, "{{") && out != s {
			t.Fatalf("text without braces changed: %q -> %q", s, out)
		}
		_ = Refs(s)
	})
}

func FuzzCompare(f *testing.F) {
	f.Add("numberLessThan", "2", "1")
	f.Add("stringEquals", "a", "A")
	f.Add("patternMatches", "^a+$", "aaa")
	f.Add("booleanEquals", "true", "TRUE")
	f.Fuzz(func(t *testing.T, op, a, b string) {
		if Operators[op] != KindCompare {
			op = "stringEquals"
		}
		_, _ = Compare(op, a, b)
	})
}

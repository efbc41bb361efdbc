package document

import (
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kiln-dev/kiln/internal/toe/expr"
)

// ifBlock parses `if:` in its map form (operator + optional then/else) or
// the list form `if: [ {operator…, then, else} ]`.
func (p *parser) ifBlock(n *yaml.Node) *If {
	b := &If{Then: Execute, Else: Skip, Line: n.Line}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) != 1 {
			p.errorf(n.Line, "if in list form must hold exactly one expression")
			return b
		}
		n = deref(n.Content[0])
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "if must be a map holding one operator and optional then/else")
		return b
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		switch k.Value {
		case "then", "else":
			s := p.str(v, k.Value)
			norm := ""
			for _, o := range []string{Execute, Skip, Abort} {
				if strings.EqualFold(s, o) {
					norm = o
				}
			}
			if norm == "" {
				p.errorf(v.Line, "if %s must be Execute, Skip or Abort, got %q", k.Value, s)
				continue
			}
			if k.Value == "then" {
				b.Then = norm
			} else {
				b.Else = norm
			}
		default:
			rest.Content = append(rest.Content, k, n.Content[i+1])
		}
	}
	b.Cond = p.condition(rest, 0)
	return b
}

// condition parses one comparison or logical expression.
func (p *parser) condition(n *yaml.Node, depth int) *expr.Cond {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "expected a comparison or logical operator map")
		return nil
	}
	c := &expr.Cond{Line: n.Line}
	var extra []string
	var value, path *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if _, ok := expr.Operators[k.Value]; ok {
			if c.Op != "" {
				p.errorf(k.Line, "expression has more than one operator (%s and %s)", c.Op, k.Value)
				continue
			}
			c.Op = k.Value
			p.operand(c, v, depth)
			continue
		}
		switch k.Value {
		case "value":
			value = v
		case "path":
			path = v
		default:
			extra = append(extra, k.Value)
		}
	}
	if c.Op == "" {
		p.errorf(n.Line, "expression has no known operator (keys: %s)", keys(n))
		return nil
	}
	for _, e := range extra {
		p.errorf(n.Line, "unknown key %q in %s expression", e, c.Op)
	}
	kind := expr.Operators[c.Op]
	switch {
	case kind == expr.KindCompare && value == nil:
		p.errorf(n.Line, "%s requires a value", c.Op)
	case kind == expr.KindCompare:
		c.Value = p.scalarOperand(value, "value")
	case value != nil:
		p.errorf(value.Line, "%s does not take a value", c.Op)
	}
	switch {
	case kind == expr.KindHash && path == nil:
		p.errorf(n.Line, "%s requires a path", c.Op)
	case kind == expr.KindHash:
		c.Path = expr.Stringify(p.scalarOperand(path, "path"))
	case path != nil:
		p.errorf(path.Line, "%s does not take a path", c.Op)
	}
	if c.Op == "patternMatches" {
		if s, ok := c.Operand.(string); ok && len(expr.Refs(s)) == 0 {
			if _, err := compileRE(s); err != nil {
				p.errorf(n.Line, "patternMatches: %v", err)
			}
		}
	}
	if depth == 0 && c.LogicalDepth() > expr.MaxLogicalDepth {
		p.errorf(n.Line, "logical operators are nested %d deep; the maximum is %d", c.LogicalDepth(), expr.MaxLogicalDepth)
	}
	return c
}

func (p *parser) operand(c *expr.Cond, v *yaml.Node, depth int) {
	switch c.Op {
	case expr.OpAnd, expr.OpOr:
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			p.errorf(v.Line, "%s takes a non-empty list of expressions", c.Op)
			return
		}
		for _, e := range v.Content {
			if sub := p.condition(e, depth+1); sub != nil {
				c.Args = append(c.Args, sub)
			}
		}
	case expr.OpNot:
		if sub := p.condition(v, depth+1); sub != nil {
			c.Args = []*expr.Cond{sub}
		}
	default:
		c.Operand = p.scalarOperand(v, c.Op)
	}
}

func (p *parser) scalarOperand(v *yaml.Node, what string) any {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v.Line, "%s must be a scalar", what)
		return ""
	}
	if v.Tag == "!!null" {
		return ""
	}
	return scalar(v)
}

func keys(n *yaml.Node) string {
	var ks []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		ks = append(ks, n.Content[i].Value)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

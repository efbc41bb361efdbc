package restjson

import (
	"errors"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/kiln-dev/kiln/internal/shape"
)

// segKind orders segment kinds by precedence: a literal beats a label,
// which beats a greedy label.
type segKind uint8

const (
	segGreedy segKind = iota + 1
	segLabel
	segLiteral
)

// segment is one path segment of a request URI pattern. A label segment may
// have literal text around the label ("{Name}.json"); prefix and suffix
// hold it.
type segment struct {
	kind           segKind
	literal        string // segLiteral: the escaped literal text
	label          string
	prefix, suffix string
}

// route is one operation's compiled request URI.
type route struct {
	op     *shape.Operation
	method string
	segs   []segment
	greedy int // index of the greedy segment, -1 when none
	// query holds the literal query part of the URI (?x-id=Foo, ?tagging):
	// each key must be present, with the value when one is given.
	query []queryLit
}

type queryLit struct {
	key, value string
	hasValue   bool
}

// Router matches requests to a service's operations by method and path.
type Router struct {
	routes []*route
}

var routers sync.Map // *shape.Service → *Router

// RouterFor returns the service's router, building it once.
func RouterFor(svc *shape.Service) *Router {
	if r, ok := routers.Load(svc); ok {
		return r.(*Router)
	}
	r, _ := routers.LoadOrStore(svc, NewRouter(svc))
	return r.(*Router)
}

// NewRouter compiles every operation's Method and RequestURI.
func NewRouter(svc *shape.Service) *Router {
	rt := &Router{}
	names := make([]string, 0, len(svc.Operations))
	for name := range svc.Operations {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic tie-breaking
	for _, name := range names {
		op := svc.Operations[name]
		if op.RequestURI == "" {
			continue
		}
		rt.routes = append(rt.routes, compile(op))
	}
	return rt
}

func compile(op *shape.Operation) *route {
	r := &route{op: op, method: strings.ToUpper(op.Method), greedy: -1}
	if r.method == "" {
		r.method = "POST"
	}
	path, query, _ := strings.Cut(op.RequestURI, "?")
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		k, v, has := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		r.query = append(r.query, queryLit{key: k, value: v, hasValue: has})
	}
	for i, s := range splitPath(path) {
		open := strings.IndexByte(s, '{')
		close := strings.LastIndexByte(s, '}')
		if open < 0 || close < open {
			r.segs = append(r.segs, segment{kind: segLiteral, literal: s})
			continue
		}
		label := s[open+1 : close]
		seg := segment{kind: segLabel, prefix: s[:open], suffix: s[close+1:]}
		if strings.HasSuffix(label, "+") {
			label = strings.TrimSuffix(label, "+")
			if r.greedy < 0 {
				seg.kind = segGreedy
				r.greedy = i
			}
		}
		seg.label = label
		r.segs = append(r.segs, seg)
	}
	return r
}

// splitPath splits an escaped path into its segments; "/" has none.
func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Errors from Match.
var (
	// ErrNoRoute: no operation has a matching path.
	ErrNoRoute = errors.New("restjson: no operation matches the request path")
	// ErrMethod: some operation has the path, none with this method.
	ErrMethod = errors.New("restjson: no operation matches the request method")
)

// Match finds the operation for method and the escaped path, returning the
// percent-decoded URI labels. query is the request's parsed query string
// (for URIs with a literal query part).
func (rt *Router) Match(method, escapedPath string, query url.Values) (*shape.Operation, map[string]string, error) {
	op, labels, err := rt.match(method, splitPath(escapedPath), query)
	if err != nil && strings.HasSuffix(escapedPath, "/") && len(escapedPath) > 1 {
		// Tolerate a trailing slash.
		if op2, labels2, err2 := rt.match(method, splitPath(strings.TrimSuffix(escapedPath, "/")), query); err2 == nil {
			return op2, labels2, nil
		}
	}
	return op, labels, err
}

func (rt *Router) match(method string, segs []string, query url.Values) (*shape.Operation, map[string]string, error) {
	method = strings.ToUpper(method)
	var best *route
	var bestLabels map[string]string
	pathMatched := false
	for _, r := range rt.routes {
		labels, ok := r.matchPath(segs)
		if !ok || !r.matchQuery(query) {
			continue
		}
		pathMatched = true
		if r.method != method {
			continue
		}
		if best == nil || r.beats(best) {
			best, bestLabels = r, labels
		}
	}
	if best == nil {
		if pathMatched {
			return nil, nil, ErrMethod
		}
		return nil, nil, ErrNoRoute
	}
	return best.op, bestLabels, nil
}

// beats reports whether r is more specific than o: at the first segment
// where their kinds differ the higher precedence wins; then more segments;
// then more literal query constraints.
func (r *route) beats(o *route) bool {
	for i := 0; i < len(r.segs) && i < len(o.segs); i++ {
		a, b := r.segs[i], o.segs[i]
		if a.kind != b.kind {
			return a.kind > b.kind
		}
		// Labels with literal text around them are more specific.
		if la, lb := len(a.prefix)+len(a.suffix), len(b.prefix)+len(b.suffix); la != lb {
			return la > lb
		}
	}
	if len(r.segs) != len(o.segs) {
		return len(r.segs) > len(o.segs)
	}
	return len(r.query) > len(o.query)
}

func (r *route) matchQuery(q url.Values) bool {
	for _, ql := range r.query {
		vs, ok := q[ql.key]
		if !ok {
			return false
		}
		if ql.hasValue {
			found := false
			for _, v := range vs {
				if v == ql.value {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func (r *route) matchPath(segs []string) (map[string]string, bool) {
	var labels map[string]string
	set := func(name, escaped string) bool {
		v, err := url.PathUnescape(escaped)
		if err != nil {
			return false
		}
		if labels == nil {
			labels = make(map[string]string, 2)
		}
		labels[name] = v
		return true
	}
	one := func(p segment, s string) bool {
		switch p.kind {
		case segLiteral:
			return s == p.literal || unescapedEqual(s, p.literal)
		default:
			if len(s) <= len(p.prefix)+len(p.suffix) || !strings.HasPrefix(s, p.prefix) || !strings.HasSuffix(s, p.suffix) {
				return false
			}
			return set(p.label, s[len(p.prefix):len(s)-len(p.suffix)])
		}
	}
	if r.greedy < 0 {
		if len(segs) != len(r.segs) {
			return nil, false
		}
		for i, p := range r.segs {
			if !one(p, segs[i]) {
				return nil, false
			}
		}
		return labels, true
	}
	// Greedy: the segments before and after it match one to one, the
	// greedy label takes the (non-empty) rest.
	before, after := r.segs[:r.greedy], r.segs[r.greedy+1:]
	if len(segs) < len(before)+len(after)+1 {
		return nil, false
	}
	for i, p := range before {
		if !one(p, segs[i]) {
			return nil, false
		}
	}
	tail := segs[len(segs)-len(after):]
	for i, p := range after {
		if !one(p, tail[i]) {
			return nil, false
		}
	}
	g := r.segs[r.greedy]
	mid := strings.Join(segs[len(before):len(segs)-len(after)], "/")
	if len(mid) <= len(g.prefix)+len(g.suffix) || !strings.HasPrefix(mid, g.prefix) || !strings.HasSuffix(mid, g.suffix) {
		return nil, false
	}
	if !set(g.label, mid[len(g.prefix):len(mid)-len(g.suffix)]) {
		return nil, false
	}
	return labels, true
}

func unescapedEqual(a, b string) bool {
	ua, err1 := url.PathUnescape(a)
	ub, err2 := url.PathUnescape(b)
	return err1 == nil && err2 == nil && ua == ub
}

package s3

import (
	"encoding/json"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// policy is a parsed bucket policy. kiln evaluates the part of the policy
// language that cross-account and public grants need: Effect, Principal
// ("*", {"AWS": "*" | account ID | account or IAM ARN}), Action and
// Resource with * and ? wildcards. Statements with a Condition are
// evaluated conservatively: an Allow with a Condition never applies, a
// Deny with a Condition always does.
type policy struct {
	Statements []statement
}

type statement struct {
	Effect       string
	Principals   []string // "*" or account IDs
	Actions      []string
	Resources    []string
	HasCondition bool
}

// parsePolicy validates a policy document for bucket.
func parsePolicy(doc, bucket string) (*policy, *awserr.Error) {
	var raw struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, malformedPolicy("Policies must be valid JSON and the first byte must be '{'")
	}
	var rawStmts []map[string]json.RawMessage
	if len(raw.Statement) > 0 && raw.Statement[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, malformedPolicy("Statement is not valid")
		}
		rawStmts = append(rawStmts, one)
	} else if err := json.Unmarshal(raw.Statement, &rawStmts); err != nil || len(rawStmts) == 0 {
		return nil, malformedPolicy("Missing required field Statement")
	}
	p := &policy{}
	for _, rs := range rawStmts {
		var st statement
		if err := json.Unmarshal(rs["Effect"], &st.Effect); err != nil || (st.Effect != "Allow" && st.Effect != "Deny") {
			return nil, malformedPolicy("Invalid effect")
		}
		if _, ok := rs["NotPrincipal"]; ok {
			return nil, malformedPolicy("NotPrincipal is not supported by kiln")
		}
		if _, ok := rs["NotAction"]; ok {
			return nil, malformedPolicy("NotAction is not supported by kiln")
		}
		princ, e := parsePrincipal(rs["Principal"])
		if e != nil {
			return nil, e
		}
		st.Principals = princ
		var err error
		if st.Actions, err = stringOrList(rs["Action"]); err != nil || len(st.Actions) == 0 {
			return nil, malformedPolicy("Missing required field Action")
		}
		for _, a := range st.Actions {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "s3:") {
				return nil, malformedPolicy("Policy has invalid action")
			}
		}
		if st.Resources, err = stringOrList(rs["Resource"]); err != nil || len(st.Resources) == 0 {
			return nil, malformedPolicy("Missing required field Resource")
		}
		for _, r := range st.Resources {
			rest, ok := strings.CutPrefix(r, "arn:aws:s3:::")
			if !ok || !bucketMatches(rest, bucket) {
				return nil, malformedPolicy("Policy has invalid resource")
			}
		}
		_, st.HasCondition = rs["Condition"]
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

// bucketMatches reports whether a resource (without the ARN prefix) can
// name bucket or its objects.
func bucketMatches(resource, bucket string) bool {
	b, _, _ := strings.Cut(resource, "/")
	return globMatch(b, bucket, false)
}

func parsePrincipal(raw json.RawMessage) ([]string, *awserr.Error) {
	if len(raw) == 0 {
		return nil, malformedPolicy("Missing required field Principal")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "*" {
			return nil, malformedPolicy("Invalid principal in policy")
		}
		return []string{"*"}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, malformedPolicy("Invalid principal in policy")
	}
	var out []string
	for k, v := range m {
		ids, err := stringOrList(v)
		if err != nil {
			return nil, malformedPolicy("Invalid principal in policy")
		}
		if k != "AWS" {
			continue // service and federated principals never match a kiln caller
		}
		for _, id := range ids {
			acct, ok := principalAccount(id)
			if !ok {
				return nil, malformedPolicy("Invalid principal in policy")
			}
			out = append(out, acct)
		}
	}
	return out, nil
}

// principalAccount maps "*", "123456789012" and
// "arn:aws:iam::123456789012:root" (or any IAM principal ARN) to "*" or
// the account ID.
func principalAccount(p string) (string, bool) {
	if p == "*" {
		return p, true
	}
	if isAccountID(p) {
		return p, true
	}
	parts := strings.Split(p, ":")
	if len(parts) >= 6 && parts[0] == "arn" && (parts[2] == "iam" || parts[2] == "sts") && isAccountID(parts[4]) {
		return parts[4], true
	}
	return "", false
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var l []string
	err := json.Unmarshal(raw, &l)
	return l, err
}

func malformedPolicy(msg string) *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "MalformedPolicy", "%s", msg)
}

// decision is the outcome of evaluating a policy.
type decision int

const (
	noMatch decision = iota
	allowed
	denied
)

// evaluate decides whether account ("" for anonymous) may perform action
// ("s3:GetObject") on resource ("arn:aws:s3:::bucket/key").
func (p *policy) evaluate(account, action, resource string) decision {
	d := noMatch
	for _, st := range p.Statements {
		if !st.matchPrincipal(account) || !matchAny(st.Actions, action, true) || !matchAny(st.Resources, resource, false) {
			continue
		}
		if st.Effect == "Deny" {
			return denied
		}
		if !st.HasCondition {
			d = allowed
		}
	}
	return d
}

func (st *statement) matchPrincipal(account string) bool {
	for _, p := range st.Principals {
		if p == "*" || (account != "" && p == account) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if globMatch(p, s, fold) {
			return true
		}
	}
	return false
}

// globMatch matches IAM wildcards: * any run (including "/"), ? one rune.
func globMatch(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	return wildcard(pattern, s)
}

func wildcard(p, s string) bool {
	pr, sr := []rune(p), []rune(s)
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			pi++
			si++
		case pi < len(pr) && pr[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}

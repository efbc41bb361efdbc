package kms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// policy is a parsed key policy. Only what kiln evaluates is kept; parsing
// rejects documents AWS would reject as malformed (see parsePolicy).
type policy struct {
	Statements []statement
}

type statement struct {
	Sid    string
	Deny   bool
	Any    bool     // Principal "*" or {"AWS": "*"}
	AWS    []string // AWS principals: account IDs and IAM ARNs
	Action []string
	// NotSupported marks a statement kiln cannot evaluate faithfully
	// (NotPrincipal, NotAction, NotResource): it never applies.
	NotSupported bool
	Resource     []string
	Conditions   []condition
}

type condition struct {
	Op     string // e.g. StringEquals
	Key    string // lower case, e.g. kms:calleraccount
	Values []string
}

// evalContext is what conditions are evaluated against.
type evalContext struct {
	Account    string // the caller's account
	ViaService string // "ec2.us-east-1.amazonaws.com" when the call comes through a kiln service
	Action     string // e.g. kms:Decrypt
	Resource   string // the key ARN
}

var (
	accountRE   = regexp.MustCompile(`^\d{12}$`)
	iamARNRE    = regexp.MustCompile(`^arn:aws:iam::(\d{12}):(root|(role|user|assumed-role)/.+)$`)
	stsARNRE    = regexp.MustCompile(`^arn:aws:sts::(\d{12}):assumed-role/.+$`)
	validEffect = map[string]bool{"Allow": true, "Deny": true}
)

// principalAccount returns the account an AWS principal denotes: a bare
// account ID, its root ARN, or any IAM role/user ARN of it (kiln has no
// IAM, so every principal of an account is that account's callers).
func principalAccount(p string) (string, bool) {
	if accountRE.MatchString(p) {
		return p, true
	}
	if m := iamARNRE.FindStringSubmatch(p); m != nil {
		return m[1], true
	}
	if m := stsARNRE.FindStringSubmatch(p); m != nil {
		return m[1], true
	}
	return "", false
}

// stringList decodes a JSON string or list of strings (booleans and
// numbers are accepted in condition values and turned into strings).
func stringList(raw json.RawMessage) ([]string, error) {
	var one any
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	conv := func(v any) (string, error) {
		switch x := v.(type) {
		case string:
			return x, nil
		case bool:
			return strconv.FormatBool(x), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
		return "", fmt.Errorf("not a string")
	}
	if l, ok := one.([]any); ok {
		out := make([]string, 0, len(l))
		for _, v := range l {
			s, err := conv(v)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := conv(one)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// parsePolicy validates a key policy document as KMS does and returns its
// evaluable form; failures are MalformedPolicyDocumentException.
func parsePolicy(doc string) (*policy, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(doc))
	if err := dec.Decode(&top); err != nil || dec.More() {
		return nil, errMalformed("The new key policy contains invalid JSON.")
	}
	if v, ok := top["Version"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || (s != "2012-10-17" && s != "2008-10-17") {
			return nil, errMalformed("The policy contains an invalid Version.")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, errMalformed("The policy is missing the required field Statement.")
	}
	var stmts []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, errMalformed("The policy contains an invalid Statement.")
		}
		stmts = append(stmts, one)
	} else if err := json.Unmarshal(raw, &stmts); err != nil || len(stmts) == 0 {
		return nil, errMalformed("The policy contains an invalid Statement.")
	}
	p := &policy{}
	for _, m := range stmts {
		st, err := parseStatement(m)
		if err != nil {
			return nil, err
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(m map[string]json.RawMessage) (statement, error) {
	var st statement
	if v, ok := m["Sid"]; ok {
		if json.Unmarshal(v, &st.Sid) != nil {
			return st, errMalformed("The policy contains an invalid Sid.")
		}
	}
	var effect string
	if json.Unmarshal(m["Effect"], &effect) != nil || !validEffect[effect] {
		return st, errMalformed("Policy contains a statement with an invalid or missing Effect.")
	}
	st.Deny = effect == "Deny"
	for _, k := range []string{"NotPrincipal", "NotAction", "NotResource"} {
		if _, ok := m[k]; ok {
			st.NotSupported = true
		}
	}
	// Principal (required in key policies).
	if pr, ok := m["Principal"]; ok {
		if err := st.parsePrincipal(pr); err != nil {
			return st, err
		}
	} else if _, ok := m["NotPrincipal"]; !ok {
		return st, errMalformed("Policy contains a statement with no principal.")
	}
	if a, ok := m["Action"]; ok {
		acts, err := stringList(a)
		if err != nil || len(acts) == 0 {
			return st, errMalformed("Policy contains a statement with an invalid Action.")
		}
		for _, x := range acts {
			if x != "*" && !strings.Contains(x, ":") {
				return st, errMalformed("Policy contains a statement with an invalid Action.")
			}
		}
		st.Action = acts
	} else if _, ok := m["NotAction"]; !ok {
		return st, errMalformed("Policy contains a statement with no Action.")
	}
	if r, ok := m["Resource"]; ok {
		res, err := stringList(r)
		if err != nil || len(res) == 0 {
			return st, errMalformed("Policy contains a statement with an invalid Resource.")
		}
		st.Resource = res
	} else if _, ok := m["NotResource"]; !ok {
		return st, errMalformed("Policy contains a statement with no Resource.")
	}
	if c, ok := m["Condition"]; ok {
		var ops map[string]map[string]json.RawMessage
		if err := json.Unmarshal(c, &ops); err != nil {
			return st, errMalformed("Policy contains a statement with an invalid Condition.")
		}
		for op, keys := range ops {
			for key, raw := range keys {
				vals, err := stringList(raw)
				if err != nil {
					return st, errMalformed("Policy contains a statement with an invalid Condition.")
				}
				st.Conditions = append(st.Conditions, condition{Op: op, Key: strings.ToLower(key), Values: vals})
			}
		}
	}
	return st, nil
}

func (st *statement) parsePrincipal(raw json.RawMessage) error {
	bad := errMalformed("Policy contains a statement with one or more invalid principals.")
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "*" {
			return bad
		}
		st.Any = true
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return bad
	}
	for kind, v := range m {
		list, err := stringList(v)
		if err != nil || len(list) == 0 {
			return bad
		}
		switch kind {
		case "AWS":
			for _, p := range list {
				if p == "*" {
					st.Any = true
					continue
				}
				if _, ok := principalAccount(p); !ok {
					return bad
				}
				st.AWS = append(st.AWS, p)
			}
		case "Service", "Federated", "CanonicalUser":
			// Valid, but never a kiln caller.
		default:
			return bad
		}
	}
	return nil
}

// glob matches s against a pattern with * and ? wildcards.
func glob(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	// path.Match treats '/' specially and '[' as a class; escape classes and
	// compare segment-free by replacing '/' with a byte that never occurs.
	r := strings.NewReplacer("/", "\x00", "[", `\[`, `\`, `\\`)
	ok, err := path.Match(r.Replace(pattern), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

// matches reports whether st covers the caller, action and resource in ec
// and all its conditions are understood and satisfied.
func (st *statement) matches(ec evalContext) bool {
	if st.NotSupported {
		return false
	}
	principal := st.Any
	for _, p := range st.AWS {
		if a, _ := principalAccount(p); a == ec.Account {
			principal = true
		}
	}
	if !principal {
		return false
	}
	action := false
	for _, a := range st.Action {
		if glob(a, ec.Action, true) {
			action = true
		}
	}
	if !action {
		return false
	}
	resource := false
	for _, r := range st.Resource {
		if glob(r, ec.Resource, false) {
			resource = true
		}
	}
	if !resource {
		return false
	}
	for _, c := range st.Conditions {
		if !c.satisfied(ec) {
			return false
		}
	}
	return true
}

// contextValue returns the value of a condition key, ok false when the key
// is absent from this request (or unknown to kiln).
func (c condition) contextValue(ec evalContext) (string, bool, bool) {
	switch c.Key {
	case "kms:calleraccount", "aws:principalaccount":
		return ec.Account, true, true
	case "kms:viaservice":
		return ec.ViaService, ec.ViaService != "", true
	case "kms:grantisforawsresource":
		if ec.Action != "kms:CreateGrant" {
			return "", false, true
		}
		return strconv.FormatBool(ec.ViaService != ""), true, true
	}
	return "", false, false
}

// satisfied evaluates one condition; unknown operators or keys never are.
func (c condition) satisfied(ec evalContext) bool {
	v, present, known := c.contextValue(ec)
	if !known {
		return false
	}
	op := c.Op
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	if !present {
		switch op {
		case "StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase":
			return true
		}
		return ifExists && isKnownOp(op)
	}
	any := func(f func(string) bool) bool {
		for _, x := range c.Values {
			if f(x) {
				return true
			}
		}
		return false
	}
	switch op {
	case "StringEquals":
		return any(func(x string) bool { return x == v })
	case "StringNotEquals":
		return !any(func(x string) bool { return x == v })
	case "StringEqualsIgnoreCase":
		return any(func(x string) bool { return strings.EqualFold(x, v) })
	case "StringNotEqualsIgnoreCase":
		return !any(func(x string) bool { return strings.EqualFold(x, v) })
	case "StringLike":
		return any(func(x string) bool { return glob(x, v, false) })
	case "StringNotLike":
		return !any(func(x string) bool { return glob(x, v, false) })
	case "Bool":
		return any(func(x string) bool { return strings.EqualFold(x, v) })
	}
	return false
}

func isKnownOp(op string) bool {
	switch op {
	case "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike", "Bool":
		return true
	}
	return false
}

// decision is the result of evaluating a policy.
type decision int

const (
	implicitDeny decision = iota
	allow
	explicitDeny
)

// evaluate returns explicitDeny if any matching statement denies, allow if
// one allows, else implicitDeny.
func (p *policy) evaluate(ec evalContext) decision {
	d := implicitDeny
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.matches(ec) {
			continue
		}
		if st.Deny {
			return explicitDeny
		}
		d = allow
	}
	return d
}

// DefaultPolicy is the key policy KMS gives a key created without one: the
// owning account's root user may do everything.
func DefaultPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// managedPolicy is the policy of an AWS-managed key (as AWS writes it for
// aws/ebs): use only through the service by the owning account, direct
// read-only access for the account.
func managedPolicy(account, region string, m managedSpec) string {
	label, id := m.Label, m.PolicyID
	return `{
  "Version" : "2012-10-17",
  "Id" : "` + id + `",
  "Statement" : [ {
    "Sid" : "Allow access through ` + label + ` for all principals in the account that are authorized to use ` + label + `",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "*"
    },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : {
      "StringEquals" : {
        "kms:CallerAccount" : "` + account + `",
        "kms:ViaService" : "` + viaServiceName(m.Via, region) + `"
      }
    }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant" ],
    "Resource" : "*"
  } ]
}`
}

func viaServiceName(service, region string) string {
	return service + "." + region + ".amazonaws.com"
}

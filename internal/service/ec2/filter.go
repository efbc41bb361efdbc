package ec2

import (
	"path"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// fields gives a filter name's values for one resource; ok is false when the
// resource type has no such filter.
type fields func(name string) (values []string, ok bool)

// filterSet is a Describe call's filters, checked once against the names the
// resource type supports.
type filterSet []ec2api.Filter

// matches reports whether every filter matches (OR within a filter's
// values, AND across filters). Values may use * and ? wildcards.
func (fs filterSet) matches(f fields, tags []ec2api.Tag) bool {
	for _, flt := range fs {
		var have []string
		switch {
		case strings.HasPrefix(flt.Name, "tag:"):
			k := flt.Name[len("tag:"):]
			for _, t := range tags {
				if t.Key == k {
					have = append(have, t.Value)
				}
			}
		case flt.Name == "tag-key":
			for _, t := range tags {
				have = append(have, t.Key)
			}
		case flt.Name == "tag-value":
			for _, t := range tags {
				have = append(have, t.Value)
			}
		default:
			have, _ = f(flt.Name)
		}
		if !anyMatch(flt.Values, have) {
			return false
		}
	}
	return true
}

// check rejects filter names the resource does not support, as EC2 does.
func (fs filterSet) check(f fields) error {
	for _, flt := range fs {
		if strings.HasPrefix(flt.Name, "tag:") || flt.Name == "tag-key" || flt.Name == "tag-value" {
			continue
		}
		if _, ok := f(flt.Name); !ok {
			return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "The filter '%s' is invalid", flt.Name)
		}
	}
	return nil
}

func anyMatch(patterns, have []string) bool {
	for _, p := range patterns {
		for _, h := range have {
			if wildcard(p, h) {
				return true
			}
		}
	}
	return false
}

// wildcard matches EC2 filter patterns: * any run, ? one character,
// backslash escapes.
func wildcard(pattern, s string) bool {
	if !strings.ContainsAny(pattern, `*?\`) {
		return pattern == s
	}
	// path.Match treats / and [ specially; escape them.
	p := strings.NewReplacer("[", `\[`, "]", `\]`).Replace(pattern)
	if strings.Contains(s, "/") {
		ok, err := path.Match(strings.ReplaceAll(p, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
		return err == nil && ok
	}
	ok, err := path.Match(p, s)
	return err == nil && ok
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

package ec2

import (
	"encoding/base64"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// page applies MaxResults/NextToken to an already filtered, ID-ordered
// result: the token is the opaque position after the last item returned.
func page[T any](items []T, id func(T) string, maxResults *int32, token string, min, max int32) ([]T, string, error) {
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", awserr.New(awserr.InvalidArgument, "InvalidNextToken", "The token '%s' is invalid", token)
		}
		after := string(raw)
		start = len(items)
		for i, it := range items {
			if id(it) > after {
				start = i
				break
			}
		}
	}
	items = items[start:]
	if maxResults == nil {
		return items, "", nil
	}
	n := *maxResults
	if n < min || n > max {
		return nil, "", awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Parameter must be between %d and %d.", n, min, max)
	}
	if int(n) >= len(items) {
		return items, "", nil
	}
	return items[:n], base64.RawURLEncoding.EncodeToString([]byte(id(items[n-1]))), nil
}

package s3

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"github.com/kiln-dev/kiln/internal/account"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// Keys looks up access keys (the account manager).
type Keys interface {
	AccessKey(ctx context.Context, id string) (accountID, secret string, err error)
}

// v2SubResources are the query parameters SigV2 signs as part of the
// canonical resource.
var v2SubResources = map[string]bool{
	"acl": true, "cors": true, "delete": true, "lifecycle": true, "location": true, "logging": true,
	"notification": true, "partNumber": true, "policy": true, "requestPayment": true, "restore": true,
	"tagging": true, "torrent": true, "uploadId": true, "uploads": true, "versionId": true,
	"versioning": true, "versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

// isV2Presigned reports whether r carries a SigV2 presigned query (what
// boto3's generate_presigned_url makes unless told to use s3v4).
func isV2Presigned(r *http.Request) bool {
	q := r.URL.Query()
	return q.Has("AWSAccessKeyId") && q.Has("Signature") && q.Has("Expires")
}

// verifyV2 authenticates a SigV2 presigned request and returns the
// caller's account.
func (q *request) verifyV2() (string, *awserr.Error) {
	if q.s.keys == nil {
		return "", errAccessDenied()
	}
	vals := q.r.URL.Query()
	exp, err := strconv.ParseInt(vals.Get("Expires"), 10, 64)
	if err != nil {
		return "", errAccessDenied()
	}
	if q.s.clock.Now().Unix() > exp {
		return "", awserr.New(awserr.Forbidden, "AccessDenied", "Request has expired")
	}
	acct, secret, err := q.s.keys.AccessKey(q.ctx, vals.Get("AWSAccessKeyId"))
	if errors.Is(err, account.ErrUnknownKey) {
		return "", awserr.New(awserr.Unauthenticated, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
	}
	if err != nil {
		return "", errInternal(err)
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSignV2(q.r, q.t, vals.Get("Expires"))))
	want, err := base64.StdEncoding.DecodeString(vals.Get("Signature"))
	if err != nil || !hmac.Equal(m.Sum(nil), want) {
		return "", awserr.New(awserr.Unauthenticated, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return acct, nil
}

// stringToSignV2 is SigV2's string to sign for a presigned request.
func stringToSignV2(r *http.Request, t target, expires string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n" + r.Header.Get("Content-MD5") + "\n" + r.Header.Get("Content-Type") + "\n" + expires + "\n")
	var amz []string
	for k, vs := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			amz = append(amz, lk+":"+strings.Join(vs, ","))
		}
	}
	sort.Strings(amz)
	for _, h := range amz {
		b.WriteString(h + "\n")
	}
	path := r.URL.EscapedPath()
	if t.virtual {
		path = "/" + t.bucket + path
	}
	b.WriteString(path)
	var subs []string
	for k, vs := range r.URL.Query() {
		if !v2SubResources[k] {
			continue
		}
		for _, v := range vs {
			if v == "" {
				subs = append(subs, k)
			} else {
				subs = append(subs, k+"="+v)
			}
		}
	}
	sort.Strings(subs)
	if len(subs) > 0 {
		b.WriteString("?" + strings.Join(subs, "&"))
	}
	return b.String()
}

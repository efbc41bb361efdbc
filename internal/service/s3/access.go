package s3

import (
	"errors"
	"net/http"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// access loads the request's bucket and checks that the caller may perform
// action on it (key "") or on one of its objects. The owner may do
// anything a policy does not deny; other accounts and anonymous callers
// need a policy Allow. A bucket that does not exist is NoSuchBucket for
// everyone, as on AWS.
func (q *request) access(action string) (*bucketRec, *awserr.Error) {
	var b *bucketRec
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		b, err = getBucket(tx, q.t.bucket)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSuchBucket()
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if e := q.allowed(b, action, q.t.key); e != nil {
		return nil, e
	}
	return b, nil
}

// loadBucketObject reads the request's bucket and object record in one
// transaction (the GET path); the caller checks access with allowed.
func (q *request) loadBucketObject() (*bucketRec, *objectRec, *awserr.Error) {
	var b *bucketRec
	var o *objectRec
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		if b, err = getBucket(tx, q.t.bucket); err != nil {
			return err
		}
		o, err = getObject(tx, q.t.bucket, q.t.key)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNoSuchBucket()
	}
	if err != nil {
		return nil, nil, storeErr(err)
	}
	return b, o, nil
}

// allowed checks a bucket the request already loaded.
func (q *request) allowed(b *bucketRec, action, key string) *awserr.Error {
	if exp := q.r.Header.Get("X-Amz-Expected-Bucket-Owner"); exp != "" && exp != b.Owner {
		return errAccessDenied()
	}
	if q.region != "" && q.region != b.Region && action != "s3:GetBucketLocation" {
		q.errCtx.region = b.Region
		if q.r.Method == http.MethodHead {
			return awserr.New(awserr.InvalidArgument, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint.")
		}
		return awserr.New(awserr.InvalidArgument, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the region '%s' is wrong; expecting '%s'", q.region, b.Region)
	}
	resource := "arn:aws:s3:::" + b.Name
	if key != "" {
		resource += "/" + key
	}
	d := noMatch
	if b.Policy != "" {
		if p, e := parsePolicy(b.Policy, b.Name); e == nil {
			d = p.evaluate(q.account, action, resource)
		}
	}
	switch {
	case d == denied:
		return errAccessDenied()
	case q.account != "" && q.account == b.Owner:
		return nil
	case d == allowed:
		return nil
	}
	return errAccessDenied()
}

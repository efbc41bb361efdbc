package s3

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/store"
)

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validBucketName applies S3's naming rules for new buckets.
func validBucketName(n string) bool {
	return bucketNameRE.MatchString(n) && !strings.Contains(n, "..") && !strings.Contains(n, ".-") &&
		!strings.Contains(n, "-.") && net.ParseIP(n) == nil && !strings.HasPrefix(n, "xn--") &&
		!strings.HasSuffix(n, "-s3alias") && !strings.HasSuffix(n, "--ol-s3")
}

type createBucketConfiguration struct {
	LocationConstraint string
}

func (q *request) createBucket() *awserr.Error {
	if q.account == "" {
		return errAccessDenied()
	}
	if !validBucketName(q.t.bucket) {
		return awserr.New(awserr.InvalidArgument, "InvalidBucketName", "The specified bucket is not valid.")
	}
	switch acl := q.r.Header.Get("X-Amz-Acl"); acl {
	case "", "private", "bucket-owner-full-control":
	default:
		return awserr.New(awserr.InvalidArgument, "InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	var cfg createBucketConfiguration
	if q.r.ContentLength != 0 {
		b, e := readSmallBody(q.r, q.auth)
		if e != nil {
			return e
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			if err := xml.Unmarshal(b, &cfg); err != nil {
				return errMalformedXML()
			}
		}
	}
	loc := cfg.LocationConstraint
	if loc == "EU" {
		loc = "eu-west-1"
	}
	switch {
	case loc == "" && q.region != "us-east-1":
		q.errCtx.region = q.region
		return awserr.New(awserr.InvalidArgument, "IllegalLocationConstraintException", "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
	case loc != "" && !region.Valid(loc):
		return awserr.New(awserr.InvalidArgument, "InvalidLocationConstraint", "The specified location-constraint is not valid")
	case loc != "" && loc != q.region:
		q.errCtx.region = q.region
		return awserr.New(awserr.InvalidArgument, "IllegalLocationConstraintException", "The %s location constraint is incompatible for the region specific endpoint this request was sent to.", loc)
	}
	if loc == "" {
		loc = "us-east-1"
	}
	b := bucketRec{Name: q.t.bucket, Owner: q.account, Region: loc, Created: q.now()}
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		old, err := getBucket(tx, b.Name)
		switch {
		case err == nil && old.Owner == q.account:
			return awserr.New(awserr.AlreadyExists, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
		case err == nil:
			return awserr.New(awserr.AlreadyExists, "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return store.CreateJSON(tx, bucketKey(b.Name), "", b)
	})
	if err != nil {
		return storeErr(err)
	}
	q.header().Set("Location", "/"+b.Name)
	return q.ok(http.StatusOK)
}

func (q *request) headBucket() *awserr.Error {
	b, e := q.access("s3:ListBucket")
	if e != nil {
		return e
	}
	h := q.header()
	h.Set("x-amz-bucket-region", b.Region)
	h.Set("x-amz-access-point-alias", "false")
	return q.ok(http.StatusOK)
}

func (q *request) deleteBucket() *awserr.Error {
	if _, e := q.access("s3:DeleteBucket"); e != nil {
		return e
	}
	var files []string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		files = files[:0]
		objs, err := tx.List(store.Query{Kind: kindObject, After: q.t.bucket + "/", Limit: 1})
		if err != nil {
			return err
		}
		if len(objs) > 0 && strings.HasPrefix(objs[0].ID, q.t.bucket+"/") {
			return awserr.New(awserr.Conflict, "BucketNotEmpty", "The bucket you tried to delete is not empty")
		}
		// Multipart uploads in progress are aborted with the bucket.
		ups, err := tx.List(store.Query{Kind: kindUpload, After: q.t.bucket + "/"})
		if err != nil {
			return err
		}
		for _, u := range ups {
			id, ok := strings.CutPrefix(u.ID, q.t.bucket+"/")
			if !ok {
				break
			}
			f, err := deleteUploadTx(tx, q.t.bucket, id)
			if err != nil {
				return err
			}
			files = append(files, f...)
		}
		return tx.Delete(bucketKey(q.t.bucket))
	})
	if err != nil {
		return storeErr(err)
	}
	q.s.removeData(files)
	return q.ok(http.StatusNoContent)
}

type bucketXML struct {
	Name         string
	CreationDate string
	BucketRegion string `xml:",omitempty"`
}

type ownerXML struct {
	ID          string
	DisplayName string `xml:",omitempty"`
}

type listAllMyBucketsResult struct {
	XMLName           xml.Name    `xml:"ListAllMyBucketsResult"`
	NS                string      `xml:"xmlns,attr"`
	Owner             ownerXML    `xml:"Owner"`
	Buckets           []bucketXML `xml:"Buckets>Bucket"`
	ContinuationToken string      `xml:",omitempty"`
	Prefix            string      `xml:",omitempty"`
}

func (q *request) listBuckets() *awserr.Error {
	if q.account == "" {
		return errAccessDenied()
	}
	var all []bucketRec
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		all, err = store.ListJSON[bucketRec](tx, store.Query{Kind: kindBucket})
		return err
	})
	if err != nil {
		return storeErr(err)
	}
	prefix, regionFilter := q.q.Get("prefix"), q.q.Get("bucket-region")
	after := ""
	if tok := q.q.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return errInvalidArgument("The continuation token provided is incorrect")
		}
		after = string(b)
	}
	limit := 10000
	if v := q.q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return errInvalidArgument("max-buckets must be between 1 and 10000")
		}
		limit = n
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	out := listAllMyBucketsResult{NS: xmlns, Owner: ownerXML{ID: ownerID(q.account), DisplayName: q.account}, Prefix: prefix}
	for _, b := range all {
		if b.Owner != q.account || !strings.HasPrefix(b.Name, prefix) || b.Name <= after ||
			(regionFilter != "" && b.Region != regionFilter) {
			continue
		}
		if len(out.Buckets) == limit {
			out.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Buckets[len(out.Buckets)-1].Name))
			break
		}
		out.Buckets = append(out.Buckets, bucketXML{Name: b.Name, CreationDate: timeISO(b.Created), BucketRegion: b.Region})
	}
	return q.writeXML(out)
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	NS      string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

func (q *request) getBucketLocation() *awserr.Error {
	b, e := q.access("s3:GetBucketLocation")
	if e != nil {
		return e
	}
	loc := b.Region
	if loc == "us-east-1" {
		loc = ""
	}
	return q.writeXML(locationConstraint{NS: xmlns, Region: loc})
}

// updateBucket loads, changes and stores the request's bucket after
// checking action.
func (q *request) updateBucket(action string, fn func(b *bucketRec) *awserr.Error) *awserr.Error {
	if _, e := q.access(action); e != nil {
		return e
	}
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		b, err := getBucket(tx, q.t.bucket)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchBucket()
		}
		if err != nil {
			return err
		}
		if e := fn(b); e != nil {
			return e
		}
		return store.PutJSON(tx, bucketKey(b.Name), "", b)
	})
	if err != nil {
		return storeErr(err)
	}
	return nil
}

// removeData deletes data files no record references any more.
func (s *Service) removeData(files []string) {
	if len(files) == 0 {
		return
	}
	if err := s.data.Remove(files...); err != nil {
		s.log.Warn("s3: removing data files", "err", err)
	}
}

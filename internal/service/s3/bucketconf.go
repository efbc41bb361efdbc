package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/kiln-dev/kiln/internal/awserr"
)

type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	NS        string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:",omitempty"`
	MfaDelete string   `xml:",omitempty"`
}

func (q *request) getVersioning() *awserr.Error {
	b, e := q.access("s3:GetBucketVersioning")
	if e != nil {
		return e
	}
	return q.writeXML(versioningConfiguration{NS: xmlns, Status: b.Versioning})
}

func (q *request) putVersioning() *awserr.Error {
	if _, e := q.access("s3:PutBucketVersioning"); e != nil {
		return e
	}
	var cfg versioningConfiguration
	if e := q.readXML(&cfg); e != nil {
		return e
	}
	if cfg.Status != versioningEnabled && cfg.Status != versioningSuspended {
		return awserr.New(awserr.InvalidArgument, "IllegalVersioningConfigurationException", "The Versioning element must be specified")
	}
	if cfg.MfaDelete == "Enabled" {
		return errNotImplemented("MFA delete")
	}
	if e := q.updateBucket("s3:PutBucketVersioning", func(b *bucketRec) *awserr.Error {
		b.Versioning = cfg.Status
		return nil
	}); e != nil {
		return e
	}
	return q.ok(http.StatusOK)
}

type tagXML struct {
	Key   string
	Value string
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	TagSet  []tagXML `xml:"TagSet>Tag"`
}

// validTags checks a tag set (max, lengths, duplicates) and converts it.
func validTags(in []tagXML, max int) ([]tag, *awserr.Error) {
	if len(in) > max {
		return nil, awserr.New(awserr.InvalidArgument, "BadRequest", "Object tags cannot be greater than %d", max)
	}
	seen := map[string]bool{}
	out := make([]tag, 0, len(in))
	for _, t := range in {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidTag", "The TagKey you have provided is invalid")
		}
		if seen[t.Key] {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
		out = append(out, tag(t))
	}
	return out, nil
}

func toTagXML(ts []tag) []tagXML {
	out := make([]tagXML, len(ts))
	for i, t := range ts {
		out[i] = tagXML(t)
	}
	return out
}

func (q *request) getBucketTagging() *awserr.Error {
	b, e := q.access("s3:GetBucketTagging")
	if e != nil {
		return e
	}
	if len(b.Tags) == 0 {
		return awserr.New(awserr.NotFound, "NoSuchTagSet", "The TagSet does not exist")
	}
	return q.writeXML(tagging{NS: xmlns, TagSet: toTagXML(b.Tags)})
}

func (q *request) putBucketTagging() *awserr.Error {
	if _, e := q.access("s3:PutBucketTagging"); e != nil {
		return e
	}
	var in tagging
	if e := q.readXML(&in); e != nil {
		return e
	}
	tags, e := validTags(in.TagSet, 50)
	if e != nil {
		return e
	}
	if e := q.updateBucket("s3:PutBucketTagging", func(b *bucketRec) *awserr.Error {
		b.Tags = tags
		return nil
	}); e != nil {
		return e
	}
	return q.ok(http.StatusNoContent)
}

func (q *request) deleteBucketTagging() *awserr.Error {
	if e := q.updateBucket("s3:PutBucketTagging", func(b *bucketRec) *awserr.Error {
		b.Tags = nil
		return nil
	}); e != nil {
		return e
	}
	return q.ok(http.StatusNoContent)
}

func (q *request) getBucketPolicy() *awserr.Error {
	b, e := q.access("s3:GetBucketPolicy")
	if e != nil {
		return e
	}
	if b.Policy == "" {
		return awserr.New(awserr.NotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
	}
	h := q.header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b.Policy)))
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write([]byte(b.Policy))
	return nil
}

func (q *request) putBucketPolicy() *awserr.Error {
	if _, e := q.access("s3:PutBucketPolicy"); e != nil {
		return e
	}
	body, e := readSmallBody(q.r, q.auth)
	if e != nil {
		return e
	}
	if _, e := parsePolicy(string(body), q.t.bucket); e != nil {
		return e
	}
	if e := q.updateBucket("s3:PutBucketPolicy", func(b *bucketRec) *awserr.Error {
		b.Policy = string(body)
		return nil
	}); e != nil {
		return e
	}
	return q.ok(http.StatusNoContent)
}

func (q *request) deleteBucketPolicy() *awserr.Error {
	if e := q.updateBucket("s3:DeleteBucketPolicy", func(b *bucketRec) *awserr.Error {
		b.Policy = ""
		return nil
	}); e != nil {
		return e
	}
	return q.ok(http.StatusNoContent)
}

type grantee struct {
	XMLNS       string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string
	DisplayName string `xml:",omitempty"`
}

type grant struct {
	Grantee    grantee
	Permission string
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	NS      string   `xml:"xmlns,attr"`
	Owner   ownerXML
	Grants  []grant `xml:"AccessControlList>Grant"`
}

// getACL answers the only ACL a bucket with BucketOwnerEnforced object
// ownership (the AWS default since 2023) has: the owner's FULL_CONTROL.
func (q *request) getACL() *awserr.Error {
	action := "s3:GetBucketAcl"
	if q.t.key != "" {
		action = "s3:GetObjectAcl"
	}
	b, e := q.access(action)
	if e != nil {
		return e
	}
	if q.t.key != "" {
		if _, e := q.loadVersion(q.q.Get("versionId")); e != nil {
			return e
		}
	}
	o := ownerXML{ID: ownerID(b.Owner), DisplayName: b.Owner}
	return q.writeXML(accessControlPolicy{NS: xmlns, Owner: o, Grants: []grant{{
		Grantee:    grantee{XMLNS: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
		Permission: "FULL_CONTROL",
	}}})
}

// putACL accepts only the ACLs BucketOwnerEnforced allows.
func (q *request) putACL() *awserr.Error {
	action := "s3:PutBucketAcl"
	if q.t.key != "" {
		action = "s3:PutObjectAcl"
	}
	if _, e := q.access(action); e != nil {
		return e
	}
	if e := checkCannedACL(q.r); e != nil {
		return e
	}
	if q.r.ContentLength > 0 {
		return errACLNotSupported()
	}
	return q.ok(http.StatusOK)
}

func checkCannedACL(r *http.Request) *awserr.Error {
	switch r.Header.Get("X-Amz-Acl") {
	case "", "private", "bucket-owner-full-control":
		return nil
	}
	return errACLNotSupported()
}

func errACLNotSupported() *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "AccessControlListNotSupported", "The bucket does not allow ACLs")
}

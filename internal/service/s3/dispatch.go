package s3

import (
	"net/http"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// unsupportedBucketSubresources answer NotImplemented rather than being
// mistaken for the plain operation on the bucket.
var unsupportedSubresources = []string{
	"accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering", "inventory",
	"lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls",
	"policyStatus", "publicAccessBlock", "replication", "requestPayment", "website",
	"legal-hold", "retention", "restore", "select", "torrent", "attributes", "session", "metadataTable",
}

// dispatch routes the request by method, addressing and sub-resource.
func (q *request) dispatch() *awserr.Error {
	m := q.r.Method
	if q.t.bucket == "" {
		if m == http.MethodGet {
			return q.listBuckets()
		}
		return methodNotAllowed()
	}
	for _, sub := range unsupportedSubresources {
		if q.q.Has(sub) {
			if sub == "acl" && m == http.MethodGet {
				return q.getACL()
			}
			if sub == "acl" && m == http.MethodPut {
				return q.putACL()
			}
			return errNotImplemented("the ?" + sub + " sub-resource")
		}
	}
	if q.t.key == "" {
		return q.bucketOp(m)
	}
	return q.objectOp(m)
}

func (q *request) bucketOp(m string) *awserr.Error {
	has := q.q.Has
	switch m {
	case http.MethodPut:
		switch {
		case has("versioning"):
			return q.putVersioning()
		case has("tagging"):
			return q.putBucketTagging()
		case has("policy"):
			return q.putBucketPolicy()
		}
		return q.createBucket()
	case http.MethodGet:
		switch {
		case has("location"):
			return q.getBucketLocation()
		case has("versioning"):
			return q.getVersioning()
		case has("tagging"):
			return q.getBucketTagging()
		case has("policy"):
			return q.getBucketPolicy()
		case has("uploads"):
			return q.listUploads()
		case has("versions"):
			return q.listVersions()
		case q.q.Get("list-type") == "2":
			return q.listObjects(true)
		}
		return q.listObjects(false)
	case http.MethodHead:
		return q.headBucket()
	case http.MethodDelete:
		switch {
		case has("tagging"):
			return q.deleteBucketTagging()
		case has("policy"):
			return q.deleteBucketPolicy()
		}
		return q.deleteBucket()
	case http.MethodPost:
		if has("delete") {
			return q.deleteObjects()
		}
		return errNotImplemented("POST object (browser form uploads)")
	}
	return methodNotAllowed()
}

func (q *request) objectOp(m string) *awserr.Error {
	has := q.q.Has
	switch m {
	case http.MethodPut:
		switch {
		case has("uploadId") || has("partNumber"):
			if q.r.Header.Get("X-Amz-Copy-Source") != "" {
				return q.uploadPartCopy()
			}
			return q.uploadPart()
		case has("tagging"):
			return q.putObjectTagging()
		case q.r.Header.Get("X-Amz-Copy-Source") != "":
			return q.copyObject()
		}
		return q.putObject()
	case http.MethodGet, http.MethodHead:
		switch {
		case has("uploadId") && m == http.MethodGet:
			return q.listParts()
		case has("tagging") && m == http.MethodGet:
			return q.getObjectTagging()
		}
		return q.getObject(m == http.MethodHead)
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return q.abortUpload()
		case has("tagging"):
			return q.deleteObjectTagging()
		}
		return q.deleteObject()
	case http.MethodPost:
		switch {
		case has("uploads"):
			return q.createUpload()
		case has("uploadId"):
			return q.completeUpload()
		}
		return errNotImplemented("this POST on an object")
	}
	return methodNotAllowed()
}

func methodNotAllowed() *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// statusByCode is the HTTP status S3 answers with each error code. Codes
// not listed take their awserr Kind's status.
var statusByCode = map[string]int{
	"PermanentRedirect":                       http.StatusMovedPermanently,
	"NotModified":                             http.StatusNotModified,
	"AuthorizationHeaderMalformed":            http.StatusBadRequest,
	"BadDigest":                               http.StatusBadRequest,
	"EntityTooLarge":                          http.StatusBadRequest,
	"EntityTooSmall":                          http.StatusBadRequest,
	"IllegalLocationConstraintException":      http.StatusBadRequest,
	"IllegalVersioningConfigurationException": http.StatusBadRequest,
	"IncompleteBody":                          http.StatusBadRequest,
	"InvalidArgument":                         http.StatusBadRequest,
	"InvalidBucketName":                       http.StatusBadRequest,
	"InvalidDigest":                           http.StatusBadRequest,
	"InvalidPart":                             http.StatusBadRequest,
	"InvalidPartOrder":                        http.StatusBadRequest,
	"InvalidRequest":                          http.StatusBadRequest,
	"InvalidTag":                              http.StatusBadRequest,
	"KeyTooLongError":                         http.StatusBadRequest,
	"MalformedPolicy":                         http.StatusBadRequest,
	"MalformedXML":                            http.StatusBadRequest,
	"MetadataTooLarge":                        http.StatusBadRequest,
	"XAmzContentSHA256Mismatch":               http.StatusBadRequest,
	"AccessDenied":                            http.StatusForbidden,
	"InvalidAccessKeyId":                      http.StatusForbidden,
	"RequestTimeTooSkewed":                    http.StatusForbidden,
	"SignatureDoesNotMatch":                   http.StatusForbidden,
	"NoSuchBucket":                            http.StatusNotFound,
	"NoSuchBucketPolicy":                      http.StatusNotFound,
	"NoSuchKey":                               http.StatusNotFound,
	"NoSuchTagSet":                            http.StatusNotFound,
	"NoSuchUpload":                            http.StatusNotFound,
	"NoSuchVersion":                           http.StatusNotFound,
	"MethodNotAllowed":                        http.StatusMethodNotAllowed,
	"BucketAlreadyExists":                     http.StatusConflict,
	"BucketAlreadyOwnedByYou":                 http.StatusConflict,
	"BucketNotEmpty":                          http.StatusConflict,
	"OperationAborted":                        http.StatusConflict,
	"MissingContentLength":                    http.StatusLengthRequired,
	"PreconditionFailed":                      http.StatusPreconditionFailed,
	"InvalidRange":                            http.StatusRequestedRangeNotSatisfiable,
	"InternalError":                           http.StatusInternalServerError,
	"NotImplemented":                          http.StatusNotImplemented,
	"ServiceUnavailable":                      http.StatusServiceUnavailable,
	"SlowDown":                                http.StatusServiceUnavailable,
}

// status is the HTTP status of e.
func status(e *awserr.Error) int {
	if s, ok := statusByCode[e.Code]; ok {
		return s
	}
	return awserr.Status(e, nil)
}

// errorBody is S3's XML error document.
type errorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	Key        string `xml:",omitempty"`
	BucketName string `xml:",omitempty"`
	Region     string `xml:",omitempty"`
	Condition  string `xml:",omitempty"`
	RequestID  string `xml:"RequestId"`
	HostID     string `xml:"HostId"`
}

// errorContext is what an error body names besides the code: the bucket,
// key and (for redirects) the bucket's region.
type errorContext struct {
	bucket, key, region string
}

// writeError answers e as S3 does: XML body (none for HEAD), the status of
// its code, request IDs in headers.
func writeError(w http.ResponseWriter, r *http.Request, e *awserr.Error, requestID, hostID string, ec errorContext) {
	st := status(e)
	h := w.Header()
	h.Set("x-amz-request-id", requestID)
	h.Set("x-amz-id-2", hostID)
	if ec.region != "" {
		h.Set("x-amz-bucket-region", ec.region)
	}
	if r.Method == http.MethodHead || st == http.StatusNotModified {
		h.Del("Content-Type")
		h.Del("Content-Length")
		w.WriteHeader(st)
		return
	}
	b := errorBody{Code: e.Code, Message: e.Message, RequestID: requestID, HostID: hostID}
	switch e.Code {
	case "NoSuchKey", "NoSuchVersion":
		b.Key = ec.key
	case "NoSuchBucket", "BucketNotEmpty", "BucketAlreadyExists", "BucketAlreadyOwnedByYou", "NoSuchBucketPolicy", "NoSuchTagSet":
		b.BucketName = ec.bucket
	case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
		b.Region = ec.region
	}
	out, _ := xml.Marshal(b)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
	w.WriteHeader(st)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// Helpers for the common errors.

func errNoSuchBucket() *awserr.Error {
	return awserr.New(awserr.NotFound, "NoSuchBucket", "The specified bucket does not exist")
}

func errNoSuchKey() *awserr.Error {
	return awserr.New(awserr.NotFound, "NoSuchKey", "The specified key does not exist.")
}

func errAccessDenied() *awserr.Error {
	return awserr.New(awserr.Forbidden, "AccessDenied", "Access Denied")
}

func errMalformedXML() *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
}

func errInvalidArgument(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "InvalidArgument", format, args...)
}

func errInvalidRequest(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "InvalidRequest", format, args...)
}

func errNotImplemented(what string) *awserr.Error {
	return awserr.New(awserr.UnknownOperation, "NotImplemented", "kiln does not implement %s", what)
}

func errInternal(err error) *awserr.Error {
	return awserr.Wrap(err, awserr.Internal, "InternalError", "We encountered an internal error. Please try again.")
}

package s3

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/store"
)

// Store record kinds. All records are global (Account "", Region ""):
// bucket names are global on AWS, and every record below a bucket is keyed
// by the bucket name.
const (
	kindBucket = "s3-bucket" // ID: bucket name
	kindObject = "s3-object" // ID: bucket "/" key; all versions of one key
	kindUpload = "s3-upload" // ID: bucket "/" upload ID
	kindPart   = "s3-part"   // ID: upload ID "/" 5-digit part number
)

// Versioning states of a bucket ("" is never enabled).
const (
	versioningEnabled   = "Enabled"
	versioningSuspended = "Suspended"
)

// nullVersion is the version ID of objects written while versioning was
// never enabled or suspended.
const nullVersion = "null"

// bucketRec is a bucket.
type bucketRec struct {
	Name       string    `json:"name"`
	Owner      string    `json:"owner"` // account ID
	Region     string    `json:"region"`
	Created    time.Time `json:"created"`
	Versioning string    `json:"versioning,omitempty"`
	Tags       []tag     `json:"tags,omitempty"`
	Policy     string    `json:"policy,omitempty"`
}

type tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// objectRec is every version of one key, newest first.
type objectRec struct {
	Versions []*version `json:"versions"`
}

// version is one version of an object, or a delete marker.
type version struct {
	ID           string    `json:"id"`
	DeleteMarker bool      `json:"dm,omitempty"`
	Modified     time.Time `json:"mod"`
	Size         int64     `json:"size,omitempty"`
	ETag         string    `json:"etag,omitempty"` // without quotes
	// Data lists the data files holding the bytes, in order: one for a
	// simple upload, one per part for a multipart upload.
	Data     []segment         `json:"data,omitempty"`
	Headers  map[string]string `json:"h,omitempty"`    // Content-Type and the other stored entity headers
	Meta     map[string]string `json:"meta,omitempty"` // x-amz-meta-* (lower-case names without the prefix)
	Checksum *checksumValue    `json:"ck,omitempty"`
	Tags     []tag             `json:"tags,omitempty"`
	// Inline holds the bytes of a small object (at most inlineMax), whose
	// single segment then has no file: one store transaction writes it,
	// with no file to create, fsync and rename.
	Inline []byte `json:"in,omitempty"`
}

// segment is one data file of an object. Checksum is the part's own
// checksum for multipart objects.
type segment struct {
	File     string `json:"f"`
	Size     int64  `json:"n"`
	Checksum string `json:"ck,omitempty"`
}

// checksumValue is an object's checksum as S3 reports it.
type checksumValue struct {
	Algorithm string `json:"a"`
	Value     string `json:"v"`           // base64, "-N" suffixed for composite
	Type      string `json:"t,omitempty"` // FULL_OBJECT or COMPOSITE
}

// current is the newest version, or nil.
func (o *objectRec) current() *version {
	if o == nil || len(o.Versions) == 0 {
		return nil
	}
	return o.Versions[0]
}

// find returns the version with id and its index.
func (o *objectRec) find(id string) (*version, int) {
	for i, v := range o.Versions {
		if v.ID == id {
			return v, i
		}
	}
	return nil, -1
}

// files lists the data files of every version.
func (o *objectRec) files() []string {
	var ids []string
	for _, v := range o.Versions {
		ids = append(ids, v.files()...)
	}
	return ids
}

func (v *version) files() []string {
	ids := make([]string, 0, len(v.Data))
	for _, s := range v.Data {
		if s.File != "" {
			ids = append(ids, s.File)
		}
	}
	return ids
}

// uploadRec is a multipart upload in progress.
type uploadRec struct {
	ID        string            `json:"id"`
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	Initiated time.Time         `json:"initiated"`
	Initiator string            `json:"initiator"` // account ID
	Headers   map[string]string `json:"h,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	Tags      []tag             `json:"tags,omitempty"`
	// ChecksumAlgorithm and ChecksumType are set when the upload was
	// created with x-amz-checksum-algorithm.
	ChecksumAlgorithm string `json:"cka,omitempty"`
	ChecksumType      string `json:"ckt,omitempty"`
}

// partRec is one uploaded part.
type partRec struct {
	Number   int       `json:"n"`
	File     string    `json:"f"`
	Size     int64     `json:"size"`
	ETag     string    `json:"etag"` // hex MD5, without quotes
	Modified time.Time `json:"mod"`
	Checksum string    `json:"ck,omitempty"` // base64, in the upload's algorithm
}

func bucketKey(name string) store.Key { return store.Key{Kind: kindBucket, ID: name} }
func objectKey(bucket, key string) store.Key {
	return store.Key{Kind: kindObject, ID: bucket + "/" + key}
}
func uploadKey(bucket, id string) store.Key {
	return store.Key{Kind: kindUpload, ID: bucket + "/" + id}
}
func partKey(upload string, n int) store.Key {
	return store.Key{Kind: kindPart, ID: upload + "/" + partSuffix(n)}
}

func partSuffix(n int) string {
	b := []byte("00000")
	for i := 4; i >= 0 && n > 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b)
}

// getBucket loads a bucket; store.ErrNotFound if absent.
func getBucket(tx store.Tx, name string) (*bucketRec, error) {
	b, err := store.GetJSON[bucketRec](tx, bucketKey(name))
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// getObject loads every version of a key; nil, nil if there is none.
func getObject(tx store.Tx, bucket, key string) (*objectRec, error) {
	o, err := store.GetJSON[objectRec](tx, objectKey(bucket, key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// putObject stores o, or deletes the record when o has no versions left.
func putObject(tx store.Tx, bucket, key string, o *objectRec) error {
	if len(o.Versions) == 0 {
		err := tx.Delete(objectKey(bucket, key))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	return store.PutJSON(tx, objectKey(bucket, key), "", o)
}

// objectBatch is how many records scanObjects reads per query.
const objectBatch = 1000

// scanObjects calls fn for every object record of bucket with a key
// greater than after (or equal to it, if inclusive), in key order. fn
// returns stop to end the scan, or a non-empty skipTo to continue at the
// first key >= skipTo.
func (s *Service) scanObjects(ctx context.Context, bucket, after string, inclusive bool, limit int,
	fn func(key string, o *objectRec) (skipTo string, stop bool)) error {
	prefix := bucket + "/"
	batch := min(max(limit+1, 16), objectBatch)
	for {
		var recs []store.Record
		err := s.st.View(ctx, func(tx store.Tx) error {
			recs = recs[:0]
			if inclusive && after != "" {
				r, err := tx.Get(objectKey(bucket, after))
				if err == nil {
					recs = append(recs, r)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			rs, err := tx.List(store.Query{Kind: kindObject, After: prefix + after, Limit: batch})
			recs = append(recs, rs...)
			return err
		})
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, r := range recs {
			key, ok := strings.CutPrefix(r.ID, prefix)
			if !ok {
				return nil
			}
			o, err := decodeObject(r.Body)
			if err != nil {
				return err
			}
			skip, stop := fn(key, o)
			if stop {
				return nil
			}
			if skip != "" {
				after, inclusive = skip, true
				goto next
			}
			after, inclusive = key, false
		}
		if len(recs) < batch {
			return nil
		}
	next:
	}
}

// newVersionID returns a fresh version ID (32 URL-safe characters).
func newVersionID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newUploadID returns a fresh multipart upload ID.
func newUploadID() string {
	var b [36]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }

package s3

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// deleted is the outcome of deleting one key or version.
type deleted struct {
	versionID    string // version removed or delete marker created
	deleteMarker bool   // a delete marker was created or removed
}

// deleteTx deletes key (versionID "": the current version, as versioning
// says) inside tx and returns the data files to remove after commit.
func deleteTx(tx store.Tx, b *bucketRec, key, versionID string, now func() *version) (deleted, []string, error) {
	o, err := getObject(tx, b.Name, key)
	if err != nil {
		return deleted{}, nil, err
	}
	if o == nil {
		o = &objectRec{}
	}
	var d deleted
	var files []string
	switch {
	case versionID != "":
		v, i := o.find(versionID)
		if v == nil {
			if versionID != nullVersion && len(versionID) != 32 {
				return d, nil, errInvalidArgument("Invalid version id specified")
			}
			return deleted{versionID: versionID}, nil, nil
		}
		d = deleted{versionID: v.ID, deleteMarker: v.DeleteMarker}
		files = v.files()
		o.Versions = append(o.Versions[:i], o.Versions[i+1:]...)
	case b.Versioning == "":
		files = o.files()
		o.Versions = nil
	default:
		m := now()
		m.DeleteMarker = true
		files = o.add(m, b.Versioning)
		d = deleted{versionID: m.ID, deleteMarker: true}
	}
	return d, files, putObject(tx, b.Name, key, o)
}

func (q *request) deleteObject() *awserr.Error {
	versionID := q.q.Get("versionId")
	action := "s3:DeleteObject"
	if versionID != "" {
		action = "s3:DeleteObjectVersion"
	}
	if _, e := q.access(action); e != nil {
		return e
	}
	var d deleted
	var files []string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		b, err := getBucket(tx, q.t.bucket)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchBucket()
		}
		if err != nil {
			return err
		}
		if m := q.r.Header.Get("If-Match"); m != "" {
			o, err := getObject(tx, b.Name, q.t.key)
			if err != nil {
				return err
			}
			cur := o.current()
			if cur == nil || cur.DeleteMarker {
				return errNoSuchKey()
			}
			if !etagMatches(m, cur.ETag) {
				return awserr.New(awserr.Conflict, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
			}
		}
		d, files, err = deleteTx(tx, b, q.t.key, versionID, q.newMarker)
		return err
	})
	if err != nil {
		return storeErr(err)
	}
	q.s.removeData(files)
	h := q.header()
	if d.versionID != "" {
		h.Set("x-amz-version-id", d.versionID)
	}
	if d.deleteMarker {
		h.Set("x-amz-delete-marker", "true")
	}
	return q.ok(http.StatusNoContent)
}

// newMarker returns a delete marker stamped now.
func (q *request) newMarker() *version { return &version{Modified: q.now()} }

type deleteRequest struct {
	Quiet   bool
	Objects []struct {
		Key       string
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deletedXML struct {
	Key                   string
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:",omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteErrorXML struct {
	Key       string
	VersionID string `xml:"VersionId,omitempty"`
	Code      string
	Message   string
}

type deleteResult struct {
	XMLName xml.Name         `xml:"DeleteResult"`
	NS      string           `xml:"xmlns,attr"`
	Deleted []deletedXML     `xml:"Deleted"`
	Errors  []deleteErrorXML `xml:"Error"`
}

func (q *request) deleteObjects() *awserr.Error {
	b, e := q.access("s3:DeleteObject")
	if e != nil && e.Code != "AccessDenied" {
		return e
	}
	if b == nil {
		// Per-key policies may still allow some keys: load the bucket.
		err := q.s.st.View(q.ctx, func(tx store.Tx) error {
			var err error
			b, err = getBucket(tx, q.t.bucket)
			return err
		})
		if err != nil {
			return storeErr(err)
		}
	}
	var in deleteRequest
	if e := q.readXML(&in); e != nil {
		return e
	}
	if len(in.Objects) == 0 || len(in.Objects) > 1000 {
		return errMalformedXML()
	}
	out := deleteResult{NS: xmlns}
	var files []string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		out.Deleted, out.Errors, files = nil, nil, nil
		for _, obj := range in.Objects {
			action := "s3:DeleteObject"
			if obj.VersionID != "" {
				action = "s3:DeleteObjectVersion"
			}
			if e := q.allowed(b, action, obj.Key); e != nil {
				out.Errors = append(out.Errors, deleteErrorXML{Key: obj.Key, VersionID: obj.VersionID, Code: e.Code, Message: e.Message})
				continue
			}
			d, f, err := deleteTx(tx, b, obj.Key, obj.VersionID, q.newMarker)
			var ae *awserr.Error
			if errors.As(err, &ae) {
				out.Errors = append(out.Errors, deleteErrorXML{Key: obj.Key, VersionID: obj.VersionID, Code: ae.Code, Message: ae.Message})
				continue
			}
			if err != nil {
				return err
			}
			files = append(files, f...)
			if in.Quiet {
				continue
			}
			x := deletedXML{Key: obj.Key, VersionID: obj.VersionID}
			if d.deleteMarker {
				x.DeleteMarker = true
				x.DeleteMarkerVersionID = d.versionID
			}
			out.Deleted = append(out.Deleted, x)
		}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	q.s.removeData(files)
	return q.writeXML(out)
}

// Object tagging.

func (q *request) getObjectTagging() *awserr.Error {
	if _, e := q.access("s3:GetObjectTagging"); e != nil {
		return e
	}
	v, e := q.loadVersion(q.q.Get("versionId"))
	if e != nil {
		return e
	}
	if q.q.Get("versionId") != "" || v.ID != nullVersion {
		q.header().Set("x-amz-version-id", v.ID)
	}
	return q.writeXML(tagging{NS: xmlns, TagSet: toTagXML(v.Tags)})
}

func (q *request) putObjectTagging() *awserr.Error {
	if _, e := q.access("s3:PutObjectTagging"); e != nil {
		return e
	}
	var in tagging
	if e := q.readXML(&in); e != nil {
		return e
	}
	tags, e := validTags(in.TagSet, 10)
	if e != nil {
		return e
	}
	return q.setObjectTags(tags, http.StatusOK)
}

func (q *request) deleteObjectTagging() *awserr.Error {
	if _, e := q.access("s3:DeleteObjectTagging"); e != nil {
		return e
	}
	return q.setObjectTags(nil, http.StatusNoContent)
}

// setObjectTags replaces the tags of the requested version.
func (q *request) setObjectTags(tags []tag, status int) *awserr.Error {
	versionID := q.q.Get("versionId")
	var id string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		o, err := getObject(tx, q.t.bucket, q.t.key)
		if err != nil {
			return err
		}
		var v *version
		if versionID == "" {
			v = o.current()
		} else if o != nil {
			v, _ = o.find(versionID)
		}
		switch {
		case v == nil && versionID != "":
			return errNoSuchVersion(versionID)
		case v == nil || (versionID == "" && v.DeleteMarker):
			return errNoSuchKey()
		case v.DeleteMarker:
			return methodNotAllowed()
		}
		v.Tags, id = tags, v.ID
		return putObject(tx, q.t.bucket, q.t.key, o)
	})
	if err != nil {
		return storeErr(err)
	}
	if id != nullVersion {
		q.header().Set("x-amz-version-id", id)
	}
	return q.ok(status)
}

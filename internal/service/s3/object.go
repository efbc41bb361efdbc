package s3

import (
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// maxPutSize is the largest single PUT S3 accepts (5 GiB).
const maxPutSize = 5 << 30

// storedHeaders are the entity headers S3 keeps with an object and
// returns on GET and HEAD.
var storedHeaders = []string{"Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language",
	"Cache-Control", "Expires", "X-Amz-Website-Redirect-Location"}

// objectAttrs reads what a PUT (or CreateMultipartUpload, or a copy with
// REPLACE) stores besides the data: entity headers, user metadata, tags.
func objectAttrs(r *http.Request) (map[string]string, map[string]string, []tag, *awserr.Error) {
	hdrs := map[string]string{}
	for _, name := range storedHeaders {
		if v := r.Header.Get(name); v != "" {
			hdrs[name] = v
		}
	}
	if ce, ok := hdrs["Content-Encoding"]; ok {
		var keep []string
		for _, p := range strings.Split(ce, ",") {
			if p = strings.TrimSpace(p); p != "" && !strings.EqualFold(p, "aws-chunked") {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(hdrs, "Content-Encoding")
		} else {
			hdrs["Content-Encoding"] = strings.Join(keep, ",")
		}
	}
	if _, ok := hdrs["Content-Type"]; !ok {
		hdrs["Content-Type"] = "binary/octet-stream"
	}
	if sc := r.Header.Get("X-Amz-Storage-Class"); sc != "" && sc != "STANDARD" {
		hdrs["X-Amz-Storage-Class"] = sc
	}
	var meta map[string]string
	size := 0
	for name, vs := range r.Header {
		lower := strings.ToLower(name)
		if k, ok := strings.CutPrefix(lower, "x-amz-meta-"); ok && k != "" {
			if meta == nil {
				meta = map[string]string{}
			}
			meta[k] = strings.Join(vs, ",")
			size += len(k) + len(meta[k])
		}
	}
	if size > 2048 {
		return nil, nil, nil, awserr.New(awserr.InvalidArgument, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	var tags []tag
	if t := r.Header.Get("X-Amz-Tagging"); t != "" {
		vals, err := url.ParseQuery(t)
		if err != nil {
			return nil, nil, nil, awserr.New(awserr.InvalidArgument, "InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
		}
		var in []tagXML
		for k, vs := range vals {
			if len(vs) > 1 {
				return nil, nil, nil, awserr.New(awserr.InvalidArgument, "InvalidTag", "Cannot provide multiple Tags with the same key")
			}
			in = append(in, tagXML{Key: k, Value: vs[0]})
		}
		sort.Slice(in, func(i, j int) bool { return in[i].Key < in[j].Key })
		var e *awserr.Error
		if tags, e = validTags(in, 10); e != nil {
			return nil, nil, nil, e
		}
	}
	return hdrs, meta, tags, nil
}

// inlineMax is the largest object kept inside its metadata record.
const inlineMax = 4 << 10

// received is a request body stored in a data file (or inline).
type received struct {
	file     string
	inline   []byte
	size     int64
	md5      []byte
	checksum *checksumValue
	sums     map[string][]byte
}

// receive streams the request body into a new data file, verifying the
// payload signature, Content-MD5 and checksums; extraAlgo is computed even
// if the client sent no value for it. Nothing is left on disk on error.
func (q *request) receive(extraAlgo string, inline bool) (*received, *awserr.Error) {
	if q.r.ContentLength > maxPutSize {
		return nil, awserr.New(awserr.InvalidArgument, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	p, e := openPayload(q.r, q.auth)
	if e != nil {
		return nil, e
	}
	if p.want > maxPutSize {
		return nil, awserr.New(awserr.InvalidArgument, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	ck, e := parseChecksums(q.r)
	if e != nil {
		return nil, e
	}
	hs := newHashSet(ck.algorithms(extraAlgo), true)
	if inline && p.want >= 0 && p.want <= inlineMax {
		return q.receiveInline(p, ck, hs)
	}
	t, n, err := writeData(q.s.data, p, hs)
	if err != nil {
		if p.err != nil || errors.Is(err, p.err) {
			return nil, readError(p.err)
		}
		return nil, errInternal(err)
	}
	fail := func(e *awserr.Error) (*received, *awserr.Error) {
		t.Abort()
		return nil, e
	}
	if e := p.finish(); e != nil {
		return fail(e)
	}
	if e := hs.checkMD5(q.r.Header.Get("Content-MD5")); e != nil {
		return fail(e)
	}
	sums := hs.sums()
	cv, e := ck.verify(sums, p.trailer())
	if e != nil {
		return fail(e)
	}
	id, err := t.Commit()
	if err != nil {
		return nil, errInternal(err)
	}
	return &received{file: id, size: n, md5: hs.md5Sum(), checksum: cv, sums: sums}, nil
}

// receiveInline reads a small body into memory.
func (q *request) receiveInline(p *payload, ck checksumRequest, hs *hashSet) (*received, *awserr.Error) {
	b, err := io.ReadAll(io.LimitReader(p, inlineMax+1))
	if err != nil {
		return nil, readError(err)
	}
	if e := p.finish(); e != nil {
		return nil, e
	}
	hs.Write(b)
	if e := hs.checkMD5(q.r.Header.Get("Content-MD5")); e != nil {
		return nil, e
	}
	sums := hs.sums()
	cv, e := ck.verify(sums, p.trailer())
	if e != nil {
		return nil, e
	}
	if b == nil {
		b = []byte{}
	}
	return &received{inline: b, size: int64(len(b)), md5: hs.md5Sum(), checksum: cv, sums: sums}, nil
}

// checkPutObject is the common precheck of the requests that write an
// object (PutObject, CopyObject, CreateMultipartUpload): the key length,
// s3:PutObject access, and the canned ACL header, in that order.
func (q *request) checkPutObject() *awserr.Error {
	if len(q.t.key) > 1024 {
		return awserr.New(awserr.InvalidArgument, "KeyTooLongError", "Your key is too long")
	}
	if _, e := q.access("s3:PutObject"); e != nil {
		return e
	}
	return checkCannedACL(q.r)
}

func (q *request) putObject() *awserr.Error {
	if e := q.checkPutObject(); e != nil {
		return e
	}
	hdrs, meta, tags, e := objectAttrs(q.r)
	if e != nil {
		return e
	}
	if e := q.precheckWrite(); e != nil {
		return e
	}
	rc, e := q.receive("", true)
	if e != nil {
		return e
	}
	v := &version{Modified: q.now(), Size: rc.size, ETag: hex.EncodeToString(rc.md5),
		Data: []segment{{File: rc.file, Size: rc.size}}, Inline: rc.inline, Headers: hdrs, Meta: meta, Checksum: rc.checksum, Tags: tags}
	versioning, e := q.commitVersion(v, []string{rc.file})
	if e != nil {
		return e
	}
	h := q.header()
	h.Set("ETag", `"`+v.ETag+`"`)
	if versioning != "" {
		h.Set("x-amz-version-id", v.ID)
	}
	h.Set("x-amz-server-side-encryption", "AES256")
	setChecksumHeaders(h, v.Checksum)
	return q.ok(http.StatusOK)
}

// precheckWrite applies the write conditions before the body is read, so
// a doomed upload fails fast; addVersionTx checks them again at commit.
func (q *request) precheckWrite() *awserr.Error {
	if q.r.Header.Get("If-Match") == "" && q.r.Header.Get("If-None-Match") == "" {
		return nil
	}
	var cur *version
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		o, err := getObject(tx, q.t.bucket, q.t.key)
		cur = o.current()
		return err
	})
	if err != nil {
		return storeErr(err)
	}
	return q.writeConditions(cur)
}

// writeConditions applies If-Match / If-None-Match of a PUT or
// CompleteMultipartUpload to the current version cur (nil: none).
func (q *request) writeConditions(cur *version) *awserr.Error {
	ifMatch, ifNoneMatch := q.r.Header.Get("If-Match"), q.r.Header.Get("If-None-Match")
	exists := cur != nil && !cur.DeleteMarker
	failed := awserr.New(awserr.Conflict, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	if ifNoneMatch != "" {
		if ifNoneMatch != "*" {
			return errNotImplemented("If-None-Match other than * on writes")
		}
		if exists {
			return failed
		}
	}
	if ifMatch != "" {
		if !exists {
			return errNoSuchKey()
		}
		if !etagMatches(ifMatch, cur.ETag) {
			return failed
		}
	}
	return nil
}

// commitVersion makes v the current version of the request's key in one
// transaction, as the bucket's versioning state says, and removes the data
// of the version it replaces. newFiles are removed if the commit fails.
func (q *request) commitVersion(v *version, newFiles []string) (versioning string, _ *awserr.Error) {
	var replaced []string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		var err error
		versioning, replaced, err = q.addVersionTx(tx, v)
		return err
	})
	if err != nil {
		q.s.removeData(newFiles)
		return "", storeErr(err)
	}
	q.s.removeData(replaced)
	return versioning, nil
}

// addVersionTx is commitVersion inside a transaction: it checks the write
// conditions, adds v and returns the data files of the replaced version.
func (q *request) addVersionTx(tx store.Tx, v *version) (versioning string, replaced []string, err error) {
	b, err := getBucket(tx, q.t.bucket)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errNoSuchBucket()
	}
	if err != nil {
		return "", nil, err
	}
	o, err := getObject(tx, q.t.bucket, q.t.key)
	if err != nil {
		return "", nil, err
	}
	if e := q.writeConditions(o.current()); e != nil {
		return "", nil, e
	}
	if o == nil {
		o = &objectRec{}
	}
	replaced = o.add(v, b.Versioning)
	return b.Versioning, replaced, putObject(tx, q.t.bucket, q.t.key, o)
}

// add makes v the newest version according to the versioning state and
// returns the data files of the version it replaced, if any.
func (o *objectRec) add(v *version, versioning string) []string {
	var replaced []string
	if versioning == versioningEnabled {
		v.ID = newVersionID()
	} else {
		v.ID = nullVersion
		if old, i := o.find(nullVersion); old != nil {
			replaced = old.files()
			o.Versions = append(o.Versions[:i], o.Versions[i+1:]...)
		}
	}
	o.Versions = append([]*version{v}, o.Versions...)
	return replaced
}

// loadVersion returns the requested version of the request's key (the
// current one for versionID ""), with S3's errors for missing keys,
// missing versions and delete markers.
func (q *request) loadVersion(versionID string) (*version, *awserr.Error) {
	var o *objectRec
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		o, err = getObject(tx, q.t.bucket, q.t.key)
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return q.pickVersion(o, versionID)
}

// pickVersion is loadVersion on an object record already loaded.
func (q *request) pickVersion(o *objectRec, versionID string) (*version, *awserr.Error) {
	if versionID == "" {
		v := o.current()
		if v == nil {
			return nil, errNoSuchKey()
		}
		if v.DeleteMarker {
			h := q.w.Header()
			h.Set("x-amz-delete-marker", "true")
			h.Set("x-amz-version-id", v.ID)
			return nil, errNoSuchKey()
		}
		return v, nil
	}
	if o == nil {
		return nil, errNoSuchVersion(versionID)
	}
	v, _ := o.find(versionID)
	if v == nil {
		return nil, errNoSuchVersion(versionID)
	}
	if v.DeleteMarker {
		h := q.w.Header()
		h.Set("x-amz-delete-marker", "true")
		h.Set("x-amz-version-id", v.ID)
		h.Set("Allow", "DELETE")
		return nil, methodNotAllowed()
	}
	return v, nil
}

func errNoSuchVersion(id string) *awserr.Error {
	if id != nullVersion && len(id) != 32 {
		return errInvalidArgument("Invalid version id specified")
	}
	return awserr.New(awserr.NotFound, "NoSuchVersion", "The specified version does not exist.")
}

// setObjectHeaders writes the stored headers of v.
func setObjectHeaders(h http.Header, v *version, showVersion bool) {
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	for k, val := range v.Meta {
		h["x-amz-meta-"+k] = []string{val}
	}
	h.Set("ETag", `"`+v.ETag+`"`)
	h.Set("Last-Modified", v.Modified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("x-amz-server-side-encryption", "AES256")
	if showVersion {
		h.Set("x-amz-version-id", v.ID)
	}
	if len(v.Tags) > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(v.Tags)))
	}
}

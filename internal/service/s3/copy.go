package s3

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/service/s3/disk"
)

// source is an open copy source.
type source struct {
	bucket *bucketRec
	v      *version
	files  []*os.File
}

func (s *source) close() { closeAll(s.files) }

// reader returns the bytes rng of the source.
func (s *source) reader(rng byteRange) io.Reader {
	var rs []io.Reader
	var off int64
	for i, seg := range s.v.Data {
		segStart, segEnd := off, off+seg.Size-1
		off += seg.Size
		if segEnd < rng.start || segStart > rng.end {
			continue
		}
		from := max(rng.start, segStart) - segStart
		to := min(rng.end, segEnd) - segStart
		if s.files[i] == nil {
			rs = append(rs, bytes.NewReader(s.v.Inline[from:to+1]))
			continue
		}
		rs = append(rs, io.NewSectionReader(s.files[i], from, to-from+1))
	}
	return io.MultiReader(rs...)
}

// openSource parses x-amz-copy-source, checks the caller may read it and
// its x-amz-copy-source-if-* conditions, and opens its data.
func (q *request) openSource() (*source, *awserr.Error) {
	raw := q.r.Header.Get("X-Amz-Copy-Source")
	path, query, _ := strings.Cut(raw, "?")
	path, err := url.PathUnescape(path)
	if err != nil {
		return nil, errInvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || bucket == "" || key == "" {
		return nil, errInvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	vid := ""
	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return nil, errInvalidArgument("Copy Source is invalid")
		}
		vid = vals.Get("versionId")
	}
	src := *q
	src.t = target{bucket: bucket, key: key}
	src.region = "" // cross-region copies are allowed
	src.errCtx = errorContext{bucket: bucket, key: key}
	action := "s3:GetObject"
	if vid != "" {
		action = "s3:GetObjectVersion"
	}
	b, e := src.access(action)
	if e != nil {
		q.errCtx = src.errCtx
		return nil, e
	}
	for attempt := 0; ; attempt++ {
		v, e := src.loadVersion(vid)
		if e != nil {
			q.errCtx = src.errCtx
			if e.Code == "MethodNotAllowed" {
				return nil, errInvalidRequest("The source of a copy request may not specifically refer to a delete marker by version id.")
			}
			return nil, e
		}
		if e := readConditions(q.r.Header, "X-Amz-Copy-Source-").check(v.ETag, v.Modified, true); e != nil {
			return nil, e
		}
		files, err := q.s.openAll(v)
		if errors.Is(err, disk.ErrNotFound) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, errInternal(err)
		}
		return &source{bucket: b, v: v, files: files}, nil
	}
}

type copyResult struct {
	XMLName      xml.Name
	NS           string `xml:"xmlns,attr"`
	ETag         string
	LastModified string
	partChecksums
	ChecksumType string `xml:",omitempty"`
}

func (q *request) copyObject() *awserr.Error {
	if e := q.checkPutObject(); e != nil {
		return e
	}
	if e := q.precheckWrite(); e != nil {
		return e
	}
	src, e := q.openSource()
	if e != nil {
		return e
	}
	defer src.close()
	metaDirective := strings.ToUpper(q.r.Header.Get("X-Amz-Metadata-Directive"))
	tagDirective := strings.ToUpper(q.r.Header.Get("X-Amz-Tagging-Directive"))
	if (metaDirective != "" && metaDirective != "COPY" && metaDirective != "REPLACE") ||
		(tagDirective != "" && tagDirective != "COPY" && tagDirective != "REPLACE") {
		return errInvalidArgument("Unknown metadata or tagging directive.")
	}
	algo := ""
	if a := q.r.Header.Get("X-Amz-Checksum-Algorithm"); a != "" {
		var ok bool
		if algo, ok = validAlgorithm(a); !ok {
			return errInvalidRequest("Checksum algorithm provided is unsupported.")
		}
	} else if src.v.Checksum != nil && src.v.Checksum.Type == checksumFullObject {
		algo = src.v.Checksum.Algorithm
	}
	if q.isSelf() && metaDirective != "REPLACE" && tagDirective != "REPLACE" && q.r.Header.Get("X-Amz-Checksum-Algorithm") == "" {
		return errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	hdrs, meta, tags := src.v.Headers, src.v.Meta, src.v.Tags
	if metaDirective == "REPLACE" || tagDirective == "REPLACE" {
		h2, m2, t2, e := objectAttrs(q.r)
		if e != nil {
			return e
		}
		if metaDirective == "REPLACE" {
			hdrs, meta = h2, m2
		}
		if tagDirective == "REPLACE" {
			tags = t2
		}
	}
	var algos []string
	if algo != "" {
		algos = []string{algo}
	}
	hs := newHashSet(algos, true)
	var id string
	var inline []byte
	n := src.v.Size
	if n <= inlineMax {
		inline = make([]byte, n)
		if _, err := io.ReadFull(src.reader(byteRange{0, n - 1}), inline); err != nil {
			return errInternal(err)
		}
		hs.Write(inline)
	} else {
		t, size, err := writeData(q.s.data, src.reader(byteRange{0, n - 1}), hs)
		if err != nil {
			return errInternal(err)
		}
		if id, err = t.Commit(); err != nil {
			return errInternal(err)
		}
		n = size
	}
	v := &version{Modified: q.now(), Size: n, ETag: hex.EncodeToString(hs.md5Sum()),
		Data: []segment{{File: id, Size: n}}, Inline: inline, Headers: hdrs, Meta: meta, Tags: tags}
	if algo != "" {
		v.Checksum = &checksumValue{Algorithm: algo, Value: base64.StdEncoding.EncodeToString(hs.sums()[algo]), Type: checksumFullObject}
	}
	versioning, e := q.commitVersion(v, []string{id})
	if e != nil {
		return e
	}
	h := q.header()
	if src.bucket.Versioning != "" || src.v.ID != nullVersion {
		h.Set("x-amz-copy-source-version-id", src.v.ID)
	}
	if versioning != "" {
		h.Set("x-amz-version-id", v.ID)
	}
	h.Set("x-amz-server-side-encryption", "AES256")
	out := copyResult{XMLName: xml.Name{Local: "CopyObjectResult"}, NS: xmlns, ETag: `"` + v.ETag + `"`, LastModified: timeISO(v.Modified)}
	if v.Checksum != nil {
		out.set(v.Checksum.Algorithm, v.Checksum.Value)
		out.ChecksumType = v.Checksum.Type
	}
	return q.writeXML(out)
}

// isSelf reports whether the copy source names the destination key.
func (q *request) isSelf() bool {
	path, _, _ := strings.Cut(q.r.Header.Get("X-Amz-Copy-Source"), "?")
	path, _ = url.PathUnescape(path)
	return strings.TrimPrefix(path, "/") == q.t.bucket+"/"+q.t.key
}

func (q *request) uploadPartCopy() *awserr.Error {
	n, u, e := q.partTarget()
	if e != nil {
		return e
	}
	src, e := q.openSource()
	if e != nil {
		return e
	}
	defer src.close()
	rng := byteRange{0, src.v.Size - 1}
	if h := q.r.Header.Get("X-Amz-Copy-Source-Range"); h != "" {
		spec, ok := strings.CutPrefix(h, "bytes=")
		a, b, ok2 := strings.Cut(spec, "-")
		s, err1 := strconv.ParseInt(a, 10, 64)
		t, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil || s < 0 || t < s {
			return errInvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
		if t >= src.v.Size {
			return errInvalidArgument("Range specified is not valid for source object of size: %d", src.v.Size)
		}
		rng = byteRange{s, t}
	}
	var algos []string
	if u.ChecksumAlgorithm != "" {
		algos = []string{u.ChecksumAlgorithm}
	}
	hs := newHashSet(algos, true)
	tmp, size, err := writeData(q.s.data, src.reader(rng), hs)
	if err != nil {
		return errInternal(err)
	}
	id, err := tmp.Commit()
	if err != nil {
		return errInternal(err)
	}
	p := partRec{Number: n, File: id, Size: size, ETag: hex.EncodeToString(hs.md5Sum()), Modified: q.now()}
	if u.ChecksumAlgorithm != "" {
		p.Checksum = base64.StdEncoding.EncodeToString(hs.sums()[u.ChecksumAlgorithm])
	}
	if e := q.commitPart(p); e != nil {
		return e
	}
	h := q.header()
	if src.bucket.Versioning != "" || src.v.ID != nullVersion {
		h.Set("x-amz-copy-source-version-id", src.v.ID)
	}
	out := copyResult{XMLName: xml.Name{Local: "CopyPartResult"}, NS: xmlns, ETag: `"` + p.ETag + `"`, LastModified: timeISO(p.Modified)}
	if u.ChecksumAlgorithm != "" {
		out.set(u.ChecksumAlgorithm, p.Checksum)
	}
	return q.writeXML(out)
}

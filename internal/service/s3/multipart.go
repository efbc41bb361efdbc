package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// minPartSize is the smallest part S3 accepts except for the last one.
const minPartSize = 5 << 20

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

func (q *request) createUpload() *awserr.Error {
	if e := q.checkPutObject(); e != nil {
		return e
	}
	hdrs, meta, tags, e := objectAttrs(q.r)
	if e != nil {
		return e
	}
	u := uploadRec{ID: newUploadID(), Bucket: q.t.bucket, Key: q.t.key, Initiated: q.now(), Initiator: q.account,
		Headers: hdrs, Meta: meta, Tags: tags}
	if a := q.r.Header.Get("X-Amz-Checksum-Algorithm"); a != "" {
		algo, ok := validAlgorithm(a)
		if !ok {
			return errInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		u.ChecksumAlgorithm = algo
		u.ChecksumType = checksumComposite
		if algo == "CRC64NVME" {
			u.ChecksumType = checksumFullObject
		}
	}
	if t := q.r.Header.Get("X-Amz-Checksum-Type"); t != "" {
		switch {
		case u.ChecksumAlgorithm == "":
			return errInvalidRequest("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		case t == checksumFullObject && strings.HasPrefix(u.ChecksumAlgorithm, "CRC"),
			t == checksumComposite && u.ChecksumAlgorithm != "CRC64NVME":
			u.ChecksumType = t
		default:
			return errInvalidRequest("The %s checksum type cannot be used with the %s checksum algorithm.", t, strings.ToLower(u.ChecksumAlgorithm))
		}
	}
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		return store.CreateJSON(tx, uploadKey(u.Bucket, u.ID), "", u)
	})
	if err != nil {
		return storeErr(err)
	}
	h := q.header()
	if u.ChecksumAlgorithm != "" {
		h.Set("x-amz-checksum-algorithm", u.ChecksumAlgorithm)
		h.Set("x-amz-checksum-type", u.ChecksumType)
	}
	return q.writeXML(initiateResult{NS: xmlns, Bucket: u.Bucket, Key: u.Key, UploadID: u.ID})
}

// loadUpload returns the request's upload (uploadId query parameter).
func (q *request) loadUpload(tx store.Tx) (*uploadRec, error) {
	id := q.q.Get("uploadId")
	u, err := store.GetJSON[uploadRec](tx, uploadKey(q.t.bucket, id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Key != q.t.key) {
		return nil, errNoSuchUpload()
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func errNoSuchUpload() *awserr.Error {
	return awserr.New(awserr.NotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
}

// partNumber reads and checks the partNumber query parameter.
func (q *request) partNumber() (int, *awserr.Error) {
	n, err := strconv.Atoi(q.q.Get("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		return 0, errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// viewUpload loads the request's upload outside a transaction.
func (q *request) viewUpload() (*uploadRec, *awserr.Error) {
	var u *uploadRec
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		u, err = q.loadUpload(tx)
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// partTarget is the common start of UploadPart and UploadPartCopy: the part
// number, s3:PutObject access, and the upload, in that order.
func (q *request) partTarget() (int, *uploadRec, *awserr.Error) {
	n, e := q.partNumber()
	if e != nil {
		return 0, nil, e
	}
	if _, e := q.access("s3:PutObject"); e != nil {
		return 0, nil, e
	}
	u, e := q.viewUpload()
	if e != nil {
		return 0, nil, e
	}
	return n, u, nil
}

func (q *request) uploadPart() *awserr.Error {
	n, u, e := q.partTarget()
	if e != nil {
		return e
	}
	rc, e := q.receive(u.ChecksumAlgorithm, false)
	if e != nil {
		return e
	}
	p := partRec{Number: n, File: rc.file, Size: rc.size, ETag: hex.EncodeToString(rc.md5), Modified: q.now()}
	if u.ChecksumAlgorithm != "" {
		p.Checksum = base64.StdEncoding.EncodeToString(rc.sums[u.ChecksumAlgorithm])
	}
	if e := q.commitPart(p); e != nil {
		return e
	}
	h := q.header()
	h.Set("ETag", `"`+p.ETag+`"`)
	h.Set("x-amz-server-side-encryption", "AES256")
	if u.ChecksumAlgorithm != "" {
		h.Set(checksumHeader(u.ChecksumAlgorithm), p.Checksum)
	} else if rc.checksum != nil {
		h.Set(checksumHeader(rc.checksum.Algorithm), rc.checksum.Value)
	}
	return q.ok(http.StatusOK)
}

// commitPart records a part (replacing an earlier upload of the same
// number) if the upload still exists; otherwise its data is removed.
func (q *request) commitPart(p partRec) *awserr.Error {
	var old string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		old = ""
		u, err := q.loadUpload(tx)
		if err != nil {
			return err
		}
		prev, err := store.GetJSON[partRec](tx, partKey(u.ID, p.Number))
		if err == nil {
			old = prev.File
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return store.PutJSON(tx, partKey(u.ID, p.Number), "", p)
	})
	if err != nil {
		q.s.removeData([]string{p.File})
		return storeErr(err)
	}
	if old != "" {
		q.s.removeData([]string{old})
	}
	return nil
}

// listPartsTx returns the parts of an upload in part-number order.
// uploadParts reads the upload the request names and its parts, in one
// read transaction.
func (q *request) uploadParts() (*uploadRec, []partRec, *awserr.Error) {
	var u *uploadRec
	var parts []partRec
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		if u, err = q.loadUpload(tx); err != nil {
			return err
		}
		parts, err = listPartsTx(tx, u.ID)
		return err
	})
	if err != nil {
		return nil, nil, storeErr(err)
	}
	return u, parts, nil
}

func listPartsTx(tx store.Tx, uploadID string) ([]partRec, error) {
	recs, err := tx.List(store.Query{Kind: kindPart, After: uploadID + "/"})
	if err != nil {
		return nil, err
	}
	var parts []partRec
	for _, r := range recs {
		if !strings.HasPrefix(r.ID, uploadID+"/") {
			break
		}
		var p partRec
		if err := jsonDecode(r.Body, &p); err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// deleteUploadTx removes an upload and its parts and returns their files.
func deleteUploadTx(tx store.Tx, bucket, id string) ([]string, error) {
	parts, err := listPartsTx(tx, id)
	if err != nil {
		return nil, err
	}
	files := make([]string, 0, len(parts))
	for _, p := range parts {
		if err := tx.Delete(partKey(id, p.Number)); err != nil {
			return nil, err
		}
		files = append(files, p.File)
	}
	return files, tx.Delete(uploadKey(bucket, id))
}

func (q *request) abortUpload() *awserr.Error {
	if _, e := q.access("s3:AbortMultipartUpload"); e != nil {
		return e
	}
	var files []string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		u, err := q.loadUpload(tx)
		if err != nil {
			return err
		}
		files, err = deleteUploadTx(tx, u.Bucket, u.ID)
		return err
	})
	if err != nil {
		return storeErr(err)
	}
	q.s.removeData(files)
	return q.ok(http.StatusNoContent)
}

// partChecksums are the checksum elements of a part in XML.
type partChecksums struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

func (c *partChecksums) get(algo string) string {
	switch algo {
	case "CRC32":
		return c.ChecksumCRC32
	case "CRC32C":
		return c.ChecksumCRC32C
	case "CRC64NVME":
		return c.ChecksumCRC64NVME
	case "SHA1":
		return c.ChecksumSHA1
	case "SHA256":
		return c.ChecksumSHA256
	}
	return ""
}

func (c *partChecksums) set(algo, v string) {
	switch algo {
	case "CRC32":
		c.ChecksumCRC32 = v
	case "CRC32C":
		c.ChecksumCRC32C = v
	case "CRC64NVME":
		c.ChecksumCRC64NVME = v
	case "SHA1":
		c.ChecksumSHA1 = v
	case "SHA256":
		c.ChecksumSHA256 = v
	}
}

type completeRequest struct {
	Parts []struct {
		PartNumber int
		ETag       string
		partChecksums
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Location string
	Bucket   string
	Key      string
	ETag     string
	partChecksums
	ChecksumType string `xml:",omitempty"`
}

func (q *request) completeUpload() *awserr.Error {
	if _, e := q.access("s3:PutObject"); e != nil {
		return e
	}
	var in completeRequest
	if e := q.readXML(&in); e != nil {
		return e
	}
	if len(in.Parts) == 0 {
		return errMalformedXML()
	}
	u, parts, e := q.uploadParts()
	if e != nil {
		return e
	}
	v, chosen, e := q.assemble(u, in, parts)
	if e != nil {
		return e
	}
	var versioning string
	var unused []string
	err := q.s.st.Update(q.ctx, func(tx store.Tx) error {
		unused = nil
		u2, err := q.loadUpload(tx)
		if err != nil {
			return err
		}
		now, err := listPartsTx(tx, u2.ID)
		if err != nil {
			return err
		}
		// A part re-uploaded since assemble read them: the caller retries.
		byNum := map[int]string{}
		for _, p := range now {
			byNum[p.Number] = p.File
		}
		for _, p := range chosen {
			if byNum[p.Number] != p.File {
				return awserr.New(awserr.Conflict, "OperationAborted", "A conflicting conditional operation is currently in progress against this resource. Please try again.")
			}
		}
		used := map[string]bool{}
		for _, p := range chosen {
			used[p.File] = true
		}
		files, err := deleteUploadTx(tx, u2.Bucket, u2.ID)
		if err != nil {
			return err
		}
		for _, f := range files {
			if !used[f] {
				unused = append(unused, f)
			}
		}
		var replaced []string
		versioning, replaced, err = q.addVersionTx(tx, v)
		unused = append(unused, replaced...)
		return err
	})
	if err != nil {
		return storeErr(err)
	}
	q.s.removeData(unused)
	h := q.header()
	if versioning != "" {
		h.Set("x-amz-version-id", v.ID)
	}
	h.Set("x-amz-server-side-encryption", "AES256")
	out := completeResult{NS: xmlns, Location: "/" + q.t.bucket + "/" + q.t.key, Bucket: q.t.bucket, Key: q.t.key, ETag: `"` + v.ETag + `"`}
	if v.Checksum != nil {
		out.set(v.Checksum.Algorithm, v.Checksum.Value)
		out.ChecksumType = v.Checksum.Type
	}
	return q.writeXML(out)
}

// assemble checks the part list of a CompleteMultipartUpload against the
// uploaded parts and builds the object version they make.
func (q *request) assemble(u *uploadRec, in completeRequest, parts []partRec) (*version, []partRec, *awserr.Error) {
	byNum := map[int]partRec{}
	for _, p := range parts {
		byNum[p.Number] = p
	}
	invalid := func() *awserr.Error {
		return awserr.New(awserr.InvalidArgument, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.")
	}
	var chosen []partRec
	md := md5.New()
	var size int64
	prev := 0
	for _, ip := range in.Parts {
		if ip.PartNumber <= prev {
			return nil, nil, awserr.New(awserr.InvalidArgument, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
		}
		prev = ip.PartNumber
	}
	for i, ip := range in.Parts {
		p, ok := byNum[ip.PartNumber]
		if !ok || strings.Trim(ip.ETag, `" `) != p.ETag {
			return nil, nil, invalid()
		}
		if u.ChecksumAlgorithm != "" {
			if c := ip.get(u.ChecksumAlgorithm); c != "" && c != p.Checksum {
				return nil, nil, invalid()
			}
		}
		if i < len(in.Parts)-1 && p.Size < minPartSize {
			return nil, nil, awserr.New(awserr.InvalidArgument, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
		}
		raw, _ := hex.DecodeString(p.ETag)
		md.Write(raw)
		size += p.Size
		chosen = append(chosen, p)
	}
	v := &version{Modified: q.now(), Size: size, ETag: hex.EncodeToString(md.Sum(nil)) + "-" + strconv.Itoa(len(chosen)),
		Headers: u.Headers, Meta: u.Meta, Tags: u.Tags}
	for _, p := range chosen {
		v.Data = append(v.Data, segment{File: p.File, Size: p.Size, Checksum: p.Checksum})
	}
	if u.ChecksumAlgorithm != "" {
		c, e := q.objectChecksum(u, v, chosen)
		if e != nil {
			return nil, nil, e
		}
		v.Checksum = c
	}
	return v, chosen, nil
}

// objectChecksum computes a multipart object's checksum: the checksum of
// the part checksums ("-N") for COMPOSITE, a pass over the data for
// FULL_OBJECT. A full-object value sent with the request must match.
func (q *request) objectChecksum(u *uploadRec, v *version, parts []partRec) (*checksumValue, *awserr.Error) {
	algo := u.ChecksumAlgorithm
	c := &checksumValue{Algorithm: algo, Type: u.ChecksumType}
	if u.ChecksumType == checksumComposite {
		sums := make([]string, len(parts))
		for i, p := range parts {
			sums[i] = p.Checksum
		}
		val, err := compositeChecksum(algo, sums)
		if err != nil {
			return nil, errInternal(err)
		}
		c.Value = val
		return c, nil
	}
	files, err := q.s.openAll(v)
	if err != nil {
		return nil, errInternal(err)
	}
	defer closeAll(files)
	h := newChecksum(algo)
	if err := copySegments(h, v, files, byteRange{0, v.Size - 1}); err != nil && v.Size > 0 {
		return nil, errInternal(err)
	}
	c.Value = base64.StdEncoding.EncodeToString(h.Sum(nil))
	if want := q.r.Header.Get(checksumHeader(algo)); want != "" && want != c.Value {
		return nil, awserr.New(awserr.InvalidArgument, "BadDigest", "The %s you specified did not match the calculated checksum.", algo)
	}
	return c, nil
}

type partXML struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	partChecksums
}

type initiatorXML struct {
	ID          string
	DisplayName string
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	NS                   string   `xml:"xmlns,attr"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	Initiator            initiatorXML
	Owner                ownerXML
	StorageClass         string
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	Parts                []partXML `xml:"Part"`
	ChecksumAlgorithm    string    `xml:",omitempty"`
	ChecksumType         string    `xml:",omitempty"`
}

func (q *request) listParts() *awserr.Error {
	b, e := q.access("s3:ListMultipartUploadParts")
	if e != nil {
		return e
	}
	maxParts, marker := 1000, 0
	if v := q.q.Get("max-parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errInvalidArgument("Argument max-parts must be an integer between 0 and 2147483647")
		}
		maxParts = min(n, 1000)
	}
	if v := q.q.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errInvalidArgument("Argument part-number-marker must be an integer between 0 and 2147483647")
		}
		marker = n
	}
	u, parts, e := q.uploadParts()
	if e != nil {
		return e
	}
	out := listPartsResult{NS: xmlns, Bucket: u.Bucket, Key: u.Key, UploadID: u.ID,
		Initiator: initiatorXML{ID: ownerID(u.Initiator), DisplayName: u.Initiator},
		Owner:     ownerXML{ID: ownerID(b.Owner), DisplayName: b.Owner}, StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: maxParts, ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(out.Parts) == maxParts {
			out.IsTruncated = true
			break
		}
		px := partXML{PartNumber: p.Number, LastModified: timeISO(p.Modified), ETag: `"` + p.ETag + `"`, Size: p.Size}
		if u.ChecksumAlgorithm != "" {
			px.set(u.ChecksumAlgorithm, p.Checksum)
		}
		out.Parts = append(out.Parts, px)
		out.NextPartNumberMarker = p.Number
	}
	return q.writeXML(out)
}

type uploadXML struct {
	Key               string
	UploadID          string `xml:"UploadId"`
	Initiator         initiatorXML
	Owner             ownerXML
	StorageClass      string
	Initiated         string
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

type listUploadsResult struct {
	XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
	NS                 string   `xml:"xmlns,attr"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	Prefix             string
	Delimiter          string `xml:",omitempty"`
	MaxUploads         int
	EncodingType       string `xml:",omitempty"`
	IsTruncated        bool
	Uploads            []uploadXML `xml:"Upload"`
	CommonPrefixes     []prefixXML `xml:"CommonPrefixes"`
}

func (q *request) listUploads() *awserr.Error {
	b, e := q.access("s3:ListBucketMultipartUploads")
	if e != nil {
		return e
	}
	p, e := q.listParams()
	if e != nil {
		return e
	}
	if v := q.q.Get("max-uploads"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errInvalidArgument("Argument max-uploads must be an integer between 0 and 2147483647")
		}
		p.maxKeys = min(n, 1000)
	}
	keyMarker, idMarker := q.q.Get("key-marker"), q.q.Get("upload-id-marker")
	var ups []uploadRec
	err := q.s.st.View(q.ctx, func(tx store.Tx) error {
		recs, err := tx.List(store.Query{Kind: kindUpload, After: b.Name + "/"})
		if err != nil {
			return err
		}
		ups = ups[:0]
		for _, r := range recs {
			if !strings.HasPrefix(r.ID, b.Name+"/") {
				break
			}
			var u uploadRec
			if err := jsonDecode(r.Body, &u); err != nil {
				return err
			}
			ups = append(ups, u)
		}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		if !ups[i].Initiated.Equal(ups[j].Initiated) {
			return ups[i].Initiated.Before(ups[j].Initiated)
		}
		return ups[i].ID < ups[j].ID
	})
	out := listUploadsResult{NS: xmlns, Bucket: b.Name, KeyMarker: p.enc(keyMarker), UploadIDMarker: idMarker,
		Prefix: p.enc(p.prefix), Delimiter: p.enc(p.delimiter), MaxUploads: p.maxKeys}
	if p.encode {
		out.EncodingType = "url"
	}
	owner := ownerXML{ID: ownerID(b.Owner), DisplayName: b.Owner}
	n := 0
	pastMarker := idMarker == ""
	seenCP := map[string]bool{}
	for _, u := range ups {
		if !strings.HasPrefix(u.Key, p.prefix) || u.Key < keyMarker || (u.Key == keyMarker && idMarker == "") {
			continue
		}
		if u.Key == keyMarker && !pastMarker {
			if u.ID == idMarker {
				pastMarker = true
			}
			continue
		}
		if cp := p.rollup(u.Key); cp != "" {
			if seenCP[cp] || cp <= keyMarker {
				continue
			}
			if n == p.maxKeys {
				out.IsTruncated = true
				break
			}
			seenCP[cp] = true
			out.CommonPrefixes = append(out.CommonPrefixes, prefixXML{Prefix: p.enc(cp)})
			out.NextKeyMarker, out.NextUploadIDMarker = p.enc(cp), ""
			n++
			continue
		}
		if n == p.maxKeys {
			out.IsTruncated = true
			break
		}
		out.Uploads = append(out.Uploads, uploadXML{Key: p.enc(u.Key), UploadID: u.ID,
			Initiator: initiatorXML{ID: ownerID(u.Initiator), DisplayName: u.Initiator}, Owner: owner,
			StorageClass: "STANDARD", Initiated: timeISO(u.Initiated), ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType})
		out.NextKeyMarker, out.NextUploadIDMarker = p.enc(u.Key), u.ID
		n++
	}
	return q.writeXML(out)
}

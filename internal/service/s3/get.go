package s3

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/service/s3/disk"
)

// responseOverrides are the GET query parameters that replace a stored
// header in the response (used with presigned URLs).
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func (q *request) getObject(head bool) *awserr.Error {
	versionID := q.q.Get("versionId")
	action := "s3:GetObject"
	if versionID != "" {
		action = "s3:GetObjectVersion"
	}
	// A concurrent overwrite may delete the data between the lookup and
	// the open: look up again.
	for attempt := 0; ; attempt++ {
		b, o, e := q.loadBucketObject()
		if e != nil {
			return e
		}
		if e := q.allowed(b, action, q.t.key); e != nil {
			return e
		}
		v, e := q.pickVersion(o, versionID)
		if e != nil {
			return e
		}
		files, err := q.s.openAll(v)
		if errors.Is(err, disk.ErrNotFound) && attempt < 3 {
			continue
		}
		if err != nil {
			return errInternal(err)
		}
		defer closeAll(files)
		return q.serveObject(v, files, head, b.Versioning != "" || v.ID != nullVersion)
	}
}

// openAll opens the data files of v.
func (s *Service) openAll(v *version) ([]*os.File, error) {
	files := make([]*os.File, 0, len(v.Data))
	for _, seg := range v.Data {
		if seg.File == "" {
			files = append(files, nil) // inline
			continue
		}
		f, err := s.data.Open(seg.File)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}

func (q *request) serveObject(v *version, files []*os.File, head, showVersion bool) *awserr.Error {
	if e := readConditions(q.r.Header, "").check(v.ETag, v.Modified, false); e != nil {
		if e.Code == "NotModified" {
			h := q.header()
			h.Set("ETag", `"`+v.ETag+`"`)
			h.Set("Last-Modified", v.Modified.UTC().Format(http.TimeFormat))
		}
		return e
	}
	h := q.header()
	setObjectHeaders(h, v, showVersion)
	for param, name := range responseOverrides {
		if val := q.q.Get(param); val != "" {
			h.Set(name, val)
		}
	}
	rng := byteRange{0, v.Size - 1}
	partial := false
	if pn := q.q.Get("partNumber"); pn != "" {
		n, err := strconv.Atoi(pn)
		if err != nil || n < 1 || n > 10000 {
			return errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
		}
		if n > len(v.Data) {
			return awserr.New(awserr.InvalidArgument, "InvalidPartNumber", "The requested partnumber is not satisfiable")
		}
		var off int64
		for _, s := range v.Data[:n-1] {
			off += s.Size
		}
		rng = byteRange{off, off + v.Data[n-1].Size - 1}
		partial = len(v.Data) > 1
		h.Set("x-amz-mp-parts-count", strconv.Itoa(len(v.Data)))
		if c := v.Data[n-1].Checksum; c != "" && v.Checksum != nil && q.r.Header.Get("X-Amz-Checksum-Mode") == "ENABLED" {
			h.Set(checksumHeader(v.Checksum.Algorithm), c)
		}
	} else if rh := q.r.Header.Get("Range"); rh != "" {
		r, ok, e := parseRange(rh, v.Size)
		if e != nil {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(v.Size, 10))
			return e
		}
		if ok {
			rng, partial = r, true
		}
	} else if q.r.Header.Get("X-Amz-Checksum-Mode") == "ENABLED" {
		setChecksumHeaders(h, v.Checksum)
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(rng.start, 10)+"-"+strconv.FormatInt(rng.end, 10)+"/"+strconv.FormatInt(v.Size, 10))
	}
	h.Set("Content-Length", strconv.FormatInt(max(0, rng.length()), 10))
	q.w.WriteHeader(status)
	if head || v.Size == 0 {
		return nil
	}
	if err := copySegments(q.w, v, files, rng); err != nil {
		q.s.log.Debug("s3: GET body copy ended early", "err", err, "request_id", q.id)
	}
	return nil
}

// copySegments writes bytes rng of the object whose data files are files
// to w. Each piece is an *os.File behind an io.LimitedReader, which
// net/http sends with sendfile.
func copySegments(w io.Writer, v *version, files []*os.File, rng byteRange) error {
	var off int64
	for i, seg := range v.Data {
		segStart, segEnd := off, off+seg.Size-1
		off += seg.Size
		if segEnd < rng.start || segStart > rng.end {
			continue
		}
		from := max(rng.start, segStart) - segStart
		to := min(rng.end, segEnd) - segStart
		if files[i] == nil {
			if _, err := w.Write(v.Inline[from : to+1]); err != nil {
				return err
			}
			continue
		}
		if _, err := files[i].Seek(from, io.SeekStart); err != nil {
			return err
		}
		n, err := io.Copy(w, &io.LimitedReader{R: files[i], N: to - from + 1})
		if err != nil {
			return err
		}
		if n != to-from+1 {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

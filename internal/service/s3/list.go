package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
)

type objectXML struct {
	Key               string
	LastModified      string
	ETag              string
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
	Size              int64
	StorageClass      string
	Owner             *ownerXML `xml:",omitempty"`
}

type prefixXML struct {
	Prefix string
}

type listBucketResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	NS                    string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	Marker                *string `xml:",omitempty"`
	NextMarker            string  `xml:",omitempty"`
	StartAfter            string  `xml:",omitempty"`
	ContinuationToken     string  `xml:",omitempty"`
	NextContinuationToken string  `xml:",omitempty"`
	KeyCount              *int    `xml:",omitempty"`
	MaxKeys               int
	Delimiter             string `xml:",omitempty"`
	EncodingType          string `xml:",omitempty"`
	IsTruncated           bool
	Contents              []objectXML `xml:"Contents"`
	CommonPrefixes        []prefixXML `xml:"CommonPrefixes"`
}

// listParams are the common parameters of the three listings.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	encode            bool
}

func (q *request) listParams() (listParams, *awserr.Error) {
	p := listParams{prefix: q.q.Get("prefix"), delimiter: q.q.Get("delimiter"), maxKeys: 1000}
	if v := q.q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errInvalidArgument("Provided max-keys not an integer or within integer range")
		}
		p.maxKeys = min(n, 1000)
	}
	switch et := q.q.Get("encoding-type"); et {
	case "":
	case "url":
		p.encode = true
	default:
		return p, errInvalidArgument("Invalid Encoding Method specified in Request")
	}
	return p, nil
}

// enc applies encoding-type=url to a name in a listing.
func (p listParams) enc(s string) string {
	if !p.encode {
		return s
	}
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

// rollup returns the common prefix key falls under, or "".
func (p listParams) rollup(key string) string {
	if p.delimiter == "" {
		return ""
	}
	rest := key[len(p.prefix):]
	i := strings.Index(rest, p.delimiter)
	if i < 0 {
		return ""
	}
	return key[:len(p.prefix)+i+len(p.delimiter)]
}

// prefixEnd is the smallest string greater than every string starting
// with prefix (prefix is valid UTF-8, so its last byte is below 0xff).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// listEntry is one item of a listing: an object or a common prefix.
type listEntry struct {
	key    string
	prefix bool
	v      *version
}

// collect walks the bucket's current objects from after (exclusive) and
// returns up to maxKeys entries, rolling keys up into common prefixes;
// truncated reports whether more remain.
func (q *request) collect(p listParams, after string) (entries []listEntry, truncated bool, e *awserr.Error) {
	start, inclusive := after, false
	if p.prefix > after {
		start, inclusive = p.prefix, true
	}
	err := q.s.scanObjects(q.ctx, q.t.bucket, start, inclusive, p.maxKeys, func(key string, o *objectRec) (string, bool) {
		if !strings.HasPrefix(key, p.prefix) {
			return "", key > p.prefix
		}
		if cp := p.rollup(key); cp != "" {
			if cp > after {
				if len(entries) == p.maxKeys {
					truncated = true
					return "", true
				}
				entries = append(entries, listEntry{key: cp, prefix: true})
			}
			if end := prefixEnd(cp); end != "" {
				return end, false
			}
			return "", true
		}
		v := o.current()
		if v == nil || v.DeleteMarker {
			return "", false
		}
		if len(entries) == p.maxKeys {
			truncated = true
			return "", true
		}
		entries = append(entries, listEntry{key: key, v: v})
		return "", false
	})
	if err != nil {
		return nil, false, storeErr(err)
	}
	return entries, truncated, nil
}

func (q *request) listObjects(v2 bool) *awserr.Error {
	b, e := q.access("s3:ListBucket")
	if e != nil {
		return e
	}
	p, e := q.listParams()
	if e != nil {
		return e
	}
	out := listBucketResult{NS: xmlns, Name: b.Name, Prefix: p.enc(p.prefix), MaxKeys: p.maxKeys, Delimiter: p.enc(p.delimiter)}
	if p.encode {
		out.EncodingType = "url"
	}
	after := ""
	fetchOwner := !v2
	if v2 {
		out.StartAfter = p.enc(q.q.Get("start-after"))
		after = q.q.Get("start-after")
		if tok := q.q.Get("continuation-token"); tok != "" {
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				return errInvalidArgument("The continuation token provided is incorrect")
			}
			out.ContinuationToken, after = tok, string(raw)
		}
		fetchOwner = q.q.Get("fetch-owner") == "true"
	} else {
		m := q.q.Get("marker")
		after = m
		out.Marker = &m
		if p.encode {
			em := p.enc(m)
			out.Marker = &em
		}
	}
	entries, truncated, e := q.collect(p, after)
	if e != nil {
		return e
	}
	owner := &ownerXML{ID: ownerID(b.Owner), DisplayName: b.Owner}
	for _, en := range entries {
		if en.prefix {
			out.CommonPrefixes = append(out.CommonPrefixes, prefixXML{Prefix: p.enc(en.key)})
			continue
		}
		ox := objectXML{Key: p.enc(en.key), LastModified: timeISO(en.v.Modified), ETag: `"` + en.v.ETag + `"`,
			Size: en.v.Size, StorageClass: storageClass(en.v)}
		if en.v.Checksum != nil {
			ox.ChecksumAlgorithm, ox.ChecksumType = en.v.Checksum.Algorithm, en.v.Checksum.Type
		}
		if fetchOwner {
			ox.Owner = owner
		}
		out.Contents = append(out.Contents, ox)
	}
	out.IsTruncated = truncated
	if truncated && len(entries) > 0 {
		last := entries[len(entries)-1].key
		if v2 {
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(last))
		} else if p.delimiter != "" {
			out.NextMarker = p.enc(last)
		}
	}
	if v2 {
		n := len(entries)
		out.KeyCount = &n
	}
	return q.writeXML(out)
}

func storageClass(v *version) string {
	if sc := v.Headers["X-Amz-Storage-Class"]; sc != "" {
		return sc
	}
	return "STANDARD"
}

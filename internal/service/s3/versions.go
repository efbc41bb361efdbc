package s3

import (
	"encoding/xml"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
)

// versionEntryXML is a <Version> or a <DeleteMarker> (XMLName says which).
type versionEntryXML struct {
	XMLName           xml.Name
	Key               string
	VersionID         string `xml:"VersionId"`
	IsLatest          bool
	LastModified      string
	ETag              string `xml:",omitempty"`
	ChecksumAlgorithm string `xml:",omitempty"`
	Size              *int64 `xml:",omitempty"`
	StorageClass      string `xml:",omitempty"`
	Owner             ownerXML
}

type listVersionsResult struct {
	XMLName             xml.Name `xml:"ListVersionsResult"`
	NS                  string   `xml:"xmlns,attr"`
	Name                string
	Prefix              string
	KeyMarker           string
	VersionIDMarker     string `xml:"VersionIdMarker"`
	NextKeyMarker       string `xml:",omitempty"`
	NextVersionIDMarker string `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int
	Delimiter           string `xml:",omitempty"`
	EncodingType        string `xml:",omitempty"`
	IsTruncated         bool
	Entries             []versionEntryXML
	CommonPrefixes      []prefixXML `xml:"CommonPrefixes"`
}

func (q *request) listVersions() *awserr.Error {
	b, e := q.access("s3:ListBucketVersions")
	if e != nil {
		return e
	}
	p, e := q.listParams()
	if e != nil {
		return e
	}
	keyMarker, vidMarker := q.q.Get("key-marker"), q.q.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return errInvalidArgument("A version-id marker cannot be specified without a key marker.")
	}
	out := listVersionsResult{NS: xmlns, Name: b.Name, Prefix: p.enc(p.prefix), KeyMarker: p.enc(keyMarker),
		VersionIDMarker: vidMarker, MaxKeys: p.maxKeys, Delimiter: p.enc(p.delimiter)}
	if p.encode {
		out.EncodingType = "url"
	}
	owner := ownerXML{ID: ownerID(b.Owner), DisplayName: b.Owner}
	n := 0
	lastKey, lastVID := "", ""
	start, inclusive := keyMarker, vidMarker != ""
	if p.prefix > start {
		start, inclusive = p.prefix, true
	}
	err := q.s.scanObjects(q.ctx, b.Name, start, inclusive, p.maxKeys, func(key string, o *objectRec) (string, bool) {
		if !strings.HasPrefix(key, p.prefix) {
			return "", key > p.prefix
		}
		if cp := p.rollup(key); cp != "" {
			if cp > keyMarker {
				if n == p.maxKeys {
					out.IsTruncated = true
					return "", true
				}
				out.CommonPrefixes = append(out.CommonPrefixes, prefixXML{Prefix: p.enc(cp)})
				n++
				lastKey, lastVID = cp, ""
			}
			if end := prefixEnd(cp); end != "" {
				return end, false
			}
			return "", true
		}
		skipping := key == keyMarker && vidMarker != ""
		for i, v := range o.Versions {
			if skipping {
				if v.ID == vidMarker {
					skipping = false
				}
				continue
			}
			if n == p.maxKeys {
				out.IsTruncated = true
				return "", true
			}
			en := versionEntryXML{Key: p.enc(key), VersionID: v.ID, IsLatest: i == 0, LastModified: timeISO(v.Modified), Owner: owner}
			if v.DeleteMarker {
				en.XMLName.Local = "DeleteMarker"
			} else {
				size := v.Size
				en.XMLName.Local, en.ETag, en.Size, en.StorageClass = "Version", `"`+v.ETag+`"`, &size, storageClass(v)
				if v.Checksum != nil {
					en.ChecksumAlgorithm = v.Checksum.Algorithm
				}
			}
			out.Entries = append(out.Entries, en)
			n++
			lastKey, lastVID = key, v.ID
		}
		return "", false
	})
	if err != nil {
		return storeErr(err)
	}
	if out.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = p.enc(lastKey), lastVID
	}
	return q.writeXML(out)
}

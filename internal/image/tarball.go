package image

import (
	"archive/tar"
	"io"
	"sort"
	"time"
)

// epoch is the modification time of every entry of a built image, so that
// the same inputs give the same bytes (and the same digest).
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// entry is one file of a deterministic tarball.
type entry struct {
	name     string // relative, no leading slash; directories without a trailing slash
	mode     int64  // permission bits (and sticky)
	typ      byte   // tar.TypeDir, TypeReg, TypeSymlink
	linkname string
	body     []byte // TypeReg when open is nil
	size     int64  // with open
	open     func() (io.ReadCloser, error)
}

// writeTar writes entries sorted by name with fixed ownership and times.
// Parent directories must be listed explicitly.
func writeTar(w io.Writer, entries []entry) error {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{
			Typeflag: e.typ,
			Name:     e.name,
			Linkname: e.linkname,
			Mode:     e.mode,
			ModTime:  epoch,
			Uname:    "root",
			Gname:    "root",
			Format:   tar.FormatPAX,
		}
		switch e.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeReg:
			h.Size = int64(len(e.body))
			if e.open != nil {
				h.Size = e.size
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.typ != tar.TypeReg {
			continue
		}
		if e.open == nil {
			if _, err := tw.Write(e.body); err != nil {
				return err
			}
			continue
		}
		rc, err := e.open()
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

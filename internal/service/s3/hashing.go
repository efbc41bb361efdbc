package s3

import (
	"crypto/md5"
	"encoding/base64"
	"hash"
	"io"
	"sync"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/service/s3/disk"
)

// hashSet computes the MD5 (for the ETag) and the requested checksums of
// a body in one pass.
type hashSet struct {
	md5   hash.Hash
	algos []string
	hs    []hash.Hash
}

func newHashSet(algos []string, withMD5 bool) *hashSet {
	h := &hashSet{algos: algos}
	if withMD5 {
		h.md5 = md5.New()
	}
	for _, a := range algos {
		h.hs = append(h.hs, newChecksum(a))
	}
	return h
}

// Write implements io.Writer.
func (h *hashSet) Write(p []byte) (int, error) {
	if h.md5 != nil {
		h.md5.Write(p)
	}
	for _, x := range h.hs {
		x.Write(p)
	}
	return len(p), nil
}

// sums returns the checksums by algorithm.
func (h *hashSet) sums() map[string][]byte {
	m := make(map[string][]byte, len(h.hs))
	for i, x := range h.hs {
		m[h.algos[i]] = x.Sum(nil)
	}
	return m
}

func (h *hashSet) md5Sum() []byte {
	if h.md5 == nil {
		return nil
	}
	return h.md5.Sum(nil)
}

// checkMD5 compares a Content-MD5 header with the body's MD5.
func (h *hashSet) checkMD5(header string) *awserr.Error {
	if header == "" {
		return nil
	}
	want, err := base64.StdEncoding.DecodeString(header)
	if err != nil || len(want) != md5.Size {
		return awserr.New(awserr.InvalidArgument, "InvalidDigest", "The Content-MD5 you specified was invalid.")
	}
	if got := h.md5Sum(); got != nil && string(got) != string(want) {
		return awserr.New(awserr.InvalidArgument, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	return nil
}

// copyBuf is the buffer size of body copies; pipelining starts beyond it.
const copyBuf = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// writeData copies src into a new data file while hashing it. Bodies
// larger than one buffer are hashed on another goroutine while the next
// buffer is read and written, so MD5 (the slowest step, ~600 MB/s) and the
// I/O overlap. The caller commits or aborts the returned Temp.
func writeData(d *disk.Dir, src io.Reader, h *hashSet) (*disk.Temp, int64, error) {
	t, err := d.Create()
	if err != nil {
		return nil, 0, err
	}
	n, err := pipeCopy(t, src, h)
	if err != nil {
		t.Abort()
		return nil, n, err
	}
	return t, n, nil
}

// pipeCopy copies src to dst, feeding every byte to h.
func pipeCopy(dst io.Writer, src io.Reader, h io.Writer) (int64, error) {
	const nbuf = 4
	var bufs [nbuf]*[]byte
	for i := range bufs {
		bufs[i] = bufPool.Get().(*[]byte)
	}
	defer func() {
		for _, b := range bufs {
			bufPool.Put(b)
		}
	}()
	// First buffer synchronously: small bodies never start a goroutine.
	first := *bufs[0]
	n, rerr := io.ReadFull(src, first)
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		h.Write(first[:n])
		if _, err := dst.Write(first[:n]); err != nil {
			return int64(n), err
		}
		if rerr == io.ErrUnexpectedEOF {
			rerr = nil
		}
		if rerr == io.EOF {
			rerr = nil
		}
		return int64(n), rerr
	}
	if rerr != nil {
		return int64(n), rerr
	}
	work := make(chan int, nbuf)
	free := make(chan int, nbuf)
	for i := 1; i < nbuf; i++ {
		free <- i
	}
	lens := [nbuf]int{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range work {
			h.Write((*bufs[i])[:lens[i]])
			free <- i
		}
	}()
	total := int64(0)
	var err error
	cur, m := 0, n
	for {
		if _, werr := dst.Write((*bufs[cur])[:m]); werr != nil {
			err = werr
			break
		}
		total += int64(m)
		lens[cur] = m
		work <- cur
		if rerr != nil {
			break
		}
		cur = <-free // a buffer the hasher is done with
		m, rerr = io.ReadFull(src, *bufs[cur])
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		} else if rerr != nil {
			err = rerr
			break
		}
		if m == 0 && rerr == io.EOF {
			break
		}
	}
	close(work)
	wg.Wait()
	return total, err
}

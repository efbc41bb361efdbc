package blob

import (
	"context"
	"hash"
	"io"
	"sync"
)

// copyBuf is the size of CopyHashing's buffers: large enough that
// syscalls and hashing run in big pieces.
const copyBuf = 1 << 20

var copyPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// CopyHashing copies r to w and into h in one pass: while the caller's
// goroutine reads and writes buffer n+1, another hashes buffer n (on a
// machine with spare cores hashing then costs no wall time). After each
// write, wrote (when not nil) is told the total written so far (the disk
// store starts write-back from there). It checks ctx between buffers.
func CopyHashing(ctx context.Context, w io.Writer, h hash.Hash, r io.Reader, wrote func(total int64)) (int64, error) {
	const nbuf = 4
	type chunk struct {
		bp *[]byte
		n  int
	}
	var bufs [nbuf]*[]byte
	free := make(chan *[]byte, nbuf)
	for i := range bufs {
		bufs[i] = copyPool.Get().(*[]byte)
		free <- bufs[i]
	}
	work := make(chan chunk, nbuf)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for c := range work {
			h.Write((*c.bp)[:c.n])
			free <- c.bp
		}
	}()
	defer func() {
		close(work)
		<-hashed
		for _, b := range bufs {
			copyPool.Put(b)
		}
	}()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		bp := <-free
		m, rerr := io.ReadFull(r, *bp)
		if m > 0 {
			if _, err := w.Write((*bp)[:m]); err != nil {
				free <- bp
				return n, err
			}
			work <- chunk{bp, m}
			n += int64(m)
			if wrote != nil {
				wrote(n)
			}
		} else {
			free <- bp
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return n, nil
		case rerr != nil:
			return n, rerr
		}
	}
}

// Package blobgc garbage-collects the regional blob stores: it deletes the
// blobs (image, snapshot and volume layers, sealed or not) that no record
// in the state store names any more, such as the layers of a deregistered
// image whose snapshots were deleted.
//
// The mark is deliberately blind to record kinds: every string of the form
// "sha256:<64 lowercase hex>" anywhere in any record (body, ID or name), of
// any account, region or kind, read in one consistent snapshot, keeps the
// blob of that digest alive in every region. So a new kind of record that
// names blobs is protected without telling the collector, and so are
// references across regions (a copy's pending work names its source
// layers). The price is that a digest merely mentioned somewhere keeps a
// blob, which errs the safe way.
//
// A blob last stored (written, or Put or Linked again) within the grace
// period is never collected, whatever the mark says: an operation stores
// its blobs before it writes the record that names them. Nor is a blob
// stored since the start of the oldest long operation still under way
// (Config.BusySince: an EBS copy records its layers only when all are
// copied). Stores must
// implement blob.Ager to be collected at all, and blob.TempSweeper to have
// abandoned temporary files removed.
//
// The core (Live, Cutoff, Fence, Judge, Plan) is pure; Collector walks the stores and
// deletes; Runner schedules collections.
package blobgc

import (
	"bytes"
	"encoding/hex"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// DefaultGrace is how recently stored a blob may be and still never be
// collected, unless configured otherwise.
const DefaultGrace = time.Hour

// Live is the mark: the set of digests that some record names. The zero
// value is not usable; call NewLive. Digests are kept as 32-byte keys, so
// the set costs about 50 bytes per distinct digest.
type Live struct{ m map[[32]byte]struct{} }

// NewLive returns an empty set.
func NewLive() *Live { return &Live{m: map[[32]byte]struct{}{}} }

// Len is the number of distinct digests in the set.
func (l *Live) Len() int { return len(l.m) }

// Add adds d and reports whether it is a valid digest (invalid ones are
// not added).
func (l *Live) Add(d blob.Digest) bool {
	k, ok := key(string(d))
	if ok {
		l.m[k] = struct{}{}
	}
	return ok
}

// Has reports whether d is in the set.
func (l *Live) Has(d blob.Digest) bool {
	k, ok := key(string(d))
	if !ok {
		return false
	}
	_, in := l.m[k]
	return in
}

const (
	prefix = "sha256:"
	hexLen = 64
)

var prefixBytes = []byte(prefix)

// Scan adds every digest named in b ("sha256:" followed by 64 lowercase
// hex digits, wherever it appears) and returns how many it found.
func (l *Live) Scan(b []byte) int {
	n := 0
	for {
		i := bytes.Index(b, prefixBytes)
		if i < 0 {
			return n
		}
		b = b[i+len(prefix):]
		if len(b) < hexLen || !lowerHex(b[:hexLen]) {
			continue
		}
		var k [32]byte
		_, _ = hex.Decode(k[:], b[:hexLen])
		l.m[k] = struct{}{}
		n++
		b = b[hexLen:]
	}
}

func key(d string) ([32]byte, bool) {
	var k [32]byte
	if len(d) != len(prefix)+hexLen || d[:len(prefix)] != prefix || !lowerHex([]byte(d[len(prefix):])) {
		return k, false
	}
	_, _ = hex.Decode(k[:], []byte(d[len(prefix):]))
	return k, true
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Blob is one stored blob as the collector sees it.
type Blob struct {
	blob.Desc
	// Stored is when the blob was last stored (blob.Ager).
	Stored time.Time
}

// Verdict is what the collector does with a blob.
type Verdict int

// Verdicts.
const (
	// Referenced: a record names the blob; keep it.
	Referenced Verdict = iota
	// Young: no record names it, but it was stored after the cutoff;
	// keep it (the record may be about to be written).
	Young
	// Garbage: delete it.
	Garbage
)

func (v Verdict) String() string {
	switch v {
	case Referenced:
		return "referenced"
	case Young:
		return "young"
	case Garbage:
		return "garbage"
	}
	return "unknown"
}

// Cutoff is the instant before which an unnamed blob must have been stored
// to be collected: now minus the grace period (a negative grace counts as
// none).
func Cutoff(now time.Time, grace time.Duration) time.Time {
	return now.Add(-max(grace, 0))
}

// Fence moves cutoff back to busySince, the start of the oldest operation
// under way (zero: none), when that is earlier: such an operation may
// have stored blobs long ago that it has not recorded yet.
func Fence(cutoff, busySince time.Time) time.Time {
	if !busySince.IsZero() && busySince.Before(cutoff) {
		return busySince
	}
	return cutoff
}

// Judge decides about one blob: garbage when live does not name it and it
// was stored before cutoff.
func Judge(b Blob, live *Live, cutoff time.Time) Verdict {
	switch {
	case live.Has(b.Digest):
		return Referenced
	case !b.Stored.Before(cutoff):
		return Young
	}
	return Garbage
}

// Plan returns the blobs to delete among blobs, in their order, given the
// live set, the time now and the grace period.
func Plan(blobs []Blob, live *Live, now time.Time, grace time.Duration) []Blob {
	cutoff := Cutoff(now, grace)
	var out []Blob
	for _, b := range blobs {
		if Judge(b, live, cutoff) == Garbage {
			out = append(out, b)
		}
	}
	return out
}

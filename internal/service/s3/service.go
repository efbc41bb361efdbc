package s3

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/reqctx"
	"github.com/kiln-dev/kiln/internal/service/s3/disk"
	"github.com/kiln-dev/kiln/internal/store"
)

// xmlns is the namespace of S3's XML documents.
const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// Config configures the S3 service.
type Config struct {
	Dir   string // where object data lives
	Store store.Store
	// Keys resolves access keys for SigV2 presigned URLs (which the front
	// door, speaking SigV4, passes on as anonymous); nil refuses them.
	Keys  Keys
	Clock clock.Clock
	Log   *slog.Logger
}

// Service is the S3 API. It implements wire.Streamer.
type Service struct {
	st      store.Store
	data    *disk.Dir
	openErr error
	keys    Keys
	clock   clock.Clock
	log     *slog.Logger
	hostID  string
}

var _ wire.Streamer = (*Service)(nil)

// New opens the S3 data directory and returns the service. A directory
// that cannot be opened makes every request fail with InternalError (the
// cause is logged) rather than stopping kiln. Data files left unreferenced
// by an earlier crash are swept in the background.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{st: cfg.Store, keys: cfg.Keys, clock: cfg.Clock, log: cfg.Log}
	var hb [24]byte
	_, _ = rand.Read(hb[:])
	s.hostID = base64.StdEncoding.EncodeToString(hb[:])
	s.data, s.openErr = disk.Open(cfg.Dir)
	if s.openErr != nil {
		s.log.Error("s3: cannot open data directory", "dir", cfg.Dir, "err", s.openErr)
		return s
	}
	started := time.Now()
	go func() {
		n, err := s.sweep(context.Background(), started)
		if err != nil {
			s.log.Warn("s3: sweeping unreferenced data files", "err", err)
		} else if n > 0 {
			s.log.Info("s3: removed unreferenced data files", "count", n)
		}
	}()
	return s
}

// sweep removes data files written before cutoff (by an earlier process)
// that no object version or part references.
func (s *Service) sweep(ctx context.Context, cutoff time.Time) (int, error) {
	refs := map[string]bool{}
	err := s.st.View(ctx, func(tx store.Tx) error {
		clear(refs)
		objs, err := tx.List(store.Query{Kind: kindObject})
		if err != nil {
			return err
		}
		for _, r := range objs {
			o, err := decodeObject(r.Body)
			if err != nil {
				return err
			}
			for _, f := range o.files() {
				refs[f] = true
			}
		}
		parts, err := store.ListJSON[partRec](tx, store.Query{Kind: kindPart})
		for _, p := range parts {
			refs[p.File] = true
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return s.data.Sweep(cutoff, func(id string) bool { return refs[id] })
}

// request is one S3 call in progress.
type request struct {
	s       *Service
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	auth    *wire.StreamAuth
	account string // caller's account, "" when anonymous
	region  string // signing region, "" when anonymous
	id      string // request ID
	t       target
	q       url.Values
	errCtx  errorContext
}

// ServeStream implements wire.Streamer.
func (s *Service) ServeStream(w http.ResponseWriter, r *http.Request, auth *wire.StreamAuth) {
	q := &request{s: s, w: w, r: r, ctx: r.Context(), auth: auth, q: r.URL.Query()}
	if c, ok := reqctx.From(r.Context()); ok {
		q.account, q.region, q.id = c.AccountID, c.Region, c.RequestID
	}
	if auth != nil && q.account == "" {
		q.account, q.region = auth.Caller.AccountID, auth.Caller.Region
		q.id = auth.Caller.RequestID
	}
	if q.id == "" {
		q.id = newRequestID()
	}
	q.t = parseTarget(r)
	q.errCtx = errorContext{bucket: q.t.bucket, key: q.t.key}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("s3: handler panic", "panic", p, "stack", string(debug.Stack()))
			q.fail(errInternal(fmt.Errorf("panic: %v", p)))
		}
	}()
	if s.openErr != nil {
		q.fail(errInternal(s.openErr))
		return
	}
	if auth == nil && isV2Presigned(r) {
		account, e := q.verifyV2()
		if e != nil {
			q.fail(e)
			return
		}
		q.account = account
	}
	if e := q.dispatch(); e != nil {
		q.fail(e)
	}
}

// WriteError implements wire.Streamer: auth failures found by the front door.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, e *awserr.Error, requestID string) {
	t := parseTarget(r)
	writeError(w, r, e, requestID, s.hostID, errorContext{bucket: t.bucket, key: t.key})
}

// fail answers an error; the request body is discarded.
func (q *request) fail(e *awserr.Error) {
	if e.Kind == awserr.Internal {
		q.s.log.Error("s3: internal error", "err", e.Error(), "request_id", q.id)
	}
	writeError(q.w, q.r, e, q.id, q.s.hostID, q.errCtx)
}

// header sets the common response headers.
func (q *request) header() http.Header {
	h := q.w.Header()
	h.Set("x-amz-request-id", q.id)
	h.Set("x-amz-id-2", q.s.hostID)
	return h
}

// ok answers an empty success with status.
func (q *request) ok(status int) *awserr.Error {
	h := q.header()
	if status != http.StatusNoContent {
		h.Set("Content-Length", "0")
	}
	q.w.WriteHeader(status)
	return nil
}

// writeXML answers 200 with an XML document.
func (q *request) writeXML(v any) *awserr.Error {
	out, err := xml.Marshal(v)
	if err != nil {
		return errInternal(err)
	}
	h := q.header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write([]byte(xml.Header))
	_, _ = q.w.Write(out)
	return nil
}

// readXML reads and decodes an XML request body into v.
func (q *request) readXML(v any) *awserr.Error {
	b, e := readSmallBody(q.r, q.auth)
	if e != nil {
		return e
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return errMalformedXML()
	}
	return nil
}

// now is the current time, truncated to milliseconds as S3 reports it.
func (q *request) now() time.Time { return q.s.clock.Now().UTC().Truncate(time.Millisecond) }

// storeErr turns a store failure into an S3 error.
func storeErr(err error) *awserr.Error {
	var e *awserr.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrConflict) {
		return awserr.Wrap(err, awserr.Unavailable, "SlowDown", "Please reduce your request rate.")
	}
	return errInternal(err)
}

// ownerID is the canonical user ID S3 shows for an account.
func ownerID(account string) string {
	sum := sha256.Sum256([]byte("kiln-s3-owner:" + account))
	return hex.EncodeToString(sum[:])
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%X", b[:])
}

// timeISO is S3's XML time format.
func timeISO(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

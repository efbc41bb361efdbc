package imds

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// IdentityKey signs the instance identity document (RSA, generated
	// once and persisted by the wiring). Nil: the signature, pkcs7 and
	// rsa2048 paths answer 404.
	IdentityKey crypto.Signer
	// IdentityCert is the certificate embedded in the PKCS#7 signatures;
	// nil: IdentityCertificate(IdentityKey).
	IdentityCert *x509.Certificate
	// TokenKey signs IMDSv2 tokens; nil: 32 random bytes per process (tokens
	// do not survive a restart, as AWS tokens do not survive a stop).
	TokenKey []byte
	// SetHopLimit sets the IP TTL of the connection that carries a token
	// response; nil: the connection stored by Serve is used (see
	// SetConnHopLimit). Tests may replace it.
	SetHopLimit func(r *http.Request, hops int) error
	// Logf logs unexpected errors (Source failures); nil: discarded.
	Logf func(format string, args ...any)
}

// Header names.
const (
	HeaderToken    = "X-aws-ec2-metadata-token"
	HeaderTokenTTL = "X-aws-ec2-metadata-token-ttl-seconds"
)

type handler struct {
	src    Source
	clk    clock.Clock
	tokens tokens
	signer *signer
	hop    func(*http.Request, int) error
	logf   func(string, ...any)
}

// NewHandler returns the metadata service's HTTP logic: it finds the caller
// by r.RemoteAddr through src and answers from its Instance. It does no
// I/O of its own besides src (Serve adds the hop-limit socket option).
// An IdentityKey that is not RSA is reported through Logf and leaves the
// signature paths answering 404.
func NewHandler(src Source, clk clock.Clock, opts HandlerOptions) http.Handler {
	h := &handler{src: src, clk: clk, tokens: newTokens(opts.TokenKey), hop: opts.SetHopLimit, logf: opts.Logf}
	if h.hop == nil {
		h.hop = func(r *http.Request, hops int) error { return SetConnHopLimit(r.Context(), hops) }
	}
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	sg, err := newSigner(opts.IdentityKey, opts.IdentityCert)
	if err != nil {
		h.logf("imds: identity key unusable, identity signatures disabled: %v", err)
	}
	h.signer = sg
	return h
}

func durationSeconds(s int) time.Duration { return time.Duration(s) * time.Second }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Server", "EC2ws")
	ip, ok := callerAddr(r.RemoteAddr)
	if !ok {
		httpError(w, http.StatusNotFound)
		return
	}
	inst, err := h.src.InstanceByIP(r.Context(), ip)
	if err != nil || inst == nil {
		if err != nil && !errors.Is(err, ErrUnknownCaller) && !errors.Is(err, context.Canceled) {
			h.logf("imds: looking up %s: %v", ip, err)
		}
		httpError(w, http.StatusNotFound)
		return
	}
	if !inst.Options.HTTPEndpoint {
		httpError(w, http.StatusForbidden)
		return
	}
	path := r.URL.Path
	if path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			hd.Set("Allow", "PUT")
			httpError(w, http.StatusMethodNotAllowed)
			return
		}
		h.putToken(w, r, inst)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed)
		return
	}
	if tok := r.Header.Get(HeaderToken); tok != "" {
		left, ok := h.tokens.check(tok, inst.ID, h.clk.Now())
		if !ok {
			httpError(w, http.StatusUnauthorized)
			return
		}
		hd.Set(HeaderTokenTTL, strconv.Itoa(left))
	} else if inst.Options.TokensRequired {
		httpError(w, http.StatusUnauthorized)
		return
	}
	h.get(w, inst, path)
}

func (h *handler) putToken(w http.ResponseWriter, r *http.Request, inst *Instance) {
	if len(r.Header.Values("X-Forwarded-For")) > 0 {
		httpError(w, http.StatusForbidden)
		return
	}
	v := r.Header.Values(HeaderTokenTTL)
	if len(v) != 1 {
		httpError(w, http.StatusBadRequest)
		return
	}
	ttl, err := strconv.Atoi(strings.TrimSpace(v[0]))
	if err != nil || ttl < MinTokenTTL || ttl > MaxTokenTTL {
		httpError(w, http.StatusBadRequest)
		return
	}
	hops := inst.Options.HopLimit
	if hops < 1 {
		hops = 1
	}
	if err := h.hop(r, hops); err != nil {
		// Never hand out a token whose reach was not limited.
		h.logf("imds: setting hop limit for %s: %v", inst.ID, err)
		httpError(w, http.StatusInternalServerError)
		return
	}
	tok := h.tokens.mint(inst.ID, h.clk.Now().Add(durationSeconds(ttl)))
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	hd.Set(HeaderTokenTTL, strconv.Itoa(ttl))
	hd.Set("Content-Length", strconv.Itoa(len(tok)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(tok))
}

func (h *handler) get(w http.ResponseWriter, inst *Instance, path string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		writeBody(w, "text/plain", []byte(strings.Join(Versions, "\n")))
		return
	}
	if !knownVersion[segs[0]] {
		httpError(w, http.StatusNotFound)
		return
	}
	var sign func([]byte) (*signatures, error)
	if h.signer != nil {
		sign = h.signer.sign
	}
	n := versionTree(inst, sign).resolve(segs[1:])
	if n == nil {
		httpError(w, http.StatusNotFound)
		return
	}
	if n.leaf == nil {
		writeBody(w, "text/plain", n.listing())
		return
	}
	body, ok := n.leaf()
	if !ok {
		httpError(w, http.StatusNotFound)
		return
	}
	ct := "text/plain"
	if len(segs) == 2 && segs[1] == "user-data" {
		ct = "application/octet-stream"
	}
	writeBody(w, ct, body)
}

func writeBody(w http.ResponseWriter, ct string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Accept-Ranges", "none")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// ErrorBody is the body AWS's metadata service sends with an error status:
// an XHTML page titled "<code> - <reason>".
func ErrorBody(code int) string {
	t := strconv.Itoa(code) + " - " + http.StatusText(code)
	return "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n" +
		"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n" +
		"\t\t \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n" +
		"<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n" +
		" <head>\n  <title>" + t + "</title>\n </head>\n <body>\n  <h1>" + t + "</h1>\n </body>\n</html>\n"
}

func httpError(w http.ResponseWriter, code int) {
	body := ErrorBody(code)
	hd := w.Header()
	hd.Del(HeaderTokenTTL)
	hd.Set("Content-Type", "text/html")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

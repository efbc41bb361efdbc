package imds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

type connKey struct{}

// ConnContext stores the connection in the request context so that the
// handler can set the IP TTL of token responses (SetConnHopLimit). Serve
// installs it; plug it into any other http.Server (httptest included) that
// serves NewHandler.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// ErrNoConn: the request context carries no connection (the server was not
// set up with ConnContext).
var ErrNoConn = errors.New("imds: no connection in the request context (use imds.Serve or imds.ConnContext)")

// SetConnHopLimit sets the IP TTL (IPv4) or unicast hop limit (IPv6) of the
// request's connection: AWS sends the PUT token response with
// TTL = HttpPutResponseHopLimit, so a container one hop further away never
// receives it. The setting stays for the rest of the (keep-alive)
// connection.
func SetConnHopLimit(ctx context.Context, hops int) error {
	c, ok := ctx.Value(connKey{}).(net.Conn)
	if !ok {
		return ErrNoConn
	}
	return setTTL(c, hops)
}

func setTTL(c net.Conn, hops int) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return fmt.Errorf("imds: %T has no socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	v6 := false
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		v6 = true
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if v6 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, hops)
		} else {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL, hops)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Listen opens the metadata service's TCP listener on addr (normally
// "169.254.169.254:80"). It sets IP_FREEBIND, so it may be called before
// the bridge holds the address.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(ctx, "tcp4", addr)
}

// Serve answers h on ln until ctx ends, then shuts down gracefully (in at
// most 5 s). It returns nil after a shutdown caused by ctx.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ConnContext:       ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	close(done)
	if errors.Is(err, http.ErrServerClosed) && ctx.Err() != nil {
		return nil
	}
	return err
}

// Package kiln wires kiln's concrete backends together: the SQLite store,
// the root key, accounts, the API front door with every codec and service.
// It is the only package besides cmd/kiln that imports concrete backends.
package kiln

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/account"
	"github.com/kiln-dev/kiln/internal/api"
	"github.com/kiln-dev/kiln/internal/blobgc"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/kms"
	"github.com/kiln-dev/kiln/internal/secretbox"
	"github.com/kiln-dev/kiln/internal/service/ec2"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

// Options configures a kiln instance.
type Options struct {
	DataDir string
	Clock   clock.Clock
	Log     *slog.Logger
	// BlobGC schedules the collection of unreferenced blobs (zero fields:
	// the defaults).
	BlobGC BlobGCOptions
}

// Kiln is an open data directory with its services.
type Kiln struct {
	opts     Options
	Store    store.Store
	Accounts *account.Manager
	API      *api.Server
	// KMS is the key management core other services (EBS encryption) use.
	KMS *kms.Keys
	box *secretbox.Box // kiln's root key

	ec2    *ec2.Service
	images image.Catalog
	ebs    *ebs.Manager   // nil when the image stores are unavailable
	gc     *blobgc.Runner // nil when the image stores are unavailable
	gcc    *blobgc.Collector
	once   sync.Once // starts background work with the first Handler
}

// DefaultDataDir is $XDG_DATA_HOME/kiln, else ~/.local/share/kiln.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "kiln")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "kiln")
	}
	return filepath.Join(os.TempDir(), "kiln")
}

// Paths inside the data directory.
func dbPath(dir string) string      { return filepath.Join(dir, "kiln.db") }
func rootKeyPath(dir string) string { return filepath.Join(dir, "root.key") }

// CredentialsPath is the AWS shared-credentials file kiln maintains.
func CredentialsPath(dir string) string { return filepath.Join(dir, "credentials") }

// Open opens (creating when needed) the data directory.
func Open(opts Options) (*Kiln, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	box, err := secretbox.LoadOrCreate(rootKeyPath(opts.DataDir))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	st, err := sqlite.Open(dbPath(opts.DataDir))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	k := &Kiln{opts: opts, Store: st, Accounts: account.New(st, box, opts.Clock), KMS: kms.New(st, box, opts.Clock), box: box}
	k.API = newAPI(k)
	return k, nil
}

// Close stops background work and releases the store.
func (k *Kiln) Close() error {
	if k.gc != nil {
		k.gc.Close()
	}
	if k.ebs != nil {
		k.ebs.Close()
	}
	return k.Store.Close()
}

// AdminProfile is the credentials profile of the account created on first start.
const AdminProfile = "kiln"

// EnsureAdmin creates the admin account and its credentials profile on
// first start; created reports whether it did.
func (k *Kiln) EnsureAdmin(ctx context.Context) (created bool, err error) {
	accts, err := k.Accounts.List(ctx)
	if err != nil {
		return false, err
	}
	if len(accts) > 0 {
		return false, nil
	}
	_, key, err := k.Accounts.Create(ctx, AdminProfile, account.CreateOptions{})
	if err != nil {
		return false, err
	}
	return true, account.AppendProfile(CredentialsPath(k.opts.DataDir), AdminProfile, key)
}

// Handler is kiln's HTTP handler: the health endpoint and every AWS API.
// It does not use http.ServeMux, which cleans paths ("//", "../") and would
// redirect S3 keys that contain them.
func (k *Kiln) Handler() http.Handler {
	k.once.Do(func() {
		if k.ebs != nil {
			k.ebs.Start() // pending snapshot and volume work resumes
		}
		if k.gc != nil {
			k.gc.Start()
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_kiln/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
			return
		}
		k.API.ServeHTTP(w, r)
	})
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully.
func (k *Kiln) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: k.Handler(), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// Package account manages kiln's accounts and their access keys: creation
// (random or caller-chosen IDs and keys), lookup for request signing (with
// an in-memory cache of decrypted secrets), and the AWS shared-credentials
// file kiln writes for its users. Secrets are stored encrypted under the
// root key, never in plaintext and never logged.
package account

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/secretbox"
	"github.com/kiln-dev/kiln/internal/store"
)

// Record kinds (global: account "" and region "").
const (
	kindAccount   = "account"
	kindAccessKey = "access-key"
)

// Account is one kiln account.
type Account struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

type accessKey struct {
	ID        string    `json:"id"`
	AccountID string    `json:"accountId"`
	Sealed    []byte    `json:"sealedSecret"`
	Created   time.Time `json:"created"`
}

// Key is a newly created access key, with its secret (shown once).
type Key struct {
	AccessKeyID, SecretAccessKey string
}

// Manager creates and looks up accounts and keys.
type Manager struct {
	st    store.Store
	box   *secretbox.Box
	clock clock.Clock
	cache sync.Map // access key ID → cached
}

type cached struct{ account, secret string }

// New returns a Manager.
func New(st store.Store, box *secretbox.Box, clk clock.Clock) *Manager {
	return &Manager{st: st, box: box, clock: clk}
}

// Errors.
var (
	// ErrUnknownKey: no such access key.
	ErrUnknownKey = errors.New("account: unknown access key")
	ErrExists     = errors.New("account: already exists")
	ErrInvalid    = errors.New("account: invalid")
)

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	idRE   = regexp.MustCompile(`^[0-9]{12}$`)
)

// CreateOptions chooses IDs instead of random ones (CI suites use fixed
// credentials such as test/test with account 123456789012).
type CreateOptions struct {
	AccountID, AccessKeyID, SecretAccessKey string
}

// Create makes a new account with one access key.
func (m *Manager) Create(ctx context.Context, name string, o CreateOptions) (Account, Key, error) {
	if !nameRE.MatchString(name) {
		return Account{}, Key{}, fmt.Errorf("%w: account name %q must be 1-64 letters, digits, '_', '.' or '-'", ErrInvalid, name)
	}
	if o.AccountID == "" {
		o.AccountID = randomDigits(12)
	} else if !idRE.MatchString(o.AccountID) {
		return Account{}, Key{}, fmt.Errorf("%w: account ID %q must be 12 digits", ErrInvalid, o.AccountID)
	}
	if o.AccessKeyID == "" {
		o.AccessKeyID = "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	} else if len(o.AccessKeyID) > 128 {
		return Account{}, Key{}, fmt.Errorf("%w: access key ID too long", ErrInvalid)
	}
	if o.SecretAccessKey == "" {
		o.SecretAccessKey = randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	}
	now := m.clock.Now()
	acct := Account{ID: o.AccountID, Name: name, Created: now}
	ak := accessKey{ID: o.AccessKeyID, AccountID: acct.ID, Sealed: m.box.Seal([]byte(o.SecretAccessKey), []byte(o.AccessKeyID)), Created: now}
	err := m.st.Update(ctx, func(tx store.Tx) error {
		if err := store.CreateJSON(tx, store.Key{Kind: kindAccount, ID: acct.ID}, acct.Name, acct); err != nil {
			return err
		}
		return store.CreateJSON(tx, store.Key{Kind: kindAccessKey, ID: ak.ID}, "", ak)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return Account{}, Key{}, fmt.Errorf("%w: an account named %q, account ID %s or access key %s exists", ErrExists, name, acct.ID, ak.ID)
	}
	if err != nil {
		return Account{}, Key{}, err
	}
	return acct, Key{AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey}, nil
}

// List returns every account, ordered by ID.
func (m *Manager) List(ctx context.Context) ([]Account, error) {
	var out []Account
	err := m.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[Account](tx, store.Query{Kind: kindAccount})
		return err
	})
	return out, err
}

// Get returns one account.
func (m *Manager) Get(ctx context.Context, id string) (Account, error) {
	var a Account
	err := m.st.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = store.GetJSON[Account](tx, store.Key{Kind: kindAccount, ID: id})
		return err
	})
	return a, err
}

// Exists reports whether an account ID exists.
func (m *Manager) Exists(ctx context.Context, id string) (bool, error) {
	_, err := m.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// AccessKey returns the account and secret of an access key (api.Keys).
func (m *Manager) AccessKey(ctx context.Context, id string) (string, string, error) {
	if c, ok := m.cache.Load(id); ok {
		c := c.(cached)
		return c.account, c.secret, nil
	}
	var ak accessKey
	err := m.st.View(ctx, func(tx store.Tx) error {
		var err error
		ak, err = store.GetJSON[accessKey](tx, store.Key{Kind: kindAccessKey, ID: id})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", "", ErrUnknownKey
	}
	if err != nil {
		return "", "", err
	}
	secret, err := m.box.Open(ak.Sealed, []byte(ak.ID))
	if err != nil {
		return "", "", fmt.Errorf("account: access key %s cannot be decrypted with this root key: %w", id, err)
	}
	m.cache.Store(id, cached{account: ak.AccountID, secret: string(secret)})
	return ak.AccountID, string(secret), nil
}

func randomDigits(n int) string {
	s := randomString(n, "0123456789")
	if s[0] == '0' {
		s = "1" + s[1:]
	}
	return s
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		x, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[x.Int64()]
	}
	return string(b)
}

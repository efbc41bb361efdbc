// Package store defines kiln's state store: the Store and Tx interfaces every
// backend implements, the error vocabulary they share, and generic JSON
// helpers for callers.
//
// The store is deliberately small. A record is an opaque JSON body addressed
// by a Key (account, region, kind, ID) with an optional Name that is unique
// per (account, region, kind); tags are a separate relation keyed by resource
// ID. IDs, names and timestamps are minted by callers at the service edge,
// never by the store.
//
// Backends live in subpackages (sqlite, and later postgres, both built on the
// generic sqlstore layer) and must pass the conformance suite in storetest.
// Nothing outside cmd/ and the wiring package imports a concrete backend.
package store

import (
	"context"
	"errors"
)

// The error vocabulary. Backends wrap these (test with errors.Is), so callers
// never see a driver error for a condition listed here.
var (
	// ErrNotFound: no record (or tag) with the given key or name.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a record with the same Key, or the same non-empty
	// Name within (Account, Region, Kind), already exists.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict: the transaction could not be completed because of
	// concurrent activity, e.g. the database stayed busy or a serialization
	// failure persisted after retries.
	ErrConflict = errors.New("store: conflict")
	// ErrReadOnly: a write method was called on a View transaction.
	ErrReadOnly = errors.New("store: write in read-only transaction")
	// ErrInvalid: a malformed argument, e.g. a record without Kind or ID.
	ErrInvalid = errors.New("store: invalid argument")
)

// Key identifies a record. Global records (accounts, access keys) use
// Account "" and Region "".
type Key struct{ Account, Region, Kind, ID string }

// Record is one stored resource. Body is opaque JSON owned by the caller.
type Record struct {
	Key
	// Name is an optional secondary identifier, unique per
	// (Account, Region, Kind) when non-empty (e.g. a key pair name).
	Name string
	Body []byte
}

// Query selects records of one Kind in one Region.
type Query struct {
	// Account selects the records of one account ("" selects global
	// records) unless AllAccounts is set.
	Account string
	// AllAccounts, when true, ignores Account and searches every account
	// (cross-account lookups such as shared images).
	AllAccounts bool
	Region      string
	Kind        string
	IDs         []string // optional: only these IDs
	Names       []string // optional: only these names
	After       string   // pagination: only IDs strictly greater than this
	Limit       int      // 0 (or negative) = no limit
}

// Tag is one key/value tag on a resource.
type Tag struct{ Account, Region, ResourceID, ResourceType, Key, Value string }

// TagQuery selects tags in one account and region. Empty slices do not
// filter.
type TagQuery struct {
	Account, Region string
	ResourceIDs     []string // optional
	ResourceTypes   []string // optional
	Keys            []string // optional
}

// Tx is a transaction. It is valid only inside the function passed to View
// or Update and must not be used from more than one goroutine.
type Tx interface {
	// Get returns the record with key k, or ErrNotFound.
	Get(k Key) (Record, error)
	// GetByName returns the record with the given non-empty name, or
	// ErrNotFound.
	GetByName(account, region, kind, name string) (Record, error)
	// Create inserts r; ErrAlreadyExists if the Key or the non-empty
	// (Account, Region, Kind, Name) exists.
	Create(r Record) error
	// Put creates or replaces r. Name uniqueness is still enforced:
	// ErrAlreadyExists if another record holds r.Name.
	Put(r Record) error
	// Delete removes the record and its tags; ErrNotFound if absent.
	Delete(k Key) error
	// List returns the records matching q, ordered by ID ascending.
	List(q Query) ([]Record, error)
	// Walk calls fn for every record of every account, region and kind
	// (global records included), in no particular order, streaming: memory
	// does not grow with the number of records. It stops at fn's first
	// error and returns it unchanged. fn must not use the Tx (the walk
	// holds it); a call from fn fails. Walk is for whole-store scans such as
	// the blob collector's mark, which needs one consistent snapshot.
	Walk(fn func(Record) error) error
	// PutTag upserts by (Account, Region, ResourceID, Key).
	PutTag(t Tag) error
	// DeleteTag removes a tag; no error if it is absent.
	DeleteTag(account, region, resourceID, key string) error
	// ListTags returns matching tags ordered by ResourceID, then Key.
	ListTags(q TagQuery) ([]Tag, error)
}

// Store is a transactional state store.
type Store interface {
	// View runs fn in a read-only transaction that sees one consistent
	// snapshot. Views run concurrently with each other and with Update.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction. Updates are serialized.
	// If fn returns an error the transaction is rolled back and the error
	// returned unchanged. If the backend reports a transient failure (busy
	// database, serialization failure) the transaction is rolled back and
	// fn is run again, so fn must have no effects outside tx; after the
	// retries are exhausted the error wraps ErrConflict. Update must not be
	// called from inside another Update's fn (it would wait for itself).
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store. Calling it again returns nil.
	Close() error
}

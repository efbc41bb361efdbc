// Package ec2 implements kiln's EC2 API: one file per action. Handlers take
// the generated ec2api inputs, read and write the store, and return AWS
// errors from the awserr vocabulary; they never see the wire.
package ec2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/reqctx"
	"github.com/kiln-dev/kiln/internal/store"
)

// Service is the EC2 API.
type Service struct {
	st    store.Store
	clock clock.Clock

	images     image.Catalog // AMIs; set with SetImages
	defaultsMu sync.Mutex
	defaults   map[string]bool // account/region pairs whose default VPC exists

	inst *InstanceDeps // instance actions (EnableInstances); nil: not enabled
	ebs  *EBSDeps      // volume, snapshot and image actions (EnableEBS)
}

// New returns the EC2 service.
func New(st store.Store, clk clock.Clock) *Service {
	return &Service{st: st, clock: clk, defaults: map[string]bool{}}
}

// scope is where a request acts: the caller's account and region.
type scope struct {
	account, region string
}

func scopeOf(ctx context.Context) scope {
	c := reqctx.Must(ctx)
	return scope{account: c.AccountID, region: c.Region}
}

func (s scope) key(kind, id string) store.Key {
	return store.Key{Account: s.account, Region: s.region, Kind: kind, ID: id}
}

func (s scope) query(kind string) store.Query {
	return store.Query{Account: s.account, Region: s.region, Kind: kind}
}

// newID mints an EC2 resource ID: prefix, dash, 17 hex digits.
func newID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

package instance

import (
	"errors"
	"math/rand/v2"
	"net/netip"

	"github.com/kiln-dev/kiln/internal/store"
)

// ErrNoAddress: the subnet has no free address.
var ErrNoAddress = errors.New("instance: no free address in the subnet")

// leaseKey is the global lease record of an address.
func leaseKey(ip string) store.Key { return store.Key{Kind: LeaseKind, ID: ip} }

// usable reports the first and last address instances may get in subnet:
// EC2 reserves the network address, .1 (router), .2 (DNS), .3 (future) and
// the broadcast address.
func usable(subnet netip.Prefix) (first, last netip.Addr, n int, ok bool) {
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() || subnet.Bits() > 28 {
		return first, last, 0, false
	}
	size := 1 << (32 - subnet.Bits())
	base := subnet.Addr().As4()
	b := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	return addr4(b + 4), addr4(b + uint32(size) - 2), size - 5, true
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// AllocateAddress leases a free address of subnet to the instance in l,
// inside the caller's transaction (so the lease commits with the instance
// record, or not at all). Leases are global: no two instances of any
// accounts hold the same address. want, when valid, asks for one address
// (PrivateIpAddress); ErrAlreadyExists if it is taken.
func AllocateAddress(tx store.Tx, subnet netip.Prefix, want netip.Addr, l Lease) (netip.Addr, error) {
	first, last, n, ok := usable(subnet)
	if !ok {
		return netip.Addr{}, ErrNoAddress
	}
	take := func(a netip.Addr) (bool, error) {
		if _, err := tx.Get(leaseKey(a.String())); err == nil {
			return false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		return true, store.CreateJSON(tx, leaseKey(a.String()), "", l)
	}
	if want.IsValid() {
		if !subnet.Contains(want) || u32(want) < u32(first) || u32(want) > u32(last) {
			return netip.Addr{}, ErrNoAddress
		}
		ok, err := take(want)
		if err == nil && !ok {
			err = store.ErrAlreadyExists
		}
		return want, err
	}
	// Random probes find a free address in O(1) while the subnet is
	// sparse; a full scan settles the rest.
	for range 32 {
		a := addr4(u32(first) + uint32(rand.IntN(n)))
		if ok, err := take(a); err != nil || ok {
			return a, err
		}
	}
	leases, err := tx.List(store.Query{Kind: LeaseKind})
	if err != nil {
		return netip.Addr{}, err
	}
	used := make(map[string]bool, len(leases))
	for _, r := range leases {
		used[r.ID] = true
	}
	for v := u32(first); v <= u32(last); v++ {
		if a := addr4(v); !used[a.String()] {
			_, err := take(a)
			return a, err
		}
	}
	return netip.Addr{}, ErrNoAddress
}

// ReleaseAddress removes the instance's lease of ip (if it still holds it).
func ReleaseAddress(tx store.Tx, ip, id string) error {
	if ip == "" {
		return nil
	}
	l, err := store.GetJSON[Lease](tx, leaseKey(ip))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if l.Instance != id {
		return nil
	}
	return tx.Delete(leaseKey(ip))
}

// LeaseOf returns the lease of ip (for the metadata service: which
// instance has this address).
func LeaseOf(tx store.Tx, ip string) (Lease, error) {
	return store.GetJSON[Lease](tx, leaseKey(ip))
}

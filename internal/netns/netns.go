// Package netns gives instances their network: one kiln bridge on the host
// holding every subnet's gateway address and the metadata service address
// 169.254.169.254, a network namespace per instance joined to the bridge by
// a veth pair, outbound NAT, and anti-spoofing per veth (an instance can only
// send from its own address, which is how the metadata service can trust
// the source address).
package netns

import (
	"context"
	"net"
	"net/netip"
)

// MetadataAddr is the instance metadata service address.
var MetadataAddr = netip.MustParseAddr("169.254.169.254")

// Attachment is an instance's network.
type Attachment struct {
	ID        string       // instance ID
	NetNSPath string       // e.g. /var/run/netns/kiln-i-0123…
	Address   netip.Prefix // the instance's address with its subnet's length, e.g. 172.31.5.9/20
	Gateway   netip.Addr   // its subnet's gateway (.1)
	MAC       net.HardwareAddr
	HostVeth  string // host-side interface name
}

// Network manages the bridge and per-instance attachments. Every method is
// idempotent so that reconciliation after a crash can simply call it again.
type Network interface {
	// Setup creates the bridge, its gateway addresses for the given
	// subnets, the metadata address, NAT and anti-spoofing tables.
	Setup(ctx context.Context, subnets []netip.Prefix) error
	// Attach creates the instance's namespace and veth with addr (its
	// subnet's gateway must have been set up).
	Attach(ctx context.Context, id string, addr netip.Prefix, mac net.HardwareAddr) (Attachment, error)
	// Detach removes the instance's namespace, veth and rules. Detaching an
	// unknown ID succeeds.
	Detach(ctx context.Context, id string) error
	// List returns the IDs of instances with an attachment (for orphan
	// cleanup).
	List(ctx context.Context) ([]string, error)
	// Teardown removes the bridge and every table and attachment (tests,
	// uninstall).
	Teardown(ctx context.Context) error
}

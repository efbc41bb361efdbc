// Package imds is the instance metadata service at 169.254.169.254: IMDSv1
// and v2 (session tokens, hop limit, HttpTokens=required), the meta-data
// tree, user-data and the dynamic instance identity document, answered
// byte-for-byte in AWS's formats. It knows the caller by its source address
// (netns enforces anti-spoofing on every instance's veth).
package imds

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// ErrUnknownCaller is returned by a Source for an address that is no
// instance's.
var ErrUnknownCaller = errors.New("imds: unknown caller")

// Instance is everything the metadata service tells an instance about
// itself.
type Instance struct {
	ID, ImageID, InstanceType, AccountID, Region, AvailabilityZone string
	ReservationID                                                  string
	LaunchIndex                                                    int
	Hostname                                                       string // ip-172-31-5-9.ec2.internal
	LocalIPv4, PublicIPv4, PublicHostname                          string
	MAC                                                            string
	VPCID, SubnetID                                                string
	SubnetCIDR, VPCCIDR                                            string
	SecurityGroups                                                 []string // names
	SecurityGroupIDs                                               []string
	PublicKeys                                                     []PublicKey
	BlockDevices                                                   map[string]string // "ami" → "/dev/xvda", "root" → "/dev/xvda"
	Tags                                                           map[string]string
	UserData                                                       []byte
	LaunchTime                                                     time.Time
	Architecture                                                   string // x86_64
	Options                                                        Options
	// InterfaceID is the primary network interface (eni-…); omitted from
	// the tree when empty.
	InterfaceID string
	// AvailabilityZoneID (use1-az1); derived from AvailabilityZone when
	// empty.
	AvailabilityZoneID string
}

// PublicKey is a key pair's public key in OpenSSH form.
type PublicKey struct{ Name, OpenSSH string }

// Options are the instance's metadata options.
type Options struct {
	HTTPEndpoint   bool // false: HttpEndpoint=disabled
	TokensRequired bool // HttpTokens=required
	HopLimit       int  // 1–64
	Tags           bool // InstanceMetadataTags=enabled
}

// Source finds the instance behind a source address.
type Source interface {
	InstanceByIP(ctx context.Context, ip netip.Addr) (*Instance, error)
}

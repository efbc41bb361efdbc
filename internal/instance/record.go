// Package instance is kiln's instance controller: the stored instance
// record, the pure state machine that moves it (pending → running →
// stopping → stopped → shutting-down → terminated), and the loop that makes
// the runtime and the network match it.
//
// The design follows Nomad: an API request only writes the desired change
// into the store (for example running → stopping) and kicks the loop; the
// loop performs the side effects (netns.Attach, runtime.Create/Start/Stop/
// Delete, netns.Detach) and records each completed transition with one store
// write. Every side effect is idempotent, so after a crash (kill -9 at any
// point) the loop simply runs again from the stored state: Reconcile adopts
// running tasks, resumes interrupted launches, stops and terminations, marks
// instances whose container vanished, and removes containers, namespaces and
// address leases that belong to no record.
//
// The transition functions (transition.go) take the record and the time and
// return the new record; they do no I/O and are table-tested.
package instance

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Store kinds.
const (
	// Kind is the kind of instance records, keyed by (account, region, i-…).
	Kind = "instance"
	// LeaseKind is the kind of private-address leases. They are global
	// records (Account "", Region "", ID = the IPv4 address) because every
	// account's default VPC is 172.31.0.0/16 and all share one host bridge:
	// an address is unique across all accounts and regions (a design limit
	// of kiln; AWS VPCs are isolated).
	LeaseKind = "ip-lease"
	// TokenKind is the kind of RunInstances client-token records, keyed by
	// (account, region, token).
	TokenKind = "instance-client-token"
)

// EC2 instance states.
const (
	Pending      = "pending"
	Running      = "running"
	ShuttingDown = "shutting-down"
	Terminated   = "terminated"
	Stopping     = "stopping"
	Stopped      = "stopped"
)

// StateCode is the EC2 code of a state name (the low byte of
// InstanceState.Code).
func StateCode(state string) int32 {
	switch state {
	case Pending:
		return 0
	case Running:
		return 16
	case ShuttingDown:
		return 32
	case Terminated:
		return 48
	case Stopping:
		return 64
	case Stopped:
		return 80
	}
	return -1
}

// Shutdown behaviours (InstanceInitiatedShutdownBehavior).
const (
	ShutdownStop      = "stop"
	ShutdownTerminate = "terminate"
)

// Retention is how long terminated instances stay describable.
const Retention = time.Hour

// Reason is an EC2 StateReason.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// State reasons as EC2 reports them.
var (
	ReasonPending          = Reason{"pending", "pending"}
	ReasonUserShutdown     = Reason{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"}
	ReasonInstanceShutdown = Reason{"Client.InstanceInitiatedShutdown", "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}
	ReasonLaunchError      = Reason{"Server.InternalError", "Server.InternalError: Internal error on launch"}
	ReasonVanished         = Reason{"Server.InternalError", "Server.InternalError: The instance's root volume was lost while kiln was not running"}
)

// Group is a security group the instance is in.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Metadata are the instance's metadata options.
type Metadata struct {
	HTTPTokens   string `json:"httpTokens"`   // optional | required
	HTTPEndpoint string `json:"httpEndpoint"` // enabled | disabled
	HopLimit     int32  `json:"hopLimit"`     // 1–64
	Tags         string `json:"tags"`         // enabled | disabled
	ProtocolIPv6 string `json:"protocolIpv6"` // disabled
}

// Record is one stored instance. Everything the loop needs to (re)launch
// it is denormalised here at RunInstances time (layers, limits, the key
// pair's public key, group names, CIDRs), so later changes to the image,
// key pair or catalog never break a restart.
type Record struct {
	ID            string `json:"id"`
	Account       string `json:"account"`
	Region        string `json:"region"`
	ReservationID string `json:"reservationId"`
	LaunchIndex   int32  `json:"launchIndex"`
	ClientToken   string `json:"clientToken,omitempty"`

	ImageID      string       `json:"imageId"`
	Layers       []blob.Layer `json:"layers"`
	Init         string       `json:"init"` // image.InitKiln | image.InitImage
	Architecture string       `json:"architecture"`

	InstanceType string `json:"instanceType"`
	VCPUs        int    `json:"vcpus"`
	MemoryMiB    int64  `json:"memoryMiB"`
	Cores        int32  `json:"cores"`
	Threads      int32  `json:"threadsPerCore"`
	// AppliedVCPUs and AppliedMemoryMiB are the limits the container was
	// last booted with (written by the launch that booted it). A launch of
	// an existing container whose record's limits differ (the instance
	// type changed while stopped) resizes it before the start. They are
	// written only after a boot succeeded, so a crash at any point at
	// worst repeats the (idempotent) resize; zero (records from before
	// they were kept) resizes once.
	AppliedVCPUs     int   `json:"appliedVcpus,omitempty"`
	AppliedMemoryMiB int64 `json:"appliedMemoryMiB,omitempty"`

	KeyName   string  `json:"keyName,omitempty"`
	PublicKey string  `json:"publicKey,omitempty"`
	Groups    []Group `json:"groups"`

	AZ         string `json:"az"`
	VpcID      string `json:"vpcId"`
	SubnetID   string `json:"subnetId"`
	SubnetCIDR string `json:"subnetCidr"`
	VpcCIDR    string `json:"vpcCidr"`
	PrivateIP  string `json:"privateIp"`
	MAC        string `json:"mac"`
	ENIID      string `json:"eniId"`
	ENIAttach  string `json:"eniAttachmentId"`

	UserData []byte   `json:"userData,omitempty"`
	Metadata Metadata `json:"metadata"`
	// MetadataApplied is false between ModifyInstanceMetadataOptions and the
	// loop applying it (State pending → applied).
	MetadataPending bool `json:"metadataPending,omitempty"`

	ShutdownBehavior      string `json:"shutdownBehavior"`
	DisableAPITermination bool   `json:"disableApiTermination,omitempty"`
	DisableAPIStop        bool   `json:"disableApiStop,omitempty"`
	Monitoring            bool   `json:"monitoring,omitempty"`
	EbsOptimized          bool   `json:"ebsOptimized,omitempty"`

	RootDevice          string `json:"rootDevice"`
	RootDeviceType      string `json:"rootDeviceType"` // ebs | instance-store
	RootVolumeID        string `json:"rootVolumeId"`
	RootSizeGiB         int32  `json:"rootSizeGiB"`
	DeleteOnTermination bool   `json:"deleteOnTermination"`

	State string `json:"state"`
	// TransitionReason is EC2's StateTransitionReason ("User initiated
	// (2025-01-02 03:04:05 GMT)").
	TransitionReason string    `json:"transitionReason,omitempty"`
	Reason           *Reason   `json:"reason,omitempty"`
	Created          time.Time `json:"created"`    // RunInstances; attachment times
	LaunchTime       time.Time `json:"launchTime"` // last pending (RunInstances or StartInstances)
	// Changed is when the state last changed (expiry of terminated
	// records counts from it).
	Changed time.Time `json:"changed"`
	// Reboots counts RebootInstances requests; Rebooted counts reboots done.
	Reboots  int `json:"reboots,omitempty"`
	Rebooted int `json:"rebooted,omitempty"`
	// FirstBoot is when the instance first reached running.
	FirstBoot time.Time `json:"firstBoot,omitzero"`
	// Failures counts consecutive failed side effects of the current state.
	Failures int       `json:"failures,omitempty"`
	LastErr  string    `json:"lastError,omitempty"`
	FailedAt time.Time `json:"failedAt,omitzero"`
	// ForceStop skips the graceful shutdown (StopInstances Force).
	ForceStop bool `json:"forceStop,omitempty"`
	// Version increases on every write; the loop writes a completed
	// transition only if the record did not change underneath it.
	Version int64 `json:"version"`
}

// Lease is the body of an address lease record.
type Lease struct {
	Instance string `json:"instance"`
	Account  string `json:"account"`
	Region   string `json:"region"`
}

// Hostname is the instance's host name: ip-172-31-5-9.
func Hostname(ip string) string { return "ip-" + strings.ReplaceAll(ip, ".", "-") }

// DNSName is the private DNS name: ip-172-31-5-9.ec2.internal in
// us-east-1, ip-…​.<region>.compute.internal elsewhere.
func DNSName(ip, region string) string {
	if ip == "" {
		return ""
	}
	if region == "us-east-1" {
		return Hostname(ip) + ".ec2.internal"
	}
	return Hostname(ip) + "." + region + ".compute.internal"
}

// Prefix is the instance's address with its subnet's length.
func (r *Record) Prefix() (netip.Prefix, error) {
	a, err := netip.ParseAddr(r.PrivateIP)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("instance %s: address %q: %w", r.ID, r.PrivateIP, err)
	}
	sn, err := netip.ParsePrefix(r.SubnetCIDR)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("instance %s: subnet %q: %w", r.ID, r.SubnetCIDR, err)
	}
	return netip.PrefixFrom(a, sn.Bits()), nil
}

// resized reports whether the record's limits differ from those its
// container was last booted with.
func (r *Record) resized() bool {
	return r.VCPUs != r.AppliedVCPUs || r.MemoryMiB != r.AppliedMemoryMiB
}

// Active reports whether the instance counts against the running-instance
// limit (every state but stopped and terminated).
func (r *Record) Active() bool { return r.State != Stopped && r.State != Terminated }

// userInitiated is EC2's StateTransitionReason for a user's request.
func userInitiated(now time.Time) string {
	return "User initiated (" + now.UTC().Format("2006-01-02 15:04:05") + " GMT)"
}

// instanceInitiated is the StateTransitionReason for a shutdown from inside.
func instanceInitiated(now time.Time) string {
	return "Client.InstanceInitiatedShutdown: Instance initiated shutdown (" + now.UTC().Format("2006-01-02 15:04:05") + " GMT)"
}

// Labels are the runtime labels of the instance's container.
func (r *Record) Labels() map[string]string {
	return map[string]string{
		"kiln.instance-id": r.ID,
		"kiln.account":     r.Account,
		"kiln.region":      r.Region,
		"kiln.launch":      strconv.FormatInt(r.Created.Unix(), 10),
	}
}

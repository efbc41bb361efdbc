package netns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options configure the Linux network.
type Options struct {
	// Bridge is the host bridge (default "kiln0").
	Bridge string
	// NAT masquerades traffic from the subnets that leaves through any
	// other interface (outbound internet for instances).
	NAT bool
	// Table names kiln's nftables tables (`bridge <Table>` for
	// anti-spoofing, `ip <Table>` for NAT); default "kiln".
	Table string
	// Prefix starts every namespace name (default "kiln-").
	Prefix string
	// NetNSDir is where named namespaces are bind-mounted (default
	// /var/run/netns, as `ip netns` uses).
	NetNSDir string
	// MTU of the bridge and the veths (default 1500).
	MTU int
	// Log receives messages (default: discarded).
	Log *slog.Logger
}

// Linux implements Network with a Linux bridge, veth pairs, named network
// namespaces and nftables (through the nft command).
type Linux struct {
	o   Options
	log *slog.Logger
	mu  sync.Mutex // serialises nft scripts and bridge setup
}

var _ Network = (*Linux)(nil)

// New returns the network manager; nothing changes on the host until Setup.
func New(o Options) (*Linux, error) {
	if o.Bridge == "" {
		o.Bridge = "kiln0"
	}
	if len(o.Bridge) > 15 {
		return nil, fmt.Errorf("netns: bridge name %q longer than 15", o.Bridge)
	}
	if o.Table == "" {
		o.Table = "kiln"
	}
	if o.Prefix == "" {
		o.Prefix = "kiln-"
	}
	if o.NetNSDir == "" {
		o.NetNSDir = "/var/run/netns"
	}
	if o.MTU == 0 {
		o.MTU = 1500
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Linux{o: o, log: o.Log}, nil
}

// NetNSPath is the bind-mounted namespace file of an instance.
func (l *Linux) NetNSPath(id string) string {
	return filepath.Join(l.o.NetNSDir, l.o.Prefix+id)
}

// HostVeth is the host-side interface name of an instance: "kv" and 8 hex
// digits of the SHA-256 of its namespace name (≤ 15 characters).
func (l *Linux) HostVeth(id string) string {
	sum := sha256.Sum256([]byte(l.o.Prefix + id))
	return "kv" + hex.EncodeToString(sum[:])[:8]
}

func (l *Linux) peerTemp(id string) string {
	sum := sha256.Sum256([]byte(l.o.Prefix + id))
	return "kp" + hex.EncodeToString(sum[:])[:8]
}

// Gateway is the .1 of a subnet.
func Gateway(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

func (l *Linux) nft(ctx context.Context, script string) error {
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Setup creates the bridge with each subnet's gateway and the metadata
// address, enables forwarding and installs the nftables tables.
func (l *Linux) Setup(ctx context.Context, subnets []netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	br, err := netlink.LinkByName(l.o.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("netns: bridge %s: %w", l.o.Bridge, err)
		}
		la := netlink.NewLinkAttrs()
		la.Name = l.o.Bridge
		la.MTU = l.o.MTU
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netns: create bridge %s: %w", l.o.Bridge, err)
		}
		if br, err = netlink.LinkByName(l.o.Bridge); err != nil {
			return fmt.Errorf("netns: bridge %s: %w", l.o.Bridge, err)
		}
	}
	addrs := []netip.Prefix{netip.PrefixFrom(MetadataAddr, 32)}
	for _, s := range subnets {
		if !s.Addr().Is4() {
			return fmt.Errorf("netns: subnet %s is not IPv4", s)
		}
		addrs = append(addrs, netip.PrefixFrom(Gateway(s), s.Bits()))
	}
	for _, a := range addrs {
		na, err := netlink.ParseAddr(a.String())
		if err != nil {
			return err
		}
		if err := netlink.AddrReplace(br, na); err != nil {
			return fmt.Errorf("netns: address %s on %s: %w", a, l.o.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("netns: bridge up: %w", err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("netns: enable forwarding: %w", err)
	}
	return l.nft(ctx, l.setupScript(subnets))
}

// setupScript is idempotent: it creates what is missing and rewrites the
// base chains, keeping every attachment's map element and chain.
func (l *Linux) setupScript(subnets []netip.Prefix) string {
	t := l.o.Table
	var b strings.Builder
	fmt.Fprintf(&b, "add table bridge %s\n", t)
	fmt.Fprintf(&b, "add map bridge %s ports { type ifname : verdict; }\n", t)
	fmt.Fprintf(&b, "add chain bridge %s prerouting { type filter hook prerouting priority -300; policy accept; }\n", t)
	fmt.Fprintf(&b, "flush chain bridge %s prerouting\n", t)
	// Frames entering the bridge from an instance's veth go through that
	// instance's chain (source MAC, IPv4 and ARP sender must be its own).
	fmt.Fprintf(&b, "add rule bridge %s prerouting iifname vmap @ports\n", t)

	fmt.Fprintf(&b, "add table ip %s\n", t)
	fmt.Fprintf(&b, "add set ip %s subnets { type ipv4_addr; flags interval; }\n", t)
	fmt.Fprintf(&b, "flush set ip %s subnets\n", t)
	if len(subnets) > 0 {
		var el []string
		for _, s := range subnets {
			el = append(el, s.Masked().String())
		}
		fmt.Fprintf(&b, "add element ip %s subnets { %s }\n", t, strings.Join(el, ", "))
	}
	fmt.Fprintf(&b, "add chain ip %s postrouting { type nat hook postrouting priority srcnat; policy accept; }\n", t)
	fmt.Fprintf(&b, "flush chain ip %s postrouting\n", t)
	if l.o.NAT {
		fmt.Fprintf(&b, "add rule ip %s postrouting ip saddr @subnets oifname != %q masquerade\n", t, l.o.Bridge)
	}
	// Forwarded traffic of the subnets is accepted even when another
	// table's forward chain drops by default (Docker-style hosts).
	fmt.Fprintf(&b, "add chain ip %s forward { type filter hook forward priority filter; policy accept; }\n", t)
	fmt.Fprintf(&b, "flush chain ip %s forward\n", t)
	return b.String()
}

func (l *Linux) portChain(veth string) string { return "port-" + veth }

func (l *Linux) attachScript(veth string, addr netip.Addr, mac net.HardwareAddr) string {
	t, c := l.o.Table, l.portChain(veth)
	var b strings.Builder
	fmt.Fprintf(&b, "add chain bridge %s %s\n", t, c)
	fmt.Fprintf(&b, "flush chain bridge %s %s\n", t, c)
	fmt.Fprintf(&b, "add rule bridge %s %s ether saddr != %s drop\n", t, c, mac)
	fmt.Fprintf(&b, "add rule bridge %s %s ip saddr != %s drop\n", t, c, addr)
	fmt.Fprintf(&b, "add rule bridge %s %s arp saddr ip != %s drop\n", t, c, addr)
	fmt.Fprintf(&b, "add rule bridge %s %s ether type != { ip, arp } drop\n", t, c)
	fmt.Fprintf(&b, "add rule bridge %s %s accept\n", t, c)
	fmt.Fprintf(&b, "add element bridge %s ports { %q : jump %s }\n", t, veth, c)
	return b.String()
}

// Attach creates the instance's named namespace, a veth pair (host side on
// the bridge, the peer as eth0 in the namespace with addr, mac, a default
// route and a route to the metadata address via the gateway) and the
// anti-spoofing rules of the host side. A failure undoes what was done. If
// the attachment already exists it is completed and returned.
func (l *Linux) Attach(ctx context.Context, id string, addr netip.Prefix, mac net.HardwareAddr) (_ Attachment, retErr error) {
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return Attachment{}, fmt.Errorf("netns: bad instance ID %q", id)
	}
	if !addr.Addr().Is4() {
		return Attachment{}, fmt.Errorf("netns: address %s is not IPv4", addr)
	}
	if len(mac) != 6 {
		return Attachment{}, fmt.Errorf("netns: bad MAC %v", mac)
	}
	a := Attachment{
		ID: id, NetNSPath: l.NetNSPath(id), Address: addr, Gateway: Gateway(addr),
		MAC: mac, HostVeth: l.HostVeth(id),
	}
	br, err := netlink.LinkByName(l.o.Bridge)
	if err != nil {
		return Attachment{}, fmt.Errorf("netns: bridge %s (Setup not run?): %w", l.o.Bridge, err)
	}
	if l.complete(a) {
		// Re-applying the rules keeps them right after a crash.
		l.mu.Lock()
		defer l.mu.Unlock()
		return a, l.nft(ctx, l.attachScript(a.HostVeth, addr.Addr(), mac))
	}
	// A partial attachment (crash mid-Attach) is removed first.
	_, statErr := os.Lstat(a.NetNSPath)
	_, linkErr := netlink.LinkByName(a.HostVeth)
	if statErr == nil || linkErr == nil {
		if err := l.Detach(ctx, id); err != nil {
			return Attachment{}, err
		}
	}
	defer func() {
		if retErr != nil {
			_ = l.Detach(context.WithoutCancel(ctx), id)
		}
	}()
	if err := l.newNamed(a.NetNSPath); err != nil {
		return Attachment{}, err
	}
	ns, err := vnetns.GetFromPath(a.NetNSPath)
	if err != nil {
		return Attachment{}, fmt.Errorf("netns: open %s: %w", a.NetNSPath, err)
	}
	defer ns.Close()

	// The rules exist before the host side joins the bridge, so no frame
	// passes unchecked.
	l.mu.Lock()
	err = l.nft(ctx, l.attachScript(a.HostVeth, addr.Addr(), mac))
	l.mu.Unlock()
	if err != nil {
		return Attachment{}, err
	}

	la := netlink.NewLinkAttrs()
	la.Name = a.HostVeth
	la.MTU = l.o.MTU
	veth := &netlink.Veth{LinkAttrs: la, PeerName: l.peerTemp(id), PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return Attachment{}, fmt.Errorf("netns: veth %s: %w", a.HostVeth, err)
	}
	if err := l.configureInside(ns, l.peerTemp(id), a); err != nil {
		return Attachment{}, err
	}
	host, err := netlink.LinkByName(a.HostVeth)
	if err != nil {
		return Attachment{}, err
	}
	if err := netlink.LinkSetMaster(host, br); err != nil {
		return Attachment{}, fmt.Errorf("netns: %s to bridge: %w", a.HostVeth, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return Attachment{}, fmt.Errorf("netns: %s up: %w", a.HostVeth, err)
	}
	return a, nil
}

// configureInside names the peer eth0 and gives it its MAC, address and
// routes, through a netlink handle in the namespace (no thread switching).
func (l *Linux) configureInside(ns vnetns.NsHandle, peer string, a Attachment) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netns: handle in %s: %w", a.NetNSPath, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	eth, err := h.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(eth, "eth0"); err != nil {
		return fmt.Errorf("netns: rename to eth0: %w", err)
	}
	if err := h.LinkSetHardwareAddr(eth, a.MAC); err != nil {
		return fmt.Errorf("netns: set MAC: %w", err)
	}
	na, err := netlink.ParseAddr(a.Address.String())
	if err != nil {
		return err
	}
	if err := h.AddrAdd(eth, na); err != nil {
		return fmt.Errorf("netns: address %s: %w", a.Address, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return err
	}
	gw := net.IP(a.Gateway.AsSlice())
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("netns: default route: %w", err)
	}
	md := &net.IPNet{IP: net.IP(MetadataAddr.AsSlice()), Mask: net.CIDRMask(32, 32)}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: md, Gw: gw}); err != nil {
		return fmt.Errorf("netns: metadata route: %w", err)
	}
	return nil
}

// complete reports whether the namespace and host veth of a exist.
func (l *Linux) complete(a Attachment) bool {
	if !isNsMount(a.NetNSPath) {
		return false
	}
	link, err := netlink.LinkByName(a.HostVeth)
	return err == nil && link.Attrs().MasterIndex != 0 && link.Attrs().Flags&net.FlagUp != 0
}

// isNsMount reports whether path is a bind-mounted network namespace.
func isNsMount(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// ensureNetNSDir makes the namespace directory a shared mount point, as
// `ip netns` does, so that namespace unmounts propagate into mount
// namespaces created later (containers) and namespaces are really freed.
func (l *Linux) ensureNetNSDir() error {
	if err := os.MkdirAll(l.o.NetNSDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", l.o.NetNSDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("netns: make %s shared: %w", l.o.NetNSDir, err)
	}
	if err := unix.Mount(l.o.NetNSDir, l.o.NetNSDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: bind %s: %w", l.o.NetNSDir, err)
	}
	if err := unix.Mount("", l.o.NetNSDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: make %s shared: %w", l.o.NetNSDir, err)
	}
	return nil
}

// newNamed creates a network namespace bind-mounted at path. The work is
// done on a dedicated OS thread that is discarded afterwards, so no Go
// thread is left in the new namespace.
func (l *Linux) newNamed(path string) error {
	if err := l.ensureNetNSDir(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("netns: create %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's exit terminates the thread.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("netns: bind %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// Detach removes the instance's anti-spoofing rules, veth and namespace.
// Missing parts are skipped.
func (l *Linux) Detach(ctx context.Context, id string) error {
	veth := l.HostVeth(id)
	var errs []error
	if link, err := netlink.LinkByName(veth); err == nil {
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("netns: delete %s: %w", veth, err))
		}
	}
	l.mu.Lock()
	t, c := l.o.Table, l.portChain(veth)
	delElem := fmt.Sprintf("delete element bridge %s ports { %q }\n", t, veth)
	delChain := fmt.Sprintf("flush chain bridge %s %s\ndelete chain bridge %s %s\n", t, c, t, c)
	// Usually both exist: one transaction. Otherwise each part alone.
	if err := l.nft(ctx, delElem+delChain); err != nil {
		_ = l.nft(ctx, delElem)
		if err := l.nft(ctx, delChain); err != nil && !strings.Contains(err.Error(), "No such file or directory") {
			errs = append(errs, err)
		}
	}
	l.mu.Unlock()
	path := l.NetNSPath(id)
	if isNsMount(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("netns: unmount %s: %w", path, err))
		}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// List returns the IDs of instances whose namespace file exists.
func (l *Linux) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(l.o.NetNSDir)
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutPrefix(e.Name(), l.o.Prefix); ok && id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Teardown detaches every instance and removes the tables and the bridge.
func (l *Linux) Teardown(ctx context.Context) error {
	ids, err := l.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := l.Detach(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, fam := range []string{"bridge", "ip"} {
		if err := l.nft(ctx, fmt.Sprintf("delete table %s %s\n", fam, l.o.Table)); err != nil &&
			!strings.Contains(err.Error(), "No such file or directory") {
			errs = append(errs, err)
		}
	}
	if br, err := netlink.LinkByName(l.o.Bridge); err == nil {
		if err := netlink.LinkDel(br); err != nil {
			errs = append(errs, fmt.Errorf("netns: delete bridge: %w", err))
		}
	}
	return errors.Join(errs...)
}

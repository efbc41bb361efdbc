package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strings"

	"github.com/kiln-dev/kiln/internal/imds"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/netns"
)

// A machine shared with other engineers may run other kilns: their
// metadata service holds 169.254.169.254:80 and their bridges carry the
// same default subnets (172.31.0.0/20, …), so the kernel routes replies to
// 172.31.x.y through whichever bridge came first. The bench then keeps its
// instances' traffic to itself, without touching the other kilns:
//
//   - its metadata service listens on another port of 169.254.169.254, and
//     connections from its bridge to port 80 are DNATed there;
//   - connections from its bridge are marked (conntrack), and replies with
//     the mark are routed by a rule to a table whose subnets point at the
//     bridge.
//
// On a machine of its own it changes nothing (kiln's real port 80).

// metadataPort is 80 when free, else a free port of the metadata address.
func metadataPort(ctx context.Context) (port int, shared bool, err error) {
	ln, err := imds.Listen(ctx, netns.MetadataAddr.String()+":80")
	if err == nil {
		ln.Close()
		return 80, false, nil
	}
	ln, err = imds.Listen(ctx, netns.MetadataAddr.String()+":0")
	if err != nil {
		return 0, false, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, true, nil
}

// otherBridges are the interfaces other than bridge that carry the
// gateway of a default subnet.
func otherBridges(bridge string) []string {
	gw := netns.Gateway(instance.DefaultSubnets[0]).String() + "/"
	var names []string
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ifc.Name != bridge && strings.HasPrefix(a.String(), gw) {
				names = append(names, ifc.Name)
			}
		}
	}
	return names
}

// keepToBridge installs the DNAT (when port is not 80) and the mark-based
// return routing for bridge; undo removes them.
func keepToBridge(ctx context.Context, bridge string, port int) (undo func(), err error) {
	var r [4]byte
	_, _ = rand.Read(r[:])
	v := binary.BigEndian.Uint32(r[:])
	mark := 0x6b000000 | v&0xffff
	table := 20000 + int(v>>16)%10000
	nftTable := bridge + "r"
	var b strings.Builder
	fmt.Fprintf(&b, "add table ip %s\n", nftTable)
	fmt.Fprintf(&b, "add chain ip %s tag_in { type filter hook prerouting priority mangle; policy accept; }\n", nftTable)
	fmt.Fprintf(&b, "add rule ip %s tag_in iifname %q ct mark set %#x\n", nftTable, bridge, mark)
	fmt.Fprintf(&b, "add chain ip %s route_out { type route hook output priority mangle; policy accept; }\n", nftTable)
	fmt.Fprintf(&b, "add rule ip %s route_out ct mark %#x meta mark set %#x\n", nftTable, mark, mark)
	if port != 80 {
		fmt.Fprintf(&b, "add chain ip %s port80 { type nat hook prerouting priority dstnat; policy accept; }\n", nftTable)
		fmt.Fprintf(&b, "add rule ip %s port80 iifname %q ip daddr %s tcp dport 80 dnat to %s:%d\n", nftTable, bridge, netns.MetadataAddr, netns.MetadataAddr, port)
	}
	cmds := [][]string{{"rule", "add", "fwmark", fmt.Sprintf("%#x", mark), "lookup", fmt.Sprint(table), "pref", "100"}}
	for _, s := range instance.DefaultSubnets {
		cmds = append(cmds, []string{"route", "add", s.Masked().String(), "dev", bridge, "src", netns.Gateway(s).String(), "table", fmt.Sprint(table)})
	}
	undo = func() {
		_ = exec.Command("ip", "rule", "del", "fwmark", fmt.Sprintf("%#x", mark), "lookup", fmt.Sprint(table)).Run()
		_ = exec.Command("ip", "route", "flush", "table", fmt.Sprint(table)).Run()
		_ = exec.Command("nft", "delete", "table", "ip", nftTable).Run()
	}
	nft := exec.CommandContext(ctx, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(b.String())
	if out, err := nft.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nft: %v: %s", err, out)
	}
	for _, c := range cmds {
		if out, err := exec.CommandContext(ctx, "ip", c...).CombinedOutput(); err != nil {
			undo()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return undo, nil
}

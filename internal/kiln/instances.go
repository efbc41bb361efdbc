package kiln

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-dev/kiln/internal/imds"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/containerd"
	"github.com/kiln-dev/kiln/internal/service/ec2"
)

// InstanceOptions configures the instance stack of `kiln up`.
type InstanceOptions struct {
	// ContainerdAddress uses an existing containerd; empty: kiln starts and
	// supervises its own under the data directory.
	ContainerdAddress string
	Bridge            string // default "kiln0"
	NAT               bool   // outbound NAT for instances
	IMDSAddr          string // default 169.254.169.254:80
	InitPath          string // the kiln binary mounted into instances (default: this executable)
}

// Instances is the running instance stack.
type Instances struct {
	Controller *instance.Controller
	IMDS       net.Addr
	close      []func() error
	rt         *containerd.Runtime
	nw         netns.Network
}

// Teardown is for tests and uninstalling: it closes the stack, removes the
// bridge, its rules and every attachment, and kills the containerd kiln
// started. Instances must have been terminated first.
func (s *Instances) Teardown(ctx context.Context) error {
	err := s.Close()
	if s.nw != nil {
		err = errors.Join(err, s.nw.Teardown(ctx))
	}
	if s.rt != nil {
		if pid := s.rt.DaemonPid(); pid > 0 {
			if p, perr := os.FindProcess(pid); perr == nil {
				_ = p.Kill()
			}
		}
	}
	return err
}

// Close stops kiln's side of the stack. Instances, their network and
// containerd keep running; the next start re-adopts them.
func (s *Instances) Close() error {
	var errs []error
	for i := len(s.close) - 1; i >= 0; i-- {
		errs = append(errs, s.close[i]())
	}
	return errors.Join(errs...)
}

// StartInstances starts the runtime (containerd), the network, the instance
// controller (reconciling with what survived a restart) and the metadata
// service, and turns on the EC2 instance actions. It needs root.
func (k *Kiln) StartInstances(ctx context.Context, o InstanceOptions) (_ *Instances, err error) {
	if o.Bridge == "" {
		o.Bridge = "kiln0"
	}
	if o.IMDSAddr == "" {
		o.IMDSAddr = netip.AddrPortFrom(netns.MetadataAddr, 80).String()
	}
	s := &Instances{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	_, regions, err := k.Images()
	if err != nil {
		return nil, err
	}
	storageKey, err := k.storageKey()
	if err != nil {
		return nil, err
	}
	defer clear(storageKey)
	rt, err := containerd.New(ctx, containerd.Options{DataDir: k.opts.DataDir, Address: o.ContainerdAddress, Log: k.opts.Log, StorageKey: storageKey})
	if err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	s.close = append(s.close, rt.Close)
	s.rt = rt
	nopts := netns.Options{Bridge: o.Bridge, NAT: o.NAT, Log: k.opts.Log}
	if o.Bridge != "kiln0" {
		// A second network (tests): its own nft tables and namespace names,
		// so it never touches another kiln's.
		nopts.Table, nopts.Prefix = o.Bridge, o.Bridge+"-"
	}
	nw, err := netns.New(nopts)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	s.nw = nw
	resolv, err := writeResolvConf(filepath.Join(k.opts.DataDir, "instances"))
	if err != nil {
		return nil, err
	}
	ctrl, err := instance.New(instance.Config{
		Store: k.Store, Runtime: rt, Network: nw, Blobs: regions, Clock: k.opts.Clock, Log: k.opts.Log,
		DataDir: k.opts.DataDir, InitPath: o.InitPath,
		Mounts:       []runtime.Mount{{Source: resolv, Target: "/etc/resolv.conf", ReadOnly: true}},
		BeforeDelete: k.beforeDelete, BeforeStart: k.beforeStart, Keys: k.launchKeys(),
	})
	if err != nil {
		return nil, err
	}
	if err := ctrl.Start(ctx); err != nil {
		return nil, fmt.Errorf("instance controller: %w", err)
	}
	s.Controller = ctrl
	s.close = append(s.close, ctrl.Close)
	if k.ebs != nil {
		k.ebs.Use(rt, ctrl)
	}
	k.ec2.EnableInstances(ec2.InstanceDeps{Controller: ctrl})

	key, err := identityKey(filepath.Join(k.opts.DataDir, "imds-identity.key"))
	if err != nil {
		return nil, err
	}
	h := imds.NewHandler(k.ec2.MetadataSource(), k.opts.Clock, imds.HandlerOptions{IdentityKey: key,
		Logf: func(f string, a ...any) { k.opts.Log.Debug(fmt.Sprintf(f, a...), "component", "imds") }})
	ln, err := imds.Listen(ctx, o.IMDSAddr)
	if err != nil {
		return nil, fmt.Errorf("metadata service on %s: %w", o.IMDSAddr, err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- imds.Serve(sctx, ln, h) }()
	s.IMDS = ln.Addr()
	s.close = append(s.close, func() error { cancel(); return <-done })
	return s, nil
}

// writeResolvConf gives instances the host's name servers, minus loopback
// ones (a resolver on the host's 127.0.0.53 is unreachable from an
// instance's namespace).
func writeResolvConf(dir string) (string, error) {
	var servers []string
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 && fs[0] == "nameserver" {
				if a, err := netip.ParseAddr(fs[1]); err == nil && !a.IsLoopback() {
					servers = append(servers, a.String())
				}
			}
		}
		f.Close()
	}
	if len(servers) == 0 {
		servers = []string{"1.1.1.1"} // no usable host resolver: a public one (needs NAT)
	}
	var b strings.Builder
	b.WriteString("# Written by kiln from the host's resolvers.\n")
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "resolv.conf")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// identityKey loads (or creates once) the RSA key that signs instance
// identity documents.
func identityKey(path string) (crypto.Signer, error) {
	if raw, err := os.ReadFile(path); err == nil {
		b, _ := pem.Decode(raw)
		if b == nil {
			return nil, fmt.Errorf("%s: not PEM", path)
		}
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pemBytes, 0o600); err != nil {
		return nil, err
	}
	return k, os.Rename(tmp, path)
}

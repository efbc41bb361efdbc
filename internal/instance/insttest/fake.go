// Package insttest has in-memory fakes of the runtime and the network for
// tests of the instance controller and the EC2 instance API: containers
// and attachments are map entries, failures can be scripted per operation,
// and an instance can "shut down from inside".
package insttest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime"
)

// Runtime is a fake runtime.Runtime.
type Runtime struct {
	mu    sync.Mutex
	ctrs  map[string]*ctr
	fail  map[string][]error // op → errors returned by the next calls
	Calls []string           // "create i-…", "start i-…", …
}

type ctr struct {
	spec    runtime.Spec
	running bool
	code    int
	exited  []chan int
}

var (
	_ runtime.Runtime = (*Runtime)(nil)
	_ runtime.Resizer = (*Runtime)(nil)
)

// NewRuntime returns an empty fake runtime.
func NewRuntime() *Runtime {
	return &Runtime{ctrs: map[string]*ctr{}, fail: map[string][]error{}}
}

// FailNext makes the next call of op ("create", "start", "stop", "delete",
// "status", "resize") return err.
func (f *Runtime) FailNext(op string, err error) {
	f.mu.Lock()
	f.fail[op] = append(f.fail[op], err)
	f.mu.Unlock()
}

func (f *Runtime) call(op, id string) error {
	f.Calls = append(f.Calls, op+" "+id)
	if errs := f.fail[op]; len(errs) > 0 {
		f.fail[op] = errs[1:]
		return errs[0]
	}
	return nil
}

// Create implements runtime.Runtime.
func (f *Runtime) Create(ctx context.Context, s runtime.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create", s.ID); err != nil {
		return err
	}
	if _, ok := f.ctrs[s.ID]; ok {
		return runtime.ErrAlreadyExists
	}
	for _, l := range s.Layers {
		rc, err := l.Open(ctx)
		if err != nil {
			return fmt.Errorf("fake: layer %s: %w", l.Digest, err)
		}
		rc.Close()
	}
	f.ctrs[s.ID] = &ctr{spec: s}
	return nil
}

// Start implements runtime.Runtime.
func (f *Runtime) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("start", id); err != nil {
		return err
	}
	c, ok := f.ctrs[id]
	if !ok {
		return runtime.ErrNotFound
	}
	if c.running {
		return fmt.Errorf("fake: %s: %w", id, runtime.ErrAlreadyExists)
	}
	c.running = true
	return nil
}

// Stop implements runtime.Runtime.
func (f *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("stop", id); err != nil {
		return err
	}
	c, ok := f.ctrs[id]
	if !ok {
		return runtime.ErrNotFound
	}
	c.running = false
	c.exited = nil // a stop by the caller is not an exit by itself
	return nil
}

// Delete implements runtime.Runtime.
func (f *Runtime) Delete(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("delete", id); err != nil {
		return err
	}
	if _, ok := f.ctrs[id]; !ok {
		return runtime.ErrNotFound
	}
	delete(f.ctrs, id)
	return nil
}

// Status implements runtime.Runtime.
func (f *Runtime) Status(ctx context.Context, id string) (runtime.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("status", id); err != nil {
		return runtime.Status{}, err
	}
	c, ok := f.ctrs[id]
	if !ok {
		return runtime.Status{}, runtime.ErrNotFound
	}
	return c.status(id), nil
}

func (c *ctr) status(id string) runtime.Status {
	s := runtime.Status{ID: id, Running: c.running, ExitCode: c.code, Labels: c.spec.Labels}
	if c.running {
		s.Pid = 1000
	}
	return s
}

// List implements runtime.Runtime.
func (f *Runtime) List(ctx context.Context) ([]runtime.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]runtime.Status, 0, len(f.ctrs))
	for id, c := range f.ctrs {
		out = append(out, c.status(id))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Exited implements runtime.Runtime.
func (f *Runtime) Exited(ctx context.Context, id string) (<-chan int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	if !ok {
		return nil, runtime.ErrNotFound
	}
	ch := make(chan int, 1)
	c.exited = append(c.exited, ch)
	return ch, nil
}

// Resize implements runtime.Resizer: the container's spec gets the new
// limits (Spec shows them); a running container is refused.
func (f *Runtime) Resize(ctx context.Context, id string, vcpus int, memoryMiB int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("resize", id); err != nil {
		return err
	}
	c, ok := f.ctrs[id]
	if !ok {
		return runtime.ErrNotFound
	}
	if c.running {
		return fmt.Errorf("fake: %s: %w", id, runtime.ErrRunning)
	}
	c.spec.VCPUs, c.spec.MemoryMiB = vcpus, memoryMiB
	return nil
}

// Close implements runtime.Runtime.
func (f *Runtime) Close() error { return nil }

// Shutdown ends the instance's task from inside (poweroff) with code.
func (f *Runtime) Shutdown(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	if !ok || !c.running {
		return
	}
	c.running, c.code = false, code
	for _, ch := range c.exited {
		ch <- code
	}
	c.exited = nil
}

// Inject adds a container as if created by an earlier process (orphans).
func (f *Runtime) Inject(id string, running bool) {
	f.mu.Lock()
	f.ctrs[id] = &ctr{spec: runtime.Spec{ID: id}, running: running}
	f.mu.Unlock()
}

// Kill makes the task end without an exit notification (as if containerd
// lost it while kiln was away).
func (f *Runtime) Kill(id string) {
	f.mu.Lock()
	if c, ok := f.ctrs[id]; ok {
		c.running, c.exited = false, nil
	}
	f.mu.Unlock()
}

// Forget removes a container without a trace (state wiped).
func (f *Runtime) Forget(id string) {
	f.mu.Lock()
	delete(f.ctrs, id)
	f.mu.Unlock()
}

// Spec returns the spec an instance was created with.
func (f *Runtime) Spec(id string) (runtime.Spec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	if !ok {
		return runtime.Spec{}, false
	}
	return c.spec, true
}

// Running reports whether the instance's task runs.
func (f *Runtime) Running(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	return ok && c.running
}

// Exists reports whether the instance has a container.
func (f *Runtime) Exists(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.ctrs[id]
	return ok
}

// Count is how many containers exist.
func (f *Runtime) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ctrs)
}

// Network is a fake netns.Network.
type Network struct {
	mu      sync.Mutex
	Subnets []netip.Prefix
	atts    map[string]netns.Attachment
	fail    map[string][]error
}

var _ netns.Network = (*Network)(nil)

// NewNetwork returns an empty fake network.
func NewNetwork() *Network {
	return &Network{atts: map[string]netns.Attachment{}, fail: map[string][]error{}}
}

// FailNext makes the next call of op ("attach", "detach") return err.
func (n *Network) FailNext(op string, err error) {
	n.mu.Lock()
	n.fail[op] = append(n.fail[op], err)
	n.mu.Unlock()
}

func (n *Network) failed(op string) error {
	if errs := n.fail[op]; len(errs) > 0 {
		n.fail[op] = errs[1:]
		return errs[0]
	}
	return nil
}

// Setup implements netns.Network.
func (n *Network) Setup(ctx context.Context, subnets []netip.Prefix) error {
	n.mu.Lock()
	n.Subnets = append([]netip.Prefix(nil), subnets...)
	n.mu.Unlock()
	return nil
}

// Attach implements netns.Network.
func (n *Network) Attach(ctx context.Context, id string, addr netip.Prefix, mac net.HardwareAddr) (netns.Attachment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.failed("attach"); err != nil {
		return netns.Attachment{}, err
	}
	for oid, a := range n.atts {
		if oid != id && a.Address.Addr() == addr.Addr() {
			return netns.Attachment{}, fmt.Errorf("fake network: %s already holds %s", oid, addr)
		}
	}
	a := netns.Attachment{ID: id, NetNSPath: "/var/run/netns/kiln-" + id, Address: addr, MAC: mac, HostVeth: "kv" + id[2:min(len(id), 13)]}
	n.atts[id] = a
	return a, nil
}

// Detach implements netns.Network.
func (n *Network) Detach(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.failed("detach"); err != nil {
		return err
	}
	delete(n.atts, id)
	return nil
}

// List implements netns.Network.
func (n *Network) List(ctx context.Context) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.atts))
	for id := range n.atts {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

// Teardown implements netns.Network.
func (n *Network) Teardown(ctx context.Context) error {
	n.mu.Lock()
	n.atts = map[string]netns.Attachment{}
	n.mu.Unlock()
	return nil
}

// Attachment returns an instance's attachment.
func (n *Network) Attachment(id string) (netns.Attachment, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.atts[id]
	return a, ok
}

// Inject adds an attachment as if made by an earlier process (orphans).
func (n *Network) Inject(id string) {
	n.mu.Lock()
	n.atts[id] = netns.Attachment{ID: id}
	n.mu.Unlock()
}

package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/store"
)

// DefaultSubnets are the default subnets every account's default VPC has
// (the bridge holds their gateways).
var DefaultSubnets = []netip.Prefix{
	netip.MustParsePrefix("172.31.0.0/20"),
	netip.MustParsePrefix("172.31.16.0/20"),
	netip.MustParsePrefix("172.31.32.0/20"),
}

// Config configures a Controller.
type Config struct {
	Store   store.Store
	Runtime runtime.Runtime
	Network netns.Network
	Blobs   blob.Regions
	Clock   clock.Clock
	Log     *slog.Logger
	// DataDir holds the consoles: <DataDir>/console/<id>.log.
	DataDir string
	// InitPath is the kiln binary mounted into instances as PID 1
	// (default: os.Executable()).
	InitPath string
	// InitArgs, when set, is PID 1's command line for instances booted by
	// kiln's init (default: the runtime's [InitTarget, "init"]).
	InitArgs []string
	// Mounts are extra bind mounts into every instance (e.g. resolv.conf).
	Mounts []runtime.Mount
	// Subnets are set up on the bridge at Start (default DefaultSubnets).
	Subnets []netip.Prefix
	// StopGrace is how long a stop waits for PID 1 after SIGTERM
	// (default 10 s; Force stops use 0).
	StopGrace time.Duration
	// Workers bounds concurrent side effects (default 16).
	Workers int
	// Tick is how often the loop looks for due work (retries, expiry)
	// without being kicked (default 1 s).
	Tick time.Duration
	// BeforeDelete, when set, runs before a terminating instance's
	// container is deleted (EBS settles its volumes: captures a root
	// volume that outlives the instance). It may run again after a crash.
	BeforeDelete func(ctx context.Context, r Record) error
	// BeforeStart, when set, runs before every boot, once the container
	// exists (EBS attaches the volumes the launch mapped, so that they
	// are there when the instance boots).
	BeforeStart func(ctx context.Context, r Record) error
	// Keys unseals encrypted layers on behalf of the instance's account
	// (nil: encrypted images cannot launch).
	Keys func(account, region string) seal.Keyring
}

// Controller drives instances' runtime and network from their records.
type Controller struct {
	cfg Config
	st  store.Store
	rt  runtime.Runtime
	nn  netns.Network
	clk clock.Clock
	log *slog.Logger

	wake chan struct{}
	sem  chan struct{}

	mu        sync.Mutex
	known     map[string]store.Key // records the loop tracks (not yet expired)
	dirty     map[string]bool      // kicked since last looked at
	busy      map[string]bool      // a worker runs for it
	verify    map[string]bool      // not checked against the runtime since Start
	due       map[string]time.Time // look again at this time
	watch     map[string]*watcher  // exit watchers of running tasks
	listeners []func(Record)
	started   bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type watcher struct{ cancel context.CancelFunc }

// New returns a controller; Start reconciles and starts its loop.
func New(cfg Config) (*Controller, error) {
	if cfg.Store == nil || cfg.Runtime == nil || cfg.Network == nil {
		return nil, errors.New("instance: store, runtime and network are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.InitPath == "" {
		p, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("instance: kiln binary: %w", err)
		}
		cfg.InitPath = p
	}
	if cfg.Subnets == nil {
		cfg.Subnets = DefaultSubnets
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Controller{
		cfg: cfg, st: cfg.Store, rt: cfg.Runtime, nn: cfg.Network, clk: cfg.Clock, log: cfg.Log,
		wake: make(chan struct{}, 1), sem: make(chan struct{}, cfg.Workers),
		known: map[string]store.Key{}, dirty: map[string]bool{}, busy: map[string]bool{},
		verify: map[string]bool{}, due: map[string]time.Time{}, watch: map[string]*watcher{},
		ctx: ctx, cancel: cancel,
	}, nil
}

// ConsolePath is the host file holding the instance's console.
func (c *Controller) ConsolePath(id string) string {
	return filepath.Join(c.cfg.DataDir, "console", id+".log")
}

// OnChange registers fn to be called after the loop writes a record (the
// metadata service's cache listens).
func (c *Controller) OnChange(fn func(Record)) {
	c.mu.Lock()
	c.listeners = append(c.listeners, fn)
	c.mu.Unlock()
}

func (c *Controller) changed(r Record) {
	c.mu.Lock()
	ls := c.listeners
	c.mu.Unlock()
	for _, fn := range ls {
		fn(r)
	}
}

// Start sets up the bridge, reconciles the records with the runtime and
// the network (crash recovery) and starts the loop. Instances keep running
// across restarts: nothing here stops a task that a record wants running.
func (c *Controller) Start(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(c.cfg.DataDir, "console"), 0o700); err != nil {
		return fmt.Errorf("instance: console dir: %w", err)
	}
	if err := c.nn.Setup(ctx, c.cfg.Subnets); err != nil {
		return fmt.Errorf("instance: network setup: %w", err)
	}
	if err := c.reconcile(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	c.wg.Add(1)
	go c.loop()
	c.poke()
	return nil
}

// Close stops the loop and the exit watchers; instances keep running.
func (c *Controller) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// Kick tells the loop that records changed (the API wrote them).
func (c *Controller) Kick(keys ...store.Key) {
	c.mu.Lock()
	for _, k := range keys {
		c.known[k.ID] = k
		c.dirty[k.ID] = true
	}
	c.mu.Unlock()
	c.poke()
}

func (c *Controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Idle waits until the loop has no work left that is due now (tests).
func (c *Controller) Idle(ctx context.Context) error {
	for {
		c.mu.Lock()
		idle := len(c.dirty) == 0 && len(c.busy) == 0
		c.mu.Unlock()
		if c.ctx.Err() != nil {
			return nil // closed: no loop to wait for
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// Tick marks due records dirty now instead of waiting for the ticker
// (tests that advance a fake clock).
func (c *Controller) Tick() {
	c.markDue()
	c.poke()
}

func (c *Controller) loop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.markDue()
		case <-c.wake:
		}
		c.dispatch()
	}
}

func (c *Controller) markDue() {
	now := c.clk.Now()
	c.mu.Lock()
	for id, t := range c.due {
		if !now.Before(t) {
			delete(c.due, id)
			c.dirty[id] = true
		}
	}
	c.mu.Unlock()
}

// dispatch starts a worker for every dirty record without one; a record
// kicked while its worker runs is looked at again by that worker.
func (c *Controller) dispatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return
	}
	for id := range c.dirty {
		if c.busy[id] {
			continue
		}
		delete(c.dirty, id)
		key, ok := c.known[id]
		if !ok {
			continue
		}
		c.busy[id] = true
		c.wg.Add(1)
		go c.work(key)
	}
}

func (c *Controller) work(key store.Key) {
	defer c.wg.Done()
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		c.mu.Lock()
		delete(c.busy, key.ID)
		c.mu.Unlock()
		return
	}
	defer func() { <-c.sem }()
	for {
		again := c.process(key)
		c.mu.Lock()
		if again || c.dirty[key.ID] {
			delete(c.dirty, key.ID)
			c.mu.Unlock()
			if c.ctx.Err() != nil {
				c.mu.Lock()
				delete(c.busy, key.ID)
				c.mu.Unlock()
				return
			}
			continue
		}
		delete(c.busy, key.ID)
		c.mu.Unlock()
		return
	}
}

// process performs the record's next action and records its outcome; it
// reports whether there may be more to do right away.
func (c *Controller) process(key store.Key) bool {
	ctx := c.ctx
	var r Record
	err := c.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = store.GetJSON[Record](tx, key)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		c.forget(key.ID)
		return false
	} else if err != nil {
		if ctx.Err() == nil {
			c.log.Error("instance: read record", "id", key.ID, "err", err)
			c.schedule(key.ID, c.clk.Now().Add(time.Second))
		}
		return false
	}
	c.mu.Lock()
	verify := c.verify[key.ID]
	c.mu.Unlock()
	now := c.clk.Now()
	act := Next(r, now, verify)
	if act == None {
		c.schedule(key.ID, Due(r))
		return false
	}
	serr := c.perform(ctx, r, act)
	if ctx.Err() != nil {
		return false // shutting down; the next start resumes
	}
	c.mu.Lock()
	delete(c.verify, key.ID)
	c.mu.Unlock()
	now = c.clk.Now()
	var nr Record
	var wrote bool
	var freshState string
	uerr := c.st.Update(ctx, func(tx store.Tx) error {
		fresh, err := store.GetJSON[Record](tx, key)
		if err != nil {
			return err
		}
		freshState = fresh.State
		if act == Expire {
			wrote = true
			return c.expire(tx, fresh)
		}
		switch {
		case errors.Is(serr, errVanished):
			nr, wrote = Vanished(fresh, now)
		case serr != nil:
			nr, wrote = Fail(fresh, act, r.State, serr, now)
		default:
			nr, wrote = Complete(fresh, act, r.State, r.Reboots, now)
		}
		if !wrote {
			return nil
		}
		if nr.State == Terminated && fresh.State != Terminated {
			if err := ReleaseAddress(tx, nr.PrivateIP, nr.ID); err != nil {
				return err
			}
		}
		nr.Version++
		return store.PutJSON(tx, key, "", nr)
	})
	if uerr != nil {
		if errors.Is(uerr, store.ErrNotFound) {
			c.forget(key.ID)
			return false
		}
		c.log.Error("instance: record transition", "id", key.ID, "action", act, "err", uerr)
		c.schedule(key.ID, now.Add(time.Second))
		return false
	}
	if serr != nil && !errors.Is(serr, errVanished) {
		c.log.Warn("instance: side effect failed", "id", key.ID, "action", act, "err", serr)
	}
	if act == Expire {
		_ = os.Remove(c.ConsolePath(key.ID))
		c.forget(key.ID)
		return false
	}
	if wrote {
		c.changed(nr)
		if nr.Failures > 0 && nr.State == r.State {
			c.schedule(key.ID, Due(nr))
			return false
		}
		return true
	}
	// Nothing to record, or the record moved on while we worked (then
	// look again).
	return freshState != r.State
}

func (c *Controller) schedule(id string, t time.Time) {
	if t.IsZero() {
		return
	}
	c.mu.Lock()
	if old, ok := c.due[id]; !ok || t.Before(old) {
		c.due[id] = t
	}
	c.mu.Unlock()
}

func (c *Controller) forget(id string) {
	c.mu.Lock()
	delete(c.known, id)
	delete(c.due, id)
	delete(c.verify, id)
	delete(c.dirty, id)
	c.mu.Unlock()
	c.unwatch(id)
}

// expire removes a terminated record, its tags and its client token.
func (c *Controller) expire(tx store.Tx, r Record) error {
	if r.ClientToken != "" {
		k := store.Key{Account: r.Account, Region: r.Region, Kind: TokenKind, ID: r.ClientToken}
		if err := tx.Delete(k); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return tx.Delete(store.Key{Account: r.Account, Region: r.Region, Kind: Kind, ID: r.ID})
}

package ebs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/store"
)

// Holder gives the manager an instance to itself for a capture: the
// instance controller leaves it alone while fn runs. With stop, a running
// instance's task is stopped first and booted again afterwards (the
// reboot of CreateImage); running tells fn whether the instance's task
// runs.
type Holder interface {
	Hold(ctx context.Context, account, region, instanceID string, stop bool, fn func(ctx context.Context, running bool) error) error
}

// Keys gives keyrings over kiln's KMS.
type Keys interface {
	// Keyring wraps data keys under keyARN and unwraps any data key, on
	// behalf of account in region (its KMS permissions apply). keyARN may
	// be empty for a keyring that only unwraps.
	Keyring(account, region, keyARN string) seal.Keyring
}

// Config configures a Manager.
type Config struct {
	Store store.Store
	Blobs blob.Regions
	// Runtime and Holder may be given later with Use (kiln starts the
	// instance runtime after the API); Capturer and Volumer are used when
	// the runtime implements them.
	Runtime runtime.Runtime
	Holder  Holder
	Keys    Keys
	Clock   clock.Clock
	Log     *slog.Logger
	// Workers bounds concurrent snapshot work (default 2).
	Workers int
	// Tick is how often the manager looks for work without being kicked
	// (default 2 s).
	Tick time.Duration
}

// Manager performs pending snapshot and volume work.
type Manager struct {
	cfg Config
	st  store.Store
	clk clock.Clock
	log *slog.Logger

	wake chan struct{}
	sem  chan struct{}

	mu      sync.Mutex
	rt      runtime.Runtime
	holder  Holder
	running map[string]bool      // snapshot or volume IDs with a worker
	since   map[string]time.Time // when each working worker began (host clock)
	idle    *sync.Cond

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a manager; Start runs it.
func New(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 2 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg: cfg, st: cfg.Store, clk: cfg.Clock, log: cfg.Log,
		wake: make(chan struct{}, 1), sem: make(chan struct{}, cfg.Workers),
		running: map[string]bool{}, since: map[string]time.Time{}, ctx: ctx, cancel: cancel,
		rt: cfg.Runtime, holder: cfg.Holder,
	}
	m.idle = sync.NewCond(&m.mu)
	return m
}

// Use gives the manager the instance runtime and the instance controller.
func (m *Manager) Use(rt runtime.Runtime, h Holder) {
	m.mu.Lock()
	m.rt, m.holder = rt, h
	m.mu.Unlock()
	m.reattach()
	m.Kick()
}

// reattach mounts again every attached data volume (attachments are host
// mounts: a host reboot loses them; attaching is idempotent).
func (m *Manager) reattach() {
	vr, err := m.volumer()
	if err != nil {
		return
	}
	var vols []Volume
	err = m.st.View(m.ctx, func(tx store.Tx) error {
		for _, reg := range region.All {
			vs, err := store.ListJSON[Volume](tx, store.Query{AllAccounts: true, Region: reg.Name, Kind: VolumeKind})
			if err != nil {
				return err
			}
			for _, v := range vs {
				if !v.Root && v.Attachment != nil && v.Attachment.State == Attached {
					vols = append(vols, v)
				}
			}
		}
		return nil
	})
	if err != nil {
		m.log.Warn("ebs: list attachments", "err", err)
		return
	}
	for _, v := range vols {
		if err := m.materialize(m.ctx, vr, v); err != nil {
			m.log.Warn("ebs: reattach", "volume", v.ID, "err", err)
			continue
		}
		if err := vr.AttachVolume(m.ctx, v.Attachment.InstanceID, v.ID, MountName(v.Attachment.Device)); err != nil {
			m.log.Warn("ebs: reattach", "volume", v.ID, "instance", v.Attachment.InstanceID, "err", err)
		}
	}
}

// deps returns the runtime and holder (nil before Use).
func (m *Manager) deps() (runtime.Runtime, Holder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rt, m.holder
}

// Start runs the loop; pending work left by an earlier process resumes.
func (m *Manager) Start() {
	m.wg.Add(1)
	go m.loop()
	m.Kick()
}

// Close stops the loop and waits for running work to stop (interrupted
// work stays pending and resumes at the next Start).
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	return nil
}

// Kick tells the manager that pending work was written.
func (m *Manager) Kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) loop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Tick)
	defer t.Stop()
	for {
		m.dispatch()
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
		}
	}
}

// pending lists the snapshots and volumes that have work to do.
func (m *Manager) pending(ctx context.Context) (snaps []Snapshot, vols []Volume, err error) {
	err = m.st.View(ctx, func(tx store.Tx) error {
		for _, reg := range region.All {
			ss, err := store.ListJSON[Snapshot](tx, store.Query{AllAccounts: true, Region: reg.Name, Kind: SnapshotKind})
			if err != nil {
				return err
			}
			for _, s := range ss {
				if s.State == SnapshotPending && s.Work != nil {
					snaps = append(snaps, s)
				}
			}
			vs, err := store.ListJSON[Volume](tx, store.Query{AllAccounts: true, Region: reg.Name, Kind: VolumeKind})
			if err != nil {
				return err
			}
			for _, v := range vs {
				if volumeHasWork(v) {
					vols = append(vols, v)
				}
			}
		}
		return nil
	})
	return snaps, vols, err
}

func (m *Manager) dispatch() {
	snaps, vols, err := m.pending(m.ctx)
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Error("ebs: list pending work", "err", err)
		}
		return
	}
	for _, s := range snaps {
		m.spawn(s.ID, func(ctx context.Context) { m.runSnapshot(ctx, s) })
	}
	for _, v := range vols {
		m.spawn(v.ID, func(ctx context.Context) { m.runVolume(ctx, v) })
	}
}

// spawn runs fn for id unless a worker already runs for it.
func (m *Manager) spawn(id string, fn func(ctx context.Context)) {
	m.mu.Lock()
	if m.running[id] {
		m.mu.Unlock()
		return
	}
	m.running[id] = true
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.running, id)
			delete(m.since, id)
			m.idle.Broadcast()
			m.mu.Unlock()
			m.Kick() // the outcome may have made other work ready
		}()
		select {
		case m.sem <- struct{}{}:
		case <-m.ctx.Done():
			return
		}
		defer func() { <-m.sem }()
		m.mu.Lock()
		m.since[id] = time.Now()
		m.mu.Unlock()
		fn(m.ctx)
	}()
}

// BusySince returns when the oldest work under way began, by the host's
// clock (the one blob ages are measured with), or the zero time when none
// runs. Work stores blobs before it records them — a copy records its
// layers only once all are copied — so the blob collector keeps every
// blob stored since then, however long the work takes.
func (m *Manager) BusySince() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest time.Time
	for _, t := range m.since {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest
}

// Idle waits until no work is pending or running (tests).
func (m *Manager) Idle(ctx context.Context) error {
	for {
		snaps, vols, err := m.pending(ctx)
		if err != nil {
			return err
		}
		m.mu.Lock()
		busy := len(m.running)
		m.mu.Unlock()
		if len(snaps) == 0 && len(vols) == 0 && busy == 0 {
			return nil
		}
		m.Kick()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (m *Manager) region(name string) (blob.Store, error) {
	bs, err := m.cfg.Blobs.Region(name)
	if err != nil {
		return nil, fmt.Errorf("ebs: blob store of %s: %w", name, err)
	}
	return bs, nil
}

// keyring is the keyring for account in region sealing under keyARN (nil
// when nothing is sealed or unsealed: no key and no Keys).
func (m *Manager) keyring(account, region, keyARN string) seal.Keyring {
	if m.cfg.Keys == nil {
		return nil
	}
	return m.cfg.Keys.Keyring(account, region, keyARN)
}

// RuntimeLayers turns stored layers into runtime layers that read (and
// unseal, on behalf of account) from region's blob store.
func RuntimeLayers(bs blob.Store, kr seal.Keyring, layers []blob.Layer) []runtime.Layer {
	out := make([]runtime.Layer, len(layers))
	for i, l := range layers {
		out[i] = runtime.Layer{
			Digest: l.Digest, Size: l.Size,
			Open: func(ctx context.Context) (io.ReadCloser, error) { return seal.OpenLayer(ctx, bs, l, kr) },
		}
	}
	return out
}

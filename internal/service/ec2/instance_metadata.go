package ec2

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/imds"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// MetadataSource is the metadata service's view of instances: who is
// behind a private address. Call it after EnableInstances.
func (s *Service) MetadataSource() imds.Source {
	if s.inst == nil || s.inst.md == nil {
		return newMetadataCache(s)
	}
	return s.inst.md
}

// metadataTTL bounds how stale a cached answer can be. Writes by the EC2
// API and the controller invalidate entries at once; the TTL covers what
// they do not see (tags changed by CreateTags/DeleteTags).
const metadataTTL = time.Second

// metadataCache answers InstanceByIP from memory on the hot path (the
// metadata service serves ≥ 10k requests/s); misses read the address
// lease, the instance record and its tags in one read transaction.
type metadataCache struct {
	s  *Service
	mu sync.RWMutex
	m  map[netip.Addr]mdEntry
}

type mdEntry struct {
	inst *imds.Instance // nil: no instance has the address
	at   time.Time
}

func newMetadataCache(s *Service) *metadataCache {
	return &metadataCache{s: s, m: map[netip.Addr]mdEntry{}}
}

func (c *metadataCache) invalidate(ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	c.mu.Lock()
	delete(c.m, a)
	c.mu.Unlock()
}

// InstanceByIP implements imds.Source. The returned Instance is shared and
// must not be modified.
func (c *metadataCache) InstanceByIP(ctx context.Context, ip netip.Addr) (*imds.Instance, error) {
	ip = ip.Unmap()
	c.mu.RLock()
	e, ok := c.m[ip]
	c.mu.RUnlock()
	if !ok || time.Since(e.at) > metadataTTL {
		inst, err := c.s.lookupByIP(ctx, ip)
		if err != nil {
			return nil, err
		}
		e = mdEntry{inst: inst, at: time.Now()}
		c.mu.Lock()
		if len(c.m) > 65536 {
			c.m = map[netip.Addr]mdEntry{}
		}
		c.m[ip] = e
		c.mu.Unlock()
	}
	if e.inst == nil {
		return nil, imds.ErrUnknownCaller
	}
	return e.inst, nil
}

// lookupByIP builds the metadata of the instance holding ip (nil when
// none does).
func (s *Service) lookupByIP(ctx context.Context, ip netip.Addr) (*imds.Instance, error) {
	var out *imds.Instance
	err := s.st.View(ctx, func(tx store.Tx) error {
		l, err := instance.LeaseOf(tx, ip.String())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		sc := scope{account: l.Account, region: l.Region}
		r, err := store.GetJSON[instance.Record](tx, sc.key(instance.Kind, l.Instance))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if r.State == instance.Terminated || r.PrivateIP != ip.String() {
			return nil
		}
		tags, err := loadTags(tx, sc, []string{r.ID})
		if err != nil {
			return err
		}
		out = metadataOf(r, tags.of(r.ID))
		return nil
	})
	return out, err
}

func metadataOf(r instance.Record, tags []ec2api.Tag) *imds.Instance {
	inst := &imds.Instance{
		ID: r.ID, ImageID: r.ImageID, InstanceType: r.InstanceType, AccountID: r.Account, Region: r.Region,
		AvailabilityZone: r.AZ, ReservationID: r.ReservationID, LaunchIndex: int(r.LaunchIndex),
		Hostname: instance.DNSName(r.PrivateIP, r.Region), LocalIPv4: r.PrivateIP, MAC: r.MAC,
		VPCID: r.VpcID, SubnetID: r.SubnetID, SubnetCIDR: r.SubnetCIDR, VPCCIDR: r.VpcCIDR,
		BlockDevices: map[string]string{"ami": r.RootDevice, "root": r.RootDevice},
		UserData:     r.UserData, LaunchTime: r.LaunchTime, Architecture: r.Architecture,
		Options: imds.Options{
			HTTPEndpoint:   r.Metadata.HTTPEndpoint != "disabled",
			TokensRequired: r.Metadata.HTTPTokens == "required",
			HopLimit:       int(r.Metadata.HopLimit),
			Tags:           r.Metadata.Tags == "enabled",
		},
	}
	for _, g := range r.Groups {
		inst.SecurityGroups = append(inst.SecurityGroups, g.Name)
		inst.SecurityGroupIDs = append(inst.SecurityGroupIDs, g.ID)
	}
	if r.KeyName != "" {
		inst.PublicKeys = []imds.PublicKey{{Name: r.KeyName, OpenSSH: r.PublicKey}}
	}
	if len(tags) > 0 {
		inst.Tags = make(map[string]string, len(tags))
		for _, t := range tags {
			inst.Tags[t.Key] = t.Value
		}
	}
	return inst
}

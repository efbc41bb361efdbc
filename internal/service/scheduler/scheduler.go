// Package scheduler implements kiln's EventBridge Scheduler API: schedule
// groups today (every account and region has the group "default"),
// schedules with the Image Builder and scheduling work.
package scheduler

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/schedulerapi"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/reqctx"
	"github.com/kiln-dev/kiln/internal/store"
)

const kindGroup = "schedule-group"

// DefaultGroup exists in every account and region and cannot be deleted.
const DefaultGroup = "default"

type group struct {
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
}

// Service is the Scheduler API.
type Service struct {
	st    store.Store
	clock clock.Clock
}

var _ schedulerapi.Handler = (*Service)(nil)

// New returns the Scheduler service.
func New(st store.Store, clk clock.Clock) *Service { return &Service{st: st, clock: clk} }

type scope struct{ account, region string }

func scopeOf(ctx context.Context) scope {
	c := reqctx.Must(ctx)
	return scope{c.AccountID, c.Region}
}

func (sc scope) key(name string) store.Key {
	return store.Key{Account: sc.account, Region: sc.region, Kind: kindGroup, ID: name}
}

func (sc scope) arn(name string) string {
	return "arn:aws:scheduler:" + sc.region + ":" + sc.account + ":schedule-group/" + name
}

func notFound(name string) error {
	return awserr.New(awserr.NotFound, "ResourceNotFoundException", "Schedule group %s does not exist.", name)
}

// ensureDefault creates the default group the first time it is needed.
func (s *Service) ensureDefault(ctx context.Context, sc scope) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(sc.key(DefaultGroup)); err == nil || !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.clock.Now()
		return store.CreateJSON(tx, sc.key(DefaultGroup), "", group{Name: DefaultGroup, Created: now, Modified: now})
	})
}

// CreateScheduleGroup creates a group.
func (s *Service) CreateScheduleGroup(ctx context.Context, in *schedulerapi.CreateScheduleGroupInput) (*schedulerapi.CreateScheduleGroupOutput, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefault(ctx, sc); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := store.CreateJSON(tx, sc.key(in.Name), "", group{Name: in.Name, Created: now, Modified: now}); err != nil {
			return err
		}
		for _, t := range in.Tags {
			if err := tx.PutTag(store.Tag{Account: sc.account, Region: sc.region, ResourceID: in.Name, ResourceType: kindGroup, Key: t.Key, Value: t.Value}); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, awserr.New(awserr.AlreadyExists, "ConflictException", "Schedule group %s already exists.", in.Name)
	}
	if err != nil {
		return nil, err
	}
	return &schedulerapi.CreateScheduleGroupOutput{ScheduleGroupArn: sc.arn(in.Name)}, nil
}

// GetScheduleGroup describes a group.
func (s *Service) GetScheduleGroup(ctx context.Context, in *schedulerapi.GetScheduleGroupInput) (*schedulerapi.GetScheduleGroupOutput, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefault(ctx, sc); err != nil {
		return nil, err
	}
	var g group
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		g, err = store.GetJSON[group](tx, sc.key(in.Name))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(in.Name)
	}
	if err != nil {
		return nil, err
	}
	return &schedulerapi.GetScheduleGroupOutput{Name: g.Name, Arn: sc.arn(g.Name), State: "ACTIVE", CreationDate: &g.Created, LastModificationDate: &g.Modified}, nil
}

// ListScheduleGroups lists groups by name prefix, paginated.
func (s *Service) ListScheduleGroups(ctx context.Context, in *schedulerapi.ListScheduleGroupsInput) (*schedulerapi.ListScheduleGroupsOutput, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefault(ctx, sc); err != nil {
		return nil, err
	}
	q := store.Query{Account: sc.account, Region: sc.region, Kind: kindGroup}
	if in.NextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, awserr.New(awserr.InvalidArgument, "ValidationException", "Invalid next token.")
		}
		q.After = string(after)
	}
	limit := 100
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	out := &schedulerapi.ListScheduleGroupsOutput{ScheduleGroups: []schedulerapi.ScheduleGroupSummary{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		groups, err := store.ListJSON[group](tx, q)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if !strings.HasPrefix(g.Name, in.NamePrefix) {
				continue
			}
			if len(out.ScheduleGroups) == limit {
				last := out.ScheduleGroups[limit-1].Name
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(last))
				break
			}
			g := g
			out.ScheduleGroups = append(out.ScheduleGroups, schedulerapi.ScheduleGroupSummary{
				Name: g.Name, Arn: sc.arn(g.Name), State: "ACTIVE", CreationDate: &g.Created, LastModificationDate: &g.Modified,
			})
		}
		return nil
	})
	return out, err
}

// DeleteScheduleGroup deletes a group (the default group cannot be).
func (s *Service) DeleteScheduleGroup(ctx context.Context, in *schedulerapi.DeleteScheduleGroupInput) (*schedulerapi.DeleteScheduleGroupOutput, error) {
	sc := scopeOf(ctx)
	if in.Name == DefaultGroup {
		return nil, awserr.New(awserr.InvalidArgument, "ValidationException", "The default schedule group cannot be deleted.")
	}
	err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(sc.key(in.Name)) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(in.Name)
	}
	if err != nil {
		return nil, err
	}
	return &schedulerapi.DeleteScheduleGroupOutput{}, nil
}

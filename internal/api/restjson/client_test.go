package restjson

import (
	"context"
	"errors"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kiln-dev/kiln/internal/api/codectest"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/schedulerapi"
)

// fakeScheduler keeps schedule groups in memory.
type fakeScheduler struct {
	mu     sync.Mutex
	groups map[string]schedulerapi.ScheduleGroupSummary
	tokens []string
}

var created = time.Date(2026, 11, 1, 12, 0, 0, 500e6, time.UTC)

func (f *fakeScheduler) CreateScheduleGroup(_ context.Context, in *schedulerapi.CreateScheduleGroupInput) (*schedulerapi.CreateScheduleGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, in.ClientToken)
	if _, ok := f.groups[in.Name]; ok {
		return nil, awserr.New(awserr.AlreadyExists, "ConflictException", "Schedule group %s already exists.", in.Name)
	}
	arn := "arn:aws:scheduler:us-east-1:000000000000:schedule-group/" + in.Name
	f.groups[in.Name] = schedulerapi.ScheduleGroupSummary{Arn: arn, Name: in.Name, State: "ACTIVE", CreationDate: &created, LastModificationDate: &created}
	return &schedulerapi.CreateScheduleGroupOutput{ScheduleGroupArn: arn}, nil
}

func (f *fakeScheduler) GetScheduleGroup(_ context.Context, in *schedulerapi.GetScheduleGroupInput) (*schedulerapi.GetScheduleGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[in.Name]
	if !ok {
		return nil, awserr.New(awserr.NotFound, "ResourceNotFoundException", "Schedule group %s does not exist.", in.Name)
	}
	return &schedulerapi.GetScheduleGroupOutput{Arn: g.Arn, Name: g.Name, State: g.State, CreationDate: g.CreationDate, LastModificationDate: g.LastModificationDate}, nil
}

func (f *fakeScheduler) ListScheduleGroups(_ context.Context, in *schedulerapi.ListScheduleGroupsInput) (*schedulerapi.ListScheduleGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &schedulerapi.ListScheduleGroupsOutput{ScheduleGroups: []schedulerapi.ScheduleGroupSummary{}}
	for name, g := range f.groups {
		if strings.HasPrefix(name, in.NamePrefix) {
			out.ScheduleGroups = append(out.ScheduleGroups, g)
		}
	}
	sort.Slice(out.ScheduleGroups, func(i, j int) bool { return out.ScheduleGroups[i].Name < out.ScheduleGroups[j].Name })
	if in.MaxResults != nil && int(*in.MaxResults) < len(out.ScheduleGroups) {
		out.ScheduleGroups = out.ScheduleGroups[:*in.MaxResults]
		out.NextToken = "more"
	}
	return out, nil
}

func (f *fakeScheduler) DeleteScheduleGroup(_ context.Context, in *schedulerapi.DeleteScheduleGroupInput) (*schedulerapi.DeleteScheduleGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.groups[in.Name]; !ok {
		return nil, awserr.New(awserr.NotFound, "ResourceNotFoundException", "Schedule group %s does not exist.", in.Name)
	}
	delete(f.groups, in.Name)
	return &schedulerapi.DeleteScheduleGroupOutput{}, nil
}

func TestSchedulerGoSDK(t *testing.T) {
	fake := &fakeScheduler{groups: map[string]schedulerapi.ScheduleGroupSummary{}}
	s := &codectest.Server{Codec: RestJSON, Svc: sched, Handlers: schedulerapi.Handlers(fake)}
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := scheduler.New(scheduler.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(ts.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 3,
	})
	ctx := context.Background()

	cr, err := c.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{
		Name: aws.String("nightly"),
		Tags: []schedtypes.Tag{{Key: aws.String("team"), Value: aws.String("ops")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cr.ScheduleGroupArn) != "arn:aws:scheduler:us-east-1:000000000000:schedule-group/nightly" {
		t.Errorf("arn %q", aws.ToString(cr.ScheduleGroupArn))
	}
	if len(fake.tokens) != 1 || fake.tokens[0] == "" {
		t.Errorf("idempotency token not decoded from the body: %q", fake.tokens)
	}
	if _, err := c.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String("weekly")}); err != nil {
		t.Fatal(err)
	}

	// Conflict (409).
	s.ResetCalls()
	_, err = c.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String("nightly")})
	var conflict *schedtypes.ConflictException
	if !errors.As(err, &conflict) || !strings.Contains(conflict.ErrorMessage(), "already exists") {
		t.Fatalf("conflict err = %T %v", err, err)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 409 || s.Calls() != 1 {
		t.Errorf("conflict: status/calls %v %d", err, s.Calls())
	}

	g, err := c.GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String("nightly")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(g.Name) != "nightly" || g.State != schedtypes.ScheduleGroupStateActive || !g.CreationDate.Equal(created) {
		t.Errorf("get %+v (created %v)", g, g.CreationDate)
	}

	l, err := c.ListScheduleGroups(ctx, &scheduler.ListScheduleGroupsInput{MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.ScheduleGroups) != 1 || aws.ToString(l.ScheduleGroups[0].Name) != "nightly" || aws.ToString(l.NextToken) != "more" {
		t.Errorf("list %+v", l)
	}
	l, err = c.ListScheduleGroups(ctx, &scheduler.ListScheduleGroupsInput{NamePrefix: aws.String("w")})
	if err != nil || len(l.ScheduleGroups) != 1 || aws.ToString(l.ScheduleGroups[0].Name) != "weekly" {
		t.Errorf("list prefix %+v %v", l, err)
	}
	l, err = c.ListScheduleGroups(ctx, &scheduler.ListScheduleGroupsInput{})
	if err != nil || len(l.ScheduleGroups) != 2 || l.NextToken != nil {
		t.Errorf("list all %+v %v", l, err)
	}

	if _, err := c.DeleteScheduleGroup(ctx, &scheduler.DeleteScheduleGroupInput{Name: aws.String("nightly")}); err != nil {
		t.Fatal(err)
	}

	// Not found (404) is the modelled type for Get and Delete.
	s.ResetCalls()
	_, err = c.GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String("nightly")})
	var nf *schedtypes.ResourceNotFoundException
	if !errors.As(err, &nf) || nf.ErrorMessage() != "Schedule group nightly does not exist." {
		t.Fatalf("get after delete err = %T %v", err, err)
	}
	if !errors.As(err, &re) || re.HTTPStatusCode() != 404 || s.Calls() != 1 {
		t.Errorf("not found: %v calls %d", err, s.Calls())
	}
	_, err = c.DeleteScheduleGroup(ctx, &scheduler.DeleteScheduleGroupInput{Name: aws.String("nightly")})
	if !errors.As(err, &nf) {
		t.Fatalf("delete after delete err = %T %v", err, err)
	}

	// Validation error from the model (name pattern) is a ValidationException.
	_, err = c.GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String("bad name!")})
	var ve *schedtypes.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("validation err = %T %v", err, err)
	}

	// Unimplemented operation: 4xx, not retried.
	s.ResetCalls()
	_, err = c.ListSchedules(ctx, &scheduler.ListSchedulesInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" || s.Calls() != 1 {
		t.Errorf("unimplemented err = %T %v calls %d", err, err, s.Calls())
	}
}

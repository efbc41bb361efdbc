// Package cloudwatch implements kiln's CloudWatch API. Today it lists the
// metrics recorded in the store; publishing, statistics, alarms and
// dashboards arrive with the CloudWatch issue.
package cloudwatch

import (
	"context"
	"encoding/base64"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudwatchapi"
	"github.com/kiln-dev/kiln/internal/reqctx"
	"github.com/kiln-dev/kiln/internal/store"
)

// KindMetric is the store kind of a metric's identity (namespace, name,
// dimensions); its ID is the canonical encoding of the three.
const KindMetric = "metric"

// Metric is a stored metric identity.
type Metric struct {
	Namespace  string                    `json:"namespace"`
	Name       string                    `json:"name"`
	Dimensions []cloudwatchapi.Dimension `json:"dimensions,omitempty"`
}

// Service is the CloudWatch API.
type Service struct{ st store.Store }

var _ cloudwatchapi.Handler = (*Service)(nil)

// New returns the CloudWatch service.
func New(st store.Store) *Service { return &Service{st: st} }

const pageSize = 500

// ListMetrics lists metrics by namespace, name and dimension filters, 500
// per page as AWS does.
func (s *Service) ListMetrics(ctx context.Context, in *cloudwatchapi.ListMetricsInput) (*cloudwatchapi.ListMetricsOutput, error) {
	c := reqctx.Must(ctx)
	q := store.Query{Account: c.AccountID, Region: c.Region, Kind: KindMetric}
	if in.NextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidNextToken", "The service cannot find the resource specified by the next token")
		}
		q.After = string(after)
	}
	out := &cloudwatchapi.ListMetricsOutput{Metrics: []cloudwatchapi.Metric{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		recs, err := tx.List(q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			m, err := store.GetJSON[Metric](tx, r.Key)
			if err != nil {
				return err
			}
			if !matches(m, in) {
				continue
			}
			if len(out.Metrics) == pageSize {
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(r.ID))
				break
			}
			out.Metrics = append(out.Metrics, cloudwatchapi.Metric{Namespace: m.Namespace, MetricName: m.Name, Dimensions: m.Dimensions})
		}
		return nil
	})
	return out, err
}

func matches(m Metric, in *cloudwatchapi.ListMetricsInput) bool {
	if in.Namespace != "" && m.Namespace != in.Namespace || in.MetricName != "" && m.Name != in.MetricName {
		return false
	}
	for _, f := range in.Dimensions {
		found := false
		for _, d := range m.Dimensions {
			if d.Name == f.Name && (f.Value == "" || d.Value == f.Value) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

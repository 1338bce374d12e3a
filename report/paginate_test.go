package report

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
)

// stuckHub answers every GetFindings with the same NextToken, as a broken
// server or emulator might; it checks the token is passed back.
type stuckHub struct {
	t     *testing.T
	calls int
}

func (f *stuckHub) GetFindings(_ context.Context, in *securityhub.GetFindingsInput, _ ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error) {
	if f.calls > 0 && aws.ToString(in.NextToken) != "again" {
		f.t.Errorf("call %d: NextToken %q, want %q", f.calls, aws.ToString(in.NextToken), "again")
	}
	f.calls++
	return &securityhub.GetFindingsOutput{NextToken: aws.String("again")}, nil
}

// stuckMetrics does the same for GetMetricData.
type stuckMetrics struct {
	t     *testing.T
	calls int
}

func (f *stuckMetrics) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	if f.calls > 0 && aws.ToString(in.NextToken) != "again" {
		f.t.Errorf("call %d: NextToken %q, want %q", f.calls, aws.ToString(in.NextToken), "again")
	}
	f.calls++
	return &cloudwatch.GetMetricDataOutput{NextToken: aws.String("again")}, nil
}

func (f *stuckMetrics) ListMetrics(_ context.Context, in *cloudwatch.ListMetricsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error) {
	if f.calls > 0 && aws.ToString(in.NextToken) != "again" {
		f.t.Errorf("call %d: NextToken %q, want %q", f.calls, aws.ToString(in.NextToken), "again")
	}
	f.calls++
	return &cloudwatch.ListMetricsOutput{NextToken: aws.String("again")}, nil
}

// A server that keeps returning a NextToken, even the same one, is an
// error after the page cap, never a silently truncated report.
func TestPaginationCapOnRepeatedToken(t *testing.T) {
	hub := &stuckHub{t: t}
	_, _, err := FetchFindings(context.Background(), hub, "eu-west-1")
	if err == nil || !strings.Contains(err.Error(), "still more pages") {
		t.Errorf("FetchFindings error = %v, want the page cap", err)
	}
	if hub.calls != maxPages {
		t.Errorf("GetFindings called %d times, want %d", hub.calls, maxPages)
	}

	cw := &stuckMetrics{t: t}
	_, err = getMetricData(context.Background(), cw, nil, time.Unix(0, 0), time.Unix(3600, 0))
	if err == nil || !strings.Contains(err.Error(), "kept returning a NextToken") {
		t.Errorf("getMetricData error = %v, want the page cap", err)
	}
	if cw.calls != 1000 {
		t.Errorf("GetMetricData called %d times, want 1000", cw.calls)
	}

	cw = &stuckMetrics{t: t}
	_, err = fetchAccountActivity(context.Background(), cw, "AutoRemediation", 3600, time.Unix(0, 0), time.Unix(3600, 0))
	if err == nil || !strings.Contains(err.Error(), "ListMetrics kept returning a NextToken") {
		t.Errorf("fetchAccountActivity error = %v, want the page cap", err)
	}
	if cw.calls != maxListPages {
		t.Errorf("ListMetrics called %d times, want %d", cw.calls, maxListPages)
	}
}

package report

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/autoremediate/autoremediate/credentials"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// The activity section reads every remediator that publishes outcomes,
// including the access key deactivation of `report credentials`.
func TestActivityRemediators(t *testing.T) {
	got := ActivityRemediators()
	want := append(remediators.Catalog(remediators.Definitions()).Names(), credentials.Remediator)
	for _, name := range want {
		if n := strings.Count(strings.Join(got, "\n")+"\n", name+"\n"); n != 1 {
			t.Errorf("%s listed %d times in %v, want once", name, n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ActivityRemediators() = %v, want %v", got, want)
	}
}

// fakeMetrics records the time range of each GetMetricData call and
// returns no data.
type fakeMetrics struct {
	t            *testing.T
	calls        int
	start, end   time.Time
	remediatorsQ map[string]bool
}

func (f *fakeMetrics) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.calls++
	f.start, f.end = aws.ToTime(in.StartTime), aws.ToTime(in.EndTime)
	if f.remediatorsQ == nil {
		f.remediatorsQ = map[string]bool{}
	}
	for _, q := range in.MetricDataQueries {
		if q.MetricStat == nil || q.MetricStat.Metric == nil {
			f.t.Errorf("query %s without a metric", aws.ToString(q.Id))
			continue
		}
		for _, d := range q.MetricStat.Metric.Dimensions {
			if aws.ToString(d.Name) == publish.DimensionRemediator {
				f.remediatorsQ[aws.ToString(d.Value)] = true
			}
		}
	}
	return &cloudwatch.GetMetricDataOutput{}, nil
}

// ListMetrics lists nothing: no account has outcomes.
func (f *fakeMetrics) ListMetrics(context.Context, *cloudwatch.ListMetricsInput, ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error) {
	return &cloudwatch.ListMetricsOutput{}, nil
}

// An outcome published in the current minute (a sweep just before the
// report) is stored by CloudWatch at the start of that minute: the period,
// [start, end), must end after it.
func TestGenerateCoversTheCurrentMinute(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 42, 0, time.UTC)
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	cw := &fakeMetrics{t: t}
	g := &Generator{
		Findings: func(string) SecurityHubAPI { return &fakeHub{t: t, pageSize: 100} }, Regions: []string{"us-east-1"},
		Metrics: cw, Namespace: "AutoRemediation", Remediators: ActivityRemediators(), Period: time.Hour, Mapping: m,
		Now: func() time.Time { return now },
	}
	r, err := g.Generate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	minute := now.Truncate(time.Minute)
	if cw.calls == 0 {
		t.Fatal("GetMetricData not called")
	}
	if !cw.end.After(minute) || cw.end.After(minute.Add(time.Minute)) {
		t.Errorf("EndTime %s: want after %s (the current minute's data point) and at most a minute later", cw.end, minute)
	}
	if got := cw.end.Sub(cw.start); got != time.Hour {
		t.Errorf("period %s, want 1h", got)
	}
	if !r.Meta.PeriodEnd.Equal(cw.end) || !r.Activity.End.Equal(cw.end) {
		t.Errorf("report period ends %s / activity %s, want %s (what was queried)", r.Meta.PeriodEnd, r.Activity.End, cw.end)
	}
	if !cw.remediatorsQ[credentials.Remediator] {
		t.Errorf("%s not queried (queried %v)", credentials.Remediator, cw.remediatorsQ)
	}
}

// The "(no control ID)" group is not a control.
func TestSummaryCountsOnlyRealControls(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"S3.8", "", ""}, "across 1 control (plus 2 findings without a control ID) and "},
		{[]string{"S3.8", "EC2.8", "S3.8", ""}, "across 2 controls (plus 1 finding without a control ID) and "},
		{[]string{"S3.8", "EC2.8"}, "across 2 controls and "},
	} {
		var fs []Finding
		for i, id := range tc.ids {
			fs = append(fs, Finding{ID: fmt.Sprint("f", i), Account: "111122223333", Region: "us-east-1", ResourceID: fmt.Sprint("r", i),
				ControlID: id, Title: "t", Severity: SeverityHigh, RecordState: "ACTIVE", ComplianceStatus: "FAILED", ProductName: "GuardDuty"})
		}
		r := Build(fs, m, Activity{Namespace: "AutoRemediation", Start: fixedNow.Add(-time.Hour), End: fixedNow}, Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
		summary := strings.Join(r.ExecutiveSummary(), "\n")
		if !strings.Contains(summary, tc.want) {
			t.Errorf("%q: summary lacks %q:\n%s", tc.ids, tc.want, summary)
		}
		if strings.Contains(summary, "most severe control is (no control ID)") {
			t.Errorf("%q: names the group without control ID as a control:\n%s", tc.ids, summary)
		}
	}

	// The fixture: distinct non-empty control IDs, counted here.
	r := buildFixture(t, loadFixture(t))
	ids := map[string]bool{}
	none := 0
	for _, f := range r.Findings {
		if f.ControlID == "" {
			none++
		} else {
			ids[f.ControlID] = true
		}
	}
	want := fmt.Sprintf("across %d controls (plus %s without a control ID)", len(ids), plural(none, "finding", "findings"))
	if none == 0 || !strings.Contains(r.ExecutiveSummary()[0], want) {
		t.Errorf("summary %q lacks %q", r.ExecutiveSummary()[0], want)
	}
}

func TestActivitySentenceAgreement(t *testing.T) {
	for _, tc := range []struct {
		deferred, manual int
		want             string
	}{
		{1, 1, "1 failed, 1 was deferred and 1 needs manual work."},
		{2, 3, "1 failed, 2 were deferred and 3 need manual work."},
		{0, 1, "1 failed, 0 were deferred and 1 needs manual work."},
	} {
		a := Activity{Namespace: "AutoRemediation", Start: fixedNow.Add(-time.Hour), End: fixedNow, Remediators: []RemediatorActivity{
			{Remediator: credentials.Remediator, Counts: map[remediation.Action]int{remediation.ActionRemediated: 1, remediation.ActionFailed: 1,
				remediation.ActionDeferred: tc.deferred, remediation.ActionNeedsManual: tc.manual}},
		}}
		r := &Report{Activity: a}
		if got := r.activitySentence(); !strings.HasSuffix(got, tc.want) {
			t.Errorf("%q, want it to end with %q", got, tc.want)
		}
	}
}

package dashboard

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/autoremediate/autoremediate/terraform"
)

func metric(ns, name string, dims ...string) cwtypes.Metric {
	m := cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String(name)}
	for i := 0; i+1 < len(dims); i += 2 {
		m.Dimensions = append(m.Dimensions, cwtypes.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
	}
	return m
}

// fakeCW serves ListMetrics from a list (in pages of two) and GetMetricData
// with the value 1 per query at a fixed time, recording what it was asked.
type fakeCW struct {
	t       *testing.T
	metrics []cwtypes.Metric
	asked   []cwtypes.MetricDataQuery
	at      time.Time
}

func (f *fakeCW) ListMetrics(_ context.Context, in *cloudwatch.ListMetricsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error) {
	var all []cwtypes.Metric
	for _, m := range f.metrics {
		if aws.ToString(m.Namespace) == aws.ToString(in.Namespace) && (in.MetricName == nil || aws.ToString(m.MetricName) == aws.ToString(in.MetricName)) {
			all = append(all, m)
		}
	}
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(aws.ToString(in.NextToken))
		if err != nil {
			f.t.Errorf("NextToken %q is not one the fake gave", aws.ToString(in.NextToken))
		}
		start = n
	}
	end := min(start+2, len(all))
	out := &cloudwatch.ListMetricsOutput{Metrics: all[min(start, len(all)):end]}
	if end < len(all) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeCW) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	if !in.StartTime.Before(*in.EndTime) {
		f.t.Errorf("bad time range %v - %v", in.StartTime, in.EndTime)
	}
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		if q.MetricStat == nil || q.Expression != nil {
			f.t.Errorf("query %s is not a plain MetricStat", aws.ToString(q.Id))
		}
		f.asked = append(f.asked, q)
		out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{Id: q.Id, Values: []float64{1}, Timestamps: []time.Time{f.at}})
	}
	return out, nil
}

func TestParseTemplateExpressions(t *testing.T) {
	s, sum, err := parseExpression(`SUM(SEARCH('{"AutoRemediation",Action,Remediator} MetricName="Remediations" (Action="deferred" OR Action="needs-manual")', 'Sum', 300))`)
	if err != nil {
		t.Fatal(err)
	}
	if !sum || s.namespace != "AutoRemediation" || s.metricName != "Remediations" || s.stat != "Sum" || s.period != 300 ||
		len(s.dimensions) != 2 || len(s.terms) != 1 || len(s.terms[0]) != 2 || s.terms[0][1].value != "needs-manual" {
		t.Errorf("parsed %+v sum=%t", s, sum)
	}
	if _, _, err := parseExpression("ANOMALY_DETECTION_BAND(m1)"); err == nil {
		t.Error("unsupported expression accepted")
	}
	// Every expression of the production template parses.
	body, err := terraform.RenderDashboard(Vars{"AutoRemediation", "us-east-1", "fn", "dlq"}.Map())
	if err != nil {
		t.Fatal(err)
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	for _, w := range b.Widgets {
		if _, err := parseMetrics(w.Properties); err != nil {
			t.Errorf("widget %q: %v", w.Properties.Title, err)
		}
	}
}

func TestRenderProductionDashboard(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := &fakeCW{t: t, at: now.Add(-time.Hour), metrics: []cwtypes.Metric{
		metric("AutoRemediation", "Remediations", "Remediator", "s3-encryption", "Action", "remediated"),
		metric("AutoRemediation", "Remediations", "Remediator", "s3-encryption", "Action", "remediated"), // listed twice
		metric("AutoRemediation", "Remediations", "Remediator", "ec2-imdsv2", "Action", "deferred"),
		metric("AutoRemediation", "Remediations", "Remediator", "ebs-encryption", "Action", "failed"),
		metric("AutoRemediation", "Remediations", "Remediator", "ebs-encryption", "Action", "failed", "Extra", "x"), // other schema
		metric("AutoRemediation", "RemediationDuration", "Remediator", "s3-encryption"),
		metric("Other", "Remediations", "Remediator", "s3-encryption", "Action", "failed"),
		// The same outcomes by account: two member accounts.
		metric("AutoRemediation", "Remediations", "Account", "222222222222", "Action", "remediated"),
		metric("AutoRemediation", "Remediations", "Account", "222222222222", "Action", "deferred"),
		metric("AutoRemediation", "Remediations", "Account", "111111111111", "Action", "failed"),
		metric("AutoRemediation", "Remediations", "Account", "111111111111", "Action", "escalated"),
		metric("AutoRemediation", "Remediations", "Account", "111111111111", "Action", "dry-run"),
		metric("AutoRemediation", "Remediations", "Account", "111111111111", "Action", "compliant"),
	}}
	body, err := terraform.RenderDashboard(Vars{"AutoRemediation", "us-east-1", "autoremediate-remediate", "autoremediate-dead-letters"}.Map())
	if err != nil {
		t.Fatal(err)
	}
	page, widgets, err := Render(context.Background(), f, body, Options{Now: func() time.Time { return now }, NoPercentiles: true})
	if err != nil {
		t.Fatal(err)
	}
	byTitle := map[string]Rendered{}
	for _, w := range widgets {
		if w.Err != "" {
			t.Errorf("widget %q: %s", w.Widget.Properties.Title, w.Err)
		}
		byTitle[w.Widget.Properties.Title] = w
	}
	if got := byTitle["Remediations by remediator and action"].Series; len(got) != 3 {
		t.Errorf("remediations: %d series, want 3 (the duplicate and the other schema left out): %+v", len(got), got)
	}
	if got := byTitle["Failed remediations"].Series; len(got) != 1 || got[0].Label != "failed ebs-encryption" {
		t.Errorf("failed: %+v", got)
	}
	single := byTitle["Outcomes in the period (all remediators)"]
	if len(single.Series) != 5 || single.Series[0].Label != "remediated" || single.Series[0].Values[0] != 1 {
		t.Errorf("single values: %+v", single.Series)
	}
	if got := byTitle["Deferred, needs-manual and escalated by remediator"].Series; len(got) != 1 || got[0].Label != "deferred ec2-imdsv2" {
		t.Errorf("deferred OR needs-manual OR escalated: %+v", got)
	}
	// By account: failed, escalated and not compliant (dry-run, deferred),
	// account by account; remediated and compliant are left out, and the
	// by-remediator metrics are another schema.
	var byAccount []string
	for _, s := range byTitle["Failed, escalated and not compliant by account"].Series {
		byAccount = append(byAccount, s.Label)
	}
	if want := []string{"111111111111 dry-run", "111111111111 escalated", "111111111111 failed", "222222222222 deferred"}; !slices.Equal(byAccount, want) {
		t.Errorf("by account: %q, want %q", byAccount, want)
	}
	if w := byTitle["Failed, escalated and not compliant by account"]; w.Widget.Properties.View != "singleValue" || !w.Widget.Properties.SetPeriodToTimeRange {
		t.Errorf("by-account widget %+v: want totals over the period", w.Widget.Properties)
	}
	// Percentiles became Average/Maximum, labelled; setPeriodToTimeRange
	// asks for one period over the whole range.
	stats := map[string]bool{}
	for _, q := range f.asked {
		stats[aws.ToString(q.MetricStat.Stat)] = true
		if strings.HasPrefix(aws.ToString(q.MetricStat.Stat), "p") {
			t.Errorf("percentile %s sent with NoPercentiles", aws.ToString(q.MetricStat.Stat))
		}
		if aws.ToString(q.MetricStat.Metric.MetricName) == "ApproximateNumberOfMessagesVisible" &&
			aws.ToString(q.MetricStat.Metric.Dimensions[0].Value) != "autoremediate-dead-letters" {
			t.Errorf("DLQ widget asks for %+v", q.MetricStat.Metric.Dimensions)
		}
	}
	if !stats["Average"] || !stats["Maximum"] || !stats["Sum"] {
		t.Errorf("stats asked: %v", stats)
	}
	for _, q := range f.asked {
		if aws.ToString(q.MetricStat.Metric.MetricName) == "Remediations" && aws.ToInt32(q.MetricStat.Period) > 300 {
			return // the single-value widget's whole-range period
		}
	}
	t.Error("no whole-range period for the single-value widget")
	_ = page
}

func TestRenderKeepsPercentilesForAWS(t *testing.T) {
	f := &fakeCW{t: t, at: time.Now(), metrics: []cwtypes.Metric{metric("AutoRemediation", "RemediationDuration", "Remediator", "s3-encryption")}}
	body, _ := terraform.RenderDashboard(Vars{"AutoRemediation", "us-east-1", "fn", "dlq"}.Map())
	page, _, err := Render(context.Background(), f, body, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p99 := false
	for _, q := range f.asked {
		p99 = p99 || aws.ToString(q.MetricStat.Stat) == "p99"
	}
	if !p99 || strings.Contains(string(page), "computes no percentiles") {
		t.Error("percentiles were replaced although the endpoint computes them")
	}
	if strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Error("the page refers to another location; it must be self-contained")
	}
}

// Every note names a widget of the production dashboard: a renamed widget
// would lose its note silently.
func TestDefaultNotesNameWidgets(t *testing.T) {
	body, err := terraform.RenderDashboard(Vars{"AutoRemediation", "us-east-1", "fn", "dlq"}.Map())
	if err != nil {
		t.Fatal(err)
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	for _, w := range b.Widgets {
		titles[w.Properties.Title] = true
	}
	for title := range DefaultNotes() {
		if !titles[title] {
			t.Errorf("DefaultNotes has a note for %q, which is no widget of the template", title)
		}
	}
	if note := DefaultNotes()["Failed, escalated and not compliant by account"]; !strings.Contains(note, "dry-run, deferred and needs-manual") {
		t.Errorf("by-account note %q does not say what not compliant counts", note)
	}
}

package report

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/autoremediate/autoremediate/credentials"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// MetricsAPI is the part of the CloudWatch client the report uses.
type MetricsAPI interface {
	GetMetricData(ctx context.Context, params *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// ActivityActions are the outcome actions the report counts per remediator.
func ActivityActions() []remediation.Action {
	return []remediation.Action{remediation.ActionRemediated, remediation.ActionFailed, remediation.ActionDeferred, remediation.ActionNeedsManual}
}

// ActivityRemediators names every remediator whose outcomes the report's
// activity section reads: the event-driven remediators and the access key
// deactivation of `remediate report credentials --deactivate-unused-keys`,
// which publishes its outcomes under the same metrics. The CLI and the
// report Lambda both use this list.
func ActivityRemediators() []string {
	return append(remediators.Catalog(remediators.Definitions()).Names(), credentials.Remediator)
}

// RemediatorActivity is one remediator's outcomes over the period.
type RemediatorActivity struct {
	Remediator string
	// Counts by action (ActivityActions).
	Counts map[remediation.Action]int
	// TimeToRemediate average and median; HasAverage/HasP50 say whether
	// CloudWatch returned them.
	AvgTTR, P50TTR     time.Duration
	HasAverage, HasP50 bool
}

// Activity is the remediation activity of the period.
type Activity struct {
	Namespace   string
	Start, End  time.Time
	Remediators []RemediatorActivity
	// Err says why the activity could not be read; the report shows it
	// instead of the table.
	Err string
	// P50Note explains a missing median (e.g. an emulator without
	// percentile statistics).
	P50Note string
}

// Total returns the sum of one action over every remediator.
func (a Activity) Total(action remediation.Action) int {
	n := 0
	for _, r := range a.Remediators {
		n += r.Counts[action]
	}
	return n
}

// FetchActivity reads the Remediations counts (by Remediator and Action)
// and the TimeToRemediate average and p50 (by Remediator) published by the
// remediation pipeline over [start, end), with one period covering it all.
func FetchActivity(ctx context.Context, api MetricsAPI, namespace string, remediators []string, start, end time.Time) (Activity, error) {
	act := Activity{Namespace: namespace, Start: start, End: end}
	period := int32(math.Ceil(end.Sub(start).Seconds()/60) * 60)
	if period < 60 {
		period = 60
	}
	metric := func(name string, dims ...string) *cwtypes.Metric {
		m := &cwtypes.Metric{Namespace: aws.String(namespace), MetricName: aws.String(name)}
		for i := 0; i+1 < len(dims); i += 2 {
			m.Dimensions = append(m.Dimensions, cwtypes.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
		}
		return m
	}
	var counts, p50 []cwtypes.MetricDataQuery
	for i, r := range remediators {
		for j, a := range ActivityActions() {
			counts = append(counts, cwtypes.MetricDataQuery{
				Id: aws.String(fmt.Sprintf("c%d_%d", i, j)),
				MetricStat: &cwtypes.MetricStat{Metric: metric(publish.MetricRemediations,
					publish.DimensionRemediator, r, publish.DimensionAction, string(a)), Period: aws.Int32(period), Stat: aws.String("Sum")},
			})
		}
		counts = append(counts, cwtypes.MetricDataQuery{
			Id:         aws.String(fmt.Sprintf("avg%d", i)),
			MetricStat: &cwtypes.MetricStat{Metric: metric(publish.MetricTimeToRemediate, publish.DimensionRemediator, r), Period: aws.Int32(period), Stat: aws.String("Average")},
		})
		p50 = append(p50, cwtypes.MetricDataQuery{
			Id:         aws.String(fmt.Sprintf("p%d", i)),
			MetricStat: &cwtypes.MetricStat{Metric: metric(publish.MetricTimeToRemediate, publish.DimensionRemediator, r), Period: aws.Int32(period), Stat: aws.String("p50")},
		})
	}
	values, err := getMetricData(ctx, api, counts, start, end)
	if err != nil {
		return act, ExplainError("getting remediation metrics from CloudWatch", "cloudwatch:GetMetricData", "", err)
	}
	// The median is asked separately: a failure there (emulators without
	// percentiles) must not lose the counts.
	medians, p50Err := getMetricData(ctx, api, p50, start, end)
	if p50Err != nil {
		act.P50Note = "median time to remediate unavailable: " + p50Err.Error()
	}
	for i, r := range remediators {
		ra := RemediatorActivity{Remediator: r, Counts: map[remediation.Action]int{}}
		for j, a := range ActivityActions() {
			if vs := values[fmt.Sprintf("c%d_%d", i, j)]; len(vs) > 0 {
				sum := 0.0
				for _, v := range vs {
					sum += v
				}
				ra.Counts[a] = int(math.Round(sum))
			}
		}
		if vs := values[fmt.Sprintf("avg%d", i)]; len(vs) > 0 {
			ra.AvgTTR, ra.HasAverage = msDuration(mean(vs)), true
		}
		if vs := medians[fmt.Sprintf("p%d", i)]; len(vs) > 0 {
			ra.P50TTR, ra.HasP50 = msDuration(mean(vs)), true
		}
		act.Remediators = append(act.Remediators, ra)
	}
	return act, nil
}

func getMetricData(ctx context.Context, api MetricsAPI, queries []cwtypes.MetricDataQuery, start, end time.Time) (map[string][]float64, error) {
	out := map[string][]float64{}
	// StopOnDuplicateToken stays off (the SDK default): a server repeating
	// its token runs into the page cap and is reported as an error.
	p := cloudwatch.NewGetMetricDataPaginator(api, &cloudwatch.GetMetricDataInput{
		MetricDataQueries: queries,
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
	})
	for page := 0; p.HasMorePages(); page++ {
		if page >= 1000 {
			return nil, fmt.Errorf("GetMetricData kept returning a NextToken")
		}
		resp, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range resp.MetricDataResults {
			out[aws.ToString(r.Id)] = append(out[aws.ToString(r.Id)], r.Values...)
		}
	}
	return out, nil
}

func mean(vs []float64) float64 {
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}

func msDuration(ms float64) time.Duration {
	return time.Duration(math.Round(ms)) * time.Millisecond
}

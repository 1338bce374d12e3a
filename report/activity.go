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

// MetricsAPI is the part of the CloudWatch client the report uses:
// GetMetricData for the counts, ListMetrics to find the accounts that have
// outcomes (their IDs are dimension values, known only to CloudWatch).
type MetricsAPI interface {
	GetMetricData(ctx context.Context, params *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
	ListMetrics(ctx context.Context, params *cloudwatch.ListMetricsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error)
}

// ActivityActions are the outcome actions the report counts per remediator.
func ActivityActions() []remediation.Action {
	return []remediation.Action{remediation.ActionRemediated, remediation.ActionFailed, remediation.ActionDeferred, remediation.ActionNeedsManual}
}

// AccountActions are the outcome actions the report counts per account:
// the verified fixes, and what needs attention (failed, escalated and the
// not compliant outcomes of publish.NotCompliantActions, as the dashboard's
// by-account widget counts them).
func AccountActions() []remediation.Action {
	return append([]remediation.Action{remediation.ActionRemediated, remediation.ActionFailed, remediation.ActionEscalated},
		publish.NotCompliantActions()...)
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

// AccountActivity is one account's outcomes over the period, from the
// metric Remediations by Account and Action.
type AccountActivity struct {
	Account string
	// Counts by action (AccountActions).
	Counts map[remediation.Action]int
}

// NotCompliant is the number of outcomes that left a resource not
// compliant (publish.NotCompliantActions).
func (a AccountActivity) NotCompliant() int {
	n := 0
	for _, act := range publish.NotCompliantActions() {
		n += a.Counts[act]
	}
	return n
}

// Activity is the remediation activity of the period.
type Activity struct {
	Namespace   string
	Start, End  time.Time
	Remediators []RemediatorActivity
	// Accounts are the accounts with outcomes in the period, by account
	// ID.
	Accounts []AccountActivity
	// Err says why the activity could not be read; the report shows it
	// instead of the table.
	Err string
	// AccountsErr says why the outcomes by account could not be read
	// (the counts by remediator may still be there).
	AccountsErr string
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
	// By account: a failure here (ListMetrics not granted) leaves the
	// counts by remediator in the report.
	if accounts, err := fetchAccountActivity(ctx, api, namespace, period, start, end); err != nil {
		act.AccountsErr = err.Error()
	} else {
		act.Accounts = accounts
	}
	return act, nil
}

// maxListPages bounds ListMetrics pagination (500 metrics a page).
const maxListPages = 1000

// fetchAccountActivity reads Remediations by Account and Action. The
// account IDs are dimension values that only CloudWatch knows (an account
// with outcomes may have no finding), so ListMetrics finds them first; it
// lists the metrics with data in the past two weeks, so a period longer
// than that leaves out accounts whose outcomes are all older.
func fetchAccountActivity(ctx context.Context, api MetricsAPI, namespace string, period int32, start, end time.Time) ([]AccountActivity, error) {
	wanted := map[remediation.Action]bool{}
	for _, a := range AccountActions() {
		wanted[a] = true
	}
	type pair struct {
		account string
		action  remediation.Action
	}
	var pairs []pair
	seen := map[pair]bool{}
	accounts := map[string]bool{}
	// StopOnDuplicateToken stays off, as for GetMetricData: a server
	// repeating its token runs into the page cap.
	// No dimension filter by name: moto 5.2 treats a filter without a
	// value as matching no metric. The by-remediator metrics come along.
	p := cloudwatch.NewListMetricsPaginator(api, &cloudwatch.ListMetricsInput{
		Namespace: aws.String(namespace), MetricName: aws.String(publish.MetricRemediations),
	})
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxListPages {
			return nil, fmt.Errorf("listing the metrics %s by %s in namespace %s: ListMetrics kept returning a NextToken", publish.MetricRemediations, publish.DimensionAccount, namespace)
		}
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, ExplainError(fmt.Sprintf("listing the metrics %s by %s in namespace %s", publish.MetricRemediations, publish.DimensionAccount, namespace), "cloudwatch:ListMetrics", "", err)
		}
		for _, m := range out.Metrics {
			// Exactly {Account, Action}.
			if aws.ToString(m.Namespace) != namespace || aws.ToString(m.MetricName) != publish.MetricRemediations || len(m.Dimensions) != 2 {
				continue
			}
			var pr pair
			for _, d := range m.Dimensions {
				switch aws.ToString(d.Name) {
				case publish.DimensionAccount:
					pr.account = aws.ToString(d.Value)
				case publish.DimensionAction:
					pr.action = remediation.Action(aws.ToString(d.Value))
				}
			}
			if pr.account == "" || pr.action == "" || seen[pr] {
				continue
			}
			seen[pr] = true
			accounts[pr.account] = true
			if wanted[pr.action] {
				pairs = append(pairs, pr)
			}
		}
	}
	var queries []cwtypes.MetricDataQuery
	for i, pr := range pairs {
		queries = append(queries, cwtypes.MetricDataQuery{
			Id: aws.String(fmt.Sprintf("a%d", i)),
			MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: aws.String(namespace), MetricName: aws.String(publish.MetricRemediations),
				Dimensions: []cwtypes.Dimension{
					{Name: aws.String(publish.DimensionAccount), Value: aws.String(pr.account)},
					{Name: aws.String(publish.DimensionAction), Value: aws.String(string(pr.action))},
				}}, Period: aws.Int32(period), Stat: aws.String("Sum")},
		})
	}
	values := map[string][]float64{}
	// GetMetricData takes at most 500 queries a call.
	for i := 0; i < len(queries); i += 500 {
		v, err := getMetricData(ctx, api, queries[i:min(i+500, len(queries))], start, end)
		if err != nil {
			return nil, ExplainError("getting remediation metrics by account from CloudWatch", "cloudwatch:GetMetricData", "", err)
		}
		for k, vs := range v {
			values[k] = vs
		}
	}
	counts := map[string]map[remediation.Action]int{}
	for i, pr := range pairs {
		sum := 0.0
		for _, v := range values[fmt.Sprintf("a%d", i)] {
			sum += v
		}
		if n := int(math.Round(sum)); n > 0 {
			if counts[pr.account] == nil {
				counts[pr.account] = map[remediation.Action]int{}
			}
			counts[pr.account][pr.action] += n
		}
	}
	// Accounts listed but without a counted outcome in the period (only
	// compliant ones, or older ones) are left out: the table is of the
	// period's outcomes.
	var out []AccountActivity
	for _, a := range sortedKeys(accounts) {
		if counts[a] != nil {
			out = append(out, AccountActivity{Account: a, Counts: counts[a]})
		}
	}
	return out, nil
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

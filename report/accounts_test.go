package report

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
)

// The breakdown by account follows from the fixture: each account's
// findings by severity, its distinct resources and controls, computed here
// from the raw findings, and its outcomes from the activity; an account
// with outcomes and no finding has a row too.
func TestByAccountFollowsInput(t *testing.T) {
	raw := loadFixture(t)
	r := buildFixture(t, raw)
	type want struct {
		sev       map[string]int
		resources map[string]bool
		findings  int
	}
	wants := map[string]*want{}
	for _, a := range raw {
		if !counted(a) {
			continue
		}
		acc := aws.ToString(a.AwsAccountId)
		w := wants[acc]
		if w == nil {
			w = &want{sev: map[string]int{}, resources: map[string]bool{}}
			wants[acc] = w
		}
		label := string(a.Severity.Label)
		if label == "" {
			label = SeverityInformational
		}
		w.sev[label]++
		w.findings++
		w.resources[aws.ToString(a.Resources[0].Id)] = true
	}
	rows := map[string]AccountSummary{}
	for _, a := range r.ByAccount {
		rows[a.Account] = a
	}
	for acc, w := range wants {
		a, ok := rows[acc]
		if !ok {
			t.Errorf("account %s has findings but no row", acc)
			continue
		}
		if a.Findings != w.findings || a.Resources != len(w.resources) {
			t.Errorf("%s: %d findings on %d resources, want %d on %d", acc, a.Findings, a.Resources, w.findings, len(w.resources))
		}
		for _, s := range Severities() {
			if a.SeverityCount(s) != w.sev[s] {
				t.Errorf("%s %s: %d, want %d", acc, s, a.SeverityCount(s), w.sev[s])
			}
		}
		n := 0
		for _, c := range a.Controls {
			n += c.Count
		}
		if n != w.findings {
			t.Errorf("%s: controls count %d findings, want %d", acc, n, w.findings)
		}
	}
	for _, aa := range fixedActivity().Accounts {
		a, ok := rows[aa.Account]
		if !ok {
			t.Errorf("account %s has outcomes but no row", aa.Account)
			continue
		}
		for _, act := range AccountActions() {
			if a.Outcomes[act] != aa.Counts[act] {
				t.Errorf("%s %s: %d, want %d", aa.Account, act, a.Outcomes[act], aa.Counts[act])
			}
		}
	}
	if len(rows) != 3 || rows["333333333333"].Findings != 0 {
		t.Errorf("rows %v: want the two accounts with findings and 333333333333 with outcomes only", r.ByAccount)
	}
	// Most severe first; the account without findings last.
	if got := []string{r.ByAccount[0].Account, r.ByAccount[1].Account, r.ByAccount[2].Account}; strings.Join(got, ",") != "111111111111,222222222222,333333333333" {
		t.Errorf("order %v", got)
	}

	// accounts.csv has a row per account with the same numbers.
	csvRows := readCSV(t, r.AccountsCSV())
	if len(csvRows) != len(r.ByAccount) {
		t.Fatalf("%d accounts.csv rows, want %d", len(csvRows), len(r.ByAccount))
	}
	for i, row := range csvRows {
		a := r.ByAccount[i]
		if row["account_id"] != a.Account || row["findings"] != strconv.Itoa(a.Findings) || row["critical"] != strconv.Itoa(a.SeverityCount(SeverityCritical)) ||
			row["escalated"] != strconv.Itoa(a.Outcomes[remediation.ActionEscalated]) || row["dry_run"] != strconv.Itoa(a.Outcomes[remediation.ActionDryRun]) {
			t.Errorf("accounts.csv row %d = %v, want %+v", i, row, a)
		}
		n := 0
		for _, pair := range strings.Split(row["controls"], ";") {
			if pair == "" {
				continue
			}
			k := strings.LastIndex(pair, ":")
			c, err := strconv.Atoi(pair[k+1:])
			if err != nil {
				t.Errorf("controls %q", row["controls"])
			}
			n += c
		}
		if n != a.Findings {
			t.Errorf("%s controls %q sum to %d, want %d findings", a.Account, row["controls"], n, a.Findings)
		}
	}
}

// Every format has the breakdown: the Markdown and HTML tables name every
// account and their outcome totals.
func TestByAccountInEveryFormat(t *testing.T) {
	r := buildFixture(t, loadFixture(t))
	html, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != strings.Join(FileNames(), ",") || !strings.Contains(strings.Join(names, ","), FileAccountsCSV) {
		t.Errorf("files %v, want %v with %s", names, FileNames(), FileAccountsCSV)
	}
	md := string(r.Markdown())
	for _, want := range []string{"## By account", "| 111111111111 | CRITICAL | 8 |", "| 333333333333 | 2 | 0 | 1 | 4 | 0 | 0 |", "| **Total** | **19** | **1** | **1** | **4** | **3** | **2** |",
		"Outcomes that need attention (failed, escalated or not compliant) came from 3 accounts."} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, want := range []string{"<h2>By account</h2>", "<td>333333333333</td><td class=\"n\">2</td><td class=\"n\">0</td><td class=\"n\">1</td><td class=\"n\">4</td>", "<th>Total</th><th class=\"n\">19</th>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	msg := aws.ToString(SummaryMessage("arn:aws:sns:us-east-1:111111111111:t", r, nil).Message)
	for _, want := range []string{"Findings are open in 2 accounts", "  111111111111   8 findings: 1 critical, 2 high, 2 medium, 2 low, 1 informational", "came from 3 accounts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("SNS summary lacks %q:\n%s", want, msg)
		}
	}
}

// Without the outcomes by account (ListMetrics denied), the report says so
// in each format and keeps the findings by account; accounts.csv leaves the
// outcome columns empty rather than writing zeros.
func TestByAccountWithoutOutcomes(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	fs := []Finding{{ID: "f1", Account: "111111111111", Region: "us-east-1", ResourceID: "b", ControlID: "S3.8", Severity: SeverityHigh}}
	act := fixedActivity()
	act.Accounts, act.AccountsErr = nil, "listing the metrics: access denied: the caller needs cloudwatch:ListMetrics"
	r := Build(fs, m, act, Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
	if !strings.Contains(string(r.Markdown()), "### By account\n\nNot available: listing the metrics: access denied: the caller needs cloudwatch:ListMetrics.") {
		t.Errorf("report.md does not say why the outcomes by account are missing:\n%s", r.Markdown())
	}
	html, _ := r.HTML()
	if !strings.Contains(string(html), "<h3>By account</h3>\n<p>Not available: listing the metrics") {
		t.Error("report.html does not say why the outcomes by account are missing")
	}
	rows := readCSV(t, r.AccountsCSV())
	if len(rows) != 1 || rows[0]["findings"] != "1" || rows[0]["remediated"] != "" || rows[0]["failed"] != "" {
		t.Errorf("accounts.csv %v: want the findings and empty outcome columns", rows)
	}
}

// cwAccounts is a CloudWatch fake: ListMetrics lists metrics in pages of
// three; GetMetricData answers each query with the value put for its
// metric, in two data points, and records the queries.
type cwAccounts struct {
	t       *testing.T
	metrics []cwtypes.Metric
	values  map[string]float64 // metricKey -> sum
	asked   []cwtypes.MetricDataQuery
	calls   int
	listErr error
}

func metricKey(m *cwtypes.Metric) string {
	var dims []string
	for _, d := range m.Dimensions {
		dims = append(dims, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	sort.Strings(dims)
	return aws.ToString(m.Namespace) + " " + aws.ToString(m.MetricName) + " " + strings.Join(dims, ",")
}

func (f *cwAccounts) ListMetrics(_ context.Context, in *cloudwatch.ListMetricsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	if aws.ToString(in.Namespace) != "AutoRemediation" || aws.ToString(in.MetricName) != "Remediations" {
		f.t.Errorf("ListMetrics %s/%s, want AutoRemediation/Remediations", aws.ToString(in.Namespace), aws.ToString(in.MetricName))
	}
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(aws.ToString(in.NextToken))
	}
	end := min(start+3, len(f.metrics))
	out := &cloudwatch.ListMetricsOutput{Metrics: f.metrics[start:end]}
	if end < len(f.metrics) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *cwAccounts) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.calls++
	if len(in.MetricDataQueries) > 500 {
		f.t.Errorf("%d queries in one call: GetMetricData takes 500", len(in.MetricDataQueries))
	}
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		f.asked = append(f.asked, q)
		v := f.values[metricKey(q.MetricStat.Metric)]
		out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{Id: q.Id, Values: []float64{v / 2, v / 2},
			Timestamps: []time.Time{aws.ToTime(in.StartTime), aws.ToTime(in.StartTime).Add(time.Minute)}})
	}
	return out, nil
}

func accountMetric(account, action string) cwtypes.Metric {
	return cwtypes.Metric{Namespace: aws.String("AutoRemediation"), MetricName: aws.String("Remediations"), Dimensions: []cwtypes.Dimension{
		{Name: aws.String("Account"), Value: aws.String(account)}, {Name: aws.String("Action"), Value: aws.String(action)}}}
}

func TestFetchActivityByAccount(t *testing.T) {
	f := &cwAccounts{t: t, values: map[string]float64{}}
	put := func(m cwtypes.Metric, v float64) {
		f.metrics = append(f.metrics, m)
		f.values[metricKey(&m)] = v
	}
	put(accountMetric("222222222222", "failed"), 2)
	put(accountMetric("111111111111", "remediated"), 5)
	put(accountMetric("111111111111", "remediated"), 5) // listed twice (once per data point)
	put(accountMetric("111111111111", "dry-run"), 3)
	put(accountMetric("111111111111", "compliant"), 40) // not an account action: not asked
	put(accountMetric("333333333333", "escalated"), 0)  // listed, nothing in the period
	// The same outcomes by remediator, and another schema: not by account.
	put(cwtypes.Metric{Namespace: aws.String("AutoRemediation"), MetricName: aws.String("Remediations"), Dimensions: []cwtypes.Dimension{
		{Name: aws.String("Remediator"), Value: aws.String("s3-encryption")}, {Name: aws.String("Action"), Value: aws.String("failed")}}}, 2)
	put(cwtypes.Metric{Namespace: aws.String("AutoRemediation"), MetricName: aws.String("Remediations"), Dimensions: []cwtypes.Dimension{
		{Name: aws.String("Account"), Value: aws.String("444444444444")}, {Name: aws.String("Action"), Value: aws.String("failed")},
		{Name: aws.String("Extra"), Value: aws.String("x")}}}, 9)
	start := fixedNow.Add(-time.Hour)
	act, err := FetchActivity(context.Background(), f, "AutoRemediation", []string{"s3-encryption"}, start, fixedNow)
	if err != nil || act.AccountsErr != "" {
		t.Fatalf("FetchActivity: %v %s", err, act.AccountsErr)
	}
	got := map[string]map[remediation.Action]int{}
	var order []string
	for _, a := range act.Accounts {
		got[a.Account] = a.Counts
		order = append(order, a.Account)
	}
	if strings.Join(order, ",") != "111111111111,222222222222" {
		t.Errorf("accounts %v, want those with outcomes in the period, by ID", order)
	}
	if got["111111111111"][remediation.ActionRemediated] != 5 || got["111111111111"][remediation.ActionDryRun] != 3 ||
		got["222222222222"][remediation.ActionFailed] != 2 || len(got["111111111111"]) != 2 || len(got["222222222222"]) != 1 {
		t.Errorf("counts %v", got)
	}
	byAccount := 0
	for _, q := range f.asked {
		k := metricKey(q.MetricStat.Metric)
		if !strings.Contains(k, "Account=") {
			continue
		}
		byAccount++
		if strings.Contains(k, "compliant") || strings.Contains(k, "Extra") || aws.ToString(q.MetricStat.Stat) != "Sum" ||
			aws.ToInt32(q.MetricStat.Period) != 3600 {
			t.Errorf("asked %s %s %d", k, aws.ToString(q.MetricStat.Stat), aws.ToInt32(q.MetricStat.Period))
		}
	}
	if byAccount != 4 {
		t.Errorf("%d queries by account, want 4 (each listed account-action pair once)", byAccount)
	}
}

// More account-action pairs than one GetMetricData call takes: batches of
// 500.
func TestFetchActivityByAccountBatches(t *testing.T) {
	f := &cwAccounts{t: t, values: map[string]float64{}}
	for i := 0; i < 700; i++ {
		m := accountMetric(fmt.Sprintf("%012d", i), "remediated")
		f.metrics = append(f.metrics, m)
		f.values[metricKey(&m)] = 1
	}
	accounts, err := fetchAccountActivity(context.Background(), f, "AutoRemediation", 3600, fixedNow.Add(-time.Hour), fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 700 || f.calls != 2 {
		t.Errorf("%d accounts in %d GetMetricData calls, want 700 in 2", len(accounts), f.calls)
	}
}

// ListMetrics denied: the counts by remediator stay, the accounts say why
// they are missing and which permission is needed.
func TestFetchActivityByAccountDenied(t *testing.T) {
	f := &cwAccounts{t: t, values: map[string]float64{}, listErr: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: cloudwatch:ListMetrics"}}
	act, err := FetchActivity(context.Background(), f, "AutoRemediation", []string{"s3-encryption"}, fixedNow.Add(-time.Hour), fixedNow)
	if err != nil {
		t.Fatalf("FetchActivity failed as a whole: %v", err)
	}
	if len(act.Remediators) != 1 || !strings.Contains(act.AccountsErr, "cloudwatch:ListMetrics") || act.Accounts != nil {
		t.Errorf("activity %+v: want the remediators and AccountsErr naming cloudwatch:ListMetrics", act)
	}
}

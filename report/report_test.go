package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixedNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// loadFixture reads testdata/findings.json: findings in the AWS Security
// Finding Format (JSON field names match the SDK's struct fields).
func loadFixture(t testing.TB) []shtypes.AwsSecurityFinding {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fs []shtypes.AwsSecurityFinding
	if err := json.Unmarshal(data, &fs); err != nil {
		t.Fatalf("parsing findings.json: %v", err)
	}
	return fs
}

// fakeHub serves findings in pages and checks every request: the report
// filter, MaxResults 100, and the NextToken of the previous page. The
// scores' query (ControlStatusFilter) gets controls, in one page.
type fakeHub struct {
	t        testing.TB
	findings []shtypes.AwsSecurityFinding
	pageSize int
	calls    int
	err      error
	// controls answer the query of the passed, warning and not available
	// control findings; controlCalls counts it.
	controls     []shtypes.AwsSecurityFinding
	controlCalls int
	// products answers the GuardDuty and Inspector query (products_test.go).
	products     []shtypes.AwsSecurityFinding
	productCalls int
}

func (f *fakeHub) GetFindings(_ context.Context, in *securityhub.GetFindingsInput, _ ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error) {
	f.t.Helper()
	if f.err != nil {
		return nil, f.err
	}
	if in.Filters != nil && len(in.Filters.ComplianceStatus) > 1 {
		f.controlCalls++
		checkControlFilter(f.t, in)
		return &securityhub.GetFindingsOutput{Findings: f.controls}, nil
	}
	if in.Filters != nil && len(in.Filters.ProductName) > 0 {
		return f.productsPage(in), nil
	}
	wantToken := ""
	if f.calls > 0 {
		wantToken = fmt.Sprintf("page-%d", f.calls)
	}
	if got := aws.ToString(in.NextToken); got != wantToken {
		f.t.Errorf("call %d: NextToken %q, want %q", f.calls, got, wantToken)
	}
	if aws.ToInt32(in.MaxResults) != 100 {
		f.t.Errorf("MaxResults %d, want 100", aws.ToInt32(in.MaxResults))
	}
	checkFilter(f.t, in.Filters)
	start := f.calls * f.pageSize
	f.calls++
	end := min(start+f.pageSize, len(f.findings))
	out := &securityhub.GetFindingsOutput{Findings: f.findings[start:end]}
	if end < len(f.findings) {
		out.NextToken = aws.String(fmt.Sprintf("page-%d", f.calls))
	}
	return out, nil
}

func checkFilter(t testing.TB, fl *shtypes.AwsSecurityFindingFilters) {
	t.Helper()
	one := func(name string, got []shtypes.StringFilter, cmp shtypes.StringFilterComparison, value string) {
		if len(got) != 1 || got[0].Comparison != cmp || aws.ToString(got[0].Value) != value {
			t.Errorf("filter %s = %+v, want one %s %s", name, got, cmp, value)
		}
	}
	if fl == nil {
		t.Fatal("GetFindings called without filters")
	}
	one("RecordState", fl.RecordState, shtypes.StringFilterComparisonEquals, "ACTIVE")
	one("ComplianceStatus", fl.ComplianceStatus, shtypes.StringFilterComparisonEquals, "FAILED")
	one("WorkflowStatus", fl.WorkflowStatus, shtypes.StringFilterComparisonNotEquals, "SUPPRESSED")
}

// checkControlFilter checks the scores' query: active, not suppressed,
// compliance status PASSED, WARNING or NOT_AVAILABLE, pages of 100.
func checkControlFilter(t testing.TB, in *securityhub.GetFindingsInput) {
	t.Helper()
	fl := in.Filters
	var status []string
	for _, c := range fl.ComplianceStatus {
		if c.Comparison != shtypes.StringFilterComparisonEquals {
			t.Errorf("ComplianceStatus comparison %s, want EQUALS", c.Comparison)
		}
		status = append(status, aws.ToString(c.Value))
	}
	sort.Strings(status)
	if strings.Join(status, ",") != "NOT_AVAILABLE,PASSED,WARNING" {
		t.Errorf("ComplianceStatus filter %v, want PASSED, WARNING and NOT_AVAILABLE", status)
	}
	if len(fl.RecordState) != 1 || aws.ToString(fl.RecordState[0].Value) != "ACTIVE" || fl.RecordState[0].Comparison != shtypes.StringFilterComparisonEquals {
		t.Errorf("RecordState filter %+v, want EQUALS ACTIVE", fl.RecordState)
	}
	if len(fl.WorkflowStatus) != 1 || aws.ToString(fl.WorkflowStatus[0].Value) != "SUPPRESSED" || fl.WorkflowStatus[0].Comparison != shtypes.StringFilterComparisonNotEquals {
		t.Errorf("WorkflowStatus filter %+v, want NOT_EQUALS SUPPRESSED", fl.WorkflowStatus)
	}
	if aws.ToInt32(in.MaxResults) != 100 {
		t.Errorf("MaxResults %d, want 100", aws.ToInt32(in.MaxResults))
	}
}

// counted is the test's own statement of which findings the report must
// count, independent of the code under test.
func counted(a shtypes.AwsSecurityFinding) bool {
	wf := ""
	if a.Workflow != nil {
		wf = string(a.Workflow.Status)
	}
	return a.RecordState == "ACTIVE" && a.Compliance != nil && a.Compliance.Status == "FAILED" && wf != "SUPPRESSED"
}

func fixedActivity() Activity {
	start := fixedNow.Add(-7 * 24 * time.Hour)
	return Activity{Namespace: "AutoRemediation", Start: start, End: fixedNow, Remediators: []RemediatorActivity{
		{Remediator: "s3-public-access-block", Counts: map[remediation.Action]int{remediation.ActionRemediated: 12, remediation.ActionFailed: 1},
			AvgTTR: 8400 * time.Millisecond, HasAverage: true, P50TTR: 6100 * time.Millisecond, HasP50: true},
		{Remediator: "s3-encryption", Counts: map[remediation.Action]int{remediation.ActionRemediated: 4}, AvgTTR: 5200 * time.Millisecond, HasAverage: true},
		{Remediator: "ec2-imdsv2", Counts: map[remediation.Action]int{remediation.ActionDeferred: 3, remediation.ActionRemediated: 2}, AvgTTR: 95 * time.Second, HasAverage: true},
		{Remediator: "ebs-encryption", Counts: map[remediation.Action]int{remediation.ActionNeedsManual: 2, remediation.ActionRemediated: 1}, AvgTTR: 3 * time.Second, HasAverage: true},
	}, Accounts: []AccountActivity{
		{Account: "111111111111", Counts: map[remediation.Action]int{remediation.ActionRemediated: 14, remediation.ActionFailed: 1, remediation.ActionNeedsManual: 2}},
		{Account: "222222222222", Counts: map[remediation.Action]int{remediation.ActionRemediated: 3, remediation.ActionDeferred: 3}},
		// An account with outcomes and no finding: every resource fixed.
		{Account: "333333333333", Counts: map[remediation.Action]int{remediation.ActionRemediated: 2, remediation.ActionEscalated: 1, remediation.ActionDryRun: 4}},
	}}
}

func buildFixture(t testing.TB, raw []shtypes.AwsSecurityFinding) *Report {
	t.Helper()
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	hub := &fakeHub{t: t, findings: raw, pageSize: 5}
	fs, ex, err := FetchFindings(context.Background(), hub, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(raw) + 4) / 5; hub.calls != want {
		t.Errorf("GetFindings called %d times, want %d (every page)", hub.calls, want)
	}
	r := Build(fs, m, fixedActivity(), Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1", "eu-west-1"},
		PeriodStart: fixedNow.Add(-7 * 24 * time.Hour), PeriodEnd: fixedNow, Excluded: ex})
	addProductFixture(t, r)
	return r
}

// goldenReport is the fixture's report with its compliance scores (every
// finding of the fixture, passed ones included) and the two previous runs
// of testdata/history.
func goldenReport(t testing.TB) *Report {
	t.Helper()
	raw := loadFixture(t)
	r := buildFixture(t, raw)
	var all []Finding
	for _, a := range raw {
		all = append(all, FromASFF(a, "us-east-1"))
	}
	r.SetScores(ComputeScores(all))
	r.SetHistory(LoadHistory(context.Background(), DirStore{Dir: filepath.Join("testdata", "history"), Run: "2026-11-23"}, fixedNow, DefaultHistoryRuns))
	return r
}

func TestGolden(t *testing.T) {
	r := goldenReport(t)
	html, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	summary, err := r.SummaryJSON()
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"report.md": r.Markdown(), "findings.csv": r.CSV(), "accounts.csv": r.AccountsCSV(), "report.html": html, "summary.json": summary} {
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./report -run TestGolden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (run with -update after checking the change):\n%s", name, path, firstDiff(string(want), string(got)))
		}
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, w, g)
		}
	}
	return "(no line differs)"
}

// The same findings in any order give byte-identical files.
func TestDeterministic(t *testing.T) {
	raw := loadFixture(t)
	first := buildFixture(t, raw)
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 5; i++ {
		shuffled := append([]shtypes.AwsSecurityFinding(nil), raw...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		again := buildFixture(t, shuffled)
		if !bytes.Equal(first.Markdown(), again.Markdown()) || !bytes.Equal(first.CSV(), again.CSV()) {
			t.Fatalf("shuffle %d changed the output", i)
		}
	}
}

// The counts, CSV rows and mapping follow from the fixture itself.
func TestCountsAndCSVFollowInput(t *testing.T) {
	raw := loadFixture(t)
	r := buildFixture(t, raw)
	wantSev := map[string]int{}
	wantIDs := map[string]bool{}
	excluded := 0
	for _, a := range raw {
		if !counted(a) {
			excluded++
			continue
		}
		label := string(a.Severity.Label)
		if label == "" { // the fixture's one label-less finding has Normalized 0
			label = "INFORMATIONAL"
		}
		wantSev[label]++
		wantIDs[aws.ToString(a.Id)] = true
	}
	if r.Total() != len(wantIDs) {
		t.Errorf("total %d, want %d", r.Total(), len(wantIDs))
	}
	for _, s := range Severities() {
		if r.SeverityCount(s) != wantSev[s] {
			t.Errorf("%s: %d, want %d", s, r.SeverityCount(s), wantSev[s])
		}
	}
	if r.Meta.Excluded.Total() != excluded || r.Meta.Excluded.Archived != 1 || r.Meta.Excluded.Suppressed != 1 || r.Meta.Excluded.NotFailed != 1 {
		t.Errorf("excluded %+v, want 1 archived, 1 suppressed, 1 passed (%d in all)", r.Meta.Excluded, excluded)
	}
	rows := readCSV(t, r.CSV())
	if len(rows) != len(wantIDs) {
		t.Fatalf("%d CSV rows, want %d", len(rows), len(wantIDs))
	}
	mapping := independentMapping(t)
	for _, row := range rows {
		if !wantIDs[row["finding_id"]] {
			t.Errorf("CSV has finding %s, which must not be counted", row["finding_id"])
		}
		want, ok := mapping[row["control_id"]]
		if !ok {
			want = "unmapped"
		}
		if sortedList(row["soc2_criteria"]) != want {
			t.Errorf("%s (%s): criteria %q, want %q", row["finding_id"], row["control_id"], row["soc2_criteria"], want)
		}
	}
	// The GuardDuty finding has no control ID: listed, counted as unmapped.
	if r.NoControlID != 1 || r.UnmappedControls != 1 || len(r.Unmapped) != 2 {
		t.Errorf("unmapped: %d without control ID, %d unknown controls, %d listed; want 1, 1, 2", r.NoControlID, r.UnmappedControls, len(r.Unmapped))
	}
	// Standard-based finding: control ID from ProductFields.
	for _, row := range rows {
		if strings.HasSuffix(row["finding_id"], "/0004") && row["control_id"] != "EC2.8" {
			t.Errorf("finding 0004: control %q, want EC2.8 from ProductFields", row["control_id"])
		}
		if strings.HasSuffix(row["finding_id"], "/0008") && !strings.HasPrefix(row["title"], "'=") {
			t.Errorf("finding 0008: title %q not neutralised against CSV formula injection", row["title"])
		}
	}
}

func readCSV(t testing.TB, data []byte) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("findings.csv is not valid CSV: %v", err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

// independentMapping reads soc2_mapping.csv with encoding/csv only, so the
// expectations do not come from the parser under test.
func independentMapping(t testing.TB) map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(mappingCSV)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rec := range recs[1:] {
		out[rec[0]] = sortedList(rec[3])
	}
	return out
}

func TestHTMLIsSelfContainedAndPrintable(t *testing.T) {
	r := buildFixture(t, loadFixture(t))
	html, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(html)
	for _, want := range []string{"<svg", "@media print", "Overall status: At risk", "GuardDuty.1"} {
		if !strings.Contains(s, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "src=\"http", "<link", "@import"} {
		if strings.Contains(s, bad) {
			t.Errorf("HTML references something external: %q", bad)
		}
	}
	// Finding text is escaped, never markup.
	if strings.Contains(s, "i-0abc | is being probed") && !strings.Contains(s, "=Unprotected port") {
		t.Error("finding title lost")
	}
}

func TestNoFindings(t *testing.T) {
	m, _ := DefaultMapping()
	r := Build(nil, m, Activity{Namespace: "AutoRemediation", Start: fixedNow.Add(-time.Hour), End: fixedNow}, Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
	md := string(r.Markdown())
	for _, want := range []string{"no active failed findings", "| **Total** | **0** |", "Nothing to fix", "No remediation outcomes were recorded"} {
		if !strings.Contains(md, want) {
			t.Errorf("empty report lacks %q:\n%s", want, md)
		}
	}
	if rows := readCSV(t, r.CSV()); len(rows) != 0 {
		t.Errorf("%d CSV rows for no findings", len(rows))
	}
}

func TestControlIDSources(t *testing.T) {
	cases := []struct {
		name string
		in   shtypes.AwsSecurityFinding
		want string
	}{
		{"consolidated", shtypes.AwsSecurityFinding{Compliance: &shtypes.Compliance{SecurityControlId: aws.String("S3.1")}, GeneratorId: aws.String("security-control/S3.1")}, "S3.1"},
		{"product fields", shtypes.AwsSecurityFinding{ProductFields: map[string]string{"ControlId": "IAM.4"}}, "IAM.4"},
		{"generator", shtypes.AwsSecurityFinding{GeneratorId: aws.String("aws-foundational-security-best-practices/v/1.0.0/Lambda.1")}, "Lambda.1"},
		{"CIS v1.2 rule 1.4 is IAM.3", shtypes.AwsSecurityFinding{GeneratorId: aws.String("arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/1.4")}, "IAM.3"},
		{"GuardDuty", shtypes.AwsSecurityFinding{GeneratorId: aws.String("arn:aws:guardduty:us-east-1:1:detector/d")}, ""},
	}
	for _, c := range cases {
		if got := FromASFF(c.in, "us-east-1").ControlID; got != c.want {
			t.Errorf("%s: control %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSeverityFromNormalized(t *testing.T) {
	for n, want := range map[int32]string{0: "INFORMATIONAL", 1: "LOW", 39: "LOW", 40: "MEDIUM", 69: "MEDIUM", 70: "HIGH", 89: "HIGH", 90: "CRITICAL", 100: "CRITICAL"} {
		got := FromASFF(shtypes.AwsSecurityFinding{Severity: &shtypes.Severity{Normalized: aws.Int32(n)}}, "").Severity
		if got != want {
			t.Errorf("Normalized %d: %s, want %s", n, got, want)
		}
	}
}

func TestErrorsAreExplained(t *testing.T) {
	cases := []struct {
		err      error
		sentinel error
		want     string
	}{
		{&smithy.GenericAPIError{Code: "InvalidAccessException", Message: "Account 111111111111 is not subscribed to AWS Security Hub"}, ErrNotEnabled, "enable-security-hub --region us-east-1"},
		{&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized"}, ErrAccessDenied, "securityhub:GetFindings"},
		{&smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Rate exceeded"}, ErrThrottled, "run again later"},
	}
	for _, c := range cases {
		hub := &fakeHub{t: t, err: c.err}
		_, _, err := FetchFindings(context.Background(), hub, "us-east-1")
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %v mentioning %q", c.err, err, c.sentinel, c.want)
		}
	}
}

func TestPermissions(t *testing.T) {
	want := []string{"securityhub:GetFindings", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "s3:PutObject", "s3:ListBucket", "s3:GetObject", "sns:Publish"}
	if got := Permissions(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Permissions() = %v, want %v", got, want)
	}
}

func sortedList(s string) string {
	parts := strings.Split(s, ";")
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

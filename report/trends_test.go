package report

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

func loadRun(t testing.TB, name string) []shtypes.AwsSecurityFinding {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "trends", name))
	if err != nil {
		t.Fatal(err)
	}
	var fs []shtypes.AwsSecurityFinding
	if err := json.Unmarshal(data, &fs); err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return fs
}

// runOnce generates the report of one run as the CLI does: the findings
// served by a fake hub that, like moto, ignores the filters (the client's
// own checks keep archived, suppressed and passed findings apart), the
// previous runs read from the sibling directories, the files written to
// dir/run.
func runOnce(t *testing.T, dir, run string, at time.Time, raw []shtypes.AwsSecurityFinding) *Report {
	t.Helper()
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	hub := &fakeHub{t: t, findings: raw, pageSize: 100, controls: raw}
	g := &Generator{Findings: func(string) SecurityHubAPI { return hub }, Regions: []string{"us-east-1"}, Period: 7 * 24 * time.Hour,
		Mapping: m, Now: func() time.Time { return at }, History: DirStore{Dir: dir, Run: run}, HistoryRuns: DefaultHistoryRuns}
	r, err := g.Generate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hub.controlCalls != 1 {
		t.Errorf("%s: the control findings were asked %d times, want once", run, hub.controlCalls)
	}
	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, run), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, run, f.Name), f.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

type trendWant struct {
	findings                             int
	new, resolved, recurring, stillOpen  int
	fsbp, cis, overall                   int // scores in percent
	prevFSBP, prevCIS                    int // -1: no previous score
	newKeys, resolvedKeys, recurringKeys []string
}

const (
	bucketA = "arn:aws:s3:::example-bucket-a"
	inst1   = "arn:aws:ec2:us-east-1:111111111111:instance/i-0123456789abcdef0"
	acct    = "AWS::::Account:111111111111"
)

func key(control, resource string) string {
	return "111111111111|us-east-1|" + control + "|" + resource
}

// Three weekly runs over changing findings (testdata/trends/runN.json,
// described in testdata/README.md). The expectations are worked out by
// hand from the fixtures and Security Hub's rules:
//
//	run 1: failing S3.8/a, EC2.8/i-1, CloudTrail.1; passing S3.8/b, IAM.4, S3.5/a.
//	       FSBP 2 of 5 controls pass (40%), CIS v1.4.0 1 of 2 (50%).
//	run 2: S3.8/a and CloudTrail.1 fixed, S3.5/a fails, EC2.7 NOT_AVAILABLE
//	       (unknown, counted in the denominator). FSBP 3/6 = 50%, CIS 2/3 = 67%.
//	run 3: S3.8/a fails again (recurring), IAM.4 fails (new), EC2.8/i-1 is
//	       suppressed (so resolved, and EC2.8 passes on i-2), an archived
//	       failed EC2.8 finding is ignored, EC2.7 WARNING. FSBP 2/6 = 33%,
//	       CIS 1/3 = 33%.
func TestThreeRunsTrends(t *testing.T) {
	dir := t.TempDir()
	days := []time.Time{
		time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
	}
	wants := []trendWant{
		{findings: 3, fsbp: 40, cis: 50, overall: 40, prevFSBP: -1, prevCIS: -1},
		{findings: 2, new: 1, resolved: 2, recurring: 0, stillOpen: 1, fsbp: 50, cis: 67, overall: 50, prevFSBP: 40, prevCIS: 50,
			newKeys: []string{key("S3.5", bucketA)}, resolvedKeys: []string{key("CloudTrail.1", acct), key("S3.8", bucketA)}},
		{findings: 3, new: 1, resolved: 1, recurring: 1, stillOpen: 1, fsbp: 33, cis: 33, overall: 33, prevFSBP: 50, prevCIS: 67,
			newKeys: []string{key("IAM.4", acct)}, resolvedKeys: []string{key("EC2.8", inst1)}, recurringKeys: []string{key("S3.8", bucketA)}},
	}
	for i, w := range wants {
		run := days[i].Format("2006-01-02")
		r := runOnce(t, dir, run, days[i], loadRun(t, []string{"run1.json", "run2.json", "run3.json"}[i]))
		if r.Total() != w.findings {
			t.Errorf("%s: %d failing findings, want %d", run, r.Total(), w.findings)
		}
		if len(r.Trend.Runs) != i {
			t.Errorf("%s: %d previous runs read, want %d (notes %q)", run, len(r.Trend.Runs), i, r.Trend.Notes)
		}
		if len(r.Trend.Notes) != 0 {
			t.Errorf("%s: notes %q", run, r.Trend.Notes)
		}
		tr := r.Trend
		if got := [4]int{len(tr.New), len(tr.Resolved), len(tr.Recurring), len(tr.StillOpen)}; got != [4]int{w.new, w.resolved, w.recurring, w.stillOpen} {
			t.Errorf("%s: new/resolved/recurring/still open %v, want %v", run, got, [4]int{w.new, w.resolved, w.recurring, w.stillOpen})
		}
		if got := keysOf(tr.New); !equalStrings(got, w.newKeys) {
			t.Errorf("%s: new %q, want %q", run, got, w.newKeys)
		}
		if !equalStrings(tr.Resolved, w.resolvedKeys) {
			t.Errorf("%s: resolved %q, want %q", run, tr.Resolved, w.resolvedKeys)
		}
		if got := keysOf(tr.Recurring); !equalStrings(got, w.recurringKeys) {
			t.Errorf("%s: recurring %q, want %q", run, got, w.recurringKeys)
		}
		scores := map[string]ScoreRow{}
		for _, row := range r.ScoreRows() {
			scores[row.Standard] = row
		}
		for std, want := range map[string][2]int{
			"aws-foundational-security-best-practices/v/1.0.0": {w.fsbp, w.prevFSBP},
			"cis-aws-foundations-benchmark/v/1.4.0":            {w.cis, w.prevCIS},
			"":                                                 {w.overall, -2},
		} {
			row, ok := scores[std]
			if !ok {
				t.Errorf("%s: no score for %q (rows %+v)", run, std, r.ScoreRows())
				continue
			}
			if row.Percent() != want[0] {
				t.Errorf("%s: %s score %d%% (%+v), want %d%%", run, row.Name, row.Percent(), row.StandardScore, want[0])
			}
			switch {
			case want[1] == -1 && row.HasPrevious:
				t.Errorf("%s: %s has a previous score %d on the first run", run, row.Name, row.Previous)
			case want[1] >= 0 && (!row.HasPrevious || row.Previous != want[1] || row.Delta() != want[0]-want[1]):
				t.Errorf("%s: %s previous %d (%v), delta %d; want %d, %d", run, row.Name, row.Previous, row.HasPrevious, row.Delta(), want[1], want[0]-want[1])
			}
		}
	}
	// The last run's files show it: the arrows and the lists.
	md, err := os.ReadFile(filepath.Join(dir, "2026-11-23", FileMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| AWS FSBP v1.0.0 | 33% | ▼ -17 |",
		"| CIS AWS Foundations Benchmark v1.4.0 | 33% | ▼ -34 |",
		"1 new, 1 resolved, 1 recurring, 1 still open",
		"### Recurring: failing again after being resolved (1)\n\n- HIGH S3.8 on arn:aws:s3:::example-bucket-a (111111111111, us-east-1)",
		"| 2026-11-09 09:00 UTC | 3 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "2026-11-23", FileHTML))
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(string(html), "Summary for executives"), strings.Index(string(html), "Report scope"); i < 0 || j < i {
		t.Error("report.html does not open with the summary for executives")
	}
	if n := strings.Count(string(html), "<polyline"); n < 3 {
		t.Errorf("report.html has %d chart lines, want the scores' and the findings' over three runs", n)
	}
}

func keysOf(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, FindingKey(f))
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// A corrupt and a missing previous summary are left out with a note; the
// run before them still counts.
func TestCorruptPreviousSummary(t *testing.T) {
	dir := t.TempDir()
	runOnce(t, dir, "2026-11-02", time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), loadRun(t, "run1.json"))
	for run, files := range map[string]map[string]string{
		"2026-11-09": {FileMarkdown: "# an older report, before summaries were kept\n"},
		"2026-11-16": {FileMarkdown: "# report\n", FileSummary: `{"version":1,"generatedAt":"2026-11-16T09:00:00Z","failing":["trunc`},
		"notes":      {"todo.txt": "not a run"},
	} {
		if err := os.MkdirAll(filepath.Join(dir, run), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, run, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := runOnce(t, dir, "2026-11-23", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), loadRun(t, "run3.json"))
	if len(r.Trend.Runs) != 1 || r.Trend.Previous == nil || !r.Trend.Previous.GeneratedAt.Equal(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("previous runs %+v, want only 2026-11-02's", r.Trend.Runs)
	}
	if len(r.Trend.Notes) != 2 {
		t.Fatalf("notes %q, want one for the missing and one for the corrupt summary", r.Trend.Notes)
	}
	md := string(r.Markdown())
	for _, want := range []string{
		filepath.Join(dir, "2026-11-09", FileSummary) + " is missing",
		filepath.Join(dir, "2026-11-16", FileSummary) + " is not a valid summary",
	} {
		if !strings.Contains(md, mdText(want)) {
			t.Errorf("report.md has no note %q", want)
		}
	}
	// Against run 1: S3.8/a still open, IAM.4 and S3.5/a new, EC2.8/i-1
	// and CloudTrail.1 resolved.
	if got := [4]int{len(r.Trend.New), len(r.Trend.Resolved), len(r.Trend.Recurring), len(r.Trend.StillOpen)}; got != [4]int{2, 2, 0, 1} {
		t.Errorf("new/resolved/recurring/still open %v, want [2 2 0 1]", got)
	}
}

// With more runs than asked for, only the last n are read.
func TestHistoryKeepsTheLastRuns(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	raw := loadRun(t, "run1.json")
	for i := 0; i < 5; i++ {
		at := start.AddDate(0, 0, 7*i)
		runOnce(t, dir, at.Format("2006-01-02"), at, raw)
	}
	now := start.AddDate(0, 0, 35)
	h := LoadHistory(context.Background(), DirStore{Dir: dir, Run: now.Format("2006-01-02")}, now, 3)
	if len(h.Runs) != 3 || !h.Runs[0].GeneratedAt.Equal(start.AddDate(0, 0, 14)) || !h.Runs[2].GeneratedAt.Equal(start.AddDate(0, 0, 28)) {
		var got []string
		for _, s := range h.Runs {
			got = append(got, s.GeneratedAt.Format(time.DateOnly))
		}
		t.Errorf("runs %v, want the last three, oldest first", got)
	}
	// The first run into a new parent directory: nothing to read, no note.
	if h := LoadHistory(context.Background(), DirStore{Dir: filepath.Join(dir, "new", "parent"), Run: "2026-07-06"}, now, 3); len(h.Notes) != 0 || len(h.Runs) != 0 {
		t.Errorf("a parent directory not created yet: %+v, want no runs and no note", h)
	}
	// A parent that cannot be listed: a note, no runs.
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if h := LoadHistory(context.Background(), DirStore{Dir: notDir, Run: "x"}, now, 3); len(h.Notes) != 1 || len(h.Runs) != 0 {
		t.Errorf("an unreadable directory: %+v, want one note", h)
	}
}

// Security Hub's control status rules, case by case.
func TestComputeScores(t *testing.T) {
	std := []string{"aws-foundational-security-best-practices/v/1.0.0"}
	f := func(ctl, status, workflow, record string) Finding {
		return Finding{ControlID: ctl, ComplianceStatus: status, WorkflowStatus: workflow, RecordState: record, Standards: std}
	}
	s := ComputeScores([]Finding{
		f("A.1", "PASSED", "RESOLVED", "ACTIVE"), f("A.1", "PASSED", "RESOLVED", "ACTIVE"), // passed
		f("B.1", "PASSED", "RESOLVED", "ACTIVE"), f("B.1", "FAILED", "NEW", "ACTIVE"), // one failed: failed
		f("C.1", "PASSED", "RESOLVED", "ACTIVE"), f("C.1", "WARNING", "NEW", "ACTIVE"), // unknown
		f("D.1", "NOT_AVAILABLE", "NEW", "ACTIVE"),                                           // unknown
		f("E.1", "FAILED", "SUPPRESSED", "ACTIVE"), f("E.1", "PASSED", "RESOLVED", "ACTIVE"), // suppressed ignored: passed
		f("F.1", "FAILED", "SUPPRESSED", "ACTIVE"),                                              // only suppressed: no data
		f("G.1", "FAILED", "NEW", "ARCHIVED"),                                                   // only archived: no data
		{ID: "guardduty-1", ComplianceStatus: "", RecordState: "ACTIVE", WorkflowStatus: "NEW"}, // not a control finding
	})
	if len(s.Standards) != 1 {
		t.Fatalf("standards %+v", s.Standards)
	}
	got := s.Standards[0]
	if got.Passed != 2 || got.Failed != 1 || got.Unknown != 2 || got.Percent() != 40 || got.Name != "AWS FSBP v1.0.0" {
		t.Errorf("score %+v (%d%%), want 2 passed, 1 failed, 2 unknown: 40%%", got, got.Percent())
	}
	if (StandardScore{}).Percent() != -1 {
		t.Error("a standard without data has a score")
	}
}

// AssociatedStandards' StandardsId comes as a path with a "standards/" or
// "ruleset/" prefix, or as an ARN; findings without consolidation name
// their standard in the generator ID.
func TestStandardsOf(t *testing.T) {
	for _, c := range []struct {
		ids  []string
		gen  string
		want string
	}{
		{[]string{"standards/aws-foundational-security-best-practices/v/1.0.0"}, "", "aws-foundational-security-best-practices/v/1.0.0"},
		{[]string{"ruleset/cis-aws-foundations-benchmark/v/1.2.0", "standards/pci-dss/v/3.2.1"}, "", "cis-aws-foundations-benchmark/v/1.2.0,pci-dss/v/3.2.1"},
		{[]string{"arn:aws:securityhub:us-east-1::standards/nist-800-53/v/5.0.0"}, "", "nist-800-53/v/5.0.0"},
		{nil, "pci-dss/v/3.2.1/PCI.CloudTrail.1", "pci-dss/v/3.2.1"},
		{nil, "security-control/S3.1", ""},
	} {
		a := shtypes.AwsSecurityFinding{Compliance: &shtypes.Compliance{}, GeneratorId: &c.gen}
		for _, id := range c.ids {
			a.Compliance.AssociatedStandards = append(a.Compliance.AssociatedStandards, shtypes.AssociatedStandard{StandardsId: &id})
		}
		if got := strings.Join(FromASFF(a, "us-east-1").Standards, ","); got != c.want {
			t.Errorf("%v %q: standards %q, want %q", c.ids, c.gen, got, c.want)
		}
	}
}

// The SNS summary carries the scores with their arrows and what changed.
func TestSummaryMessageHasScores(t *testing.T) {
	r := goldenReport(t)
	body := *SummaryMessage("arn:aws:sns:us-east-1:111111111111:t", r, nil).Message
	for _, want := range []string{
		"Compliance scores (since the last run):",
		"AWS FSBP v1.0.0                              11%  ▼ -16",
		"1 new, 1 resolved, 2 recurring, 7 still open.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("summary lacks %q:\n%s", want, body)
		}
	}
}

func TestNiceMax(t *testing.T) {
	for n, want := range map[int]float64{0: 4, 3: 4, 4: 4, 5: 8, 10: 12, 19: 20, 45: 80, 7820: 8000} {
		if got := niceMax(n); got != want {
			t.Errorf("niceMax(%d) = %v, want %v", n, got, want)
		}
	}
}

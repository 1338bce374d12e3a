package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/remediation"
)

// BenchmarkReport10k measures building and rendering a report of 10,000
// findings (Security Hub accounts with many resources reach this size).
func BenchmarkReport10k(b *testing.B) {
	m, err := DefaultMapping()
	if err != nil {
		b.Fatal(err)
	}
	var fs []Finding
	for i, a := range seedFindings(10000) {
		f := FromASFF(a, "us-east-1")
		// One resource per finding: the seed reuses 40 buckets, which
		// Build would merge into a few hundred checks.
		f.ResourceID = fmt.Sprintf("arn:aws:s3:::bucket-%d", i)
		if f.RecordState == "ACTIVE" && f.WorkflowStatus != "SUPPRESSED" && f.ComplianceStatus == "FAILED" {
			fs = append(fs, f)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := Build(fs, m, fixedActivity(), Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
		if _, err := r.Files(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(fs)), "findings")
}

// BenchmarkReportOrganisation measures the same 10,000 findings spread over
// 1,000 accounts, each with outcomes: the breakdown by account's share.
func BenchmarkReportOrganisation(b *testing.B) {
	m, err := DefaultMapping()
	if err != nil {
		b.Fatal(err)
	}
	const accounts = 1000
	var fs []Finding
	for i, a := range seedFindings(10000) {
		f := FromASFF(a, "us-east-1")
		f.ResourceID = fmt.Sprintf("arn:aws:s3:::bucket-%d", i)
		f.Account = fmt.Sprintf("%012d", i%accounts)
		if f.RecordState == "ACTIVE" && f.WorkflowStatus != "SUPPRESSED" && f.ComplianceStatus == "FAILED" {
			fs = append(fs, f)
		}
	}
	act := fixedActivity()
	act.Accounts = nil
	for i := 0; i < accounts; i++ {
		counts := map[remediation.Action]int{}
		for j, a := range AccountActions() {
			counts[a] = (i + j) % 4
		}
		act.Accounts = append(act.Accounts, AccountActivity{Account: fmt.Sprintf("%012d", i), Counts: counts})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := Build(fs, m, act, Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
		if len(r.ByAccount) != accounts {
			b.Fatalf("%d accounts in the breakdown, want %d", len(r.ByAccount), accounts)
		}
		if _, err := r.Files(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(fs)), "findings")
	b.ReportMetric(accounts, "accounts")
}

// BenchmarkTrends measures what a run adds for its trends at the size of
// BenchmarkReport10k: reading twelve previous summaries of 10,000 failing
// findings each from sibling directories, telling new, resolved, recurring
// and still-open findings apart, computing the scores and writing this
// run's summary.json.
func BenchmarkTrends(b *testing.B) {
	m, err := DefaultMapping()
	if err != nil {
		b.Fatal(err)
	}
	var fs []Finding
	for i, a := range seedFindings(10000) {
		f := FromASFF(a, "us-east-1")
		f.ResourceID = fmt.Sprintf("arn:aws:s3:::bucket-%d", i)
		f.Standards = []string{"aws-foundational-security-best-practices/v/1.0.0"}
		fs = append(fs, f)
	}
	var failing []Finding
	for _, f := range fs {
		if f.RecordState == "ACTIVE" && f.WorkflowStatus != "SUPPRESSED" && f.ComplianceStatus == "FAILED" {
			failing = append(failing, f)
		}
	}
	dir := b.TempDir()
	for i := 0; i < DefaultHistoryRuns; i++ {
		at := fixedNow.AddDate(0, 0, -7*(DefaultHistoryRuns-i))
		// Each earlier run fails on a shifted half of today's findings.
		prev := Build(failing[i*300:i*300+len(failing)/2], m, fixedActivity(), Meta{GeneratedAt: at})
		prev.SetScores(ComputeScores(fs))
		data, err := prev.SummaryJSON()
		if err != nil {
			b.Fatal(err)
		}
		run := filepath.Join(dir, at.Format(time.DateOnly))
		if err := os.MkdirAll(run, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(run, FileSummary), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	r := Build(failing, m, fixedActivity(), Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
	store := DirStore{Dir: dir, Run: fixedNow.Format(time.DateOnly)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.SetScores(ComputeScores(fs))
		h := LoadHistory(context.Background(), store, fixedNow, DefaultHistoryRuns)
		if len(h.Runs) != DefaultHistoryRuns {
			b.Fatalf("%d runs read (%q), want %d", len(h.Runs), h.Notes, DefaultHistoryRuns)
		}
		r.SetHistory(h)
		if _, err := r.SummaryJSON(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(failing)), "findings")
	b.ReportMetric(float64(len(r.Trend.New)), "new")
	b.ReportMetric(float64(len(r.Trend.Recurring)), "recurring")
}

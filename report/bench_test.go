package report

import (
	"fmt"
	"testing"

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

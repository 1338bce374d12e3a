package report

import (
	"fmt"
	"testing"
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

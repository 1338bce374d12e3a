package evidence

import (
	"fmt"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/archive"
	"github.com/autoremediate/autoremediate/remediation"
)

// BenchmarkBuildAndRender builds and renders a month's pack for 2,000
// buckets, each with three fixes by the pipeline and the Config
// compliance history around them (a large account's month).
func BenchmarkBuildAndRender(b *testing.B) {
	const n = 2000
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	var recs []archive.Record
	data := &ConfigData{Account: account, Coverage: []Coverage{{Region: "us-east-1", Recorders: []Recorder{{Name: "default", Strategy: "ALL_SUPPORTED_RESOURCE_TYPES", Recording: true}}}}, Histories: map[Key]*History{}}
	for i := range n {
		id := fmt.Sprintf("bucket-%05d", i)
		k := Key{account, "us-east-1", bucket, id}
		h := &History{ComplianceBefore: &ComplianceItem{Time: start.Add(-time.Hour), Rules: map[string]string{s3Rule: "COMPLIANT"}}}
		for j := range 3 {
			t := start.Add(time.Duration(i%600+j*200) * time.Hour)
			recs = append(recs, archive.Record{Outcome: remediation.Outcome{Remediator: "s3-public-access-block", Rule: s3Rule, ResourceType: bucket, ResourceID: id,
				Account: account, Region: "us-east-1", Action: remediation.ActionRemediated, Trigger: remediation.TriggerCloudTrail, Actor: "arn:aws:iam::111122223333:user/dev",
				DetectedAt: t, CompletedAt: t.Add(3 * time.Second)}})
			h.Compliance = append(h.Compliance, ComplianceItem{Time: t.Add(30 * time.Second), Rules: map[string]string{s3Rule: "NON_COMPLIANT"}},
				ComplianceItem{Time: t.Add(5 * time.Minute), Rules: map[string]string{s3Rule: "COMPLIANT"}})
			h.Configuration = append(h.Configuration, ConfigItem{Time: t.Add(time.Second), Status: "OK"})
		}
		data.Histories[k] = h
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		r := Build(Input{From: start, To: end, GeneratedAt: end, Outcomes: recs, Config: data, Tool: fixtureTool})
		files, err := r.Files()
		if err != nil {
			b.Fatal(err)
		}
		size = 0
		for _, f := range files {
			size += len(f.Body)
		}
	}
	b.ReportMetric(float64(size)/1e6, "MB-pack")
}

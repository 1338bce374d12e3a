package report

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

// The report Lambda's layout on a real S3 API (moto): the date directories
// under the prefix are the runs; a run without summary.json, a corrupt
// one, objects outside the prefix and today's own directory are handled
// as documented.
func TestS3HistoryOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	s3c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reports")}); err != nil {
		t.Fatal(err)
	}
	summary := func(day string, findings int) string {
		return `{"version":1,"generatedAt":"` + day + `T09:00:00Z","findings":` + strconv.Itoa(findings) + `,"failing":[]}`
	}
	for key, body := range map[string]string{
		"soc2-reports/2026-11-02/summary.json": summary("2026-11-02", 4),
		"soc2-reports/2026-11-09/report.md":    "# before summaries were kept",
		"soc2-reports/2026-11-16/summary.json": `{"version":1,`,
		"soc2-reports/2026-11-23/summary.json": summary("2026-11-23", 9), // today's, being rewritten
		"soc2-reports/notes/summary.json":      summary("2026-11-20", 7), // not a date directory
		"other/2026-11-20/summary.json":        summary("2026-11-20", 8),
	} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	h := LoadHistory(ctx, S3Store{API: s3c, Bucket: "reports", Prefix: "soc2-reports"}, now, DefaultHistoryRuns)
	if len(h.Runs) != 1 || h.Runs[0].Findings != 4 {
		t.Errorf("runs %+v, want only 2026-11-02's", h.Runs)
	}
	notes := strings.Join(h.Notes, "\n")
	if len(h.Notes) != 2 || !strings.Contains(notes, "s3://reports/soc2-reports/2026-11-09/summary.json is missing") ||
		!strings.Contains(notes, "s3://reports/soc2-reports/2026-11-16/summary.json is not a valid summary") {
		t.Errorf("notes:\n%s\nwant one for 2026-11-09 (missing) and one for 2026-11-16 (corrupt)", notes)
	}
	// Without access to the bucket the report is still written, with a note.
	h = LoadHistory(ctx, S3Store{API: s3c, Bucket: "no-such-bucket", Prefix: "soc2-reports"}, now, DefaultHistoryRuns)
	if len(h.Runs) != 0 || len(h.Notes) != 1 || !strings.Contains(h.Notes[0], "could not be listed") {
		t.Errorf("missing bucket: %+v", h)
	}
}

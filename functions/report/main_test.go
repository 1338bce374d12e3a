package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/credentials"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/report"
)

func TestHandlerNeedsBucket(t *testing.T) {
	if _, err := newHandler(context.Background(), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "REPORT_BUCKET") {
		t.Errorf("got %v, want an error naming REPORT_BUCKET", err)
	}
}

// The wiring end to end on the emulator: environment -> Security Hub and
// CloudWatch -> the report's objects under REPORT_PREFIX/YYYY-MM-DD/.
func TestHandlerWritesTheReport(t *testing.T) {
	srv := emulator.StartT(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	s3c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("soc2")}); err != nil {
		t.Fatal(err)
	}
	// A key deactivation by `remediate report credentials --yes` just
	// before the run: the activity section must count it.
	cw := cloudwatch.NewFromConfig(srv.AWSConfig(), app.CloudWatchQueryProtocol) // moto speaks awsQuery
	pub := &publish.OutcomePublisher{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Namespace: publish.DefaultNamespace,
		Metrics: func() publish.MetricsAPI { return cw }}
	if err := pub.Publish(ctx, remediation.Outcome{Remediator: credentials.Remediator, Action: remediation.ActionRemediated, CompletedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	// A previous run's summary, a week old: the report's trends start there.
	lastWeek := time.Now().UTC().AddDate(0, 0, -7)
	prev := `{"version":1,"generatedAt":"` + lastWeek.Format(time.RFC3339) + `","findings":2,"bySeverity":{"HIGH":2},"failing":[]}`
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("soc2"), Key: aws.String("weekly/" + lastWeek.Format("2006-01-02") + "/summary.json"),
		Body: strings.NewReader(prev)}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REPORT_BUCKET": "soc2", "REPORT_PREFIX": "weekly/"}
	h, err := newHandler(ctx, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := h(ctx, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Format("2006-01-02")
	if len(d.Objects) != len(report.FileNames()) || d.Notified {
		t.Errorf("delivery %+v: want an object per file %v and no SNS (no topic)", d, report.FileNames())
	}
	for _, name := range report.FileNames() {
		key := "weekly/" + day + "/" + name
		if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("soc2"), Key: aws.String(key)}); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("soc2"), Key: aws.String("weekly/" + day + "/report.md")})
	if err != nil {
		t.Fatal(err)
	}
	md, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if row := "| " + credentials.Remediator + " | 1 | 0 | 0 | 0 |"; !strings.Contains(string(md), row) {
		t.Errorf("report.md has no activity row %q", row)
	}
	if since := "Since the last run (" + lastWeek.Format("2006-01-02"); !strings.Contains(string(md), since) {
		t.Errorf("report.md does not compare with the previous run's summary (%q)", since)
	}
}

// The function reads its own Region's hub through the same wiring as the
// CLI: the client factory honours the Region it is asked for.
func TestWiringHonoursTheRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	gen, _, _, err := wire(context.Background(), func(k string) string { return map[string]string{"REPORT_BUCKET": "b"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Regions) != 1 || gen.Regions[0] != "us-east-1" {
		t.Errorf("Regions %q, want the function's own", gen.Regions)
	}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		c, ok := gen.Findings(region).(*securityhub.Client)
		if !ok {
			t.Fatalf("client for %s is a %T", region, gen.Findings(region))
		}
		if got := c.Options().Region; got != region {
			t.Errorf("client for %s reads %s", region, got)
		}
	}
}

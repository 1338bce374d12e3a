package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

func TestHandlerNeedsBucket(t *testing.T) {
	if _, err := newHandler(context.Background(), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "REPORT_BUCKET") {
		t.Errorf("got %v, want an error naming REPORT_BUCKET", err)
	}
}

// The wiring end to end on the emulator: environment -> Security Hub and
// CloudWatch -> three objects under REPORT_PREFIX/YYYY-MM-DD/.
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
	if len(d.Objects) != 3 || d.Notified {
		t.Errorf("delivery %+v: want three objects and no SNS (no topic)", d)
	}
	for _, name := range []string{"report.md", "findings.csv", "report.html"} {
		key := "weekly/" + day + "/" + name
		if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("soc2"), Key: aws.String(key)}); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}

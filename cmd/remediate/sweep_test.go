package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

func TestSweepAndDashboardBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"sweep", "--only", "no-such-remediator"}, {"sweep", "--output", "yaml"}, {"sweep", "--concurrency", "0"}, {"sweep", "extra"},
		{"dashboard"}, {"dashboard", "--out", "x.html", "--percentiles", "maybe"},
		{"demo", "--interval", "0s"},
	} {
		c, _, stderr := testCLI("", nil)
		if code := run(context.Background(), args, c); code != exitBadArgs {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitBadArgs, stderr.String())
		}
	}
	c, stdout, _ := testCLI("", nil)
	if code := run(context.Background(), []string{"sweep", "--help"}, c); code != exitOK {
		t.Errorf("sweep --help: exit %d", code)
	}
	_ = stdout
}

// remediate sweep and remediate dashboard end to end against the emulator,
// with the settings from the environment as a user would run them.
func TestSweepAndDashboardCommandsOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
		env[k] = v
	}
	ctx := context.Background()
	s3c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cli-open-bucket")}); err != nil {
		t.Fatal(err)
	}

	// Dry run, JSON lines: nothing changes.
	c, stdout, stderr := testCLI("", env)
	if code := run(ctx, []string{"sweep", "--dry-run", "--output", "json", "--only", "s3-public-access-block"}, c); code != exitOK {
		t.Fatalf("sweep --dry-run: exit %d\n%s", code, stderr.String())
	}
	var o remediation.Outcome
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &o) != nil || o.Action != remediation.ActionDryRun || o.ResourceID != "cli-open-bucket" {
		t.Fatalf("dry-run output %q", stdout.String())
	}
	if _, err := s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("cli-open-bucket")}); err == nil {
		t.Error("--dry-run changed the bucket")
	}
	if !strings.Contains(stderr.String(), "sweep: 1/1 checks done (100%)") {
		t.Errorf("no plain progress lines on a non-terminal: %q", stderr.String())
	}

	// Enforce, with metrics through the API so the dashboard has data.
	env["METRICS_MODE"] = "api"
	c, stdout, stderr = testCLI("", env)
	if code := run(ctx, []string{"sweep"}, c); code != exitOK {
		t.Fatalf("sweep: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "compliance score:") || !strings.Contains(stdout.String(), "s3-public-access-block") {
		t.Errorf("summary %q", stdout.String())
	}
	if _, err := s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("cli-open-bucket")}); err != nil {
		t.Errorf("sweep did not fix the bucket: %v", err)
	}

	out := filepath.Join(t.TempDir(), "dash.html")
	c, stdout, stderr = testCLI("", env)
	if code := run(ctx, []string{"dashboard", "--out", out}, c); code != exitOK {
		t.Fatalf("dashboard: exit %d\n%s", code, stderr.String())
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `data-title="Remediations by remediator and action" data-series="3"`) {
		t.Errorf("the remediations widget does not show the sweep's 3 remediator/action series (both S3 remediators and the account's EBS default, remediated):\n%s", page)
	}
}

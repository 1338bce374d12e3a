package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/credentials"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/report"
)

func TestReportBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"report"}, {"report", "nope"}, {"report", "soc2"}, {"report", "soc2", "--out", "x", "--period", "7 days"},
		{"report", "soc2", "--out", "x", "--history", "-1"},
		{"report", "credentials", "--output", "xml"}, {"report", "credentials", "--yes"},
		{"report", "credentials", "--deactivate-unused-keys", "--yes", "--as-of", "2030-01-01"},
	} {
		c, _, errOut := testCLI("", nil)
		if code := run(context.Background(), args, c); code != exitBadArgs {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitBadArgs, errOut.String())
		}
		if errOut.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "1d": 24 * time.Hour} {
		if got, err := parsePeriod(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "0d", "500d", "30s", "week"} {
		if _, err := parsePeriod(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The report commands end to end against the emulator.
func TestReportCommandsOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()

	data, err := os.ReadFile(filepath.Join("..", "..", "report", "testdata", "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed []shtypes.AwsSecurityFinding
	if err := json.Unmarshal(data, &seed); err != nil {
		t.Fatal(err)
	}
	hub := securityhub.NewFromConfig(srv.AWSConfig())
	if _, err := hub.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: seed}); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range seed {
		if f.RecordState == "ACTIVE" && f.Compliance.Status == "FAILED" && f.Workflow.Status != "SUPPRESSED" {
			want++
		}
	}

	t.Run("soc2", func(t *testing.T) {
		// A key deactivation by `report credentials --yes` just now: the
		// report run at once must count it in its activity section.
		cw := cloudwatch.NewFromConfig(srv.AWSConfig(), app.CloudWatchQueryProtocol) // moto speaks awsQuery
		pub := &publish.OutcomePublisher{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Namespace: publish.DefaultNamespace,
			Metrics: func() publish.MetricsAPI { return cw }}
		if err := pub.Publish(ctx, remediation.Outcome{Remediator: credentials.Remediator, Action: remediation.ActionRemediated, CompletedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		// A previous run in a sibling directory of --out: the trends
		// compare with it.
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		if err := os.MkdirAll(filepath.Join(parent, "2026-01-05"), 0o755); err != nil {
			t.Fatal(err)
		}
		prev := `{"version":1,"generatedAt":"2026-01-05T09:00:00Z","findings":1,"bySeverity":{"LOW":1},"failing":["x|y|S3.1|z"]}`
		if err := os.WriteFile(filepath.Join(parent, "2026-01-05", report.FileSummary), []byte(prev), 0o644); err != nil {
			t.Fatal(err)
		}
		c, out, errOut := testCLI("", map[string]string{})
		c.getenv = os.Getenv
		if code := run(ctx, []string{"report", "soc2", "--out", dir, "--period", "1d"}, c); code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		paths := strings.Fields(out.String())
		if len(paths) != len(report.FileNames()) {
			t.Fatalf("printed %q, want a path per file %v", out.String(), report.FileNames())
		}
		for _, p := range paths {
			if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
				t.Errorf("%s: %v", p, err)
			}
		}
		f, err := os.Open(filepath.Join(dir, "findings.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil || len(recs)-1 != want {
			t.Errorf("findings.csv: %d rows (%v), want %d", len(recs)-1, err, want)
		}
		if !strings.Contains(errOut.String(), "findings (1 critical, 4 high) in 2 accounts") || strings.Contains(errOut.String(), "unavailable") {
			t.Errorf("summary on stderr: %q", errOut.String())
		}
		md, err := os.ReadFile(filepath.Join(dir, "report.md"))
		if err != nil {
			t.Fatal(err)
		}
		if row := "| " + credentials.Remediator + " | 1 | 0 | 0 | 0 |"; !strings.Contains(string(md), row) {
			t.Errorf("report.md has no activity row %q", row)
		}
		if strings.Contains(string(md), "No remediation outcomes were recorded") {
			t.Error("report.md says no outcomes were recorded")
		}
		if !strings.Contains(string(md), "Since the last run (2026-01-05 09:00 UTC)") || !strings.Contains(string(md), "### Resolved since the last run (1)") {
			t.Error("report.md does not compare with the previous run in the sibling directory")
		}
	})

	t.Run("credentials", func(t *testing.T) {
		api := iam.NewFromConfig(srv.AWSConfig())
		if _, err := api.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("console-no-mfa")}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("console-no-mfa"), Password: aws.String("Correct-Horse-Battery-9")}); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		c, out, errOut := testCLI("", nil)
		c.getenv = os.Getenv
		if code := run(ctx, []string{"report", "credentials", "--output", "json", "--out", dir}, c); code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var fs []credentials.Finding
		if err := json.Unmarshal(out.Bytes(), &fs); err != nil {
			t.Fatalf("stdout is not the JSON findings: %v\n%s", err, out.String())
		}
		if len(fs) != 1 || fs[0].User != "console-no-mfa" || fs[0].Control != credentials.Benchmark+" 1.10" {
			t.Errorf("findings %+v, want the console user without MFA (CIS 1.10)", fs)
		}
		for _, name := range []string{"credentials.csv", "credentials.json"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Error(err)
			}
		}

		// Dry run on an as-of date 60 days on: outcome lines on stdout, nothing changed.
		if _, err := api.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("console-no-mfa")}); err != nil {
			t.Fatal(err)
		}
		c, out, errOut = testCLI("", nil)
		c.getenv = os.Getenv
		asOf := time.Now().Add(60 * 24 * time.Hour).UTC().Format(time.RFC3339)
		if code := run(ctx, []string{"report", "credentials", "--deactivate-unused-keys", "--as-of", asOf}, c); code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var o struct{ Remediator, Action string }
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &o) != nil || o.Remediator != "iam-unused-access-keys" || o.Action != "dry-run" {
			t.Errorf("stdout %q, want one dry-run outcome line", out.String())
		}
		keys, err := api.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("console-no-mfa")})
		if err != nil || len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].Status != "Active" {
			t.Errorf("dry run changed the key: %+v %v", keys, err)
		}

		// With --yes the findings printed are those of the credential
		// report read before any change, and say so.
		c, out, errOut = testCLI("", nil)
		c.getenv = os.Getenv
		if code := run(ctx, []string{"report", "credentials", "--deactivate-unused-keys", "--yes"}, c); code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		label := strings.Index(errOut.String(), "findings BEFORE the changes below")
		finding := strings.Index(errOut.String(), "console-no-mfa")
		if label < 0 || finding < label {
			t.Errorf("stderr does not label the findings as evaluated before the changes:\n%s", errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("stdout %q: the key is new, nothing to deactivate", out.String())
		}
	})
}

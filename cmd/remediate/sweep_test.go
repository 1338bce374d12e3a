package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

func TestSweepAndDashboardBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []string // in the message on standard error
	}{
		{args: []string{"sweep", "--only", "no-such-remediator"}, want: []string{`unknown remediator "no-such-remediator"`}},
		{args: []string{"sweep", "--output", "xml"}, want: []string{`--output "xml"`, "text or json"}},
		{args: []string{"sweep", "--concurrency", "0"}, want: []string{"--concurrency 0", "1 or more"}},
		{args: []string{"sweep", "extra"}, want: []string{`unexpected argument "extra"`}},
		{args: []string{"sweep", "--only", "ec2-imdsv2"}, env: map[string]string{"ENABLED_REMEDIATORS": "s3-encryption"},
			want: []string{`"ec2-imdsv2" is not enabled`, "ENABLED_REMEDIATORS=s3-encryption"}},
		// Repeated --only adds up: the first one is not silently dropped.
		{args: []string{"sweep", "--only", "ec2-imdsv2", "--only", "s3-encryption"}, env: map[string]string{"ENABLED_REMEDIATORS": "s3-encryption"},
			want: []string{`"ec2-imdsv2" is not enabled`}},
		{args: []string{"sweep", "--accounts", "12345"}, want: []string{"--accounts", `"12345" is not a 12-digit AWS account ID`}},
		{args: []string{"sweep", "--accounts", ","}, want: []string{"--accounts", "names no account"}},
		{args: []string{"sweep", "--regions", "Ireland"}, want: []string{"--regions", `"Ireland" is not an AWS region name`}},
		{args: []string{"sweep", "--accounts", "all", "--parallel", "0"}, want: []string{"--parallel 0", "1 or more"}},
		{args: []string{"dashboard"}, want: []string{"--out FILE is required"}},
		{args: []string{"dashboard", "--out", "x.html", "extra"}, want: []string{`unexpected argument "extra"`}},
		{args: []string{"dashboard", "--out", "x.html", "--hours", "0"}, want: []string{"--hours 0"}},
		{args: []string{"dashboard", "--out", "x.html", "--percentiles", "maybe"}, want: []string{`--percentiles "maybe"`}},
		{args: []string{"demo", "--interval", "0s"}}, // demo.go is not ours: exit status only
	} {
		c, _, stderr := testCLI("", tc.env)
		if code := run(context.Background(), tc.args, c); code != exitBadArgs {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, exitBadArgs, stderr.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v: stderr %q does not say %q", tc.args, stderr.String(), w)
			}
		}
		if len(tc.want) > 0 && strings.Contains(stderr.String(), "bad arguments") {
			t.Errorf("%v: stderr %q does not name the problem", tc.args, stderr.String())
		}
	}
	c, _, _ := testCLI("", nil)
	if code := run(context.Background(), []string{"sweep", "--help"}, c); code != exitOK {
		t.Errorf("sweep --help: exit %d", code)
	}
}

// sweep --help says what the sweep lists from the listers themselves:
// every lister's description, however the text is wrapped.
func TestSweepHelpNamesEveryListing(t *testing.T) {
	c, stdout, stderr := testCLI("", nil)
	if code := run(context.Background(), []string{"sweep", "--help"}, c); code != exitOK {
		t.Fatalf("sweep --help: exit %d", code)
	}
	text := stdout.String() + stderr.String() // wherever the flag package prints it
	help := strings.Join(strings.Fields(text), " ")
	listers := 0
	for _, d := range remediators.Definitions() {
		for _, sc := range d.Sweep {
			listers++
			desc := sc.Lister.Description
			if desc == "" {
				t.Errorf("%s: the lister %s of rule %s has no description", d.Name, sc.Lister.Key, sc.Rule)
			} else if !strings.Contains(help, strings.Join(strings.Fields(desc), " ")) {
				t.Errorf("sweep --help does not say it lists %q (lister %s):\n%s", desc, sc.Lister.Key, text)
			}
		}
	}
	if listers == 0 {
		t.Fatal("no sweep check in the definitions")
	}
	// A new remediator's listing shows up, a shared one once.
	probe := remediators.Lister{Key: "zz-test-only-listing", Description: "zz test-only things"}
	defs := append(remediators.Definitions(), remediators.Definition{Sweep: []remediators.SweepCheck{
		{Rule: "zz-a", Lister: probe}, {Rule: "zz-b", Lister: probe}, {Rule: "zz-c", Lister: remediators.BucketLister()}}})
	got := strings.Join(strings.Fields(sweepHelp(defs)), " ")
	if n := strings.Count(got, probe.Description); n != 1 {
		t.Errorf("a new listing shows up %d times in the help, want once:\n%s", n, got)
	}
	if n := strings.Count(got, remediators.BucketLister().Description); n != 1 {
		t.Errorf("the bucket listing shows up %d times in the help, want once:\n%s", n, got)
	}
	for _, line := range strings.Split(sweepHelp(defs), "\n")[1:] {
		if len(line) > 80 {
			t.Errorf("help line longer than 80 characters: %q", line)
		}
	}
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

	// --only repeated adds up: both S3 remediators check the bucket.
	c, stdout, stderr = testCLI("", env)
	if code := run(ctx, []string{"sweep", "--dry-run", "--output", "json", "--only", "s3-public-access-block", "--only", "s3-encryption"}, c); code != exitOK {
		t.Fatalf("sweep --only x --only y: exit %d\n%s", code, stderr.String())
	}
	if got := strings.Count(stdout.String(), `"resourceId":"cli-open-bucket"`); got != 2 || !strings.Contains(stdout.String(), `"remediator":"s3-encryption"`) {
		t.Errorf("sweep --only s3-public-access-block --only s3-encryption: %d outcomes for the bucket, want 2:\n%s", got, stdout.String())
	}

	// No instances: nothing to check, and no score rather than 100%.
	c, stdout, stderr = testCLI("", env)
	if code := run(ctx, []string{"sweep", "--dry-run", "--only", "ec2-imdsv2"}, c); code != exitOK {
		t.Fatalf("sweep --only ec2-imdsv2: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "compliance score: n/a (no checks)") || strings.Contains(stdout.String(), "100.0%") {
		t.Errorf("sweep with no checks claims a score:\n%s", stdout.String())
	}

	// Enforce. METRICS_MODE is not set: against an endpoint it defaults to
	// api, so the dashboard sees the sweep's outcomes.
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
	widget := regexp.MustCompile(`(?s)<section[^>]*data-title="Remediations by remediator and action".*?</section>`).FindString(string(page))
	for _, series := range []string{"remediated s3-public-access-block", "remediated s3-encryption", "remediated ebs-encryption", "dry-run s3-public-access-block"} {
		if !strings.Contains(widget, "<title>"+series+" ") {
			t.Errorf("the remediations widget does not show the sweeps' %q outcomes:\n%s", series, widget)
		}
	}
}

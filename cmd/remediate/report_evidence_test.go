package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/evidence"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

func TestReportEvidenceBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"--out", "x"},                        // no --from
		{"--from", "2026-12-01"},              // no --out
		{"--from", "yesterday", "--out", "x"}, // not a date
		{"--from", "2026-12-02", "--to", "2026-12-01", "--out", "x"}, // to before from
		{"--from", "2026-12-01", "--out", "x", "--archive-dir", "a", "--archive-bucket", "b"},
		{"--from", "2026-12-01", "--out", "x", "extra"},
	} {
		c, _, errOut := testCLI("", map[string]string{})
		if code := run(context.Background(), append([]string{"report", "evidence"}, args...), c); code != exitBadArgs {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, c := range []struct {
		in   string
		end  bool
		want time.Time
	}{
		{"2026-12-01", false, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-12-01", true, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{"2026-12-01T10:00:00+02:00", true, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
	} {
		if got, err := parseDate(c.in, c.end); err != nil || !got.Equal(c.want) {
			t.Errorf("parseDate(%q, %v) = %v, %v; want %v", c.in, c.end, got, err, c.want)
		}
	}
}

// The evidence pack end to end on the emulator: moto records the bucket's
// configuration (GetResourceConfigHistory) but has no compliance history
// and no rule evaluations, which the pack must say rather than hide.
func TestReportEvidenceOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg := srv.AWSConfig()
	cs := configservice.NewFromConfig(cfg)
	if _, err := cs.PutConfigurationRecorder(ctx, &configservice.PutConfigurationRecorderInput{ConfigurationRecorder: &cstypes.ConfigurationRecorder{
		Name: aws.String("default"), RoleARN: aws.String("arn:aws:iam::123456789012:role/config"),
		RecordingGroup: &cstypes.RecordingGroup{AllSupported: true, IncludeGlobalResourceTypes: true}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.PutDeliveryChannel(ctx, &configservice.PutDeliveryChannelInput{DeliveryChannel: &cstypes.DeliveryChannel{Name: aws.String("default"), S3BucketName: aws.String("config-delivery")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.StartConfigurationRecorder(ctx, &configservice.StartConfigurationRecorderInput{ConfigurationRecorderName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("evidence-web")}); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC()
	o := remediation.Outcome{Remediator: "s3-public-access-block", Rule: "s3-bucket-level-public-access-prohibited", ResourceType: "AWS::S3::Bucket",
		ResourceID: "evidence-web", Account: "123456789012", Region: emulator.Region, Action: remediation.ActionRemediated, Trigger: remediation.TriggerCloudTrail,
		Actor: "arn:aws:iam::123456789012:user/alice", DetectedAt: now.Add(-3 * time.Second), CompletedAt: now.Add(-time.Second)}
	line, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	// The archive as Firehose writes it: gzip, under a prefix.
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("outcome-archive")}); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	key := "team/outcomes/" + now.Format("2006/01/02") + "/outcome-archive-1-" + now.Format("2006-01-02-15-04-05") + "-abc.gz"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("outcome-archive"), Key: aws.String(key), Body: bytes.NewReader(gz.Bytes())}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pack")
	c, stdout, errOut := testCLI("", map[string]string{"ARCHIVE_BUCKET": "outcome-archive/team"})
	args := []string{"report", "evidence", "--from", now.Add(-time.Hour).Format(time.RFC3339), "--out", out}
	if code := run(ctx, args, c); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if n := len(strings.Fields(stdout.String())); n != 5 {
		t.Errorf("printed %d paths, want 5: %s", n, stdout.String())
	}
	md, err := os.ReadFile(filepath.Join(out, evidence.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"AWS::S3::Bucket `evidence-web`",
		"arn:aws:iam::123456789012:user/alice", // who changed it
		"| us-east-1 | default | yes | all supported types | yes |",
		"AWS Config has no AWS::Config::ResourceCompliance history for AWS::S3::Bucket/evidence-web", // moto has none: said so
		"listing the evaluations of Config rule s3-bucket-level-public-access-prohibited in us-east-1",
	} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("evidence.md lacks %q:\n%s", want, md)
		}
	}
	// moto 5.2.1 renders the capture time of the bucket's configuration
	// item as a string, which the SDK refuses: whatever Config answers, the
	// bucket's configuration history is in the timeline or the pack says
	// why it is not.
	if !bytes.Contains(md, []byte("| Config configuration |")) && !bytes.Contains(md, []byte("history of evidence-web")) {
		t.Errorf("the bucket's configuration history is neither shown nor explained:\n%s", md)
	}
	var m evidence.Manifest
	raw, err := os.ReadFile(filepath.Join(out, evidence.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		body, err := os.ReadFile(filepath.Join(out, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s does not match its manifest hash", f.Name)
		}
	}
	if m.Sources.Archive.Location != "s3://outcome-archive/team/" || m.Sources.Config.Account != "123456789012" || m.Sources.Archive.Outcomes != 1 || m.Tool.Module == "" {
		t.Errorf("manifest inputs %+v", m)
	}
}

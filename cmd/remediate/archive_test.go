package main

import (
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

// archivedFile is where the local writers put a run's outcomes of one day.
var archivedFile = regexp.MustCompile(`^outcomes/(\d{4}/\d{2}/\d{2})/outcomes-\d{8}T\d{6}Z-[0-9a-f]{8}\.jsonl$`)

// The outcomes that invoke and sweep print are the ones they archive, in
// ARCHIVE_DIR and in an Object Lock bucket (ARCHIVE_BUCKET with a prefix),
// in the documented layout: one file per run and day, under the UTC date of
// each outcome's completedAt, one outcome JSON per line.
func TestInvokeAndSweepArchiveTheirOutcomes(t *testing.T) {
	srv := emulator.StartT(t)
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
		env[k] = v
	}
	ctx := context.Background()
	s3c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range []string{"example-public-bucket", "cli-archive-open"} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	// The archive bucket as Terraform makes it: Object Lock with a default
	// retention, which takes a PutObject only with a checksum.
	const archiveBucket = "cli-outcome-archive"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(archiveBucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String(archiveBucket),
		ObjectLockConfiguration: &s3types.ObjectLockConfiguration{ObjectLockEnabled: s3types.ObjectLockEnabledEnabled,
			Rule: &s3types.ObjectLockRule{DefaultRetention: &s3types.DefaultRetention{Mode: s3types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env["ARCHIVE_DIR"] = dir
	env["ARCHIVE_BUCKET"] = archiveBucket + "/evidence"

	var printed []string
	c, stdout, stderr := testCLI("", env)
	if code := run(ctx, []string{"invoke", "--event", writeFile(t, string(fixture(t, "s3-public-read-noncompliant.json")))}, c); code != exitOK {
		t.Fatalf("invoke: exit %d\n%s", code, stderr.String())
	}
	printed = append(printed, outcomeLines(t, stdout.String())...)
	c, stdout, stderr = testCLI("", env)
	if code := run(ctx, []string{"sweep", "--output", "json", "--only", "s3-public-access-block"}, c); code != exitOK {
		t.Fatalf("sweep: exit %d\n%s", code, stderr.String())
	}
	swept := outcomeLines(t, stdout.String())
	if len(swept) < 3 { // the three buckets
		t.Fatalf("sweep printed %d outcomes: %s", len(swept), stdout.String())
	}
	printed = append(printed, swept...)
	slices.Sort(printed)

	// ARCHIVE_DIR: two runs, so two files (of the same day, unless the
	// test ran across midnight UTC).
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkArchived(t, "ARCHIVE_DIR", files, printed)

	// ARCHIVE_BUCKET: the same, under the prefix.
	objects := map[string]string{}
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(archiveBucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		key, ok := strings.CutPrefix(aws.ToString(o.Key), "evidence/")
		if !ok {
			t.Errorf("object %s outside the prefix", aws.ToString(o.Key))
			continue
		}
		got, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(archiveBucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		objects[key] = string(b)
		if got.ObjectLockMode != s3types.ObjectLockModeGovernance {
			t.Errorf("object %s is not under the bucket's default retention (%q)", key, got.ObjectLockMode)
		}
	}
	checkArchived(t, "ARCHIVE_BUCKET", objects, printed)
	for name := range files {
		if _, ok := objects[name]; !ok {
			t.Errorf("%s is in ARCHIVE_DIR but not in the bucket: the two name a run's files alike", name)
		}
	}
}

// outcomeLines returns the outcome JSON lines of a command's output.
func outcomeLines(t *testing.T, out string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var o remediation.Outcome
		if err := o.UnmarshalJSON([]byte(l)); err != nil || o.Action == "" {
			t.Fatalf("not an outcome line: %q (%v)", l, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// checkArchived checks the archive's files (relative name -> content) hold
// exactly the printed outcome lines, each in its completedAt's day.
func checkArchived(t *testing.T, what string, files map[string]string, printed []string) {
	t.Helper()
	if len(files) < 2 {
		t.Errorf("%s: files %v, want one per run (invoke, sweep) and day", what, slices.Collect(maps.Keys(files)))
	}
	var got []string
	for name, body := range files {
		m := archivedFile.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("%s: file %s is not in the layout outcomes/YYYY/MM/DD/outcomes-<start>-<id>.jsonl", what, name)
			continue
		}
		for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
			var o remediation.Outcome
			if err := o.UnmarshalJSON([]byte(l)); err != nil {
				t.Errorf("%s: %s: %q is not an outcome: %v", what, name, l, err)
				continue
			}
			if day := o.CompletedAt.UTC().Format("2006/01/02"); day != m[1] || o.CompletedAt.IsZero() {
				t.Errorf("%s: outcome completed at %s filed under %s", what, o.CompletedAt.Format(time.RFC3339), m[1])
			}
			got = append(got, l)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, printed) {
		t.Errorf("%s holds\n%s\nwant the printed outcomes\n%s", what, strings.Join(got, "\n"), strings.Join(printed, "\n"))
	}
}

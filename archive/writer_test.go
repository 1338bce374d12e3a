package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

var (
	day1 = time.Date(2026, 12, 3, 23, 59, 59, 999_000_000, time.UTC)
	// day2 is in another UTC date though the same local evening in the
	// Americas: the folder follows UTC.
	day2  = time.Date(2026, 12, 4, 0, 0, 0, 1_000_000, time.UTC)
	start = time.Date(2026, 12, 3, 22, 45, 39, 0, time.UTC)
)

func testOutcome(id string, at time.Time) remediation.Outcome {
	return remediation.Outcome{Remediator: "s3-public-access-block", Rule: "s3-bucket-level-public-access-prohibited",
		ResourceType: "AWS::S3::Bucket", ResourceID: id, Account: "123456789012", Region: "eu-west-1",
		Action: remediation.ActionRemediated, Reason: "public access blocked",
		Before: map[string]any{"BlockPublicAcls": false}, After: map[string]any{"BlockPublicAcls": true},
		EventID: "ev-" + id, Trigger: remediation.TriggerConfig,
		DetectedAt: at.Add(-time.Minute), CompletedAt: at}
}

// wantLines is what the archive must hold for outs: each outcome's own
// json.Marshal and a newline.
func wantLines(t *testing.T, outs ...remediation.Outcome) string {
	t.Helper()
	var b strings.Builder
	for _, o := range outs {
		j, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

var fileName = regexp.MustCompile(`^outcomes-\d{8}T\d{6}Z-[0-9a-f]{8}\.jsonl$`)

func TestRunFileName(t *testing.T) {
	r := NewRun(start.In(time.FixedZone("EST", -5*3600)))
	if got := r.FileName(); !strings.HasPrefix(got, "outcomes-20261203T224539Z-") || !fileName.MatchString(got) {
		t.Errorf("file name %q", got)
	}
	if NewRun(start).ID == NewRun(start).ID {
		t.Error("two runs started in the same second share an ID")
	}
	if got := DayDir(day2.In(time.FixedZone("PST", -8*3600))); got != "outcomes/2026/12/04" {
		t.Errorf("day folder %q, want the UTC date", got)
	}
}

func TestDirAppendsEachOutcomeToItsDay(t *testing.T) {
	root := t.TempDir()
	run := NewRun(start)
	d := NewDir(root, run)
	ctx := context.Background()
	a, b, c := testOutcome("a", day1), testOutcome("b", day2), testOutcome("c", day1)
	for _, o := range []remediation.Outcome{a, b, c} {
		if err := d.Archive(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Written through: readable before Close.
	f1 := filepath.Join(root, "outcomes", "2026", "12", "03", run.FileName())
	if got, err := os.ReadFile(f1); err != nil || string(got) != wantLines(t, a, c) {
		t.Errorf("%s before Close: %q, %v\nwant %q", f1, got, err, wantLines(t, a, c))
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// After Close the run goes on appending to the same file.
	e := testOutcome("e", day2)
	if err := d.Archive(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f2 := filepath.Join(root, "outcomes", "2026", "12", "04", run.FileName())
	if got, _ := os.ReadFile(f2); string(got) != wantLines(t, b, e) {
		t.Errorf("%s: %q\nwant %q", f2, got, wantLines(t, b, e))
	}
	var files []string
	_ = filepath.WalkDir(root, func(p string, de os.DirEntry, _ error) error {
		if !de.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 2 {
		t.Errorf("files %v, want one per day", files)
	}
}

func TestDirConcurrentLinesStayWhole(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root, NewRun(start))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := testOutcome(fmt.Sprintf("bucket-%02d", i), day1)
			o.Reason = strings.Repeat("x", 5000) // beyond a pipe's atomic write
			if err := d.Archive(context.Background(), o); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	_ = d.Close(context.Background())
	matches, _ := filepath.Glob(filepath.Join(root, "outcomes", "2026", "12", "03", "*"))
	if len(matches) != 1 {
		t.Fatalf("files %v", matches)
	}
	b, _ := os.ReadFile(matches[0])
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		var o remediation.Outcome
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("a line is not an outcome: %v", err)
		}
		seen[o.ResourceID] = true
	}
	if len(lines) != 50 || len(seen) != 50 {
		t.Errorf("%d lines, %d outcomes, want 50", len(lines), len(seen))
	}
}

func TestOutcomeWithoutCompletedAtIsFiledByNow(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root, NewRun(start))
	d.Now = func() time.Time { return day2 }
	o := testOutcome("x", day1)
	o.CompletedAt = time.Time{}
	if err := d.Archive(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "outcomes", "2026", "12", "04", "*.jsonl")); len(m) != 1 {
		t.Errorf("not filed under now's date: %v", m)
	}
}

func TestDirUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := NewDir(file, NewRun(start)).Archive(context.Background(), testOutcome("a", day1))
	if err == nil || !strings.Contains(err.Error(), "creating directory") {
		t.Errorf("error %v", err)
	}
}

// putRecorder records PutObject requests; fail makes the next calls fail.
type putRecorder struct {
	t    *testing.T
	mu   sync.Mutex
	puts []put
	fail int
}

type put struct {
	bucket, key, body string
}

func (f *putRecorder) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.ChecksumAlgorithm != s3types.ChecksumAlgorithmCrc32 {
		f.t.Errorf("PutObject %s without a checksum algorithm: an Object Lock bucket refuses it", aws.ToString(in.Key))
	}
	if aws.ToString(in.ContentType) != "application/x-ndjson" {
		f.t.Errorf("content type %q", aws.ToString(in.ContentType))
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.fail > 0 {
		f.fail--
		return nil, errors.New("AccessDenied: not allowed")
	}
	f.puts = append(f.puts, put{aws.ToString(in.Bucket), aws.ToString(in.Key), string(body)})
	return &s3.PutObjectOutput{}, nil
}

func TestBucketWritesOneObjectPerDayAtClose(t *testing.T) {
	api := &putRecorder{t: t}
	run := NewRun(start)
	b := NewBucket(api, "evidence", "/team/a/", run)
	ctx := context.Background()
	a, x, c := testOutcome("a", day1), testOutcome("x", day2), testOutcome("c", day1)
	for _, o := range []remediation.Outcome{a, x, c} {
		if err := b.Archive(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.puts) != 0 {
		t.Fatalf("objects written before Close: %v", api.puts)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := []put{
		{"evidence", "team/a/outcomes/2026/12/03/" + run.FileName(), wantLines(t, a, c)},
		{"evidence", "team/a/outcomes/2026/12/04/" + run.FileName(), wantLines(t, x)},
	}
	if fmt.Sprint(api.puts) != fmt.Sprint(want) {
		t.Errorf("objects\n%v\nwant\n%v", api.puts, want)
	}
	// Nothing left: a second Close writes nothing.
	if err := b.Close(ctx); err != nil || len(api.puts) != 2 {
		t.Errorf("second Close: %v, %d objects", err, len(api.puts))
	}
	// An outcome after Close goes to a new object, never over the first.
	if err := b.Archive(ctx, testOutcome("late", day1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(api.puts) != 3 || api.puts[2].key == want[0].key || !fileName.MatchString(filepath.Base(api.puts[2].key)) {
		t.Errorf("after Close: %v", api.puts)
	}
}

func TestBucketWritesAtTheSizeThreshold(t *testing.T) {
	api := &putRecorder{t: t}
	b := NewBucket(api, "evidence", "", NewRun(start))
	line, _ := Line(testOutcome("a", day1))
	b.MaxObjectBytes = 2 * len(line)
	ctx := context.Background()
	var outs []remediation.Outcome
	for i := range 5 {
		o := testOutcome("a", day1) // same size lines
		o.EventID = fmt.Sprintf("ev-%d", i)
		outs = append(outs, o)
		if err := b.Archive(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.puts) != 2 {
		t.Fatalf("%d objects before Close, want 2 (at 2 and 4 outcomes)", len(api.puts))
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var all string
	for _, p := range api.puts {
		if keys[p.key] {
			t.Errorf("object %s written twice", p.key)
		}
		keys[p.key] = true
		if !strings.HasPrefix(p.key, "outcomes/2026/12/03/") || !fileName.MatchString(filepath.Base(p.key)) {
			t.Errorf("key %s", p.key)
		}
		all += p.body
	}
	if len(api.puts) != 3 || all != wantLines(t, outs...) {
		t.Errorf("%d objects holding\n%s\nwant\n%s", len(api.puts), all, wantLines(t, outs...))
	}
}

func TestBucketKeepsOutcomesWhenPutFails(t *testing.T) {
	api := &putRecorder{t: t, fail: 1}
	b := NewBucket(api, "evidence", "p", NewRun(start))
	line, _ := Line(testOutcome("a", day1))
	b.MaxObjectBytes = len(line)
	ctx := context.Background()
	a, c := testOutcome("a", day1), testOutcome("c", day1)
	// The threshold's write fails: reported, kept.
	if err := b.Archive(ctx, a); err == nil || !strings.Contains(err.Error(), `putting object "p/outcomes/2026/12/03/`) ||
		!strings.Contains(err.Error(), "kept") {
		t.Errorf("error %v", err)
	}
	if err := b.Archive(ctx, c); err != nil {
		t.Fatal(err) // below the next threshold: no new attempt
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(api.puts) != 1 || api.puts[0].body != wantLines(t, a, c) {
		t.Errorf("objects %v, want both outcomes in one", api.puts)
	}

	// Close's write fails too: the outcomes go to the fallback directory.
	api = &putRecorder{t: t, fail: 10}
	b = NewBucket(api, "evidence", "p", NewRun(start))
	b.Fallback = t.TempDir()
	if err := b.Archive(ctx, a); err != nil {
		t.Fatal(err)
	}
	err := b.Close(ctx)
	saved := filepath.Join(b.Fallback, "p", "outcomes", "2026", "12", "03", b.run.FileName())
	if err == nil || !strings.Contains(err.Error(), "saved in "+saved) || !strings.Contains(err.Error(), "s3://evidence/p/outcomes/2026/12/03/") {
		t.Errorf("error %v does not say where the outcomes are", err)
	}
	if got, _ := os.ReadFile(saved); string(got) != wantLines(t, a) {
		t.Errorf("fallback file holds %q", got)
	}
}

func TestTeeArchivesToEverySink(t *testing.T) {
	api := &putRecorder{t: t, fail: 10}
	root := t.TempDir()
	run := NewRun(start)
	bucket := NewBucket(api, "evidence", "", run)
	bucket.Fallback = t.TempDir()
	tee := Tee{bucket, NewDir(root, run)}
	if err := tee.Archive(context.Background(), testOutcome("a", day1)); err != nil {
		t.Fatal(err)
	}
	if err := tee.Close(context.Background()); err == nil {
		t.Error("a failing sink's error is lost")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "outcomes", "2026", "12", "03", run.FileName())); !bytes.Contains(got, []byte(`"resourceId":"a"`)) {
		t.Errorf("the directory did not get the outcome: %q", got)
	}
}

func TestCheckBucketName(t *testing.T) {
	for name, ok := range map[string]bool{
		"evidence": true, "my.bucket-1": true, "abc": true,
		"ab": false, "Evidence": false, "-bucket": false, "bucket-": false, "a..b": false, "my_bucket": false,
		strings.Repeat("a", 64): false,
	} {
		if err := CheckBucketName(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}

package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

var (
	from = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
)

func line(t *testing.T, id string, action remediation.Action, at time.Time) string {
	t.Helper()
	b, err := json.Marshal(remediation.Outcome{Remediator: "s3-public-access-block", Rule: "s3-bucket-level-public-access-prohibited",
		ResourceType: "AWS::S3::Bucket", ResourceID: id, Account: "111122223333", Region: "us-east-1", Action: action, CompletedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fixture is the archive as files: key -> body.
func fixture(t *testing.T) map[string][]byte {
	t.Helper()
	d1 := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)
	d2 := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	return map[string][]byte{
		// Before the period: its partition must not even be listed.
		"outcomes/2026/11/29/outcomes-20261129T000000Z-00000000.jsonl": []byte(line(t, "old", remediation.ActionRemediated, d1.AddDate(0, 0, -1)) + "\n"),
		// Same day as --from, but before it: read, then left out.
		"outcomes/2026/11/30/outcomes-20261130T000000Z-aaaaaaaa.jsonl": []byte(line(t, "early", remediation.ActionFailed, from.Add(-time.Hour)) + "\n\n" +
			line(t, "a", remediation.ActionRemediated, d1) + "\n" + "{not json\n" + `{"foo":1}` + "\n"),
		// Firehose's gzip file, with a name that does not say so.
		"outcomes/2026/12/01/firehose-1-2026-12-01-09-45-00-x": gz(t, line(t, "b", remediation.ActionEscalated, d2)+"\n"+
			`{"Type":"Notification","Message":`+strconvQuote(line(t, "c", remediation.ActionCompliant, d2.Add(time.Minute)))+"}\n"),
		// Arrived just after midnight: within PartitionSlack of --to's day.
		"outcomes/2026/12/02/outcomes-20261202T000000Z-bbbbbbbb.jsonl": []byte(line(t, "late", remediation.ActionRemediated, to.Add(time.Minute)) + "\n" + line(t, "d", remediation.ActionRemediated, to)),
		"outcomes/2026/12/04/outcomes-20261204T000000Z-cccccccc.jsonl": []byte(line(t, "future", remediation.ActionRemediated, to.AddDate(0, 0, 2)) + "\n"),
	}
}

func fixtureBody(t *testing.T, key string) []byte {
	t.Helper()
	b, ok := fixture(t)[key]
	if !ok {
		t.Fatalf("no fixture file %s", key)
	}
	return b
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func check(t *testing.T, res *ReadResult, prefix string) {
	t.Helper()
	var ids []string
	for _, r := range res.Outcomes {
		ids = append(ids, r.Outcome.ResourceID)
	}
	if want := []string{"a", "b", "c", "d"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("outcomes %v, want %v", ids, want)
	}
	if res.OutsidePeriod != 2 {
		t.Errorf("OutsidePeriod = %d, want 2 (early, late)", res.OutsidePeriod)
	}
	if len(res.Outcomes) == 4 {
		if r := res.Outcomes[0]; r.Line != 3 || r.File != prefix+"outcomes/2026/11/30/outcomes-20261130T000000Z-aaaaaaaa.jsonl" || !r.Outcome.CompletedAt.Equal(time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)) {
			t.Errorf("first outcome read as %+v", r)
		}
		if res.Outcomes[1].Outcome.Action != remediation.ActionEscalated || res.Outcomes[2].Outcome.Action != remediation.ActionCompliant {
			t.Errorf("gzip outcomes read as %+v", res.Outcomes[1:3])
		}
	}
	var bad []string
	for _, m := range res.Malformed {
		bad = append(bad, fmt.Sprintf("%s:%d", strings.TrimPrefix(m.File, prefix), m.Line))
	}
	if want := []string{"outcomes/2026/11/30/outcomes-20261130T000000Z-aaaaaaaa.jsonl:4", "outcomes/2026/11/30/outcomes-20261130T000000Z-aaaaaaaa.jsonl:5"}; !reflect.DeepEqual(bad, want) {
		t.Errorf("malformed %v, want %v", bad, want)
	}
	for _, f := range res.Files {
		if strings.Contains(f, "11/29") || strings.Contains(f, "12/04") {
			t.Errorf("read %s, outside the period's partitions", f)
		}
	}
	for i, sum := range res.Sums {
		body := fixtureBody(t, strings.TrimPrefix(sum.Name, prefix))
		if h := sha256.Sum256(body); sum.Name != res.Files[i] || sum.SHA256 != hex.EncodeToString(h[:]) || sum.Bytes != int64(len(body)) {
			t.Errorf("sum %+v does not match the file", sum)
		}
	}
	if len(res.Files) != 3 || len(res.Sums) != 3 {
		t.Errorf("read %d files, want 3: %v", len(res.Files), res.Files)
	}
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	for k, body := range fixture(t) {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ReadDir(dir, from, to)
	if err != nil {
		t.Fatal(err)
	}
	check(t, res, "")
}

// fakeS3 serves objects and records the prefixes listed.
type fakeS3 struct {
	t        *testing.T
	bucket   string
	objects  map[string][]byte
	prefixes []string
}

func (f *fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if aws.ToString(in.Bucket) != f.bucket {
		f.t.Errorf("ListObjectsV2 on bucket %q, want %q", aws.ToString(in.Bucket), f.bucket)
	}
	f.prefixes = append(f.prefixes, aws.ToString(in.Prefix))
	out := &s3.ListObjectsV2Output{}
	// Two pages when there is more than one key, to exercise pagination.
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			keys = append(keys, k)
		}
	}
	start := 0
	if in.ContinuationToken != nil {
		start = 1
	} else if len(keys) > 1 {
		out.IsTruncated = aws.Bool(true)
		out.NextContinuationToken = aws.String("page2")
		keys = keys[:1]
	}
	for _, k := range keys[min(start, len(keys)):] {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k)})
	}
	return out, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	body, ok := f.objects[aws.ToString(in.Key)]
	if !ok || aws.ToString(in.Bucket) != f.bucket {
		return nil, fmt.Errorf("NoSuchKey: %s/%s", aws.ToString(in.Bucket), aws.ToString(in.Key))
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(body)), VersionId: aws.String("v-" + aws.ToString(in.Key))}, nil
}

func TestReadBucket(t *testing.T) {
	f := &fakeS3{t: t, bucket: "evidence", objects: map[string][]byte{}}
	for k, body := range fixture(t) {
		f.objects["team/"+k] = body
	}
	bucket, prefix := ParseBucket("evidence/team/")
	res, err := ReadBucket(context.Background(), f, bucket, prefix, from, to)
	if err != nil {
		t.Fatal(err)
	}
	check(t, res, "team/")
	if want := []string{"team/outcomes/2026/11/30/", "team/outcomes/2026/12/01/", "team/outcomes/2026/12/02/"}; !reflect.DeepEqual(uniq(f.prefixes), want) {
		t.Errorf("listed %v, want %v", f.prefixes, want)
	}
	for _, sum := range res.Sums {
		if sum.Version != "v-"+sum.Name {
			t.Errorf("%s read as version %q, want the object's version", sum.Name, sum.Version)
		}
	}
	if res.Location != "s3://evidence/team/" {
		t.Errorf("Location = %q", res.Location)
	}
}

func uniq(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || s[i-1] != v {
			out = append(out, v)
		}
	}
	return out
}

func TestReadDirMissing(t *testing.T) {
	if _, err := ReadDir(filepath.Join(t.TempDir(), "typo"), from, to); err == nil {
		t.Error("a missing archive directory read as an empty archive")
	}
}

func TestParseBucket(t *testing.T) {
	for in, want := range map[string][2]string{"b": {"b", ""}, "b/p": {"b", "p"}, "s3://b/p/q/": {"b", "p/q"}} {
		if b, p := ParseBucket(in); b != want[0] || p != want[1] {
			t.Errorf("ParseBucket(%q) = %q, %q", in, b, p)
		}
	}
}

// Delivery is at least once: Firehose's retry writes the same record into a
// second object. The reader keeps it once; a distinct outcome of the same
// resource at another time is kept.
func TestReadDirDuplicateDelivery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outcomes", "2026", "12", "01")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fixed := line(t, "a", remediation.ActionRemediated, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	later := line(t, "a", remediation.ActionRemediated, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	if err := os.WriteFile(filepath.Join(dir, "first.jsonl"), []byte(fixed+"\n"+later+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "retry.gz"), gz(t, fixed+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ReadDir(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(dir)))), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Outcomes) != 2 || res.Duplicates != 1 {
		t.Fatalf("read %d outcomes and %d duplicates, want 2 and 1: %+v", len(res.Outcomes), res.Duplicates, res.Outcomes)
	}
	if len(res.Files) != 2 {
		t.Errorf("files read %v, want both (the duplicate's file is still evidence)", res.Files)
	}
}

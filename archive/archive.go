// Package archive keeps every outcome as evidence, in one layout shared by
// the deployed route and the local writers:
//
//	[prefix/]outcomes/YYYY/MM/DD/<file>
//
// Each file is JSON Lines, one outcome per line exactly as
// json.Marshal(remediation.Outcome) renders it. In AWS the files are written
// by Amazon Data Firehose, subscribed to the outcome SNS topic (GZIP,
// ending in .gz, dated by arrival); nothing is added to the Lambda
// functions. Locally (`remediate invoke`, `sweep`, the demo) ARCHIVE_DIR and
// ARCHIVE_BUCKET write plain files named
// outcomes-<run start, 20061203T224539Z>-<8 random hex>.jsonl under the UTC
// date of each outcome's completedAt: one file per process run and day.
// docs/archive.md describes the layout, Object Lock, cost and Athena.
package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// Prefix is the archive's top folder, in the bucket and in ARCHIVE_DIR.
const Prefix = "outcomes"

// Suffix is the local writers' file suffix; Firehose's files end in .gz.
const Suffix = ".jsonl"

// startLayout is the run start time in a file name.
const startLayout = "20060102T150405Z"

// DayDir is the folder of the outcomes of t's UTC date:
// outcomes/2026/12/03.
func DayDir(t time.Time) string {
	return Prefix + "/" + t.UTC().Format("2006/01/02")
}

// Line renders an outcome as its archive line: the outcome JSON and a
// newline.
func Line(o remediation.Outcome) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encoding the outcome of %s %q: %w", o.ResourceType, o.ResourceID, err)
	}
	return append(b, '\n'), nil
}

// Run names one process run's files: its start time and a random ID, so
// that two runs started in the same second never write the same file.
type Run struct {
	Start time.Time
	ID    string // 8 lowercase hex digits
}

// NewRun returns a run starting at start with a fresh random ID.
func NewRun(start time.Time) Run {
	return Run{Start: start.UTC(), ID: randomID()}
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// FileName is the run's file name for one day:
// outcomes-20261203T224539Z-1a2b3c4d.jsonl.
func (r Run) FileName() string {
	return "outcomes-" + r.Start.UTC().Format(startLayout) + "-" + r.ID + Suffix
}

// Sink receives outcomes and keeps them in the archive layout; Close writes
// what it still holds and releases its files. publish.OutcomePublisher
// calls Archive for every outcome it publishes.
type Sink interface {
	Archive(ctx context.Context, o remediation.Outcome) error
	Close(ctx context.Context) error
}

// when is the date an outcome is filed under: its completedAt, or now when
// it has none.
func when(o remediation.Outcome, now func() time.Time) time.Time {
	if !o.CompletedAt.IsZero() {
		return o.CompletedAt
	}
	if now == nil {
		return time.Now()
	}
	return now()
}

// Dir writes the archive under a local directory (ARCHIVE_DIR), mirroring
// the bucket: DIR/outcomes/YYYY/MM/DD/<run file>. Every outcome is appended
// to its day's file as it comes, with one write call, so nothing is held in
// memory: a crash loses nothing already archived. Safe for concurrent use.
type Dir struct {
	root string
	run  Run
	// Now dates outcomes without a completedAt (default time.Now).
	Now   func() time.Time
	mu    sync.Mutex
	files map[string]*os.File // by day folder
}

// NewDir returns a writer into root for run.
func NewDir(root string, run Run) *Dir {
	return &Dir{root: root, run: run, files: map[string]*os.File{}}
}

// Archive appends the outcome to its day's file.
func (d *Dir) Archive(_ context.Context, o remediation.Outcome) error {
	line, err := Line(o)
	if err != nil {
		return err
	}
	day := DayDir(when(o, d.Now))
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.files[day]
	if !ok {
		dir := filepath.Join(d.root, filepath.FromSlash(day))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("archiving outcome: creating directory %q: %w", dir, err)
		}
		p := filepath.Join(dir, d.run.FileName())
		if f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return fmt.Errorf("archiving outcome: opening %q: %w", p, err)
		}
		d.files[day] = f
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("archiving outcome: appending to %q: %w", f.Name(), err)
	}
	return nil
}

// Close closes the day files; Archive opens them again if called later.
func (d *Dir) Close(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for day, f := range d.files {
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing archive file %q: %w", f.Name(), err))
		}
		delete(d.files, day)
	}
	return errors.Join(errs...)
}

// PutObjectAPI is the part of the S3 client the bucket writer uses.
type PutObjectAPI interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// DefaultMaxObjectBytes is the size at which Bucket writes a day's object
// before the run ends.
const DefaultMaxObjectBytes = 8 << 20

// Bucket writes the archive to S3 (ARCHIVE_BUCKET). S3 cannot append, so
// it holds the run's outcomes per day in memory and writes one object per
// run and day when closed, or earlier once a day's buffer reaches
// MaxObjectBytes (the day then continues in a new object with a new random
// ID). Nothing is dropped on error: an object that cannot be written stays
// in memory for the next attempt, and at Close it is written to Fallback
// (a local directory in the same layout, for `aws s3 cp --recursive`)
// and the error says where. Safe for concurrent use.
type Bucket struct {
	api    PutObjectAPI
	bucket string
	prefix string // "" or ending in "/"
	run    Run
	// Now dates outcomes without a completedAt (default time.Now).
	Now func() time.Time
	// MaxObjectBytes is the buffered size at which a day's object is
	// written before Close (default DefaultMaxObjectBytes).
	MaxObjectBytes int
	// Fallback is where objects that cannot be written at Close are kept
	// (default os.TempDir()/autoremediate-archive).
	Fallback string

	mu   sync.Mutex
	days map[string]*pending // by day folder
	// wrote is the days with an object written: a later one takes a new
	// name, so that no object is ever overwritten.
	wrote map[string]bool
}

// pending is one day's object being filled.
type pending struct {
	name string
	buf  bytes.Buffer
	// next is the size at which the object is written before Close: the
	// threshold, then another threshold further after a failed write.
	next int
}

// NewBucket returns a writer into bucket, under prefix (may be empty), for
// run.
func NewBucket(api PutObjectAPI, bucket, prefix string, run Run) *Bucket {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Bucket{api: api, bucket: bucket, prefix: prefix, run: run, days: map[string]*pending{}, wrote: map[string]bool{}}
}

// Key is the object key of a file in a day folder.
func (b *Bucket) key(day, name string) string { return b.prefix + day + "/" + name }

// Archive adds the outcome to its day's object, writing the object when it
// has reached MaxObjectBytes.
func (b *Bucket) Archive(ctx context.Context, o remediation.Outcome) error {
	line, err := Line(o)
	if err != nil {
		return err
	}
	day := DayDir(when(o, b.Now))
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.days[day]
	if !ok {
		p = b.newPending(day)
		b.days[day] = p
	}
	p.buf.Write(line)
	max := b.MaxObjectBytes
	if max <= 0 {
		max = DefaultMaxObjectBytes
	}
	if p.next == 0 {
		p.next = max
	}
	if p.buf.Len() < p.next {
		return nil
	}
	if err := b.put(ctx, day, p); err != nil {
		p.next = p.buf.Len() + max
		return fmt.Errorf("%w (its outcomes are kept and written again at the end of the run)", err)
	}
	// The day goes on in a new object: the written one is never rewritten.
	b.days[day] = b.newPending(day)
	return nil
}

// newPending starts a day's object: the run's file name, or a new random
// ID once the day has an object.
func (b *Bucket) newPending(day string) *pending {
	if b.wrote[day] {
		return &pending{name: Run{Start: b.run.Start, ID: randomID()}.FileName()}
	}
	return &pending{name: b.run.FileName()}
}

func (b *Bucket) put(ctx context.Context, day string, p *pending) error {
	key := b.key(day, p.name)
	_, err := b.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(b.bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(p.buf.Bytes()),
		ContentType: aws.String("application/x-ndjson"),
		// A bucket with Object Lock takes a PutObject only with a
		// checksum (Content-MD5 or an x-amz-checksum-* header); naming
		// the algorithm keeps it even where the SDK's default checksum
		// is turned off (AWS_REQUEST_CHECKSUM_CALCULATION=when_required).
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return fmt.Errorf("archiving outcomes: putting object %q in bucket %q: %w", key, b.bucket, err)
	}
	b.wrote[day] = true
	return nil
}

// Close writes every day's object still held. An object that cannot be
// written is saved under Fallback instead, and the error names the file.
func (b *Bucket) Close(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	days := make([]string, 0, len(b.days))
	for day := range b.days {
		days = append(days, day)
	}
	sort.Strings(days)
	var errs []error
	for _, day := range days {
		p := b.days[day]
		if p.buf.Len() == 0 {
			delete(b.days, day)
			continue
		}
		err := b.put(ctx, day, p)
		if err == nil {
			delete(b.days, day)
			continue
		}
		saved, ferr := b.saveLocally(day, p)
		if ferr != nil {
			// Kept in memory: a later Close tries again.
			errs = append(errs, fmt.Errorf("%w; saving it locally failed too: %w", err, ferr))
			continue
		}
		delete(b.days, day)
		errs = append(errs, fmt.Errorf("%w; its outcomes are saved in %s (copy it to s3://%s/%s)", err, saved, b.bucket, b.key(day, p.name)))
	}
	return errors.Join(errs...)
}

func (b *Bucket) saveLocally(day string, p *pending) (string, error) {
	root := b.Fallback
	if root == "" {
		root = filepath.Join(os.TempDir(), "autoremediate-archive")
	}
	file := filepath.Join(root, filepath.FromSlash(path.Join(strings.TrimSuffix(b.prefix, "/"), day)), p.name)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return "", fmt.Errorf("creating directory %q: %w", filepath.Dir(file), err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("opening %q: %w", file, err)
	}
	_, werr := f.Write(p.buf.Bytes())
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("writing %q: %w", file, werr)
	}
	return file, nil
}

// Tee archives to every sink (ARCHIVE_DIR and ARCHIVE_BUCKET both set); a
// failing sink does not keep the others from receiving the outcome.
type Tee []Sink

// Archive gives the outcome to every sink.
func (t Tee) Archive(ctx context.Context, o remediation.Outcome) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Archive(ctx, o))
	}
	return errors.Join(errs...)
}

// Close closes every sink.
func (t Tee) Close(ctx context.Context) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

// CheckBucketName checks an ARCHIVE_BUCKET bucket name against S3's
// naming rules.
func CheckBucketName(name string) error {
	if !validBucketName(name) {
		return fmt.Errorf("%q is not an S3 bucket name (3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit)", name)
	}
	return nil
}

func validBucketName(s string) bool {
	if len(s) < 3 || len(s) > 63 || strings.Contains(s, "..") {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || i == len(s)-1 || (c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

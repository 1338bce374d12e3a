package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/remediation"
)

// PartitionSlack is how far past the end of a period the reader still lists
// date partitions: Firehose partitions by its arrival time, which trails the
// outcome's completedAt by its buffering interval (at most 900 seconds) and
// any retries, so an outcome completed at 23:59 may sit in the next day.
const PartitionSlack = time.Hour

// Record is one archived outcome and where it was read from.
type Record struct {
	Outcome remediation.Outcome
	// File is the object key (or the path relative to the directory) and
	// Line its 1-based line number.
	File string
	Line int
}

// LineError is a line that is not an outcome: the reader reports it rather
// than dropping it silently.
type LineError struct {
	File string
	Line int
	Err  string
}

func (e LineError) String() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err) }

// ReadResult is what a period's partitions hold.
type ReadResult struct {
	// Location is s3://bucket/prefix or the directory, as read.
	Location string
	// Files is every file read, in reading order, and Sums their hashes in
	// the same order.
	Files []string
	Sums  []FileSum
	// Outcomes are the outcomes completed within the period (or, without
	// completedAt, found in one of its date partitions), in file and line
	// order.
	Outcomes []Record
	// Malformed lines, in file and line order.
	Malformed []LineError
	// OutsidePeriod counts outcomes found in the partitions listed whose
	// completedAt falls outside the period.
	OutsidePeriod int
	// Duplicates counts outcomes left out because an identical outcome was
	// read before: delivery through SNS and Firehose is at least once, so a
	// retried record is archived twice, and counting it twice would make a
	// second, zero-length non-compliant period out of one fix.
	Duplicates int

	seen map[[sha256.Size]byte]bool
}

// FileSum identifies one archive file as read: its SHA-256 and size as
// stored (compressed when gzip), and for S3 the object version (the archive
// bucket is versioned), so that an auditor can fetch the same bytes again.
type FileSum struct {
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
	Version string `json:"versionId,omitempty"`
}

// ParseBucket splits ARCHIVE_BUCKET's "bucket" or "bucket/prefix" into the
// bucket and the key prefix (without trailing slash).
func ParseBucket(s string) (bucket, prefix string) {
	bucket, prefix, _ = strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
	return bucket, strings.Trim(prefix, "/")
}

// Partitions returns the date partitions ("outcomes/YYYY/MM/DD/") that may
// hold outcomes completed in [from, to], PartitionSlack included.
func Partitions(from, to time.Time) []string {
	var out []string
	start := from.UTC().Truncate(24 * time.Hour)
	end := to.UTC().Add(PartitionSlack)
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format("outcomes/2006/01/02/"))
	}
	return out
}

// ReadDir reads the outcomes of [from, to] from an ARCHIVE_DIR directory
// laid out like the bucket ($dir/outcomes/YYYY/MM/DD/*). A missing day is
// not an error: nothing happened that day.
func ReadDir(dir string, from, to time.Time) (*ReadResult, error) {
	res := &ReadResult{Location: dir}
	// A mistyped directory would otherwise read as an archive with nothing
	// in the period.
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("reading archive directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("reading archive directory %s: not a directory", dir)
	}
	for _, part := range Partitions(from, to) {
		pdir := filepath.Join(dir, filepath.FromSlash(part))
		entries, err := os.ReadDir(pdir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing archive directory %s: %w", pdir, err)
		}
		for _, e := range entries { // os.ReadDir sorts by name
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			name := part + e.Name()
			f, err := os.Open(filepath.Join(pdir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("opening archive file %s: %w", name, err)
			}
			err = res.read(name, "", f, from, to)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// S3API is what ReadBucket calls.
type S3API interface {
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// ReadBucket reads the outcomes of [from, to] from the archive bucket,
// listing only the period's date partitions under prefix.
func ReadBucket(ctx context.Context, api S3API, bucket, prefix string, from, to time.Time) (*ReadResult, error) {
	loc := "s3://" + bucket + "/"
	if prefix != "" {
		loc += prefix + "/"
	}
	res := &ReadResult{Location: loc}
	for _, part := range Partitions(from, to) {
		key := part
		if prefix != "" {
			key = prefix + "/" + part
		}
		var keys []string
		p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing s3://%s/%s: %w", bucket, key, err)
			}
			for _, o := range page.Contents {
				if k := aws.ToString(o.Key); !strings.HasSuffix(k, "/") {
					keys = append(keys, k)
				}
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			obj, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				return nil, fmt.Errorf("reading s3://%s/%s: %w", bucket, k, err)
			}
			err = res.read(k, aws.ToString(obj.VersionId), obj.Body, from, to)
			obj.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("reading s3://%s/%s: %w", bucket, k, err)
			}
		}
	}
	return res, nil
}

// read adds one file's outcomes. Firehose's files are gzip (possibly several
// gzip members back to back, which gzip.Reader reads as one stream); the
// local writer's are plain: the magic bytes decide, not the name.
func (res *ReadResult) read(name, version string, r io.Reader, from, to time.Time) error {
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(r, h)}
	defer func() {
		// Hash the whole file even when reading stopped early.
		_, _ = io.Copy(io.Discard, counted)
		res.Files = append(res.Files, name)
		res.Sums = append(res.Sums, FileSum{Name: name, SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: counted.n, Version: version})
	}()
	br := bufio.NewReader(counted)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			res.Malformed = append(res.Malformed, LineError{File: name, Err: "not a readable gzip file: " + err.Error()})
			return nil
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			res.add(name, n, bytes.TrimSpace(line), from, to)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// A truncated gzip member is the usual cause: what was read
			// stays, and the file is reported.
			res.Malformed = append(res.Malformed, LineError{File: name, Line: n, Err: "file could not be read to the end: " + err.Error()})
			return nil
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (res *ReadResult) add(name string, n int, line []byte, from, to time.Time) {
	o, err := decode(line)
	if err != nil {
		res.Malformed = append(res.Malformed, LineError{File: name, Line: n, Err: err.Error()})
		return
	}
	if !o.CompletedAt.IsZero() && (o.CompletedAt.Before(from) || o.CompletedAt.After(to)) {
		res.OutsidePeriod++
		return
	}
	// The outcome re-encoded, not the line, identifies it: a record that
	// came wrapped in an SNS envelope and its raw copy are the same outcome.
	if b, err := json.Marshal(o); err == nil {
		key := sha256.Sum256(b)
		if res.seen[key] {
			res.Duplicates++
			return
		}
		if res.seen == nil {
			res.seen = map[[sha256.Size]byte]bool{}
		}
		res.seen[key] = true
	}
	res.Outcomes = append(res.Outcomes, Record{Outcome: o, File: name, Line: n})
}

// decode reads one line: an outcome, or an SNS notification envelope
// carrying one (what a Firehose subscription delivers when the subscription
// does not have raw message delivery enabled).
func decode(line []byte) (remediation.Outcome, error) {
	var probe struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
		Action  string `json:"action"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return remediation.Outcome{}, fmt.Errorf("not JSON: %v", err)
	}
	if probe.Type == "Notification" && probe.Message != "" {
		line = []byte(probe.Message)
	} else if probe.Action == "" {
		return remediation.Outcome{}, errors.New("not an outcome: no action")
	}
	var o remediation.Outcome
	if err := json.Unmarshal(line, &o); err != nil {
		return remediation.Outcome{}, fmt.Errorf("not an outcome: %v", err)
	}
	if o.Action == "" {
		return remediation.Outcome{}, errors.New("not an outcome: no action")
	}
	return o, nil
}

// Location describes an archive source for reports: the directory or the
// s3:// URL.
func Location(dir, bucket string) string {
	if dir != "" {
		return dir
	}
	b, p := ParseBucket(bucket)
	if p == "" {
		return "s3://" + b + "/"
	}
	return "s3://" + path.Join(b, p) + "/"
}

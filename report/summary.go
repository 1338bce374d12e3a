package report

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
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// FileSummary is the run's machine-readable summary, written next to the
// report's other files; the next runs read it for their trends.
const FileSummary = "summary.json"

// SummaryVersion is the layout version of summary.json.
const SummaryVersion = 1

// DefaultHistoryRuns is how many previous runs the trends cover by default.
const DefaultHistoryRuns = 12

// Summary is what one run keeps for the next ones: its counts, its scores
// and the keys of its failing findings (FindingKey), from which the next
// run tells new, resolved and recurring findings apart.
type Summary struct {
	Version     int            `json:"version"`
	GeneratedAt time.Time      `json:"generatedAt"`
	Findings    int            `json:"findings"`
	BySeverity  map[string]int `json:"bySeverity"`
	// ByControl counts findings by control ID; "(no control ID)" for the
	// findings without one.
	ByControl map[string]int `json:"byControl"`
	ByAccount map[string]int `json:"byAccount"`
	// Scores has one entry per standard with control data; Overall counts
	// each control once.
	Scores  []StandardScore `json:"scores"`
	Overall StandardScore   `json:"overall"`
	// Remediated is the number of verified automatic fixes of the period;
	// null when the activity could not be read.
	Remediated *int `json:"remediated"`
	// Failing are the keys of the failing findings, sorted.
	Failing []string `json:"failing"`
}

// FindingKey identifies a failing check across runs: account, Region,
// control and resource, separated by "|" (the resource last, as it may
// contain anything). Finding IDs are not used for control findings: they
// change when consolidated control findings is turned on, and Build merges
// the per-standard ones. A finding without a control ID (GuardDuty,
// Inspector, partners) is keyed by its own ID instead of a control.
func FindingKey(f Finding) string {
	check := f.ControlID
	if check == "" {
		check = "finding:" + f.ID
	}
	return f.Account + "|" + f.Region + "|" + check + "|" + f.ResourceID
}

// KeyParts splits a FindingKey into account, Region, control (or
// "finding:ID") and resource.
func KeyParts(key string) (account, region, check, resource string) {
	parts := strings.SplitN(key, "|", 4)
	for len(parts) < 4 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2], parts[3]
}

// Summary returns the run's summary.
func (r *Report) Summary() Summary {
	s := Summary{Version: SummaryVersion, GeneratedAt: r.Meta.GeneratedAt.UTC(), Findings: r.Total(),
		BySeverity: map[string]int{}, ByControl: map[string]int{}, ByAccount: map[string]int{},
		Scores: r.Scores.Standards, Overall: r.Scores.Overall, Failing: []string{}}
	if s.Scores == nil {
		s.Scores = []StandardScore{}
	}
	for _, c := range r.BySeverity {
		s.BySeverity[c.Key] = c.Count
	}
	for _, c := range r.Controls {
		s.ByControl[controlLabel(c.ControlID)] = c.Findings
	}
	for _, a := range r.ByAccount {
		if a.Findings > 0 {
			s.ByAccount[a.Account] = a.Findings
		}
	}
	if r.Activity.Err == "" {
		n := r.Activity.Total(remediation.ActionRemediated)
		s.Remediated = &n
	}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		seen[FindingKey(f)] = true
	}
	s.Failing = append(s.Failing, sortedKeys(seen)...)
	return s
}

// SummaryJSON renders summary.json.
func (r *Report) SummaryJSON() ([]byte, error) {
	b, err := json.MarshalIndent(r.Summary(), "", " ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", FileSummary, err)
	}
	return append(b, '\n'), nil
}

// ParseSummary reads a summary.json, rejecting one that is not a summary
// (wrong version, no generation time).
func ParseSummary(data []byte) (Summary, error) {
	var s Summary
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return Summary{}, err
	}
	switch {
	case s.Version != SummaryVersion:
		return Summary{}, fmt.Errorf("version %d, want %d", s.Version, SummaryVersion)
	case s.GeneratedAt.IsZero():
		return Summary{}, errors.New("no generatedAt")
	}
	return s, nil
}

// SummaryStore is where the runs' summaries are kept: a directory per run.
type SummaryStore interface {
	// Runs lists the run directories, in any order.
	Runs(ctx context.Context) ([]string, error)
	// Read returns a run's summary.json; ok is false when the run has none.
	Read(ctx context.Context, run string) (data []byte, ok bool, err error)
	// Where names a run's summary.json for the report's notes.
	Where(run string) string
	// Current names the directory of the run generated at now, which is
	// not a previous run.
	Current(now time.Time) string
}

// History is what a run read of the previous runs.
type History struct {
	// Runs are the previous runs' summaries, oldest first.
	Runs []Summary
	// Notes say which runs could not be read and why.
	Notes []string
	// Read is true when previous runs were looked for.
	Read bool
}

// LoadHistory reads the summaries of the last n runs before this one
// (the current run's directory is skipped): the run directories
// sorted by name (dates, YYYY-MM-DD, sort in time order), the last n
// taken. A run without summary.json or with one that cannot be parsed is
// left out with a note; so is a summary not older than now. An error
// listing the runs is a note too: the report is written without trends
// rather than not at all.
func LoadHistory(ctx context.Context, store SummaryStore, now time.Time, n int) History {
	h := History{Read: true}
	if n <= 0 {
		return h
	}
	runs, err := store.Runs(ctx)
	if err != nil {
		h.Notes = append(h.Notes, fmt.Sprintf("The previous runs could not be listed (%v); this report has no trends.", err))
		return h
	}
	self := store.Current(now)
	var names []string
	for _, r := range runs {
		if r != self {
			names = append(names, r)
		}
	}
	sort.Strings(names)
	if len(names) > n {
		names = names[len(names)-n:]
	}
	for _, run := range names {
		data, ok, err := store.Read(ctx, run)
		switch {
		case err != nil:
			h.Notes = append(h.Notes, fmt.Sprintf("%s could not be read (%v); that run is left out of the trends.", store.Where(run), err))
			continue
		case !ok:
			h.Notes = append(h.Notes, fmt.Sprintf("%s is missing (a report written before summaries were kept?); that run is left out of the trends.", store.Where(run)))
			continue
		}
		s, err := ParseSummary(data)
		if err != nil {
			h.Notes = append(h.Notes, fmt.Sprintf("%s is not a valid summary (%v); that run is left out of the trends.", store.Where(run), err))
			continue
		}
		if !s.GeneratedAt.Before(now) {
			continue // a run generated later than this one (a report rebuilt for an older date)
		}
		h.Runs = append(h.Runs, s)
	}
	sort.SliceStable(h.Runs, func(i, j int) bool { return h.Runs[i].GeneratedAt.Before(h.Runs[j].GeneratedAt) })
	return h
}

// DirStore keeps runs as sibling directories: the CLI's --out directories
// under one parent (reports/2026-11-16, reports/2026-11-23). A directory
// is a run when it holds summary.json or report.md.
type DirStore struct {
	// Dir is the parent directory; Run the current run's directory in it.
	Dir, Run string
}

// Current is the current run's directory.
func (d DirStore) Current(time.Time) string { return d.Run }

// Runs lists the subdirectories of Dir that hold a report; none when Dir
// does not exist yet (the first run, whose --out is created after).
func (d DirStore) Runs(context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", d.Dir, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, name := range []string{FileSummary, FileMarkdown} {
			if _, err := os.Stat(filepath.Join(d.Dir, e.Name(), name)); err == nil {
				out = append(out, e.Name())
				break
			}
		}
	}
	return out, nil
}

// Read reads a run's summary.json.
func (d DirStore) Read(_ context.Context, run string) ([]byte, bool, error) {
	b, err := os.ReadFile(filepath.Join(d.Dir, run, FileSummary))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Where is the summary's path.
func (d DirStore) Where(run string) string { return filepath.Join(d.Dir, run, FileSummary) }

// HistoryS3API is the part of the S3 client that reads previous summaries.
type HistoryS3API interface {
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Store keeps runs as the report Lambda writes them:
// s3://Bucket/Prefix/YYYY-MM-DD/, one run a day.
type S3Store struct {
	API    HistoryS3API
	Bucket string
	Prefix string
}

var runDay = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func (s S3Store) dir() string {
	if s.Prefix == "" {
		return ""
	}
	return s.Prefix + "/"
}

// Runs lists the date "directories" under the prefix (ListObjectsV2 with
// delimiter "/": their common prefixes).
func (s S3Store) Runs(ctx context.Context) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(s.API, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(s.dir()), Delimiter: aws.String("/")})
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("listing s3://%s/%s: still more pages after %d pages", s.Bucket, s.dir(), maxPages)
		}
		resp, err := p.NextPage(ctx)
		if err != nil {
			return nil, ExplainError(fmt.Sprintf("listing s3://%s/%s", s.Bucket, s.dir()), "s3:ListBucket", "", err)
		}
		for _, cp := range resp.CommonPrefixes {
			run := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), s.dir()), "/")
			if runDay.MatchString(run) {
				out = append(out, run)
			}
		}
	}
	return out, nil
}

// Read gets a run's summary.json; NoSuchKey is a run without one.
func (s S3Store) Read(ctx context.Context, run string) ([]byte, bool, error) {
	key := s.dir() + run + "/" + FileSummary
	resp, err := s.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	var noKey *s3types.NoSuchKey
	if errors.As(err, &noKey) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, ExplainError("reading s3://"+s.Bucket+"/"+key, "s3:GetObject", "", err)
	}
	defer resp.Body.Close()
	// A summary holds one key per failing finding: 64 MiB is far above
	// any real one and bounds a wrong object.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, false, fmt.Errorf("reading s3://%s/%s: %w", s.Bucket, key, err)
	}
	return b, true, nil
}

// Current is the date directory the run generated at now writes to.
func (s S3Store) Current(now time.Time) string { return RunDir(now) }

// Where is the summary's S3 URL.
func (s S3Store) Where(run string) string {
	return "s3://" + s.Bucket + "/" + s.dir() + run + "/" + FileSummary
}

// RunDir is the run directory of a report generated at t in an S3Store.
func RunDir(t time.Time) string { return t.UTC().Format("2006-01-02") }

package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/autoremediate/autoremediate/archive"
	"github.com/autoremediate/autoremediate/remediation"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	account = "111122223333"
	bucket  = "AWS::S3::Bucket"
	sgType  = "AWS::EC2::SecurityGroup"
	s3Rule  = "s3-bucket-level-public-access-prohibited"
	sgRule  = "vpc-sg-open-only-to-authorized-ports"
)

var (
	from = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	now  = to.Add(5 * time.Minute)
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err) // fixture literals only
	}
	return t
}

// fixtureConfig: us-east-1 records S3 buckets and their compliance history
// only (not security groups); eu-west-1 has no recorder.
func fixtureConfig(t *testing.T) map[string]*fakeConfig {
	east := &fakeConfig{t: t, region: "us-east-1",
		recorders: []cstypes.ConfigurationRecorder{{Name: aws.String("default"), RecordingGroup: &cstypes.RecordingGroup{
			ResourceTypes:     []cstypes.ResourceType{bucket, ComplianceType},
			RecordingStrategy: &cstypes.RecordingStrategy{UseOnly: cstypes.RecordingStrategyTypeInclusionByResourceTypes}}}},
		status: []cstypes.ConfigurationRecorderStatus{{Name: aws.String("default"), Recording: true, LastStatus: cstypes.RecorderStatusSuccess,
			LastStartTime: aws.Time(at("2026-01-10T00:00:00Z"))}},
		items: map[string][]cstypes.ConfigurationItem{
			// web-assets: made public by alice's call at 10:00:00, fixed by
			// the pipeline 4.2 s later; Config evaluates the public state
			// only at 10:00:30, and COMPLIANT at 10:06.
			bucket + "/web-assets": {ci(bucket, "web-assets", "ResourceDiscovered", at("2026-03-01T00:00:00Z")),
				ci(bucket, "web-assets", "OK", at("2026-12-01T10:00:01Z")), ci(bucket, "web-assets", "OK", at("2026-12-01T10:00:05Z"))},
			ComplianceType + "/" + bucket + "/web-assets": {compliance(bucket, "web-assets", at("2026-11-20T00:00:00Z"), map[string]string{s3Rule: "COMPLIANT"}),
				compliance(bucket, "web-assets", at("2026-12-01T10:00:30Z"), map[string]string{s3Rule: "NON_COMPLIANT"}),
				compliance(bucket, "web-assets", at("2026-12-01T10:06:00Z"), map[string]string{s3Rule: "COMPLIANT"})},
			// reports: non-compliant at 14:00, the fix failed, then escalated:
			// open until the end.
			bucket + "/reports": {ci(bucket, "reports", "OK", at("2026-12-01T13:59:58Z"))},
			ComplianceType + "/" + bucket + "/reports": {compliance(bucket, "reports", at("2026-11-01T00:00:00Z"), map[string]string{s3Rule: "COMPLIANT"}),
				compliance(bucket, "reports", at("2026-12-01T14:00:00Z"), map[string]string{s3Rule: "NON_COMPLIANT"})},
			// archive-2019: compliant throughout, nothing in the period.
			bucket + "/archive-2019":                        {ci(bucket, "archive-2019", "ResourceDiscovered", at("2025-06-01T00:00:00Z"))},
			ComplianceType + "/" + bucket + "/archive-2019": {compliance(bucket, "archive-2019", at("2025-06-01T00:05:00Z"), map[string]string{s3Rule: "COMPLIANT"})},
			// data-lake: already non-compliant; Config not recording it from
			// 20:00 to 06:00; compliant at 06:05 (fixed outside the pipeline).
			bucket + "/data-lake": {ci(bucket, "data-lake", "OK", at("2026-11-28T00:00:00Z")),
				ci(bucket, "data-lake", "ResourceNotRecorded", at("2026-12-01T20:00:00Z")), ci(bucket, "data-lake", "OK", at("2026-12-02T06:00:00Z"))},
			ComplianceType + "/" + bucket + "/data-lake": {compliance(bucket, "data-lake", at("2026-11-28T00:01:00Z"), map[string]string{s3Rule: "NON_COMPLIANT", "s3-bucket-versioning-enabled": "COMPLIANT"}),
				compliance(bucket, "data-lake", at("2026-12-02T06:05:00Z"), map[string]string{s3Rule: "COMPLIANT", "s3-bucket-versioning-enabled": "COMPLIANT"})},
		},
		evals: map[string][]cstypes.EvaluationResult{
			s3Rule: {evaluation(s3Rule, bucket, "web-assets", "COMPLIANT"), evaluation(s3Rule, bucket, "reports", "NON_COMPLIANT"),
				evaluation(s3Rule, bucket, "archive-2019", "COMPLIANT"), evaluation(s3Rule, bucket, "data-lake", "COMPLIANT")},
		},
	}
	west := &fakeConfig{t: t, region: "eu-west-1", items: map[string][]cstypes.ConfigurationItem{}, evals: map[string][]cstypes.EvaluationResult{}}
	return map[string]*fakeConfig{"us-east-1": east, "eu-west-1": west}
}

var fixtureTool = Tool{Name: "remediate", Version: "v1.2.3", Module: "github.com/autoremediate/autoremediate", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8"}

func buildFixture(t *testing.T, f Filter) (*Report, map[string]*fakeConfig) {
	t.Helper()
	arch, err := archive.ReadDir(filepath.Join("testdata", "archive"), from, to)
	if err != nil {
		t.Fatal(err)
	}
	fakes := fixtureConfig(t)
	c := &Collector{Account: account, Regions: []string{"us-east-1", "eu-west-1"}, Client: func(r string) ConfigAPI { return fakes[r] }}
	keys, rules := Concerned(arch.Outcomes, f)
	data, err := c.Collect(context.Background(), from, to, keys, rules, f)
	if err != nil {
		t.Fatal(err)
	}
	return Build(Input{From: from, To: to, GeneratedAt: now, Filter: f, Outcomes: arch.Outcomes, Archive: arch, Config: data, Tool: fixtureTool}), fakes
}

func resource(t *testing.T, r *Report, id string) *Resource {
	t.Helper()
	for _, res := range r.Resources {
		if res.Key.ID == id {
			return res
		}
	}
	t.Fatalf("resource %s not in the report", id)
	return nil
}

func TestTimelineAndExposure(t *testing.T) {
	r, _ := buildFixture(t, Filter{})

	// web-assets: one period from alice's call to the pipeline's verified
	// fix; Config's late NON_COMPLIANT does not start another.
	web := resource(t, r, "web-assets")
	if len(web.Episodes) != 1 {
		t.Fatalf("web-assets episodes: %+v", web.Episodes)
	}
	e := web.Episodes[0]
	if e.Exposure != 4200*time.Millisecond || e.Open || e.ChangedBy != "arn:aws:sts::111122223333:assumed-role/Developer/alice" ||
		!e.VerifiedAt.Equal(at("2026-12-01T10:00:04.2Z")) || !e.ConfigConfirmedAt.Equal(at("2026-12-01T10:06:00Z")) || !strings.Contains(e.FixedBy, "s3-public-access-block") {
		t.Errorf("web-assets episode %+v", e)
	}
	lagging := 0
	for _, en := range web.Entries {
		if en.lagging {
			lagging++
		}
	}
	if lagging != 1 {
		t.Errorf("web-assets: %d lagging Config evaluations, want 1", lagging)
	}

	// reports: non-compliant from Config's evaluation at 14:00, open at the
	// end after an escalation: 34 hours, and an open escalated case.
	rep := resource(t, r, "reports")
	if len(rep.Episodes) != 1 || !rep.Episodes[0].Open || rep.Episodes[0].Exposure != to.Sub(at("2026-12-01T14:00:00Z")) ||
		rep.Episodes[0].ChangedBy != Unknown || rep.Episodes[0].LastAction != remediation.ActionEscalated {
		t.Errorf("reports episodes %+v", rep.Episodes)
	}
	if len(r.OpenCases) != 1 || r.OpenCases[0].Key.ID != "reports" {
		t.Errorf("open failed/escalated cases %+v, want reports only (eu-backups is a dry run)", r.OpenCases)
	}

	// archive-2019: never non-compliant, listed with zero exposure.
	if a := resource(t, r, "archive-2019"); len(a.Episodes) != 0 || a.Exposure != 0 || len(a.Rules) != 1 {
		t.Errorf("archive-2019: %+v", a)
	}

	// data-lake: non-compliant before the period, compliant at 06:05 the
	// next day, fixed by whom Config cannot say; a recording gap.
	dl := resource(t, r, "data-lake")
	if len(dl.Episodes) != 1 || !dl.Episodes[0].StartedBefore || dl.Episodes[0].Exposure != at("2026-12-02T06:05:00Z").Sub(from) || !strings.Contains(dl.Episodes[0].FixedBy, "unknown") {
		t.Errorf("data-lake episodes %+v", dl.Episodes)
	}
	if !hasNote(dl, "not recording this resource from 2026-12-01T20:00:00.000Z to 2026-12-02T06:00:00.000Z") {
		t.Errorf("data-lake notes %q lack the recording gap", dl.Notes)
	}

	// Security groups are not in us-east-1's recording group.
	if sg := resource(t, r, "sg-0abc1234"); !hasNote(sg, "does not record AWS::EC2::SecurityGroup in us-east-1") || sg.Episodes[0].Exposure != 1500*time.Millisecond {
		t.Errorf("sg-0abc1234: notes %q episodes %+v", sg.Notes, sg.Episodes)
	}
	// No recorder at all in eu-west-1.
	if eu := resource(t, r, "eu-backups"); !hasNote(eu, "no configuration recorder in eu-west-1") || !eu.Episodes[0].Open {
		t.Errorf("eu-backups: notes %q episodes %+v", eu.Notes, eu.Episodes)
	}
	// A member account's resource: Config not read, and said so.
	if m := resource(t, r, "member-logs"); !hasNote(m, "account 444455556666") || !strings.Contains(strings.Join(r.Notes, "\n"), "1 resource of other accounts (444455556666)") {
		t.Errorf("member-logs notes %q", m.Notes)
	}
	if len(r.Malformed) != 1 || r.Malformed[0].Line != 4 {
		t.Errorf("malformed lines %+v, want line 4 of the first file", r.Malformed)
	}
}

func hasNote(r *Resource, sub string) bool {
	for _, n := range r.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

func TestRuleStats(t *testing.T) {
	r, _ := buildFixture(t, Filter{})
	var s3 *RuleStats
	for i := range r.Rules {
		if r.Rules[i].Rule == s3Rule {
			s3 = &r.Rules[i]
		}
	}
	if s3 == nil {
		t.Fatalf("no stats for %s: %+v", s3Rule, r.Rules)
	}
	// Exposures of the rule's periods, recomputed from the resources.
	var d []time.Duration
	for _, res := range r.Resources {
		for _, e := range res.Episodes {
			if e.Rule == s3Rule {
				d = append(d, e.Exposure)
			}
		}
	}
	if s3.Episodes != len(d) || s3.Episodes != 5 {
		t.Fatalf("%d periods, recomputed %d, want 5 (web-assets, reports, data-lake, member-logs, eu-backups)", s3.Episodes, len(d))
	}
	// Sorted: 2.5s member-logs, 4.2s web-assets, 12h eu-backups, 30h05m
	// data-lake, 34h reports: nearest rank p50 is the 3rd, p95 the 5th.
	if s3.P50 != 12*time.Hour || s3.P95 != 34*time.Hour || s3.Max != 34*time.Hour || s3.Open != 2 {
		t.Errorf("stats %+v", *s3)
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]time.Duration{0.5: 5, 0.95: 10, 0.1: 1, 1: 10} {
		if got := percentile(d, q); got != want {
			t.Errorf("percentile(%v) = %v, want %v", q, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestFilters(t *testing.T) {
	r, _ := buildFixture(t, Filter{Resource: "arn:aws:s3:::web-assets"})
	if len(r.Resources) != 1 || r.Resources[0].Key.ID != "web-assets" {
		t.Errorf("--resource ARN selected %d resources", len(r.Resources))
	}
	r, _ = buildFixture(t, Filter{Rule: sgRule})
	if len(r.Resources) != 1 || r.Resources[0].Key.ID != "sg-0abc1234" {
		var ids []string
		for _, res := range r.Resources {
			ids = append(ids, res.Key.ID)
		}
		t.Errorf("--rule %s selected %v", sgRule, ids)
	}
	r, _ = buildFixture(t, Filter{Resource: "nothing-like-it"})
	if len(r.Resources) != 0 || len(r.Notes) == 0 || !strings.Contains(string(r.Markdown()), "nothing-like-it is neither in the archive") {
		t.Errorf("an unknown --resource is not reported: %q", r.Notes)
	}
}

func TestMatchResource(t *testing.T) {
	k := Key{Account: account, Region: "us-east-1", Type: sgType, ID: "sg-1"}
	for f, want := range map[string]bool{
		"sg-1": true, "sg-2": false, "arn:aws:ec2:us-east-1:111122223333:security-group/sg-1": true,
		"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1": false, "arn:aws:ec2:us-east-1:444455556666:security-group/sg-1": false,
		"arn:aws:ec2:us-east-1:111122223333:security-group/sg-10": false, "": true,
	} {
		if got := (Filter{Resource: f}).MatchResource(k); got != want {
			t.Errorf("MatchResource(%q) = %v", f, got)
		}
	}
}

// The history is read seven days a call, with the item before the period
// read once.
func TestHistoryWindows(t *testing.T) {
	fakes := fixtureConfig(t)
	c := &Collector{Account: account, Regions: []string{"us-east-1"}, Client: func(r string) ConfigAPI { return fakes[r] }}
	long := from.AddDate(0, 0, -20)
	h := c.history(context.Background(), Key{account, "us-east-1", bucket, "data-lake"}, long, to)
	if h.ComplianceErr != "" || h.ConfigurationErr != "" {
		t.Fatal(h.ComplianceErr, h.ConfigurationErr)
	}
	windows := 0
	for _, in := range fakes["us-east-1"].historyCalls {
		if in.EarlierTime != nil && in.ResourceType == bucket && in.NextToken == nil {
			windows++
		}
	}
	if windows != 4 { // 22 days: 7 + 7 + 7 + 1
		t.Errorf("%d windows for 22 days, want 4", windows)
	}
	if len(h.Configuration) != 3 || h.ConfigurationBefore != nil {
		t.Errorf("configuration %+v before %+v", h.Configuration, h.ConfigurationBefore)
	}
}

// Where Config refuses a history call without earlierTime, the state at
// the start comes from the week before the period.
func TestHistoryBeforeWithinAWeek(t *testing.T) {
	fakes := fixtureConfig(t)
	fakes["us-east-1"].requireSpan = true
	c := &Collector{Account: account, Regions: []string{"us-east-1"}, Client: func(r string) ConfigAPI { return fakes[r] }}
	h := c.history(context.Background(), Key{account, "us-east-1", bucket, "data-lake"}, from, to)
	if h.ComplianceErr != "" || h.ComplianceBefore == nil || h.ComplianceBefore.Rules[s3Rule] != "NON_COMPLIANT" {
		t.Errorf("before %+v, error %q", h.ComplianceBefore, h.ComplianceErr)
	}
}

func TestCoverageGap(t *testing.T) {
	all := Recorder{Name: "r", Strategy: "ALL_SUPPORTED_RESOURCE_TYPES", Recording: true}
	excl := Recorder{Name: "r", Strategy: "EXCLUSION_BY_RESOURCE_TYPES", Types: []string{sgType}, Recording: true}
	stopped := Recorder{Name: "r", Strategy: "ALL_SUPPORTED_RESOURCE_TYPES", LastStop: at("2026-12-01T05:00:00Z")}
	for _, c := range []struct {
		cov  Coverage
		typ  string
		want string
	}{
		{Coverage{Region: "r1", Recorders: []Recorder{all}}, bucket, ""},
		{Coverage{Region: "r1", Recorders: []Recorder{all}}, "AWS::IAM::Role", "does not record AWS::IAM::Role"},
		{Coverage{Region: "r1", Recorders: []Recorder{excl}}, sgType, "does not record"},
		{Coverage{Region: "r1", Recorders: []Recorder{excl}}, bucket, ""},
		{Coverage{Region: "r1", Recorders: []Recorder{stopped}}, bucket, "stopped since 2026-12-01T05:00:00Z"},
		{Coverage{Region: "r1"}, bucket, "no configuration recorder"},
		{Coverage{Region: "r1", Err: "AccessDeniedException: no"}, bucket, "could not be read"},
	} {
		got := c.cov.Gap(c.typ)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Gap(%s) with %+v = %q, want %q", c.typ, c.cov, got, c.want)
		}
	}
}

// Config evaluates NON_COMPLIANT between the CloudTrail call and the
// pipeline's fix: the period starts at the call, not at the evaluation.
func TestOutcomeDetectedBeforeConfig(t *testing.T) {
	t0 := at("2026-12-01T10:00:00Z")
	k := Key{account, "us-east-1", bucket, "b"}
	o := remediation.Outcome{Remediator: "s3-public-access-block", Rule: s3Rule, ResourceType: bucket, ResourceID: "b", Account: account, Region: "us-east-1",
		Action: remediation.ActionRemediated, Trigger: remediation.TriggerCloudTrail, Actor: "arn:aws:iam::111122223333:user/dev", DetectedAt: t0, CompletedAt: t0.Add(4200 * time.Millisecond)}
	h := &History{ComplianceBefore: &ComplianceItem{Time: from.Add(-time.Hour), Rules: map[string]string{s3Rule: "COMPLIANT"}},
		Compliance: []ComplianceItem{{Time: t0.Add(2 * time.Second), Rules: map[string]string{s3Rule: "NON_COMPLIANT"}}, {Time: t0.Add(time.Minute), Rules: map[string]string{s3Rule: "COMPLIANT"}}}}
	r := Build(Input{From: from, To: to, GeneratedAt: now, Outcomes: []archive.Record{{Outcome: o}},
		Config: &ConfigData{Account: account, Histories: map[Key]*History{k: h}}})
	eps := resource(t, r, "b").Episodes
	if len(eps) != 1 || !eps[0].Start.Equal(t0) || eps[0].Exposure != 4200*time.Millisecond || !eps[0].ConfigConfirmedAt.Equal(t0.Add(time.Minute)) || eps[0].ChangedBy != o.Actor {
		t.Errorf("episodes %+v", eps)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", -time.Second: "0s", 4200 * time.Millisecond: "4.2s", 192 * time.Second: "3m12s",
		5*time.Hour + 3*time.Minute + 12*time.Second: "5h03m12s", 52*time.Hour + 9*time.Second: "2d04h00m09s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPeriodNotes(t *testing.T) {
	for _, c := range []struct {
		rec  Recorder
		want string
	}{
		{Recorder{Name: "r", LastStart: at("2026-01-01T00:00:00Z")}, ""},
		{Recorder{Name: "r", LastStop: at("2026-12-01T05:00:00Z"), LastStart: at("2026-12-01T07:00:00Z")}, "was not recording from 2026-12-01T05:00:00.000Z to 2026-12-01T07:00:00.000Z"},
		{Recorder{Name: "r", LastStart: at("2026-11-01T00:00:00Z"), LastStop: at("2026-12-02T00:00:00Z")}, "stopped at 2026-12-02T00:00:00.000Z"},
		{Recorder{Name: "r", LastStart: at("2026-12-02T00:00:00Z")}, "started recording at 2026-12-02T00:00:00.000Z"},
		{Recorder{Name: "r", LastStart: at("2026-01-01T00:00:00Z"), LastStatus: "Failure", LastError: "AccessDenied: no"}, "last recording failed (AccessDenied: no)"},
	} {
		got := strings.Join(Coverage{Region: "r1", Recorders: []Recorder{c.rec}}.PeriodNotes(from, to), "; ")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("PeriodNotes(%+v) = %q, want %q", c.rec, got, c.want)
		}
	}
}

func TestGolden(t *testing.T) {
	r, _ := buildFixture(t, Filter{})
	html, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{MarkdownFile: r.Markdown(), CSVFile: r.CSV(), HTMLFile: html} {
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./evidence -run TestGolden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (run with -update after checking the change):\n%s", name, path, firstDiff(string(want), string(got)))
		}
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, w, g)
		}
	}
	return "(no line differs)"
}

// The CSV has one row per timeline entry and no cell a spreadsheet would
// run as a formula (the failed outcome's error starts with "=").
func TestCSV(t *testing.T) {
	r, _ := buildFixture(t, Filter{})
	rows, err := csv.NewReader(bytes.NewReader(r.CSV())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, res := range r.Resources {
		n += len(res.Entries)
	}
	if len(rows) != n+1 {
		t.Errorf("%d rows, want %d entries and the header", len(rows), n)
	}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("cell %q would be a formula", cell)
			}
		}
	}
}

// The manifest holds each file's SHA-256: recomputed from what was written,
// they match, and SHA256SUMS says the same in sha256sum's format.
func TestManifest(t *testing.T) {
	r, _ := buildFixture(t, Filter{Rule: s3Rule})
	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 3 {
		t.Fatalf("manifest lists %d files, want md, csv and html", len(m.Files))
	}
	sums := map[string]string{}
	for _, e := range m.Files {
		body, err := os.ReadFile(filepath.Join(dir, e.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != e.SHA256 || len(body) != e.Bytes {
			t.Errorf("%s: manifest says %s (%d bytes), file is %x (%d bytes)", e.Name, e.SHA256, e.Bytes, sum, len(body))
		}
		sums[e.Name] = e.SHA256
	}
	msum := sha256.Sum256(raw)
	sums[ManifestFile] = hex.EncodeToString(msum[:])
	lines, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		h, name, ok := strings.Cut(l, "  ")
		if !ok || sums[name] != h {
			t.Errorf("SHA256SUMS line %q does not match the file", l)
		}
		delete(sums, name)
	}
	if len(sums) != 0 {
		t.Errorf("SHA256SUMS lacks %v", sums)
	}
	if m.Period.From != "2026-12-01T00:00:00.000Z" || m.Filters.Rule != s3Rule || m.Sources.Config.Account != account ||
		len(m.Sources.Config.Regions) != 2 || m.Sources.Archive.Location != filepath.Join("testdata", "archive") || len(m.Sources.Archive.Files) != 2 || len(m.Sources.Archive.Files[0].SHA256) != 64 ||
		m.Sources.Archive.MalformedLines != 1 || m.Tool.Revision != fixtureTool.Revision {
		t.Errorf("manifest inputs %+v", m)
	}
	// The archive files' hashes are those of the files as stored.
	for _, f := range m.Sources.Archive.Files {
		body, err := os.ReadFile(filepath.Join("testdata", "archive", filepath.FromSlash(f.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != f.SHA256 || f.Bytes != int64(len(body)) {
			t.Errorf("archive file %s: manifest %+v, file %x (%d bytes)", f.Name, f, sum, len(body))
		}
	}
}

// Same input, same bytes: the outcomes in another order (two of them at
// the same instant) and Config's maps iterated anew change nothing.
func TestDeterministic(t *testing.T) {
	arch, err := archive.ReadDir(filepath.Join("testdata", "archive"), from, to)
	if err != nil {
		t.Fatal(err)
	}
	same := arch.Outcomes[0]
	same.Outcome.Remediator, same.Outcome.Action = "another-remediator", remediation.ActionCompliant
	build := func(recs []archive.Record) *Report {
		fakes := fixtureConfig(t)
		c := &Collector{Account: account, Regions: []string{"us-east-1", "eu-west-1"}, Client: func(r string) ConfigAPI { return fakes[r] }}
		keys, rules := Concerned(recs, Filter{})
		data, err := c.Collect(context.Background(), from, to, keys, rules, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return Build(Input{From: from, To: to, GeneratedAt: now, Outcomes: recs, Archive: arch, Config: data, Tool: fixtureTool})
	}
	fwd := append(append([]archive.Record(nil), arch.Outcomes...), same)
	a := build(fwd)
	for i := 0; i < 5; i++ {
		rev := make([]archive.Record, len(fwd))
		for j, r := range fwd {
			rev[len(fwd)-1-j] = r
		}
		b := build(rev)
		if !bytes.Equal(a.Markdown(), b.Markdown()) || !bytes.Equal(a.CSV(), b.CSV()) {
			t.Fatalf("the outcomes' order changed the report:\n%s", firstDiff(string(a.Markdown()), string(b.Markdown())))
		}
	}
}

package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

type fakeSTS struct{}

func (fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Account: aws.String("111122223333")}, nil
}

// lister returns a throwaway lister that checks the account and region it
// is asked for and counts its calls.
func lister(t *testing.T, key, resourceType string, ids []string, err error, calls *atomic.Int32) remediators.Lister {
	return remediators.Lister{Key: key, ResourceType: resourceType,
		List: func(_ context.Context, _ remediators.Clients, account, region string) ([]string, error) {
			if account != "111122223333" || region != "eu-west-1" {
				t.Errorf("lister %s asked for account %q region %q", key, account, region)
			}
			if calls != nil {
				calls.Add(1)
			}
			return ids, err
		}}
}

// def returns a throwaway definition with one sweep check per lister.
func def(name string, types []string, checks ...remediators.SweepCheck) remediators.Definition {
	d := remediators.Definition{Spec: remediation.Spec{Name: name, ResourceTypes: types}, Sweep: checks}
	for _, c := range checks {
		d.Rules = append(d.Rules, remediation.ManagedRule{Name: c.Rule, Identifier: strings.ToUpper(c.Rule)})
	}
	return d
}

const (
	typeBucket   = "AWS::S3::Bucket"
	typeInstance = "AWS::EC2::Instance"
	typeVolume   = "AWS::EC2::Volume"
	typeAccount  = "AWS::::Account"
)

type recordingRemediator struct {
	name  string
	types []string
	reqs  chan remediation.Request
}

func (r *recordingRemediator) Name() string            { return r.name }
func (r *recordingRemediator) ResourceTypes() []string { return r.types }
func (r *recordingRemediator) Remediate(_ context.Context, req remediation.Request) remediation.Result {
	r.reqs <- req
	return remediation.Result{Action: remediation.ActionCompliant}
}

func TestListingRunsEachListerOnceAndSurvivesErrors(t *testing.T) {
	reqs := make(chan remediation.Request, 100)
	mk := func(name string, types ...string) remediation.Remediator {
		return &recordingRemediator{name: name, types: types, reqs: reqs}
	}
	var bucketCalls atomic.Int32
	buckets := lister(t, "buckets", typeBucket, []string{"a", "b", "c"}, nil, &bucketCalls)
	defs := []remediators.Definition{
		def("pab", []string{typeBucket}, remediators.SweepCheck{Rule: "bucket-public", Lister: buckets}),
		def("sse", []string{typeBucket}, remediators.SweepCheck{Rule: "bucket-encrypted", Lister: buckets}),
		def("imds", []string{typeInstance}, remediators.SweepCheck{Rule: "imds-check", Lister: lister(t, "instances", typeInstance, []string{"i-1", "i-2"}, nil, nil)}),
		def("ebs", []string{typeAccount, typeVolume},
			remediators.SweepCheck{Rule: "ebs-default", Lister: remediators.AccountLister()},
			remediators.SweepCheck{Rule: "volumes", Lister: lister(t, "volumes", typeVolume, nil, errors.New("DescribeVolumes: UnauthorizedOperation"), nil)}),
	}
	reg, err := remediation.NewRegistry(mk("pab", typeBucket), mk("sse", typeBucket), mk("imds", typeInstance), mk("ebs", typeAccount, typeVolume))
	if err != nil {
		t.Fatal(err)
	}
	sw := &Sweeper{Definitions: defs, STS: fakeSTS{}, Region: "eu-west-1",
		Handler: &remediation.Handler{Registry: reg, Modes: remediation.Modes{Default: remediation.ModeEnforce}}, DryRun: true}
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	close(reqs)
	n := 0
	for req := range reqs {
		n++
		if req.Mode != remediation.ModeDryRun || req.Account != "111122223333" || req.Region != "eu-west-1" || req.ManagedRule == "" || req.Rule != req.ManagedRule {
			t.Errorf("request %+v", req)
		}
	}
	// 3 buckets x 2 remediators, 2 instances, the account; the volume
	// listing failed and is reported, not fatal.
	if n != 9 || len(rep.Outcomes) != 9 {
		t.Errorf("%d requests, %d outcomes, want 9", n, len(rep.Outcomes))
	}
	if len(rep.ListErrors) != 1 || !rep.Failed() {
		t.Errorf("list errors %v", rep.ListErrors)
	}
	if bucketCalls.Load() != 1 {
		t.Errorf("the shared bucket lister ran %d times, want once", bucketCalls.Load())
	}
	if got := strings.Join(rep.Remediators, ","); got != "pab,sse,imds,ebs" {
		t.Errorf("report remediators %q, want the definitions' order", got)
	}
}

func TestScore(t *testing.T) {
	var os []remediation.Outcome
	for _, a := range []remediation.Action{remediation.ActionCompliant, remediation.ActionRemediated, remediation.ActionExempt,
		remediation.ActionDeferred, remediation.ActionGone, remediation.ActionFailed, remediation.ActionDryRun, remediation.ActionNeedsManual} {
		os = append(os, remediation.Outcome{Action: a})
	}
	s := ScoreOf(os)
	if s.Compliant != 2 || s.Total != 7 {
		t.Errorf("score %+v, want 2 of 7", s)
	}
	if pct, ok := s.Percent(); !ok || pct < 28.57 || pct > 28.58 {
		t.Errorf("percent %v, %v, want 28.57..., true", pct, ok)
	}
	if got := s.String(); got != "28.6% (2 of 7 checks compliant)" {
		t.Errorf("String() = %q", got)
	}
}

// A sweep that scored nothing has no score: not 100%.
func TestScoreWithoutChecks(t *testing.T) {
	for _, os := range [][]remediation.Outcome{nil, {{Action: remediation.ActionGone}, {Action: remediation.ActionIgnored}}} {
		s := ScoreOf(os)
		if pct, ok := s.Percent(); ok {
			t.Errorf("%v: percent %v, %v, want no score", os, pct, ok)
		}
		if got := s.String(); got != NoChecks {
			t.Errorf("%v: String() = %q, want %q", os, got, NoChecks)
		}
	}
	var out strings.Builder
	(&Report{}).WriteSummary(&out)
	if !strings.Contains(out.String(), "compliance score: n/a (no checks), in ") || strings.Contains(out.String(), "100.0%") {
		t.Errorf("summary of an empty sweep:\n%s", out.String())
	}
}

func TestLambdaHandlerWithoutChecksHasNoScore(t *testing.T) {
	rem := &recordingRemediator{name: "pab", types: []string{typeBucket}}
	reg, err := remediation.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	sw := &Sweeper{Definitions: []remediators.Definition{def("pab", []string{typeBucket}, remediators.SweepCheck{Rule: "r", Lister: lister(t, "b", typeBucket, nil, nil, nil)})},
		Account: "111122223333", Region: "eu-west-1", Handler: &remediation.Handler{Registry: reg}}
	var log strings.Builder
	res, err := LambdaHandler(sw, &log)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 0 || res.ScoredChecks != 0 || res.ScorePercent != nil || res.Score != NoChecks {
		t.Errorf("result %+v, want no score", res)
	}
	if !strings.Contains(log.String(), `"scorePercent":null,"score":"n/a (no checks)"`) {
		t.Errorf("summary line %q", log.String())
	}
}

func TestValidateOnlyEnabled(t *testing.T) {
	cat := remediation.Catalog{{Name: "s3-encryption"}, {Name: "ec2-imdsv2", Aliases: []string{"imdsv2"}}}
	err := ValidateOnlyEnabled([]string{"s3-encryption", "ec2-imdsv2"}, []string{"s3-encryption"}, cat)
	if err == nil || !strings.Contains(err.Error(), `"ec2-imdsv2" is not enabled`) || !strings.Contains(err.Error(), "ENABLED_REMEDIATORS=s3-encryption") {
		t.Errorf("error %v, want ec2-imdsv2 named as not enabled", err)
	}
	if err := ValidateOnlyEnabled([]string{"imdsv2"}, []string{"ec2-imdsv2"}, cat); err != nil {
		t.Errorf("alias of an enabled remediator: %v", err)
	}
	if err := ValidateOnly([]string{"imdsv2", "s3-magic"}, cat); err == nil || !strings.Contains(err.Error(), `unknown remediator "s3-magic" (known: s3-encryption, ec2-imdsv2)`) {
		t.Errorf("ValidateOnly: %v", err)
	}
	if err := ValidateOnlyEnabled([]string{"ec2-imdsv2"}, nil, cat); err != nil {
		t.Errorf("every remediator enabled: %v", err)
	}
}

// Run refuses Only naming a remediator its registry does not have, rather
// than checking nothing.
func TestRunRejectsOnlyNotEnabled(t *testing.T) {
	reg, err := remediation.NewRegistry(&recordingRemediator{name: "s3-encryption", types: []string{typeBucket}})
	if err != nil {
		t.Fatal(err)
	}
	defs := []remediators.Definition{
		def("s3-encryption", []string{typeBucket}, remediators.SweepCheck{Rule: "r1", Lister: lister(t, "b", typeBucket, []string{"a"}, nil, nil)}),
		def("ec2-imdsv2", []string{typeInstance}, remediators.SweepCheck{Rule: "r2", Lister: lister(t, "i", typeInstance, nil, nil, nil)}),
	}
	sw := &Sweeper{Definitions: defs, Account: "111122223333", Region: "eu-west-1",
		Handler: &remediation.Handler{Registry: reg}, Only: []string{"ec2-imdsv2"}}
	rep, err := sw.Run(context.Background())
	if err == nil || rep != nil || !strings.Contains(err.Error(), `"ec2-imdsv2" is not enabled`) {
		t.Errorf("Run = %+v, %v; want an error naming ec2-imdsv2", rep, err)
	}
}

func TestRateLimiterTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	var waits []time.Duration
	l := NewRateLimiter(map[string]Limit{"EC2.ModifyInstanceMetadataOptions": {Burst: 2, Rate: 5}, "EC2.*": {Burst: 100, Rate: 20}})
	l.now = func() time.Time { return now }
	l.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		if err := l.Wait(ctx, "EC2", "ModifyInstanceMetadataOptions"); err != nil {
			t.Fatal(err)
		}
	}
	// Burst of 2, then one token every 200ms, reserved in order.
	if len(waits) != 2 || waits[0] != 200*time.Millisecond || waits[1] != 400*time.Millisecond {
		t.Fatalf("waits %v, want [200ms 400ms]", waits)
	}
	// Another API has its own bucket.
	if err := l.Wait(ctx, "EC2", "DescribeInstances"); err != nil || len(waits) != 2 {
		t.Errorf("DescribeInstances waited: %v", waits)
	}
	// After 2s the bucket is full again (capped at the burst).
	now = now.Add(2 * time.Second)
	waits = nil
	for i := 0; i < 3; i++ {
		_ = l.Wait(ctx, "EC2", "ModifyInstanceMetadataOptions")
	}
	if len(waits) != 1 || waits[0] != 200*time.Millisecond {
		t.Errorf("after refill: waits %v, want [200ms]", waits)
	}
	// Unlimited services pass straight through and are still counted.
	_ = l.Wait(ctx, "S3", "ListBuckets")
	if c := l.Calls(); c["EC2.ModifyInstanceMetadataOptions"] != 7 || c["S3.ListBuckets"] != 1 {
		t.Errorf("calls %v", c)
	}
}

// The floor is what the slowest bucket needs for the calls beyond its
// burst; calls within their bursts, and unlimited services, need nothing.
func TestRateLimiterFloor(t *testing.T) {
	l := NewRateLimiter(map[string]Limit{"EC2.ModifyInstanceMetadataOptions": {Burst: 100, Rate: 5}, "EC2.*": {Burst: 100, Rate: 20}})
	l.sleep = func(context.Context, time.Duration) error { return nil }
	ctx := context.Background()
	calls := func(n int, service, op string) {
		for range n {
			_ = l.Wait(ctx, service, op)
		}
	}
	calls(1000, "S3", "GetBucketPolicy")
	calls(90, "EC2", "ModifyInstanceMetadataOptions")
	if f := l.Floor(); f != 0 {
		t.Errorf("floor %v within the bursts, want 0", f)
	}
	calls(150, "EC2", "DescribeInstances") // 50 beyond the burst at 20/s
	if f := l.Floor(); f != 2500*time.Millisecond {
		t.Errorf("floor %v, want 2.5s", f)
	}
	calls(110, "EC2", "ModifyInstanceMetadataOptions") // 200 in all: 100 beyond at 5/s
	if f := l.Floor(); f != 20*time.Second {
		t.Errorf("floor %v, want 20s", f)
	}
}

type failingRemediator struct{ recordingRemediator }

func (r *failingRemediator) Remediate(_ context.Context, req remediation.Request) remediation.Result {
	if req.ResourceID == "b" {
		return remediation.Failed(nil, errors.New(`putting public access block on bucket "b": AccessDenied`))
	}
	return remediation.Result{Action: remediation.ActionRemediated}
}

func TestLambdaHandlerReportsFailures(t *testing.T) {
	rem := &failingRemediator{recordingRemediator{name: "pab", types: []string{typeBucket}}}
	reg, err := remediation.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	sw := &Sweeper{Definitions: []remediators.Definition{def("pab", []string{typeBucket}, remediators.SweepCheck{Rule: "r", Lister: lister(t, "b", typeBucket, []string{"a", "b", "c"}, nil, nil)})},
		Account: "111122223333", Region: "eu-west-1", Handler: &remediation.Handler{Registry: reg}}
	var log strings.Builder
	res, err := LambdaHandler(sw, &log)(context.Background())
	if err == nil || !strings.Contains(err.Error(), `bucket "b"`) {
		t.Errorf("error %v, want the failed bucket named", err)
	}
	if res.Checked != 3 || res.Counts[remediation.ActionRemediated] != 2 || res.Counts[remediation.ActionFailed] != 1 || res.CompliantChecks != 2 || res.ScoredChecks != 3 {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(log.String(), `"msg":"sweep summary"`) || !strings.Contains(log.String(), `"scorePercent":66.`) {
		t.Errorf("summary line %q", log.String())
	}
}

func TestInterleaveTakesOneOfEachGroupInTurn(t *testing.T) {
	b := func(id string) Target { return Target{ResourceType: typeBucket, ResourceID: id} }
	i := func(id string) Target { return Target{ResourceType: typeInstance, ResourceID: id} }
	got := interleave([][]Target{{b("b1"), b("b2"), b("b3")}, {i("i1")}, nil})
	want := []Target{b("b1"), i("i1"), b("b2"), b("b3")}
	if len(got) != len(want) {
		t.Fatalf("interleave = %v, want %v", got, want)
	}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("interleave = %v, want %v", got, want)
		}
	}
}

// The summary lists under the table every check that stays non-compliant,
// most urgent first, with why; compliant, remediated and gone ones are not
// listed.
func TestSummaryListsWhatStaysNonCompliant(t *testing.T) {
	o := func(a remediation.Action, id, reason, err string) remediation.Outcome {
		return remediation.Outcome{Remediator: "ebs-encryption", ResourceType: remediators.ResourceTypeVolume, ResourceID: id, Action: a, Reason: reason, Error: err}
	}
	rep := &Report{Outcomes: []remediation.Outcome{
		o(remediation.ActionRemediated, "vol-fixed", "encrypted", ""),
		o(remediation.ActionDeferred, "vol-later", "instance made 42 IMDSv1 calls", ""),
		o(remediation.ActionCompliant, "vol-ok", "", ""),
		o(remediation.ActionNeedsManual, "vol-manual", "Volume vol-manual is unencrypted;\nmigrate it: "+strings.Repeat("step; ", 60), ""),
		o(remediation.ActionGone, "vol-gone", "", ""),
		o(remediation.ActionFailed, "vol-denied", "could not encrypt", "AccessDenied: not authorized"),
	}}
	for i := range 25 {
		rep.Outcomes = append(rep.Outcomes, o(remediation.ActionDryRun, fmt.Sprintf("vol-dry-%d", i), "would encrypt", ""))
	}
	var out strings.Builder
	rep.WriteSummary(&out)
	text := out.String()
	list := text[strings.Index(text, "not compliant after the sweep"):]
	want := []string{
		"not compliant after the sweep: 28 checks\n",
		"  failed: ebs-encryption AWS::EC2::Volume vol-denied: AccessDenied: not authorized\n",
		"  needs-manual: ebs-encryption AWS::EC2::Volume vol-manual: Volume vol-manual is unencrypted; migrate it: step;",
		"  deferred: ebs-encryption AWS::EC2::Volume vol-later: instance made 42 IMDSv1 calls\n",
		"  dry-run: ebs-encryption AWS::EC2::Volume vol-dry-19: would encrypt\n",
		"  ... and 5 more dry-run (--output json lists every outcome)\n",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(list, w)
		if i <= last {
			t.Errorf("%q missing or out of order in:\n%s", w, list)
		}
		last = i
	}
	for _, not := range []string{"vol-fixed", "vol-ok", "vol-gone", "vol-dry-20"} {
		if strings.Contains(list, not) {
			t.Errorf("%s is listed:\n%s", not, list)
		}
	}
	for _, line := range strings.Split(list, "\n") {
		if len(line) > 220 {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(text), "compliance score: "+rep.Score().String()+", in 0s") {
		t.Errorf("the score is not the last line:\n%s", text)
	}
}

// A resource checked under two rules (a security group under restricted-ssh
// and restricted-common-ports) is listed once per rule, each line naming its
// rule: not as two identical lines.
func TestSummaryNamesTheRuleOfEachCheck(t *testing.T) {
	sg := func(rule string) remediation.Outcome {
		return remediation.Outcome{Remediator: "ec2-security-group-ingress", Rule: rule, ResourceType: remediators.ResourceTypeSecurityGroup,
			ResourceID: "sg-1", Action: remediation.ActionExempt, Reason: "tagged auto-remediation=off"}
	}
	rep := &Report{Outcomes: []remediation.Outcome{sg(remediators.RuleRestrictedSSH), sg(remediators.RuleRestrictedCommonPorts)}}
	var out strings.Builder
	rep.WriteSummary(&out)
	var lines []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "  exempt: ") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 2 || lines[0] == lines[1] {
		t.Fatalf("listed %q, want two distinct lines:\n%s", lines, out.String())
	}
	for i, rule := range []string{remediators.RuleRestrictedSSH, remediators.RuleRestrictedCommonPorts} {
		if !strings.Contains(lines[i], "sg-1") || !strings.Contains(lines[i], rule) {
			t.Errorf("line %q does not name sg-1 and the rule %s", lines[i], rule)
		}
	}
}

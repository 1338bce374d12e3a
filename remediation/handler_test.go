package remediation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/events"
)

// fakeRemediator records every request and answers with a fixed result (or
// panics).
type fakeRemediator struct {
	name   string
	types  []string
	result Result
	panic  any

	mu   sync.Mutex
	reqs []Request
}

func (f *fakeRemediator) Name() string            { return f.name }
func (f *fakeRemediator) ResourceTypes() []string { return f.types }
func (f *fakeRemediator) Remediate(_ context.Context, req Request) Result {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.panic != nil {
		panic(f.panic)
	}
	return f.result
}

func (f *fakeRemediator) requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.reqs...)
}

// recordingPublisher keeps what it is asked to publish.
type recordingPublisher struct {
	outcomes []Outcome
	err      error
}

func (p *recordingPublisher) Publish(_ context.Context, o Outcome) error {
	p.outcomes = append(p.outcomes, o)
	return p.err
}

type fakes struct {
	pab, enc, imds, ebs *fakeRemediator
	pub                 *recordingPublisher
	h                   *Handler
}

func all(f *fakes) []*fakeRemediator { return []*fakeRemediator{f.pab, f.enc, f.imds, f.ebs} }

// newFakes builds a handler over four fake remediators that all report
// remediated, with a clock that advances 3 ms per reading.
func newFakes(t *testing.T, overrides map[string]string) *fakes {
	t.Helper()
	ok := Result{Action: ActionRemediated, Reason: "fixed", Before: map[string]any{"x": false}, After: map[string]any{"x": true}}
	f := &fakes{
		pab:  &fakeRemediator{name: S3PublicAccessBlock, types: []string{"AWS::S3::Bucket"}, result: ok},
		enc:  &fakeRemediator{name: S3Encryption, types: []string{"AWS::S3::Bucket"}, result: ok},
		imds: &fakeRemediator{name: EC2IMDSv2, types: []string{"AWS::EC2::Instance"}, result: ok},
		ebs:  &fakeRemediator{name: EBSEncryption, types: []string{"AWS::::Account", "AWS::EC2::Volume"}, result: ok},
		pub:  &recordingPublisher{},
	}
	reg, err := NewRegistry(f.pab, f.enc, f.imds, f.ebs)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 20, 9, 15, 0, 0, time.UTC)
	f.h = &Handler{Registry: reg, Rules: NewRuleResolver(testCatalog(), overrides), Publisher: f.pub,
		Now: func() time.Time { clock = clock.Add(3 * time.Millisecond); return clock }}
	return f
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parsed(t testing.TB, name string) *events.ComplianceChangeEvent {
	t.Helper()
	ev, err := events.ParseComplianceChange(fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestHandleDispatchesFixtures(t *testing.T) {
	cases := []struct {
		fixture, remediator, managed, resourceType, resourceID string
	}{
		{"s3-public-read-noncompliant.json", S3PublicAccessBlock, "s3-bucket-public-read-prohibited", "AWS::S3::Bucket", "example-public-bucket"},
		{"s3-public-write-securityhub-noncompliant.json", S3PublicAccessBlock, "s3-bucket-public-write-prohibited", "AWS::S3::Bucket", "example-public-bucket"},
		{"s3-level-public-access-first-evaluation.json", S3PublicAccessBlock, "s3-bucket-level-public-access-prohibited", "AWS::S3::Bucket", "example-public-bucket"},
		{"s3-sse-noncompliant.json", S3Encryption, "s3-bucket-server-side-encryption-enabled", "AWS::S3::Bucket", "example-unencrypted-bucket"},
		{"s3-kms-conformance-pack-noncompliant.json", S3Encryption, "s3-default-encryption-kms", "AWS::S3::Bucket", "example-unencrypted-bucket"},
		{"ec2-imdsv2-noncompliant.json", EC2IMDSv2, "ec2-imdsv2-check", "AWS::EC2::Instance", "i-0abcd1234ef567890"},
		{"ec2-imdsv2-org-config-rule-noncompliant.json", EC2IMDSv2, "ec2-imdsv2-check", "AWS::EC2::Instance", "i-0abcd1234ef567890"},
		{"ebs-encrypted-volumes-noncompliant.json", EBSEncryption, "encrypted-volumes", "AWS::EC2::Volume", "vol-0123456789abcdef0"},
		{"ebs-encryption-by-default-noncompliant.json", EBSEncryption, "ec2-ebs-encryption-by-default", "AWS::::Account", "123456789012"},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			f := newFakes(t, nil)
			raw := fixture(t, tc.fixture)
			ev := parsed(t, tc.fixture)
			o, err := f.h.Handle(context.Background(), raw)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			for _, r := range all(f) {
				n := len(r.requests())
				if r.name == tc.remediator && n != 1 {
					t.Errorf("%s called %d times, want 1", r.name, n)
				} else if r.name != tc.remediator && n != 0 {
					t.Errorf("%s called %d times, want 0", r.name, n)
				}
			}
			var rem *fakeRemediator
			for _, r := range all(f) {
				if r.name == tc.remediator {
					rem = r
				}
			}
			if reqs := rem.requests(); len(reqs) == 1 {
				want := Request{Rule: ev.Change.ConfigRuleName, ManagedRule: tc.managed, ResourceType: tc.resourceType,
					ResourceID: tc.resourceID, Account: "123456789012", Region: "us-east-1", Mode: ModeEnforce}
				if reqs[0] != want {
					t.Errorf("request = %+v\nwant      %+v", reqs[0], want)
				}
			}
			if o.Action != ActionRemediated || o.Remediator != tc.remediator || o.Rule != ev.Change.ConfigRuleName ||
				o.ResourceID != tc.resourceID || o.ResourceType != tc.resourceType || o.Account != "123456789012" ||
				o.Region != "us-east-1" || o.EventID != ev.ID || o.Reason != "fixed" || o.Error != "" {
				t.Errorf("outcome = %+v", o)
			}
			if o.Before["x"] != false || o.After["x"] != true {
				t.Errorf("before/after not carried: %v %v", o.Before, o.After)
			}
			if o.DurationMs != 3 {
				t.Errorf("DurationMs = %d, want 3 (one clock tick)", o.DurationMs)
			}
			if !o.DetectedAt.Equal(ev.Change.NotificationCreationTime) {
				t.Errorf("DetectedAt = %v, want %v", o.DetectedAt, ev.Change.NotificationCreationTime)
			}
			if o.CompletedAt.IsZero() {
				t.Error("CompletedAt not set")
			}
			if len(f.pub.outcomes) != 1 || f.pub.outcomes[0].ResourceID != o.ResourceID || f.pub.outcomes[0].Action != o.Action {
				t.Errorf("published %+v", f.pub.outcomes)
			}
		})
	}
}

func TestOnlyNonCompliantActs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ev         func(t *testing.T) *events.ComplianceChangeEvent
		compliance string
	}{
		{"COMPLIANT", func(t *testing.T) *events.ComplianceChangeEvent { return parsed(t, "s3-public-read-compliant.json") }, "COMPLIANT"},
		{"NOT_APPLICABLE", func(t *testing.T) *events.ComplianceChangeEvent {
			return parsed(t, "s3-public-read-not-applicable.json")
		}, "NOT_APPLICABLE"},
		{"INSUFFICIENT_DATA", func(t *testing.T) *events.ComplianceChangeEvent {
			raw := strings.Replace(string(fixture(t, "s3-public-read-noncompliant.json")), `"complianceType": "NON_COMPLIANT"`, `"complianceType": "INSUFFICIENT_DATA"`, 1)
			ev, err := events.ParseComplianceChange([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}, "INSUFFICIENT_DATA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t, nil)
			o, err := f.h.HandleEvent(context.Background(), tc.ev(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range all(f) {
				if len(r.requests()) != 0 {
					t.Errorf("%s was called", r.name)
				}
			}
			if o.Action != ActionIgnored || !strings.Contains(o.Reason, tc.compliance) || !strings.Contains(o.Reason, "only NON_COMPLIANT") {
				t.Errorf("outcome = %+v", o)
			}
			if o.Remediator != S3PublicAccessBlock {
				t.Errorf("Remediator = %q, want the rule's remediator even when ignored", o.Remediator)
			}
			if len(f.pub.outcomes) != 1 || f.pub.outcomes[0].Action != ActionIgnored {
				t.Errorf("published %+v", f.pub.outcomes)
			}
		})
	}
}

func TestUnknownRuleIsIgnored(t *testing.T) {
	f := newFakes(t, nil)
	o, err := f.h.Handle(context.Background(), fixture(t, "unknown-rule-noncompliant.json"))
	if err != nil {
		t.Fatalf("Handle: %v (an unknown rule is not an error)", err)
	}
	if o.Action != ActionIgnored || o.Remediator != "" || !strings.Contains(o.Reason, `"iam-password-policy"`) || !strings.Contains(o.Reason, "RULE_MAP") {
		t.Errorf("outcome = %+v", o)
	}
	for _, r := range all(f) {
		if len(r.requests()) != 0 {
			t.Errorf("%s was called", r.name)
		}
	}
	if len(f.pub.outcomes) != 1 {
		t.Errorf("published %d outcomes, want 1", len(f.pub.outcomes))
	}
}

func TestRuleMapOverride(t *testing.T) {
	f := newFakes(t, map[string]string{"iam-password-policy": "ebs-encryption-by-default", "s3-bucket-public-read-prohibited": S3Encryption})
	o, err := f.h.Handle(context.Background(), fixture(t, "unknown-rule-noncompliant.json"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != ActionRemediated || o.Remediator != EBSEncryption {
		t.Errorf("outcome = %+v", o)
	}
	if reqs := f.ebs.requests(); len(reqs) != 1 || reqs[0].ManagedRule != "" || reqs[0].Rule != "iam-password-policy" {
		t.Errorf("ebs requests = %+v", reqs)
	}
	// the override takes precedence over the managed name
	if _, err := f.h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json")); err != nil {
		t.Fatal(err)
	}
	if len(f.pab.requests()) != 0 || len(f.enc.requests()) != 1 {
		t.Errorf("public access block called %d times, encryption %d times", len(f.pab.requests()), len(f.enc.requests()))
	}
}

func TestRemediatorNotEnabled(t *testing.T) {
	f := newFakes(t, nil)
	reg, _ := NewRegistry(f.enc)
	f.h.Registry = reg
	o, err := f.h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != ActionIgnored || o.Remediator != S3PublicAccessBlock || !strings.Contains(o.Reason, "not enabled") {
		t.Errorf("outcome = %+v", o)
	}
	if len(f.pab.requests())+len(f.enc.requests()) != 0 {
		t.Error("a remediator was called")
	}
}

func TestResourceTypeNotHandled(t *testing.T) {
	f := newFakes(t, nil)
	ev := parsed(t, "s3-public-read-noncompliant.json")
	ev.Change.ResourceType = "AWS::S3::AccessPoint"
	o, err := f.h.HandleEvent(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != ActionIgnored || !strings.Contains(o.Reason, "AWS::S3::AccessPoint") || !strings.Contains(o.Reason, S3PublicAccessBlock) {
		t.Errorf("outcome = %+v", o)
	}
	if len(f.pab.requests()) != 0 {
		t.Error("remediator called for a type it does not handle")
	}
}

func TestModes(t *testing.T) {
	cases := []struct {
		name  string
		modes Modes
		want  map[string]Mode // remediator -> mode it must receive
	}{
		{"default enforce", Modes{}, map[string]Mode{S3PublicAccessBlock: ModeEnforce, EC2IMDSv2: ModeEnforce}},
		{"global dry-run", Modes{Default: ModeDryRun}, map[string]Mode{S3PublicAccessBlock: ModeDryRun, EC2IMDSv2: ModeDryRun}},
		{"per remediator dry-run", Modes{Per: map[string]Mode{EC2IMDSv2: ModeDryRun}}, map[string]Mode{S3PublicAccessBlock: ModeEnforce, EC2IMDSv2: ModeDryRun}},
		{"per remediator enforce over global dry-run", Modes{Default: ModeDryRun, Per: map[string]Mode{S3PublicAccessBlock: ModeEnforce}},
			map[string]Mode{S3PublicAccessBlock: ModeEnforce, EC2IMDSv2: ModeDryRun}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t, nil)
			f.h.Modes = tc.modes
			for _, fx := range []string{"s3-public-read-noncompliant.json", "ec2-imdsv2-noncompliant.json"} {
				if _, err := f.h.Handle(context.Background(), fixture(t, fx)); err != nil {
					t.Fatal(err)
				}
			}
			for rem, want := range map[*fakeRemediator]Mode{f.pab: tc.want[S3PublicAccessBlock], f.imds: tc.want[EC2IMDSv2]} {
				reqs := rem.requests()
				if len(reqs) != 1 || reqs[0].Mode != want {
					t.Errorf("%s got requests %+v, want mode %q", rem.name, reqs, want)
				}
			}
		})
	}
}

func TestDryRunResultReachesOutcome(t *testing.T) {
	f := newFakes(t, nil)
	f.h.Modes = Modes{Default: ModeDryRun}
	f.pab.result = Result{Action: ActionDryRun, Reason: "would turn on all", Before: map[string]any{"on": false}, After: map[string]any{"on": true}}
	o, err := f.h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != ActionDryRun || o.After["on"] != true || o.Reason != "would turn on all" {
		t.Errorf("outcome = %+v", o)
	}
}

func TestPanickingRemediatorFails(t *testing.T) {
	f := newFakes(t, nil)
	f.pab.panic = "nil map write"
	o, err := f.h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
	var oe *OutcomeError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want *OutcomeError", err)
	}
	if o.Action != ActionFailed || !strings.Contains(o.Error, "panicked") || !strings.Contains(o.Error, "nil map write") ||
		!strings.Contains(o.Error, "example-public-bucket") || o.Reason != o.Error {
		t.Errorf("outcome = %+v", o)
	}
	if oe.Outcome.Action != ActionFailed || !strings.Contains(oe.Error(), "example-public-bucket") || !strings.Contains(oe.Error(), S3PublicAccessBlock) {
		t.Errorf("OutcomeError = %v", oe)
	}
	if o.CompletedAt.IsZero() || o.DurationMs <= 0 {
		t.Errorf("duration not recorded after panic: %+v", o)
	}
	if len(f.pub.outcomes) != 1 || f.pub.outcomes[0].Action != ActionFailed {
		t.Errorf("published %+v", f.pub.outcomes)
	}
}

func TestFailedOutcomeError(t *testing.T) {
	apiErr := &smithy.GenericAPIError{Code: "AccessDenied", Message: "denied"}
	f := newFakes(t, nil)
	f.enc.result = Failed(map[string]any{"sse": "none"}, fmt.Errorf("putting default encryption AES256 on bucket %q: %w", "b", apiErr))
	o, err := f.h.Handle(context.Background(), fixture(t, "s3-sse-noncompliant.json"))
	var oe *OutcomeError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want *OutcomeError", err)
	}
	if o.Action != ActionFailed || !strings.Contains(o.Error, "AccessDenied") || !strings.Contains(o.Error, "putting default encryption") {
		t.Errorf("outcome = %+v", o)
	}
	if o.Before["sse"] != "none" {
		t.Errorf("before lost: %v", o.Before)
	}

	// failed without Err: the reason becomes the error
	f = newFakes(t, nil)
	f.enc.result = Result{Action: ActionFailed, Reason: "verification failed"}
	o, err = f.h.Handle(context.Background(), fixture(t, "s3-sse-noncompliant.json"))
	if !errors.As(err, &oe) || o.Error != "verification failed" {
		t.Errorf("outcome %+v, err %v", o, err)
	}

	// an Err with a non-failed action still fails
	f = newFakes(t, nil)
	f.enc.result = Result{Action: ActionRemediated, Err: apiErr}
	o, err = f.h.Handle(context.Background(), fixture(t, "s3-sse-noncompliant.json"))
	if !errors.As(err, &oe) || o.Action != ActionFailed {
		t.Errorf("outcome %+v, err %v", o, err)
	}
}

func TestOtherOutcomesReturnNil(t *testing.T) {
	for _, a := range Actions() {
		if a == ActionFailed {
			continue
		}
		f := newFakes(t, nil)
		f.pab.result = Result{Action: a, Reason: "r"}
		o, err := f.h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
		if err != nil || o.Action != a {
			t.Errorf("action %s: outcome %+v, err %v", a, o, err)
		}
	}
}

func TestPublishFailureIsReturned(t *testing.T) {
	f := newFakes(t, nil)
	pubErr := &smithy.GenericAPIError{Code: "AuthorizationError", Message: "not allowed to publish"}
	f.pub.err = pubErr
	o, err := f.h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
	if err == nil {
		t.Fatal("publishing error not returned")
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AuthorizationError" {
		t.Errorf("error %v does not wrap the publishing error", err)
	}
	var oe *OutcomeError
	if errors.As(err, &oe) {
		t.Error("a publishing error is not an outcome error")
	}
	if !strings.Contains(err.Error(), "example-public-bucket") || !strings.Contains(err.Error(), "publishing outcome") {
		t.Errorf("error %q does not name the action and resource", err)
	}
	if o.Action != ActionRemediated {
		t.Errorf("outcome not returned with the error: %+v", o)
	}
}

func TestHandleInvalidEvent(t *testing.T) {
	f := newFakes(t, nil)
	for _, raw := range []string{``, `[]`, `{"source":"aws.ec2"}`, `{"source":"aws.config","detail-type":"Config Rules Compliance Change"}`} {
		_, err := f.h.Handle(context.Background(), []byte(raw))
		var pe *events.ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Handle(%q) = %v, want a *events.ParseError", raw, err)
		}
	}
	if len(f.pub.outcomes) != 0 {
		t.Errorf("published %d outcomes for invalid input", len(f.pub.outcomes))
	}
	for _, r := range all(f) {
		if len(r.requests()) != 0 {
			t.Errorf("%s called", r.name)
		}
	}
}

func TestNoPublisher(t *testing.T) {
	f := newFakes(t, nil)
	f.h.Publisher = nil
	f.h.Now = nil
	o, err := f.h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
	if err != nil || o.Action != ActionRemediated || o.CompletedAt.IsZero() {
		t.Errorf("outcome %+v, err %v", o, err)
	}
}

// blockingRemediator records how many runs overlap and waits on release.
type blockingRemediator struct {
	fakeRemediator
	release chan struct{}
	mu      sync.Mutex
	active  int
	peak    int
}

func (b *blockingRemediator) Remediate(ctx context.Context, req Request) Result {
	b.mu.Lock()
	b.active++
	b.peak = max(b.peak, b.active)
	b.mu.Unlock()
	<-b.release
	b.mu.Lock()
	b.active--
	b.mu.Unlock()
	return b.fakeRemediator.Remediate(ctx, req)
}

func TestRunsOfOneResourceTakeTurns(t *testing.T) {
	rem := &blockingRemediator{fakeRemediator: fakeRemediator{name: S3PublicAccessBlock, types: []string{"AWS::S3::Bucket"},
		result: Result{Action: ActionCompliant}}, release: make(chan struct{})}
	h := &Handler{}
	req := Request{ResourceType: "AWS::S3::Bucket", ResourceID: "b1", Account: "1", Region: "r"}
	other := req
	other.ResourceID = "b2"
	var wg sync.WaitGroup
	outs := make([]Outcome, 3)
	for i, r := range []Request{req, req, other} {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i] = h.Run(context.Background(), rem, r, "e") }()
	}
	// b1 and b2 may run together; the second b1 must wait
	deadline := time.After(5 * time.Second)
	for {
		rem.mu.Lock()
		active := rem.active
		rem.mu.Unlock()
		if active == 2 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("%d runs started, want 2 (b1 and b2)", active)
		case <-time.After(time.Millisecond):
		}
	}
	for range 3 {
		rem.release <- struct{}{}
	}
	wg.Wait()
	if rem.peak != 2 {
		t.Errorf("peak concurrency %d, want 2 (the two b1 runs must not overlap)", rem.peak)
	}
	for _, o := range outs {
		if o.Action != ActionCompliant {
			t.Errorf("outcome %+v", o)
		}
	}

	// a run whose context ends while it waits fails without running
	hold := make(chan struct{})
	go func() { h.Run(context.Background(), rem, req, "e"); close(hold) }()
	for {
		rem.mu.Lock()
		active := rem.active
		rem.mu.Unlock()
		if active == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	o := h.Run(ctx, rem, req, "e2")
	if o.Action != ActionFailed || !strings.Contains(o.Error, "waiting for another run") || !strings.Contains(o.Error, `"b1"`) {
		t.Errorf("outcome %+v", o)
	}
	rem.release <- struct{}{}
	<-hold
	if n := len(rem.requests()); n != 4 {
		t.Errorf("%d runs reached the remediator, want 4", n)
	}
}

// An event for another account than the credentials' own is never acted
// on: the remediators would change the function's own account instead (a
// real organisation-bus event turned on EBS encryption by default in the
// caller's account and reported the member's as remediated).
func TestHandleIgnoresOtherAccounts(t *testing.T) {
	f := newFakes(t, nil)
	calls := 0
	f.h.OwnAccount = func(context.Context) (string, error) { calls++; return "111122223333", nil }
	o, err := f.h.Handle(context.Background(), fixture(t, "org-bus-ebs-encryption-by-default-member-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != ActionIgnored || o.Account != "444455556666" || !strings.Contains(o.Reason, "444455556666") || !strings.Contains(o.Reason, "111122223333") {
		t.Errorf("outcome %s %q (account %s), want ignored naming both accounts", o.Action, o.Reason, o.Account)
	}
	for _, r := range all(f) {
		if n := len(r.requests()); n != 0 {
			t.Errorf("%s called %d times for another account", r.name, n)
		}
	}
	if len(f.pub.outcomes) != 1 {
		t.Errorf("%d outcomes published, want the ignored one", len(f.pub.outcomes))
	}

	// the same event shape for the function's own account is acted on
	f.h.OwnAccount = func(context.Context) (string, error) { return "123456789012", nil }
	if o, err := f.h.Handle(context.Background(), fixture(t, "ebs-encryption-by-default-noncompliant.json")); err != nil || o.Action != ActionRemediated {
		t.Errorf("own account: %s, %v", o.Action, err)
	}

	// without the own account, nothing is done and the event is retried
	f.h.OwnAccount = func(context.Context) (string, error) { return "", errors.New("ExpiredToken") }
	o, err = f.h.Handle(context.Background(), fixture(t, "ebs-encryption-by-default-noncompliant.json"))
	var oe *OutcomeError
	if !errors.As(err, &oe) || o.Action != ActionFailed || !strings.Contains(o.Error, "ExpiredToken") {
		t.Errorf("STS failure: %s %q, %v", o.Action, o.Error, err)
	}
	if n := len(f.ebs.requests()); n != 1 {
		t.Errorf("ebs remediator called %d times, want only for its own account", n)
	}
}

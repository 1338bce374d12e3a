package remediation

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeReverter is a fake remediator that can revert: it records each
// revert request and answers with a fixed result.
type fakeReverter struct {
	*fakeRemediator
	revert Result
	panic  any

	mu      sync.Mutex
	reverts []RevertRequest
}

func (f *fakeReverter) Revert(_ context.Context, req RevertRequest) Result {
	f.mu.Lock()
	f.reverts = append(f.reverts, req)
	f.mu.Unlock()
	if f.panic != nil {
		panic(f.panic)
	}
	return f.revert
}

func (f *fakeReverter) requests() []RevertRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]RevertRequest(nil), f.reverts...)
}

func newFakeReverter() *fakeReverter {
	return &fakeReverter{
		fakeRemediator: &fakeRemediator{name: S3PublicAccessBlock, types: []string{"AWS::S3::Bucket"}},
		revert: Result{Action: ActionReverted, Reason: "restored it",
			Before: map[string]any{"x": true}, After: map[string]any{"x": false}},
	}
}

type revertFakes struct {
	rev *fakeReverter
	pub *recordingPublisher
	h   *Handler
}

func newRevertFakes(t *testing.T) *revertFakes {
	t.Helper()
	f := &revertFakes{rev: newFakeReverter(), pub: &recordingPublisher{}}
	imds := &fakeRemediator{name: EC2IMDSv2, types: []string{"AWS::EC2::Instance"}} // not a Reverter
	reg, err := NewRegistry(f.rev, imds)
	if err != nil {
		t.Fatal(err)
	}
	f.h = &Handler{Registry: reg, Publisher: f.pub}
	return f
}

// remediatedOutcome is a published remediated outcome, as undo reads it.
func remediatedOutcome() Outcome {
	return Outcome{Remediator: S3PublicAccessBlock, Rule: "s3-bucket-public-read-prohibited", ResourceType: "AWS::S3::Bucket",
		ResourceID: "b1", Account: "111122223333", Region: "eu-west-1", Action: ActionRemediated, Reason: "turned on ...",
		Before: map[string]any{"x": false}, After: map[string]any{"x": true}, EventID: "e1", Trigger: TriggerConfig,
		DetectedAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
}

func TestRevertPublishesAnUndoOutcome(t *testing.T) {
	f := newRevertFakes(t)
	src := remediatedOutcome()
	o, err := f.h.Revert(context.Background(), Undo{Outcome: src, Mode: ModeEnforce, Force: true, Actor: "arn:aws:iam::111122223333:user/alice"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.rev.requests()
	if len(reqs) != 1 || !reqs[0].Force || reqs[0].Mode != ModeEnforce || reqs[0].Outcome.EventID != "e1" || reqs[0].Outcome.After["x"] != true {
		t.Fatalf("revert requests %+v", reqs)
	}
	want := Outcome{Remediator: S3PublicAccessBlock, Rule: src.Rule, ResourceType: src.ResourceType, ResourceID: "b1",
		Account: src.Account, Region: src.Region, Action: ActionReverted, Reason: "restored it", EventID: "undo-e1",
		Trigger: TriggerUndo, Actor: "arn:aws:iam::111122223333:user/alice"}
	got := o
	got.Before, got.After, got.DurationMs, got.CompletedAt = nil, nil, 0, time.Time{}
	if got.Remediator != want.Remediator || got.Rule != want.Rule || got.ResourceID != want.ResourceID || got.Account != want.Account ||
		got.Region != want.Region || got.Action != want.Action || got.Reason != want.Reason || got.EventID != want.EventID ||
		got.Trigger != want.Trigger || got.Actor != want.Actor || !got.DetectedAt.IsZero() {
		t.Errorf("outcome %+v\nwant    %+v", got, want)
	}
	if o.Before["x"] != true || o.After["x"] != false || o.CompletedAt.IsZero() {
		t.Errorf("before %v after %v completed %v", o.Before, o.After, o.CompletedAt)
	}
	if len(f.pub.outcomes) != 1 || f.pub.outcomes[0].EventID != "undo-e1" {
		t.Errorf("published %+v", f.pub.outcomes)
	}
}

func TestRevertOnlyRemediatedOutcomes(t *testing.T) {
	f := newRevertFakes(t)
	src := remediatedOutcome()
	src.Action = ActionCompliant
	o, err := f.h.Revert(context.Background(), Undo{Outcome: src, Mode: ModeEnforce})
	if err != nil || o.Action != ActionIgnored || !strings.Contains(o.Reason, "this one is compliant") {
		t.Fatalf("outcome %s %q, %v", o.Action, o.Reason, err)
	}
	if len(f.rev.requests()) != 0 || len(f.pub.outcomes) != 0 {
		t.Errorf("a compliant outcome was reverted (%d) or published (%d)", len(f.rev.requests()), len(f.pub.outcomes))
	}
}

func TestRevertRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		edit   func(*Outcome)
		setup  func(*Handler)
		action Action
		says   string
	}{
		"remediator not enabled": {edit: func(o *Outcome) { o.Remediator = EBSEncryption }, action: ActionFailed, says: "not enabled"},
		"resource type":          {edit: func(o *Outcome) { o.ResourceType = "AWS::EC2::Instance" }, action: ActionFailed, says: "does not handle"},
		"cannot revert": {edit: func(o *Outcome) { o.Remediator, o.ResourceType = EC2IMDSv2, "AWS::EC2::Instance" },
			action: ActionFailed, says: "cannot revert"},
		"excluded account": {setup: func(h *Handler) { h.ExcludedAccounts = []string{"111122223333"} }, action: ActionIgnored, says: "EXCLUDED_ACCOUNTS"},
		"region":           {setup: func(h *Handler) { h.Regions = []string{"us-east-1"} }, action: ActionIgnored, says: "REGIONS"},
		"other account": {setup: func(h *Handler) {
			h.OwnAccount = func(context.Context) (string, error) { return "999999999999", nil }
		}, action: ActionIgnored, says: "acts only in its own account"},
		"scope fails": {setup: func(h *Handler) {
			h.Scopes = func(context.Context, string, string, string) (Scope, error) {
				return Scope{}, errors.New("assuming the member role failed")
			}
		}, action: ActionFailed, says: "assuming the member role failed"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newRevertFakes(t)
			src := remediatedOutcome()
			if c.edit != nil {
				c.edit(&src)
			}
			if c.setup != nil {
				c.setup(f.h)
			}
			o, err := f.h.Revert(context.Background(), Undo{Outcome: src, Mode: ModeEnforce, Actor: "me"})
			if o.Action != c.action || !strings.Contains(o.Reason, c.says) {
				t.Fatalf("outcome %s %q, want %s saying %q", o.Action, o.Reason, c.action, c.says)
			}
			var failed *OutcomeError
			if (c.action == ActionFailed) != errors.As(err, &failed) {
				t.Errorf("error %v for a %s outcome", err, o.Action)
			}
			if len(f.rev.requests()) != 0 {
				t.Errorf("reverted anyway")
			}
			if len(f.pub.outcomes) != 1 || f.pub.outcomes[0].Trigger != TriggerUndo || f.pub.outcomes[0].EventID != "undo-e1" || f.pub.outcomes[0].Actor != "me" {
				t.Errorf("published %+v, want the one undo outcome", f.pub.outcomes)
			}
		})
	}
}

// Undo acts in the outcome's account and region through Scopes (a member
// account as its member role), never with the handler's own remediators.
func TestRevertActsInTheOutcomesScope(t *testing.T) {
	f := newRevertFakes(t)
	member := newFakeReverter()
	reg, err := NewRegistry(member)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	f.h.Scopes = func(_ context.Context, account, region, eventID string) (Scope, error) {
		asked = append(asked, account+" "+region+" "+eventID)
		return Scope{Registry: reg, ActedAs: "arn:aws:sts::" + account + ":assumed-role/member/" + eventID}, nil
	}
	o, err := f.h.Revert(context.Background(), Undo{Outcome: remediatedOutcome(), Mode: ModeDryRun})
	if err != nil || o.Action != ActionReverted {
		t.Fatalf("outcome %s %q, %v", o.Action, o.Reason, err)
	}
	if len(asked) != 1 || asked[0] != "111122223333 eu-west-1 undo-e1" {
		t.Errorf("scopes asked %v", asked)
	}
	if len(member.requests()) != 1 || len(f.rev.requests()) != 0 || member.requests()[0].Mode != ModeDryRun {
		t.Errorf("member reverts %d, own reverts %d", len(member.requests()), len(f.rev.requests()))
	}
	if o.ActedAs != "arn:aws:sts::111122223333:assumed-role/member/undo-e1" {
		t.Errorf("actedAs %q", o.ActedAs)
	}
}

func TestRevertFailureAndPanic(t *testing.T) {
	f := newRevertFakes(t)
	f.rev.revert = Failed(nil, errors.New("putting public access block on bucket \"b1\": AccessDenied"))
	o, err := f.h.Revert(context.Background(), Undo{Outcome: remediatedOutcome(), Mode: ModeEnforce})
	var failed *OutcomeError
	if o.Action != ActionFailed || !strings.Contains(o.Error, "AccessDenied") || !errors.As(err, &failed) {
		t.Errorf("outcome %s %q, %v", o.Action, o.Error, err)
	}
	f.rev.panic = "boom"
	o, _ = f.h.Revert(context.Background(), Undo{Outcome: remediatedOutcome(), Mode: ModeEnforce})
	if o.Action != ActionFailed || !strings.Contains(o.Error, "panicked reverting") || o.Trigger != TriggerUndo {
		t.Errorf("outcome %+v", o)
	}
}

// A revert takes the resource's lock, as remediations do.
func TestRevertWaitsForTheResourcesLock(t *testing.T) {
	f := newRevertFakes(t)
	src := remediatedOutcome()
	unlock, err := f.h.locks.lock(context.Background(), lockKey(S3PublicAccessBlock, Request{Account: src.Account, Region: src.Region, ResourceID: src.ResourceID}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	o, _ := f.h.Revert(ctx, Undo{Outcome: src, Mode: ModeEnforce})
	unlock()
	if o.Action != ActionFailed || !strings.Contains(o.Error, "waiting for another run") || len(f.rev.requests()) != 0 {
		t.Errorf("outcome %s %q; reverts %d", o.Action, o.Error, len(f.rev.requests()))
	}
	if o, _ := f.h.Revert(context.Background(), Undo{Outcome: src, Mode: ModeEnforce}); o.Action != ActionReverted {
		t.Errorf("after unlock: %s %q", o.Action, o.Reason)
	}
}

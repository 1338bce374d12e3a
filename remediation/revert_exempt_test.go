package remediation

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// exemptingReverter is a fake Reverter and Exempter: it answers a dry-run
// revert with check, an enforced one with revert, and logs every call in
// order with its mode.
type exemptingReverter struct {
	*fakeRemediator
	check, revert Result
	exempt        ExemptResult
	exemptPanic   any

	log      []string
	exempts  []ExemptRequest
	revertRs []RevertRequest
}

func (f *exemptingReverter) Revert(_ context.Context, req RevertRequest) Result {
	f.log = append(f.log, "revert "+string(req.Mode))
	f.revertRs = append(f.revertRs, req)
	if req.Mode == ModeDryRun {
		return f.check
	}
	return f.revert
}

func (f *exemptingReverter) Exempt(_ context.Context, req ExemptRequest) ExemptResult {
	f.log = append(f.log, "exempt "+string(req.Mode))
	f.exempts = append(f.exempts, req)
	if f.exemptPanic != nil {
		panic(f.exemptPanic)
	}
	return f.exempt
}

func newExemptingReverter() *exemptingReverter {
	return &exemptingReverter{
		fakeRemediator: &fakeRemediator{name: S3PublicAccessBlock, types: []string{"AWS::S3::Bucket"}},
		check:          Result{Action: ActionDryRun, Reason: "would restore it", Before: map[string]any{"x": true}, After: map[string]any{"x": false}},
		revert:         Result{Action: ActionReverted, Reason: "restored it", Before: map[string]any{"x": true}, After: map[string]any{"x": false}},
		exempt: ExemptResult{Tags: map[string]string{"auto-remediation": "off", "autoremediate:reverted-at": "2026-11-20T10:00:00Z"},
			Reason: `tagged bucket "b1" auto-remediation=off, autoremediate:reverted-at=2026-11-20T10:00:00Z`},
	}
}

func exemptHandler(t *testing.T, r Remediator) (*Handler, *recordingPublisher) {
	t.Helper()
	reg, err := NewRegistry(r)
	if err != nil {
		t.Fatal(err)
	}
	pub := &recordingPublisher{}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	return &Handler{Registry: reg, Publisher: pub, Now: func() time.Time { return now }}, pub
}

// The tag goes on after the check and before the revert's write, and the
// outcome says so in its reason and after.
func TestRevertExemptsBeforeTheWrite(t *testing.T) {
	f := newExemptingReverter()
	h, pub := exemptHandler(t, f)
	o, err := h.Revert(context.Background(), Undo{Outcome: remediatedOutcome(), Mode: ModeEnforce, Force: true, Exempt: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"revert dry-run", "exempt enforce", "revert enforce"}; !reflect.DeepEqual(f.log, want) {
		t.Fatalf("calls %v, want %v", f.log, want)
	}
	if !f.revertRs[0].Force || !f.revertRs[1].Force || f.revertRs[0].Outcome.EventID != "e1" {
		t.Errorf("revert requests %+v", f.revertRs)
	}
	if e := f.exempts[0]; e.Outcome.ResourceID != "b1" || e.Outcome.Region != "eu-west-1" || !e.At.Equal(h.Now()) {
		t.Errorf("exempt request %+v", e)
	}
	if o.Action != ActionReverted || !strings.HasPrefix(o.Reason, "restored it; tagged bucket \"b1\" auto-remediation=off") ||
		!strings.Contains(o.Reason, "remove the tag to hand it back") {
		t.Errorf("outcome %s %q", o.Action, o.Reason)
	}
	tags, _ := o.After[ExemptTagsKey].(map[string]any)
	if tags["auto-remediation"] != "off" || tags["autoremediate:reverted-at"] != "2026-11-20T10:00:00Z" || o.After["x"] != false {
		t.Errorf("after %v", o.After)
	}
	if f.revert.After[ExemptTagsKey] != nil {
		t.Error("the remediator's after map was changed in place")
	}
	if len(pub.outcomes) != 1 || pub.outcomes[0].After[ExemptTagsKey] == nil {
		t.Errorf("published %+v", pub.outcomes)
	}
}

func TestRevertExemptCases(t *testing.T) {
	for name, c := range map[string]struct {
		mode    Mode
		exempt  bool
		setup   func(*exemptingReverter)
		calls   []string
		action  Action
		says    []string
		tagged  bool
		errSays string
	}{
		"--no-exempt": {mode: ModeEnforce, calls: []string{"revert enforce"}, action: ActionReverted, says: []string{"restored it"}},
		"refused: nothing tagged": {mode: ModeEnforce, exempt: true,
			setup: func(f *exemptingReverter) {
				f.check = Result{Action: ActionNeedsManual, Reason: "not reverted: changed since"}
			},
			calls: []string{"revert dry-run"}, action: ActionNeedsManual, says: []string{"not reverted: changed since"}},
		"gone: nothing tagged": {mode: ModeEnforce, exempt: true,
			setup: func(f *exemptingReverter) { f.check = Result{Action: ActionGone, Reason: "bucket gone"} },
			calls: []string{"revert dry-run"}, action: ActionGone},
		"already as before: tagged": {mode: ModeEnforce, exempt: true,
			setup: func(f *exemptingReverter) {
				f.check = Result{Action: ActionReverted, Reason: "already as before"}
				f.revert = f.check
			},
			calls: []string{"revert dry-run", "exempt enforce", "revert enforce"}, action: ActionReverted, says: []string{"already as before; tagged"}, tagged: true},
		"dry-run: would tag": {mode: ModeDryRun, exempt: true,
			setup: func(f *exemptingReverter) {
				f.exempt = ExemptResult{Reason: `would tag bucket "b1" auto-remediation=off first`}
			},
			calls: []string{"revert dry-run", "exempt dry-run"}, action: ActionDryRun, says: []string{"would restore it; would tag bucket"}},
		"tagging denied: not reverted": {mode: ModeEnforce, exempt: true,
			setup: func(f *exemptingReverter) {
				err := errors.New(`tagging bucket "b1" auto-remediation=off: AccessDenied`)
				f.exempt = ExemptResult{Err: err, Reason: err.Error()}
			},
			calls: []string{"revert dry-run", "exempt enforce"}, action: ActionFailed,
			says: []string{"not reverted: exempting AWS::S3::Bucket \"b1\"", "AccessDenied", "--no-exempt"}, errSays: "AccessDenied"},
		"tagging panics: not reverted": {mode: ModeEnforce, exempt: true,
			setup: func(f *exemptingReverter) { f.exemptPanic = "boom" },
			calls: []string{"revert dry-run", "exempt enforce"}, action: ActionFailed, says: []string{"panicked exempting"}, errSays: "boom"},
		"revert fails after the tag: the tag is left": {mode: ModeEnforce, exempt: true,
			setup: func(f *exemptingReverter) {
				f.revert = Failed(map[string]any{"x": true}, errors.New(`putting public access block on bucket "b1": SlowDown`))
			},
			calls: []string{"revert dry-run", "exempt enforce", "revert enforce"}, action: ActionFailed,
			says: []string{"SlowDown", "before the revert, and the tag is left: remove it"}, tagged: true, errSays: "SlowDown"},
		"no tag possible: reverted with why": {mode: ModeEnforce, exempt: true,
			setup: func(f *exemptingReverter) {
				f.exempt = ExemptResult{Reason: "EBS encryption by default is a setting of the account and carries no tag"}
			},
			calls: []string{"revert dry-run", "exempt enforce", "revert enforce"}, action: ActionReverted, says: []string{"restored it; EBS encryption by default"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newExemptingReverter()
			if c.setup != nil {
				c.setup(f)
			}
			h, pub := exemptHandler(t, f)
			o, _ := h.Revert(context.Background(), Undo{Outcome: remediatedOutcome(), Mode: c.mode, Exempt: c.exempt})
			if !reflect.DeepEqual(f.log, c.calls) {
				t.Errorf("calls %v, want %v", f.log, c.calls)
			}
			if o.Action != c.action {
				t.Errorf("action %s (%q), want %s", o.Action, o.Reason, c.action)
			}
			for _, s := range c.says {
				if !strings.Contains(o.Reason, s) {
					t.Errorf("reason %q does not say %q", o.Reason, s)
				}
			}
			if _, tagged := o.After[ExemptTagsKey]; tagged != c.tagged {
				t.Errorf("after %v: exemption tags there %t, want %t", o.After, tagged, c.tagged)
			}
			if !strings.Contains(o.Error, c.errSays) || (c.errSays == "") != (o.Error == "") {
				t.Errorf("error %q, want one saying %q", o.Error, c.errSays)
			}
			if len(pub.outcomes) != 1 || pub.outcomes[0].Trigger != TriggerUndo || pub.outcomes[0].EventID != "undo-e1" {
				t.Errorf("published %+v", pub.outcomes)
			}
		})
	}
}

// A remediator that cannot tag is still reverted, and the reason says the
// pipeline will fix it again.
func TestRevertExemptNotAnExempter(t *testing.T) {
	f := newRevertFakes(t)
	o, _ := f.h.Revert(context.Background(), Undo{Outcome: remediatedOutcome(), Mode: ModeEnforce, Exempt: true})
	if o.Action != ActionReverted || !strings.Contains(o.Reason, "cannot exempt its resources, so the pipeline fixes this one again") {
		t.Errorf("outcome %s %q", o.Action, o.Reason)
	}
	if reqs := f.rev.requests(); len(reqs) != 1 || reqs[0].Mode != ModeEnforce {
		t.Errorf("reverts %+v", reqs)
	}
}

// The lazy wrapper exempts through the remediator it builds.
func TestLazyExempt(t *testing.T) {
	f := newExemptingReverter()
	l := Lazy(f.name, f.types, func() Remediator { return f })
	res := l.(Exempter).Exempt(context.Background(), ExemptRequest{Mode: ModeEnforce})
	if res.Tags["auto-remediation"] != "off" || len(f.exempts) != 1 {
		t.Errorf("result %+v, exempts %d", res, len(f.exempts))
	}
	plain := Lazy("x", nil, func() Remediator { return &fakeRemediator{name: "x"} })
	if res := plain.(Exempter).Exempt(context.Background(), ExemptRequest{}); res.Tags != nil || res.Err != nil || !strings.Contains(res.Reason, "cannot exempt") {
		t.Errorf("not an Exempter: %+v", res)
	}
}

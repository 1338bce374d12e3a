package remediation

import (
	"context"
	"fmt"
	"time"
)

// Undo asks the handler to revert one earlier remediated outcome
// (`remediate undo`).
type Undo struct {
	// Outcome is the remediated outcome, as it was published.
	Outcome Outcome
	// Mode dry-run reports what would be restored and writes nothing.
	Mode Mode
	// Force reverts even when the resource has changed since the outcome.
	Force bool
	// Actor is who asked for the undo (the caller's ARN), for the
	// published outcome; "" when unknown.
	Actor string
	// Exempt tags the resource with the exemption tag before the revert
	// writes (Exempter), so that the pipeline does not fix it straight
	// back; false leaves it to the pipeline.
	Exempt bool
}

// ExemptTagsKey is the member of a reverted outcome's after that holds
// the tags undo set to exempt the resource (Undo.Exempt).
const ExemptTagsKey = "exemptTags"

// ExemptRequest asks a remediator to exempt the resource of one of its
// outcomes from remediation with its exemption tag.
type ExemptRequest struct {
	// Outcome is the remediated outcome being reverted: its resource,
	// account and region.
	Outcome Outcome
	// Mode dry-run says what would be tagged and calls nothing.
	Mode Mode
	// At is when the undo runs, recorded in a tag beside the exemption.
	At time.Time
}

// ExemptResult is what Exempt did.
type ExemptResult struct {
	// Tags are the tags the resource carries now for the exemption; nil
	// when none was set.
	Tags map[string]string
	// Reason says what was tagged (or would be, in dry-run); with no Tags
	// and no Err, why the resource cannot carry the tag and what keeps the
	// pipeline off it instead.
	Reason string
	// Err is set when tagging failed; the reason names the call.
	Err error
}

// Exempter is a Reverter that can exempt the resource of its outcome from
// remediation (the exemption tag), so that `remediate undo` is not fixed
// straight back: the revert's own write is a CloudTrail trigger of the
// same remediator, and Config and the sweep find the resource later.
type Exempter interface {
	Exempt(ctx context.Context, req ExemptRequest) ExemptResult
}

// Exempt implements Exempter for a lazily built remediator that is one.
func (l *lazy) Exempt(ctx context.Context, req ExemptRequest) ExemptResult {
	e, ok := l.build().(Exempter)
	if !ok {
		return ExemptResult{Reason: fmt.Sprintf("remediator %s cannot exempt its resources with a tag", l.name)}
	}
	return e.Exempt(ctx, req)
}

// UndoEventPrefix starts the event ID of an undo's outcome; the rest is
// the reverted outcome's event ID, so that the two can be matched.
const UndoEventPrefix = "undo-"

// Revert undoes one remediated outcome through its remediator's Reverter,
// under the same rules as events: the remediator must be enabled and handle
// the resource type, an excluded account or a region outside Regions is
// ignored, and the revert acts in the outcome's own account and region (a
// member account as its member role, through Scopes; without Scopes only
// the function's own account). It takes the resource's lock, so that it
// does not interleave with a remediation of the same resource in this
// process.
//
// The outcome has action reverted, dry-run, needs-manual (the resource
// changed since; nothing written), gone, ignored or failed; Trigger undo;
// the original's remediator, rule, resource, account and region; and the
// event ID UndoEventPrefix + the original's. It is published like any
// outcome (log line, metrics, SNS), so the dashboard and the audit trail
// show it; the error is as for Deliver. An input that is not a remediated
// outcome of a known remediator and resource is answered with an ignored or
// failed outcome that is not published: nothing was attempted.
func (h *Handler) Revert(ctx context.Context, u Undo) (Outcome, error) {
	ctx, cancel := keepForPublishing(ctx)
	defer cancel()
	start := h.now()
	src := u.Outcome
	req := Request{Rule: src.Rule, ResourceType: src.ResourceType, ResourceID: src.ResourceID,
		Account: src.Account, Region: src.Region, Mode: u.Mode}
	if req.Mode == "" {
		req.Mode = ModeEnforce
	}
	eventID := UndoEventPrefix + src.EventID
	if src.EventID == "" {
		eventID = UndoEventPrefix + newOwner()
	}
	answer := func(action Action, reason string) Outcome {
		o := newOutcome(src.Remediator, req, eventID)
		o.Trigger, o.Actor, o.Action, o.Reason = TriggerUndo, u.Actor, action, reason
		if action == ActionFailed {
			o.Error = reason
		}
		h.finish(&o, start)
		return o
	}
	switch {
	case src.Action != ActionRemediated:
		return answer(ActionIgnored, fmt.Sprintf("only remediated outcomes can be undone; this one is %s", orDash(string(src.Action)))), nil
	case src.Remediator == "" || src.ResourceType == "" || src.ResourceID == "":
		return answer(ActionFailed, "the outcome names no remediator, resource type or resource ID: it cannot be undone"), nil
	}
	published := func(o Outcome) (Outcome, error) { return h.Deliver(ctx, o) }
	rem, ok := h.Registry.Get(src.Remediator)
	if !ok {
		return published(answer(ActionFailed, fmt.Sprintf("undoing %s on %s %q: remediator %s is not enabled here (ENABLED_REMEDIATORS)", src.Remediator, src.ResourceType, src.ResourceID, src.Remediator)))
	}
	if !contains(rem.ResourceTypes(), src.ResourceType) {
		return published(answer(ActionFailed, fmt.Sprintf("undoing %s on %s %q: remediator %s does not handle resource type %s", src.Remediator, src.ResourceType, src.ResourceID, src.Remediator, src.ResourceType)))
	}
	scoped, actedAs, o, refused := h.checkScope(ctx, rem, req, eventID, TriggerUndo, start)
	if refused {
		o.Actor = u.Actor
		return published(o)
	}
	reverter, ok := scoped.(Reverter)
	if !ok {
		return published(answer(ActionFailed, fmt.Sprintf("undoing %s on %s %q: remediator %s cannot revert its outcomes", src.Remediator, src.ResourceType, src.ResourceID, src.Remediator)))
	}
	unlock, err := h.locks.lock(ctx, lockKey(src.Remediator, req))
	if err != nil {
		return published(answer(ActionFailed, fmt.Sprintf("waiting for another run of %s on %q to finish: %v", src.Remediator, src.ResourceID, err)))
	}
	rr := RevertRequest{Outcome: src, Mode: req.Mode, Force: u.Force}
	if u.Exempt {
		o = h.revertExempting(ctx, reverter, rr, req, eventID)
	} else {
		o = h.revertLocked(ctx, reverter, rr, req, eventID)
	}
	unlock()
	o.Trigger, o.Actor, o.ActedAs = TriggerUndo, u.Actor, actedAs
	return published(o)
}

// revertLocked is runLocked for a revert.
func (h *Handler) revertLocked(ctx context.Context, r Reverter, rr RevertRequest, req Request, eventID string) (o Outcome) {
	start := h.now()
	o = newOutcome(rr.Outcome.Remediator, req, eventID)
	defer func() {
		if p := recover(); p != nil {
			o.Action, o.Error = ActionFailed, fmt.Sprintf("remediator %s panicked reverting %q: %v", rr.Outcome.Remediator, req.ResourceID, p)
			o.Reason = o.Error
		}
		h.finish(&o, start)
	}()
	res := r.Revert(ctx, rr)
	o.Action, o.Reason, o.Before, o.After = res.Action, res.Reason, res.Before, res.After
	if res.Err != nil {
		o.Action, o.Error = ActionFailed, res.Err.Error()
	}
	if o.Action == ActionFailed && o.Error == "" {
		o.Error = res.Reason
	}
	return o
}

// revertExempting is revertLocked for an undo that exempts the resource.
// The tag must be on before the revert writes: that write is itself a
// CloudTrail trigger of the same remediator, whose run must find the tag.
// So the revert is first checked in dry-run (read and compare, nothing
// written), the resource is tagged only when the revert is going to be
// made, then reverted. A revert the check refuses (changed since, gone,
// failed) leaves the resource untagged; a tagging failure leaves it
// unreverted, since the pipeline would fix it straight back; a revert
// that fails after the tag leaves the tag, and says so.
func (h *Handler) revertExempting(ctx context.Context, r Reverter, rr RevertRequest, req Request, eventID string) Outcome {
	start := h.now()
	name := rr.Outcome.Remediator
	e, ok := r.(Exempter)
	if !ok {
		o := h.revertLocked(ctx, r, rr, req, eventID)
		if o.Action == ActionReverted {
			o.Reason = joinReasons(o.Reason, fmt.Sprintf("remediator %s cannot exempt its resources, so the pipeline fixes this one again at its next event or sweep", name))
		}
		return o
	}
	check := rr
	check.Mode = ModeDryRun
	pre := h.revertLocked(ctx, r, check, req, eventID)
	if pre.Action != ActionDryRun && pre.Action != ActionReverted {
		return pre
	}
	ex := h.exempt(ctx, e, ExemptRequest{Outcome: rr.Outcome, Mode: rr.Mode, At: start})
	if rr.Mode == ModeDryRun {
		if ex.Err != nil {
			ex.Reason = fmt.Sprintf("exempting it first would fail: %v", ex.Err)
		}
		pre.Reason = joinReasons(pre.Reason, ex.Reason)
		return pre
	}
	if ex.Err != nil {
		o := newOutcome(name, req, eventID)
		o.Action, o.Before = ActionFailed, pre.Before
		o.Error = fmt.Sprintf("not reverted: exempting %s %q from auto-remediation first failed, and without the tag the pipeline would fix it straight back: %v; "+
			"grant the tagging permission (docs/undo.md) or undo with --no-exempt", req.ResourceType, req.ResourceID, ex.Err)
		o.Reason = o.Error
		h.finish(&o, start)
		return o
	}
	o := h.revertLocked(ctx, r, rr, req, eventID)
	if ex.Tags == nil {
		// nothing to tag: the reason says what keeps the pipeline off it
		o.Reason = joinReasons(o.Reason, ex.Reason)
		h.finish(&o, start)
		return o
	}
	after := make(map[string]any, len(o.After)+1)
	for k, v := range o.After {
		after[k] = v
	}
	tags := make(map[string]any, len(ex.Tags))
	for k, v := range ex.Tags {
		tags[k] = v
	}
	after[ExemptTagsKey] = tags
	o.After = after
	switch o.Action {
	case ActionReverted:
		o.Reason = joinReasons(o.Reason, ex.Reason+" first, so that the pipeline leaves it as restored; remove the tag to hand it back")
	default:
		o.Reason = joinReasons(o.Reason, ex.Reason+" before the revert, and the tag is left: remove it to hand the resource back to the pipeline, or undo again")
	}
	h.finish(&o, start)
	return o
}

// exempt calls Exempt, turning a panic into an error.
func (h *Handler) exempt(ctx context.Context, e Exempter, req ExemptRequest) (res ExemptResult) {
	defer func() {
		if p := recover(); p != nil {
			res = ExemptResult{Err: fmt.Errorf("remediator %s panicked exempting %q: %v", req.Outcome.Remediator, req.Outcome.ResourceID, p)}
		}
	}()
	return e.Exempt(ctx, req)
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func orDash(s string) string {
	if s == "" {
		return "(no action)"
	}
	return s
}

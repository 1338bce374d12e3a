package remediation

import (
	"context"
	"fmt"
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
	o = h.revertLocked(ctx, reverter, RevertRequest{Outcome: src, Mode: req.Mode, Force: u.Force}, req, eventID)
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

func orDash(s string) string {
	if s == "" {
		return "(no action)"
	}
	return s
}

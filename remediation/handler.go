package remediation

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/autoremediate/autoremediate/events"
)

// Publisher delivers an outcome to its destinations.
type Publisher interface {
	Publish(ctx context.Context, o Outcome) error
}

// Modes says which mode each remediator runs in.
type Modes struct {
	Default Mode            // ModeEnforce when empty
	Per     map[string]Mode // by remediator name
}

// For returns the mode of the named remediator.
func (m Modes) For(name string) Mode {
	if mode, ok := m.Per[name]; ok {
		return mode
	}
	if m.Default == "" {
		return ModeEnforce
	}
	return m.Default
}

// Handler turns compliance change events into published outcomes. The
// Lambda function and the CLI both run events through it.
type Handler struct {
	Registry  *Registry
	Rules     *RuleResolver
	Modes     Modes
	Publisher Publisher
	Now       func() time.Time // time.Now when nil
	// OwnAccount returns the account of the function's own credentials.
	// An event for any other account is ignored: the remediators act with
	// these credentials, so they would change the wrong account. (On an
	// organisation bus the resource's account is the detail's awsAccountId,
	// not the envelope's account.) Nil skips the check, for tests and
	// tools that build events for the account they run in.
	OwnAccount func(ctx context.Context) (string, error)

	// locks makes concurrent runs for the same remediator and resource wait
	// for each other (see resourceLocks).
	locks resourceLocks
}

// OutcomeError is returned with an outcome whose action is failed, so that
// Lambda's retries and on-failure destination apply.
type OutcomeError struct{ Outcome Outcome }

func (e *OutcomeError) Error() string {
	return fmt.Sprintf("%s on %s %q: %s", e.Outcome.Remediator, e.Outcome.ResourceType, e.Outcome.ResourceID, e.Outcome.Error)
}

// Handle parses one raw event, decides its outcome and publishes it. It
// returns a *events.ParseError (and no outcome) for input that is not a
// compliance change event, an *OutcomeError when the outcome is failed, and
// a publishing error when the outcome could not be delivered.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Outcome, error) {
	ev, err := events.ParseComplianceChange(raw)
	if err != nil {
		return Outcome{}, err
	}
	return h.HandleEvent(ctx, ev)
}

// HandleEvent is Handle for an already parsed event.
func (h *Handler) HandleEvent(ctx context.Context, ev *events.ComplianceChangeEvent) (Outcome, error) {
	return h.Deliver(ctx, h.Decide(ctx, ev))
}

// Deliver publishes an outcome and turns it into the invocation's error.
func (h *Handler) Deliver(ctx context.Context, o Outcome) (Outcome, error) {
	if h.Publisher != nil {
		if err := h.Publisher.Publish(ctx, o); err != nil {
			return o, fmt.Errorf("publishing outcome for %s %q: %w", o.ResourceType, o.ResourceID, err)
		}
	}
	if o.Action == ActionFailed {
		return o, &OutcomeError{Outcome: o}
	}
	return o, nil
}

// Decide runs the event through its remediator without publishing.
func (h *Handler) Decide(ctx context.Context, ev *events.ComplianceChangeEvent) Outcome {
	c := ev.Change
	req := Request{
		Rule:         c.ConfigRuleName,
		ResourceType: c.ResourceType,
		ResourceID:   c.ResourceID,
		Account:      ev.Account(),
		Region:       ev.Region(),
	}
	start := h.now()
	ignored := func(remediator, reason string) Outcome {
		o := newOutcome(remediator, req, ev.ID)
		o.Action, o.Reason = ActionIgnored, reason
		o.CompletedAt = h.now()
		o.DurationMs = o.CompletedAt.Sub(start).Milliseconds()
		return o
	}
	name, managed, ok := h.Rules.Resolve(c.ConfigRuleName)
	if c.NewEvaluationResult.ComplianceType != events.ComplianceTypeNonCompliant {
		return ignored(name, fmt.Sprintf("compliance type is %s; only NON_COMPLIANT is acted on", c.NewEvaluationResult.ComplianceType))
	}
	if !ok {
		return ignored("", fmt.Sprintf("no remediator handles rule %q (set RULE_MAP to map it)", c.ConfigRuleName))
	}
	rem, found := h.Registry.Get(name)
	if !found {
		return ignored(name, fmt.Sprintf("rule %q maps to remediator %q, which is not enabled", c.ConfigRuleName, name))
	}
	if !contains(rem.ResourceTypes(), c.ResourceType) {
		return ignored(name, fmt.Sprintf("remediator %s does not handle resource type %s", name, c.ResourceType))
	}
	// Only now, when the event would be acted on, is the account checked:
	// the reasons above need no AWS call.
	if h.OwnAccount != nil {
		own, err := h.OwnAccount(ctx)
		if err != nil {
			o := ignored(name, "")
			o.Action, o.Error = ActionFailed, fmt.Sprintf("finding the function's own account before acting on account %q: %v", req.Account, err)
			o.Reason = o.Error
			return o
		}
		if req.Account != own {
			return ignored(name, fmt.Sprintf("the event is for account %q, but this function's credentials are for account %s: it acts only in its own account (cross-account remediation is not enabled)", req.Account, own))
		}
	}
	req.ManagedRule = managed
	req.Mode = h.Modes.For(name)
	o := h.Run(ctx, rem, req, ev.ID)
	if !c.NotificationCreationTime.IsZero() {
		o.DetectedAt = c.NotificationCreationTime
	}
	return o
}

// Run executes one remediator on one request and records the outcome. A
// panic in a remediator is turned into a failed outcome rather than killing
// the process: a bad resource must not stop the others. Concurrent runs for
// the same remediator and resource take turns, so that duplicates of one
// event write at most once (the later ones read the fixed state).
func (h *Handler) Run(ctx context.Context, rem Remediator, req Request, eventID string) (o Outcome) {
	start := h.now()
	o = newOutcome(rem.Name(), req, eventID)
	defer func() {
		if p := recover(); p != nil {
			o.Action, o.Error = ActionFailed, fmt.Sprintf("remediator %s panicked on %q: %v", rem.Name(), req.ResourceID, p)
			o.Reason = o.Error
		}
		o.CompletedAt = h.now()
		o.DurationMs = o.CompletedAt.Sub(start).Milliseconds()
	}()
	unlock, err := h.locks.lock(ctx, rem.Name()+"\x00"+req.Account+"\x00"+req.Region+"\x00"+req.ResourceID)
	if err != nil {
		o.Action, o.Error = ActionFailed, fmt.Sprintf("waiting for another run of %s on %q to finish: %v", rem.Name(), req.ResourceID, err)
		o.Reason = o.Error
		return o
	}
	defer unlock()
	res := rem.Remediate(ctx, req)
	o.Action, o.Reason, o.Before, o.After = res.Action, res.Reason, res.Before, res.After
	if res.Err != nil {
		o.Action, o.Error = ActionFailed, res.Err.Error()
	}
	if o.Action == ActionFailed && o.Error == "" {
		o.Error = res.Reason
	}
	return o
}

func newOutcome(remediator string, req Request, eventID string) Outcome {
	return Outcome{
		Remediator:   remediator,
		Rule:         req.Rule,
		ResourceType: req.ResourceType,
		ResourceID:   req.ResourceID,
		Account:      req.Account,
		Region:       req.Region,
		EventID:      eventID,
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

package remediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/events"
)

// Publisher delivers an outcome to its destinations.
type Publisher interface {
	Publish(ctx context.Context, o Outcome) error
}

// DuplicateNoter is implemented by publishers that say when a delivery of
// an event was answered with its recorded outcome, neither acted on nor
// published again.
type DuplicateNoter interface {
	NoteDuplicate(ctx context.Context, recorded Outcome)
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

// Handler turns events (AWS Config compliance changes and CloudTrail API
// calls) into published outcomes. The Lambda function and the CLI both run
// events through it.
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
	// Scopes, when set, hands out the remediators that act in an account
	// and region (in another account, with that account's member role):
	// jobs run in the event's account and region, not in the function's
	// own, and OwnAccount is not consulted. eventID names the cause (a
	// member role's session is named after it). An error is the job's
	// failed outcome; its text says what is wrong and how to fix it.
	Scopes func(ctx context.Context, account, region, eventID string) (Scope, error)
	// ExcludedAccounts are accounts whose events are ignored as a whole
	// (EXCLUDED_ACCOUNTS).
	ExcludedAccounts []string
	// Regions, when not empty, are the only regions acted in (REGIONS);
	// events from the others are ignored.
	Regions []string
	// MemberRoleName is the role the pipeline assumes in member accounts
	// (MEMBER_ROLE_NAME): CloudTrail calls made by that role, in any
	// account, are the pipeline's own fixes and are ignored like
	// IgnoreActors.
	MemberRoleName string
	// IgnoreActors are IAM role (or user) ARNs whose CloudTrail calls are
	// ignored: the pipeline's own roles, so that its fixes do not trigger
	// it again, and other automation the user lists (IGNORE_ACTOR_ARNS).
	IgnoreActors []string
	// Store, when set, makes the handler act and publish once per event
	// across processes and limits the writes per resource (FlapLimit within
	// FlapWindow). Nil is stateless.
	Store StateStore
	// FlapLimit is how many writes one remediator may make on one resource
	// within FlapWindow before its outcomes become escalated; 0 means
	// DefaultFlapLimit. It needs Store.
	FlapLimit  int
	FlapWindow time.Duration // DefaultFlapWindow when 0

	// locks makes concurrent runs for the same remediator and resource wait
	// for each other (see resourceLocks).
	locks resourceLocks
}

// Scope is where a job acts: the remediators built with the clients of one
// account and region and, in a member account, the role session they act
// as.
type Scope struct {
	Registry *Registry
	// ActedAs is the assumed-role session ARN the member account's
	// CloudTrail records for the job's calls; "" in the function's own
	// account.
	ActedAs string
}

// The flap protection's defaults (FLAP_LIMIT, FLAP_WINDOW).
const (
	DefaultFlapLimit  = 3
	DefaultFlapWindow = time.Hour
)

// OutcomeError is returned with an outcome whose action is failed, so that
// Lambda's retries and on-failure destination apply.
type OutcomeError struct{ Outcome Outcome }

func (e *OutcomeError) Error() string {
	return fmt.Sprintf("%s on %s %q: %s", e.Outcome.Remediator, e.Outcome.ResourceType, e.Outcome.ResourceID, e.Outcome.Error)
}

// Invoke is the Lambda function's entry point: it parses one raw event of
// either kind (events.Parse) and handles it. A compliance change yields one
// Outcome, a CloudTrail call a []Outcome (one per resource and remediator).
// Errors are as for Handle and HandleCloudTrail.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	ev, err := events.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch ev := ev.(type) {
	case *events.CloudTrailEvent:
		return h.HandleCloudTrail(ctx, ev)
	case *events.ComplianceChangeEvent:
		return h.HandleEvent(ctx, ev)
	}
	return nil, fmt.Errorf("handling event %q: unexpected event kind %T", ev.EventID(), ev)
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
	o, job := h.plan(ctx, ev)
	if job == nil {
		return h.deliverDecided(ctx, o)
	}
	return h.Process(ctx, *job)
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

// Decide runs the event through its remediator without publishing and
// without claiming the event in the state store (the flap limit applies).
func (h *Handler) Decide(ctx context.Context, ev *events.ComplianceChangeEvent) Outcome {
	o, job := h.plan(ctx, ev)
	if job == nil {
		return o
	}
	return h.runJob(ctx, *job, h.Store != nil)
}

// Job is one remediator's run on one resource, with what the outcome says
// about its cause.
type Job struct {
	Remediator Remediator
	Request    Request
	EventID    string
	Trigger    Trigger
	Actor      string
	// DetectedAt is when the non-compliance was reported (Config's
	// notificationCreationTime) or made (the CloudTrail call's eventTime);
	// zero when unknown.
	DetectedAt time.Time
	// ActedAs is the member role session the remediator acts as (Scope).
	ActedAs string
}

// plan checks a compliance change event and returns either the job to run
// or, when there is nothing to run, the outcome that says why.
func (h *Handler) plan(ctx context.Context, ev *events.ComplianceChangeEvent) (Outcome, *Job) {
	c := ev.Change
	req := Request{
		Rule:         c.ConfigRuleName,
		ResourceType: c.ResourceType,
		ResourceID:   c.ResourceID,
		Account:      ev.Account(),
		Region:       ev.Region(),
	}
	start := h.now()
	ignored := func(remediator, reason string) (Outcome, *Job) {
		o := newOutcome(remediator, req, ev.ID)
		o.Trigger = TriggerConfig
		o.Action, o.Reason = ActionIgnored, reason
		h.finish(&o, start)
		return o, nil
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
	rem, actedAs, o, refused := h.checkScope(ctx, rem, req, ev.ID, TriggerConfig, start)
	if refused {
		return o, nil
	}
	req.ManagedRule = managed
	req.Mode = h.Modes.For(name)
	return Outcome{}, &Job{Remediator: rem, Request: req, EventID: ev.ID, Trigger: TriggerConfig, DetectedAt: c.NotificationCreationTime, ActedAs: actedAs}
}

// checkScope decides where a job on req acts, or refuses it: an excluded
// account or a region outside Regions is ignored; with Scopes the job gets
// the remediator of the request's account and region (a scope that cannot
// be had is a failed outcome), without it only the function's own account
// is acted in (checkAccount). It is called only when the event would be
// acted on: the reasons before it need no AWS call.
func (h *Handler) checkScope(ctx context.Context, rem Remediator, req Request, eventID string, trigger Trigger, start time.Time) (Remediator, string, Outcome, bool) {
	name := rem.Name()
	refuse := func(action Action, reason string) (Remediator, string, Outcome, bool) {
		o := newOutcome(name, req, eventID)
		o.Trigger, o.Action, o.Reason = trigger, action, reason
		if action == ActionFailed {
			o.Error = reason
		}
		h.finish(&o, start)
		return nil, "", o, true
	}
	if reason, ok := h.leftAlone(req); ok {
		return refuse(ActionIgnored, reason)
	}
	if h.Scopes == nil {
		o, refused := h.checkAccount(ctx, name, req, eventID, trigger, start)
		return rem, "", o, refused
	}
	sc, err := h.Scopes(ctx, req.Account, req.Region, eventID)
	if err != nil {
		return refuse(ActionFailed, err.Error())
	}
	scoped, ok := sc.Registry.Get(name)
	if !ok {
		return refuse(ActionFailed, fmt.Sprintf("remediator %s is not built for account %s in %s", name, req.Account, req.Region))
	}
	return scoped, sc.ActedAs, Outcome{}, false
}

// checkAccount refuses a request for an account other than the function's
// own. It is called only when the event would be acted on: the reasons
// before it need no AWS call.
func (h *Handler) checkAccount(ctx context.Context, name string, req Request, eventID string, trigger Trigger, start time.Time) (Outcome, bool) {
	if h.OwnAccount == nil {
		return Outcome{}, false
	}
	o := newOutcome(name, req, eventID)
	o.Trigger = trigger
	own, err := h.OwnAccount(ctx)
	switch {
	case err != nil:
		o.Action, o.Error = ActionFailed, fmt.Sprintf("finding the function's own account before acting on account %q: %v", req.Account, err)
		o.Reason = o.Error
	case req.Account != own:
		o.Action = ActionIgnored
		o.Reason = fmt.Sprintf("the event is for account %q, but this function's credentials are for account %s: it acts only in its own account (cross-account remediation is not enabled)", req.Account, own)
	default:
		return Outcome{}, false
	}
	h.finish(&o, start)
	return o, true
}

// leftAlone says why the deployment does not act in req's account or
// region: EXCLUDED_ACCOUNTS, or a region outside REGIONS.
func (h *Handler) leftAlone(req Request) (string, bool) {
	if slices.Contains(h.ExcludedAccounts, req.Account) {
		return fmt.Sprintf("account %s is excluded (EXCLUDED_ACCOUNTS)", req.Account), true
	}
	if len(h.Regions) > 0 && req.Region != "" && !slices.Contains(h.Regions, req.Region) {
		return fmt.Sprintf("region %s is not one this deployment acts in (REGIONS: %s)", req.Region, strings.Join(h.Regions, ", ")), true
	}
	return "", false
}

// HandleCloudTrail acts on an "AWS API Call via CloudTrail" event: every
// resource the call touched is run through every enabled remediator that
// checks what the call can break (Spec.Triggers), each with its own outcome
// (a RunInstances call that started three instances yields three). The
// event only says where to look: each remediator reads the resource and
// decides, as for Config events. A failed call, a call by an ignored actor
// (IgnoreActors), a call no remediator checks and a call whose resource the
// record does not name yield one ignored outcome. The error joins the
// outcomes' errors (failed outcomes as *OutcomeError, publishing errors).
func (h *Handler) HandleCloudTrail(ctx context.Context, ev *events.CloudTrailEvent) ([]Outcome, error) {
	outs, jobs := h.planCloudTrail(ctx, ev)
	var errs []error
	for i, o := range outs {
		var err error
		outs[i], err = h.deliverDecided(ctx, o)
		errs = append(errs, err)
	}
	for _, j := range jobs {
		o, err := h.Process(ctx, j)
		outs = append(outs, o)
		errs = append(errs, err)
	}
	return outs, errors.Join(errs...)
}

// planCloudTrail returns the outcomes decided without running a remediator
// and the jobs to run.
func (h *Handler) planCloudTrail(ctx context.Context, ev *events.CloudTrailEvent) ([]Outcome, []Job) {
	start := h.now()
	call := ev.Call
	what := fmt.Sprintf("%s %s", call.EventSource, call.EventName)
	resources := ev.Resources()
	base := Request{Account: ev.Account(), Region: ev.Region()}
	if len(resources) > 0 {
		base.ResourceType, base.ResourceID = resources[0].Type, resources[0].ID
	}
	ignored := func(reason string) ([]Outcome, []Job) {
		o := newOutcome("", base, ev.ID)
		o.Trigger, o.Actor, o.DetectedAt = TriggerCloudTrail, ev.Actor(), call.EventTime
		o.Action, o.Reason = ActionIgnored, reason
		h.finish(&o, start)
		return []Outcome{o}, nil
	}
	if ev.Failed() {
		return ignored(fmt.Sprintf("the call %s failed with %s: nothing changed", what, call.ErrorCode))
	}
	if listed, ok := ignoredActor(h.IgnoreActors, ev); ok {
		return ignored(fmt.Sprintf("caused by this pipeline: %s made the call %s, and IGNORE_ACTOR_ARNS lists %s", ev.Actor(), what, listed))
	}
	if isRole(ev.Principal(), h.MemberRoleName) {
		return ignored(fmt.Sprintf("caused by this pipeline: %s made the call %s as the member role %s (MEMBER_ROLE_NAME)", ev.Actor(), what, h.MemberRoleName))
	}
	names := h.Rules.ForCall(APICall{Source: call.EventSource, Name: call.EventName})
	if len(names) == 0 {
		return ignored(fmt.Sprintf("no remediator checks what %s changes", what))
	}
	if len(resources) == 0 {
		return ignored(fmt.Sprintf("the record of %s names no resource to check", what))
	}
	if reason, ok := h.leftAlone(base); ok {
		// One outcome for the event, not one per resource.
		return ignored(reason)
	}
	var outs []Outcome
	var jobs []Job
	enabled := 0
	for _, res := range resources {
		for _, name := range names {
			rem, ok := h.Registry.Get(name)
			if !ok || !contains(rem.ResourceTypes(), res.Type) {
				continue
			}
			enabled++
			req := base
			req.ResourceType, req.ResourceID = res.Type, res.ID
			scoped, actedAs, o, refused := h.checkScope(ctx, rem, req, ev.ID, TriggerCloudTrail, start)
			if refused {
				o.Actor, o.DetectedAt = ev.Actor(), call.EventTime
				outs = append(outs, o)
				continue
			}
			req.Mode = h.Modes.For(name)
			jobs = append(jobs, Job{Remediator: scoped, Request: req, EventID: ev.ID, Trigger: TriggerCloudTrail,
				Actor: ev.Actor(), DetectedAt: call.EventTime, ActedAs: actedAs})
		}
	}
	if enabled == 0 {
		return ignored(fmt.Sprintf("%s is checked by %s, which is not enabled", what, strings.Join(names, ", ")))
	}
	return outs, jobs
}

// ignoredActor returns the IgnoreActors entry that names the call's
// principal: its role or user ARN (Principal), its actor as outcomes name it
// (Actor), or its session ARN; an assumed-role session ARN
// (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION) stands for every session
// of role NAME, since sessions come and go.
func ignoredActor(list []string, ev *events.CloudTrailEvent) (string, bool) {
	principal, actor, session := ev.Principal(), ev.Actor(), ev.Call.UserIdentity.ARN
	for _, a := range list {
		if a == "" {
			continue
		}
		if a == principal || a == actor || a == session {
			return a, true
		}
		if i := strings.Index(a, ":assumed-role/"); i >= 0 && session != "" {
			role := a[:i+len(":assumed-role/")] + strings.SplitN(a[i+len(":assumed-role/"):], "/", 2)[0] + "/"
			if strings.HasPrefix(session, role) {
				return a, true
			}
		}
	}
	return "", false
}

// isRole reports whether principal is the ARN of the IAM role name, in any
// account and with any path (arn:aws:iam::ACCOUNT:role/PATH/NAME).
func isRole(principal, name string) bool {
	if name == "" {
		return false
	}
	_, rest, ok := strings.Cut(principal, ":role/")
	if !ok || !strings.HasPrefix(principal, "arn:") || !strings.Contains(principal, ":iam::") {
		return false
	}
	return rest == name || strings.HasSuffix(rest, "/"+name)
}

// Process runs a job and publishes its outcome. With a Store it does so
// once per event: a redelivered event gets the recorded outcome back
// without acting or publishing again, and one whose publishing failed
// publishes the recorded outcome. Store errors never lose the outcome: the
// job runs statelessly and the log line carries a warning. Sweep jobs are
// not events (nothing redelivers them): only the flap limit applies.
func (h *Handler) Process(ctx context.Context, j Job) (Outcome, error) {
	if h.Store == nil || j.EventID == "" || j.Trigger == TriggerSweep {
		return h.Deliver(ctx, h.runJob(ctx, j, h.Store != nil))
	}
	return h.once(ctx, eventKey(j.EventID, j.Remediator.Name(), j.Request), func(useStore bool) Outcome { return h.runJob(ctx, j, useStore) })
}

// deliverDecided publishes an outcome decided without a remediator (an
// ignored event), once per event when there is a Store, like Process.
func (h *Handler) deliverDecided(ctx context.Context, o Outcome) (Outcome, error) {
	if h.Store == nil || o.EventID == "" || o.Trigger == TriggerSweep {
		return h.Deliver(ctx, o)
	}
	req := Request{Account: o.Account, Region: o.Region, ResourceType: o.ResourceType, ResourceID: o.ResourceID}
	return h.once(ctx, eventKey(o.EventID, o.Remediator, req), func(bool) Outcome { return o })
}

// once decides (with decide) and publishes the outcome of one event key at
// most once across processes, through the Store's claims.
//
// decide's argument says whether the store may be used for the flap limit:
// not once it has failed in this run, so that an unreachable table costs
// one call's retries, not one per step.
func (h *Handler) once(ctx context.Context, key string, decide func(useStore bool) Outcome) (Outcome, error) {
	owner := newOwner()
	for {
		lease := leaseFor(ctx)
		c, err := h.Store.Claim(ctx, key, owner, lease)
		if err != nil {
			o := decide(false)
			o.Warning = fmt.Sprintf("state store unavailable, handled without it (a duplicate may act or notify again): %v", err)
			return h.Deliver(ctx, o)
		}
		switch {
		case c.Owned:
			o := decide(true)
			if err := h.Store.Record(ctx, key, owner, o); err != nil {
				if errors.Is(err, ErrClaimLost) && o.Action != ActionRemediated && !o.wrote {
					// Another run took the event over after this one's
					// lease lapsed; it publishes, and this run changed
					// nothing to report.
					return o, nil
				}
				o.Warning = fmt.Sprintf("recording the outcome in the state store: %v (a redelivery may act or notify again)", err)
				return h.Deliver(ctx, o)
			}
			return h.publishRecorded(ctx, o, key, owner, lease)
		case c.Done:
			return h.redelivered(ctx, c, key, owner, lease)
		}
		// Another process is handling this event now: wait for its outcome
		// (or for its lease to lapse) rather than act a second time, but
		// return before this invocation's own deadline, with an error so
		// that the event is delivered again later.
		if err := sleepUntil(ctx, c.LeaseUntil); err != nil {
			return Outcome{}, fmt.Errorf("waiting for another run of the event (%s) to finish: %w", key, err)
		}
	}
}

// redelivered answers a delivery of an event whose outcome is recorded.
func (h *Handler) redelivered(ctx context.Context, c Claim, key, owner string, lease time.Duration) (Outcome, error) {
	if c.Published {
		if n, ok := h.Publisher.(DuplicateNoter); ok {
			n.NoteDuplicate(ctx, c.Outcome)
		}
		return c.Outcome, nil
	}
	return h.publishRecorded(ctx, c.Outcome, key, owner, lease)
}

// publishRecorded publishes a recorded outcome unless another process
// publishes (or published) it. A failed publish gives the right back, so
// that the retry of the invocation publishes this outcome.
func (h *Handler) publishRecorded(ctx context.Context, o Outcome, key, owner string, lease time.Duration) (Outcome, error) {
	mine, err := h.Store.ClaimPublish(ctx, key, owner, lease)
	if err != nil {
		o.Warning = fmt.Sprintf("claiming the notification in the state store: %v (it may be sent twice)", err)
		return h.Deliver(ctx, o)
	}
	if !mine {
		return o, nil
	}
	o, derr := h.Deliver(ctx, o)
	var failed *OutcomeError
	if derr != nil && !errors.As(derr, &failed) {
		// Not delivered: the next delivery of the event publishes it.
		if err := h.Store.ReleasePublish(context.WithoutCancel(ctx), key, owner); err != nil {
			derr = errors.Join(derr, fmt.Errorf("releasing the notification of event %q in the state store: %w", o.EventID, err))
		}
		return o, derr
	}
	// The outcome is delivered: failing to record that is not the
	// invocation's error, or Lambda's retry would notify again once the
	// publish claim lapses.
	_ = h.Store.MarkPublished(context.WithoutCancel(ctx), key, owner)
	return o, derr
}

// runJob runs the job's remediator under the flap limit: each run that may
// write first reserves one of the FlapLimit writes allowed on the resource
// within FlapWindow (in the Store, so that runs in other processes count
// too); a run that finds them all taken runs in dry-run, and an outcome that
// would write becomes escalated. A run that did not write gives its
// reservation back; a failed run that wrote (Result.Wrote) keeps it.
func (h *Handler) runJob(ctx context.Context, j Job, useStore bool) Outcome {
	ctx, cancel := keepForPublishing(ctx)
	defer cancel()
	if !useStore || h.Store == nil || j.Request.Mode == ModeDryRun {
		return h.stamp(h.Run(ctx, j.Remediator, j.Request, j.EventID), j, "")
	}
	// Reserving, running and giving back take turns with the other runs on
	// this resource in the process, like Run alone does.
	req, start := j.Request, h.now()
	unlock, err := h.locks.lock(ctx, lockKey(j.Remediator.Name(), req))
	if err != nil {
		o := newOutcome(j.Remediator.Name(), req, j.EventID)
		o.Action, o.Error = ActionFailed, fmt.Sprintf("waiting for another run of %s on %q to finish: %v", j.Remediator.Name(), req.ResourceID, err)
		o.Reason = o.Error
		h.finish(&o, start)
		return h.stamp(o, j, "")
	}
	defer unlock()
	limit, window := h.flapLimit(), h.flapWindow()
	resKey := resourceKey(j)
	w := Write{At: start, Actor: j.Actor, EventID: j.EventID}
	recent, ok, err := h.Store.ReserveWrite(ctx, resKey, w, limit, start.Add(-window), start.Add(window))
	if err != nil {
		o := h.runLocked(ctx, j.Remediator, req, j.EventID)
		return h.stamp(o, j, fmt.Sprintf("reserving a write in the state store: %v (flap limit not applied)", err))
	}
	if !ok {
		req.Mode = ModeDryRun
		o := h.stamp(h.runLocked(ctx, j.Remediator, req, j.EventID), j, "")
		if o.Action == ActionDryRun {
			o.Action = ActionEscalated
			o.After = o.Before
			o.Reason = escalationReason(recent, j.Actor, limit, window)
		}
		return o
	}
	o := h.stamp(h.runLocked(ctx, j.Remediator, req, j.EventID), j, "")
	if o.Action != ActionRemediated && !o.wrote {
		if err := h.Store.ReleaseWrite(context.WithoutCancel(ctx), resKey, w); err != nil {
			o.Warning = fmt.Sprintf("giving back the unused write reservation in the state store: %v (the flap limit counts one write too many for %s)", err, window)
		}
	}
	return o
}

// publishReserve is the part of the invocation's time kept for recording
// and publishing the outcome: the remediation's AWS calls stop retrying
// before the function's deadline minus this, so that the outcome still gets
// out when they run out of time.
const publishReserve = 5 * time.Second

// keepForPublishing shortens ctx's deadline by publishReserve when there is
// time enough for both.
func keepForPublishing(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*publishReserve {
		return context.WithDeadline(ctx, dl.Add(-publishReserve))
	}
	return ctx, func() {}
}

// stamp adds what the job knows about the outcome's cause.
func (h *Handler) stamp(o Outcome, j Job, warning string) Outcome {
	o.Trigger, o.Actor, o.Warning, o.ActedAs = j.Trigger, j.Actor, warning, j.ActedAs
	if !j.DetectedAt.IsZero() {
		o.DetectedAt = j.DetectedAt
	}
	return o
}

// escalationReason says how often the resource was fixed and who changed it
// back: the actors of the calls that triggered the fixes and of this one.
func escalationReason(recent []Write, actor string, limit int, window time.Duration) string {
	var actors []string
	unknown := false
	for _, a := range append(writeActors(recent), actor) {
		switch {
		case a == "":
			unknown = true
		case !slices.Contains(actors, a):
			actors = append(actors, a)
		}
	}
	if unknown {
		actors = append(actors, "an unnamed actor (Config and sweep findings do not say who made a change)")
	}
	until := "the window passes"
	if len(recent) > 0 {
		until = recent[0].At.Add(window).UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("fixed %d times within %s (FLAP_LIMIT %d, FLAP_WINDOW %s) and undone each time, by %s; not fixed again before %s: settle it with whoever keeps changing it back, or exempt the resource",
		len(recent), shortDuration(window), limit, shortDuration(window), strings.Join(actors, ", "), until)
}

// shortDuration prints 1h0m0s as 1h and 90m as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func writeActors(ws []Write) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Actor
	}
	return out
}

func (h *Handler) flapLimit() int {
	if h.FlapLimit > 0 {
		return h.FlapLimit
	}
	return DefaultFlapLimit
}

func (h *Handler) flapWindow() time.Duration {
	if h.FlapWindow > 0 {
		return h.FlapWindow
	}
	return DefaultFlapWindow
}

// eventKey names one outcome of one event in the state store; resourceKey
// names one resource for one remediator. Fields are joined with "|", which
// none of them contains (IDs, names of buckets, regions, account numbers).
func eventKey(eventID, remediator string, req Request) string {
	return strings.Join([]string{eventID, remediator, req.Account, req.Region, req.ResourceType, req.ResourceID}, "|")
}

func resourceKey(j Job) string {
	return strings.Join([]string{j.Remediator.Name(), j.Request.Account, j.Request.Region, j.Request.ResourceType, j.Request.ResourceID}, "|")
}

// newOwner names this run of a job in the state store's claims.
func newOwner() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// leaseFor is how long a claim stays this run's: until the invocation's
// deadline (the Lambda timeout) and a margin, or five minutes without one.
// Another delivery takes the event over only after that, when this run can
// no longer be acting.
func leaseFor(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl) + 5*time.Second
	}
	return 5 * time.Minute
}

// sleepUntil waits until t, polling at most a second at a time, or until ctx
// ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := min(max(time.Until(t), 50*time.Millisecond), time.Second)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)-d < time.Second {
		return fmt.Errorf("the invocation's deadline is near (%s)", dl.UTC().Format(time.RFC3339))
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (h *Handler) finish(o *Outcome, start time.Time) {
	o.CompletedAt = h.now()
	o.DurationMs = o.CompletedAt.Sub(start).Milliseconds()
}

// Run executes one remediator on one request and records the outcome. A
// panic in a remediator is turned into a failed outcome rather than killing
// the process: a bad resource must not stop the others. Concurrent runs for
// the same remediator and resource take turns, so that duplicates of one
// event write at most once (the later ones read the fixed state).
func (h *Handler) Run(ctx context.Context, rem Remediator, req Request, eventID string) Outcome {
	start := h.now()
	unlock, err := h.locks.lock(ctx, lockKey(rem.Name(), req))
	if err != nil {
		o := newOutcome(rem.Name(), req, eventID)
		o.Action, o.Error = ActionFailed, fmt.Sprintf("waiting for another run of %s on %q to finish: %v", rem.Name(), req.ResourceID, err)
		o.Reason = o.Error
		h.finish(&o, start)
		return o
	}
	defer unlock()
	return h.runLocked(ctx, rem, req, eventID)
}

// runLocked is Run for a caller that holds the resource's lock.
func (h *Handler) runLocked(ctx context.Context, rem Remediator, req Request, eventID string) (o Outcome) {
	start := h.now()
	o = newOutcome(rem.Name(), req, eventID)
	defer func() {
		if p := recover(); p != nil {
			o.Action, o.Error = ActionFailed, fmt.Sprintf("remediator %s panicked on %q: %v", rem.Name(), req.ResourceID, p)
			o.Reason = o.Error
		}
		h.finish(&o, start)
	}()
	res := rem.Remediate(ctx, req)
	o.Action, o.Reason, o.Before, o.After, o.wrote = res.Action, res.Reason, res.Before, res.After, res.Wrote
	if res.Err != nil {
		o.Action, o.Error = ActionFailed, res.Err.Error()
	}
	if o.Action == ActionFailed && o.Error == "" {
		o.Error = res.Reason
	}
	return o
}

func lockKey(remediator string, req Request) string {
	return remediator + "\x00" + req.Account + "\x00" + req.Region + "\x00" + req.ResourceID
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

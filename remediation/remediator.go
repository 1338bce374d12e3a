package remediation

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Mode selects whether a remediator writes.
type Mode string

// The modes.
const (
	ModeEnforce Mode = "enforce" // read, decide, write, verify
	ModeDryRun  Mode = "dry-run" // everything but the write
)

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.TrimSpace(s)) {
	case ModeEnforce:
		return ModeEnforce, nil
	case ModeDryRun:
		return ModeDryRun, nil
	}
	return "", fmt.Errorf("mode %q is not one of enforce, dry-run", s)
}

// Request is what a remediator is asked to look at. It carries no view of
// the resource's state: the event's view can be minutes old, duplicated, or
// caused by our own last change, so the remediator's own read decides.
type Request struct {
	Rule         string // the Config rule name as deployed (may be a generated name)
	ManagedRule  string // the AWS managed rule it was recognised as, "" if mapped by configuration
	ResourceType string // e.g. AWS::S3::Bucket
	ResourceID   string
	Account      string
	Region       string
	Mode         Mode
}

// Result is a remediator's verdict. Before and After hold the relevant
// settings as read from AWS (After is what it would be in dry-run).
type Result struct {
	Action Action
	Reason string
	Before map[string]any
	After  map[string]any
	Err    error // set when Action is ActionFailed, wrapping the API error
	// Wrote is set when the resource was changed although the outcome is
	// not remediated (the write succeeded, its verification did not): the
	// write counts toward the flap limit.
	Wrote bool
}

// Remediator fixes one kind of misconfiguration; what the rest of the system
// needs to know about it (rules, permissions, controls) is its Spec.
// Remediate must read the
// resource itself, decide, write only if needed and allowed by the mode,
// then read back to verify. It must be safe to call repeatedly and
// concurrently for the same resource.
type Remediator interface {
	// Name is the stable identifier used in outcomes, metrics and settings.
	Name() string
	// ResourceTypes are the Config resource types it handles.
	ResourceTypes() []string
	// Remediate handles one resource.
	Remediate(ctx context.Context, req Request) Result
}

// Failed builds a failed result whose error names the action and resource.
func Failed(before map[string]any, err error) Result {
	return Result{Action: ActionFailed, Reason: err.Error(), Before: before, Err: err}
}

// Unverified builds the failed result of a write that succeeded but whose
// read-back did not show the change (or could not be read): the error names
// the verification, and the write still counts toward the flap limit.
func Unverified(before map[string]any, err error) Result {
	r := Failed(before, err)
	r.Wrote = true
	return r
}

// Lazy returns a Remediator that builds the real one on first use, so that a
// cold start pays only for the SDK clients the events actually need. Name and
// resource types must be given up front; they are the registry's keys.
func Lazy(name string, resourceTypes []string, build func() Remediator) Remediator {
	return &lazy{name: name, types: resourceTypes, build: sync.OnceValue(build)}
}

type lazy struct {
	name  string
	types []string
	build func() Remediator
}

func (l *lazy) Name() string            { return l.name }
func (l *lazy) ResourceTypes() []string { return l.types }
func (l *lazy) Remediate(ctx context.Context, req Request) Result {
	return l.build().Remediate(ctx, req)
}

// RevertRequest asks a remediator to put back what one of its earlier
// remediated outcomes recorded as Before.
type RevertRequest struct {
	// Outcome is the remediated outcome to revert: its resource, account,
	// region, Before (what to restore) and After (what the resource must
	// still look like, unless Force).
	Outcome Outcome
	// Mode dry-run reports what would be restored and writes nothing.
	Mode Mode
	// Force reverts even when the resource has changed since the outcome.
	Force bool
}

// Reverter is a Remediator that can undo its own remediated outcomes.
// Revert must read the resource first; when it no longer matches the
// outcome's After it refuses (ActionNeedsManual, the reason naming what
// changed) unless Force is set. Otherwise it writes the outcome's Before
// back, reads again to verify, and returns ActionReverted with Before and
// After as read (ActionDryRun in dry-run mode, ActionGone when the
// resource no longer exists). An outcome whose Before lacks what the
// revert needs is ActionFailed with an error that says what is missing.
type Reverter interface {
	Revert(ctx context.Context, req RevertRequest) Result
}

// Revert implements Reverter for a lazily built remediator that is one.
func (l *lazy) Revert(ctx context.Context, req RevertRequest) Result {
	r, ok := l.build().(Reverter)
	if !ok {
		return Failed(nil, fmt.Errorf("remediator %s cannot revert its outcomes", l.name))
	}
	return r.Revert(ctx, req)
}

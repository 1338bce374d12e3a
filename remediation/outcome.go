// Package remediation is the core of the pipeline: it turns a Config
// compliance change event into exactly one Outcome by dispatching it to the
// Remediator registered for the event's rule, and a CloudTrail API call
// event into one Outcome per resource and remediator that checks the call,
// and hands each outcome to a Publisher (package publish: log line with EMF,
// metrics, SNS). With a StateStore it does so once per event and stops
// fighting another automation (escalated). It knows no concrete remediator:
// each declares its Spec, and the list of them is given.
package remediation

import (
	"encoding/json"
	"fmt"
	"time"
)

// Action is what happened to a resource. Every outcome has exactly one.
type Action string

// The actions, in the vocabulary of the outcome JSON and the metrics.
const (
	ActionRemediated  Action = "remediated"   // the resource was changed and the change verified
	ActionCompliant   Action = "compliant"    // our own read found nothing to change
	ActionExempt      Action = "exempt"       // a tag or a guard excludes the resource
	ActionDryRun      Action = "dry-run"      // non-compliant; the change was not made because of dry-run mode
	ActionDeferred    Action = "deferred"     // non-compliant, but changing it now would break a workload
	ActionNeedsManual Action = "needs-manual" // non-compliant and cannot be fixed in place
	ActionGone        Action = "gone"         // the resource no longer exists
	ActionIgnored     Action = "ignored"      // not an event we act on
	ActionEscalated   Action = "escalated"    // fixed FLAP_LIMIT times within FLAP_WINDOW and undone each time: left for a human, nothing written
	ActionFailed      Action = "failed"       // an API call failed or the change did not verify
	ActionInProgress  Action = "in-progress"  // a change that takes several runs (an EBS volume migration) is under way
	ActionReverted    Action = "reverted"     // `remediate undo` put back an earlier outcome's before, and verified it
)

// Actions lists every action, in a stable order (the order of the summary
// tables and the dashboard).
func Actions() []Action {
	return []Action{ActionRemediated, ActionCompliant, ActionExempt, ActionDryRun, ActionDeferred,
		ActionNeedsManual, ActionGone, ActionIgnored, ActionEscalated, ActionFailed, ActionInProgress, ActionReverted}
}

// Severity is how much attention an outcome needs; it is the SNS message
// attribute subscribers filter on.
func (a Action) Severity() string {
	switch a {
	case ActionFailed, ActionEscalated:
		return "high"
	case ActionDeferred, ActionNeedsManual:
		return "medium"
	case ActionRemediated, ActionDryRun, ActionReverted:
		return "low"
	default:
		return "info"
	}
}

// Trigger says what brought a resource to the pipeline's attention.
type Trigger string

// The triggers.
const (
	TriggerConfig     Trigger = "config"     // an AWS Config compliance change event
	TriggerCloudTrail Trigger = "cloudtrail" // an "AWS API Call via CloudTrail" event
	TriggerSweep      Trigger = "sweep"      // the sweep's own listing
	TriggerUndo       Trigger = "undo"       // `remediate undo` reverting an earlier outcome
	TriggerCLI        Trigger = "cli"        // a command run from the terminal (`remediate migrate-volume`)
)

// Outcome is the record of one event's handling. Its JSON form has exactly
// the documented fields; DetectedAt is internal.
type Outcome struct {
	Remediator   string         `json:"remediator"`
	Rule         string         `json:"rule"`
	ResourceType string         `json:"resourceType"`
	ResourceID   string         `json:"resourceId"`
	Account      string         `json:"account"`
	Region       string         `json:"region"`
	Action       Action         `json:"action"`
	Reason       string         `json:"reason"`
	Before       map[string]any `json:"before"`
	After        map[string]any `json:"after"`
	DurationMs   int64          `json:"durationMs"`
	Error        string         `json:"error"`
	EventID      string         `json:"eventId"`
	// Trigger is config, cloudtrail or sweep.
	Trigger Trigger `json:"trigger"`
	// Actor is the principal whose API call triggered the outcome (for an
	// assumed role the role's ARN and the session name); "" when unknown,
	// as for Config events.
	Actor string `json:"actor"`
	// ActedAs is the assumed-role session ARN the remediator acted as in a
	// member account (what that account's CloudTrail records as the
	// caller); "" in the function's own account.
	ActedAs string `json:"actedAs,omitempty"`

	// DetectedAt and CompletedAt are in the JSON as detectedAt (omitted
	// when unknown) and completedAt, RFC 3339 with milliseconds in UTC: the
	// outcome archive and the evidence report place outcomes in time with
	// them.

	// Warning is a problem that did not change the outcome (the state
	// store could not be reached); it goes to the log line only.
	Warning string `json:"-"`

	// DetectedAt is when the non-compliance was first reported (the event's
	// notificationCreationTime); zero when unknown. It feeds the
	// TimeToRemediate metric.
	DetectedAt time.Time `json:"-"`
	// CompletedAt is when the outcome was decided.
	CompletedAt time.Time `json:"-"`
	// wrote is the remediator's Result.Wrote.
	wrote bool
}

// MarshalJSON renders nil before/after as {} so that consumers always find
// objects there, and the times as detectedAt / completedAt.
func (o Outcome) MarshalJSON() ([]byte, error) { return o.marshal() }

// outcomeJSON is the JSON form: Outcome's tagged fields and the two times.
type outcomeJSON struct {
	plainOutcome
	DetectedAt  string `json:"detectedAt,omitempty"`
	CompletedAt string `json:"completedAt,omitempty"`
}

type plainOutcome Outcome

// TimeLayout is the outcome JSON's time format: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

// marshal is MarshalJSON for callers that want the bytes themselves:
// json.Marshal on an Outcome validates and compacts what MarshalJSON
// returns, a second pass over the output that this skips.
func (o Outcome) marshal() ([]byte, error) {
	p := plainOutcome(o)
	if p.Before == nil {
		p.Before = map[string]any{}
	}
	if p.After == nil {
		p.After = map[string]any{}
	}
	return json.Marshal(outcomeJSON{plainOutcome: p, DetectedAt: formatTime(o.DetectedAt), CompletedAt: formatTime(o.CompletedAt)})
}

// UnmarshalJSON reads the JSON form back, the times included, so that an
// outcome printed by `invoke`, kept in the archive or carried by SNS can be
// read again (by `remediate undo` and the evidence report).
func (o *Outcome) UnmarshalJSON(b []byte) error {
	var j outcomeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*o = Outcome(j.plainOutcome)
	for _, f := range []struct {
		s string
		t *time.Time
	}{{j.DetectedAt, &o.DetectedAt}, {j.CompletedAt, &o.CompletedAt}} {
		if f.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.s)
		if err != nil {
			return fmt.Errorf("outcome time %q is not RFC 3339: %w", f.s, err)
		}
		*f.t = t
	}
	return nil
}

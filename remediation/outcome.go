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
)

// Actions lists every action, in a stable order (the order of the summary
// tables and the dashboard).
func Actions() []Action {
	return []Action{ActionRemediated, ActionCompliant, ActionExempt, ActionDryRun, ActionDeferred,
		ActionNeedsManual, ActionGone, ActionIgnored, ActionEscalated, ActionFailed}
}

// Severity is how much attention an outcome needs; it is the SNS message
// attribute subscribers filter on.
func (a Action) Severity() string {
	switch a {
	case ActionFailed, ActionEscalated:
		return "high"
	case ActionDeferred, ActionNeedsManual:
		return "medium"
	case ActionRemediated, ActionDryRun:
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
// objects there.
func (o Outcome) MarshalJSON() ([]byte, error) { return o.marshal() }

// marshal is MarshalJSON for callers that want the bytes themselves:
// json.Marshal on an Outcome validates and compacts what MarshalJSON
// returns, a second pass over the output that this skips.
func (o Outcome) marshal() ([]byte, error) {
	type plain Outcome
	p := plain(o)
	if p.Before == nil {
		p.Before = map[string]any{}
	}
	if p.After == nil {
		p.After = map[string]any{}
	}
	return json.Marshal(p)
}

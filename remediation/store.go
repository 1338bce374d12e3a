package remediation

import (
	"context"
	"errors"
	"time"
)

// StateStore is what the handler remembers across Lambda execution
// environments (package state keeps it in DynamoDB). Without one the handler
// is stateless: duplicates are harmless but may notify twice, a failed
// publish is retried with a fresh (usually compliant) outcome, and nothing
// stops a fight with another automation.
//
// Keys are opaque strings built by the handler: an event key names one
// outcome of one event (event ID, remediator, account, region, resource);
// a resource key names one resource for one remediator.
type StateStore interface {
	// Claim starts handling an event key for owner. It succeeds (Owned) when
	// the key is new, when the recorded outcome is failed (a retry runs
	// again), or when the previous owner's lease has expired. Otherwise it
	// returns what is recorded: Done with the outcome, or the other owner's
	// lease.
	Claim(ctx context.Context, key, owner string, lease time.Duration) (Claim, error)
	// Record stores the decided outcome under a claim that owner holds; it
	// returns ErrClaimLost when another owner has taken the key over.
	Record(ctx context.Context, key, owner string, o Outcome) error
	// ClaimPublish takes the right to publish the recorded outcome for a
	// while. It returns false when the outcome is already published or
	// another owner is publishing it.
	ClaimPublish(ctx context.Context, key, owner string, lease time.Duration) (bool, error)
	// MarkPublished records that the outcome was delivered.
	MarkPublished(ctx context.Context, key, owner string) error
	// ReleasePublish gives the right to publish back after a failed
	// delivery, so that the next delivery of the event publishes.
	ReleasePublish(ctx context.Context, key, owner string) error
	// Writes returns the writes recorded on a resource key, oldest first.
	Writes(ctx context.Context, resource string) ([]Write, error)
	// AddWrite records one write on a resource key and drops the recorded
	// writes older than keepSince; the item expires at expires.
	AddWrite(ctx context.Context, resource string, w Write, keepSince, expires time.Time) error
}

// Claim is the answer of StateStore.Claim.
type Claim struct {
	// Owned: the caller handles the event and must Record the outcome.
	Owned bool
	// Done: the outcome is recorded (Outcome); Published says whether it was
	// delivered.
	Done      bool
	Outcome   Outcome
	Published bool
	// LeaseUntil is when another owner's claim lapses (neither Owned nor
	// Done).
	LeaseUntil time.Time
}

// Write is one change a remediator made to a resource.
type Write struct {
	At      time.Time
	Actor   string // who had changed the resource (the triggering call's actor), "" when unknown
	EventID string
}

// ErrClaimLost is returned by StateStore.Record when another owner took the
// event over after this owner's lease lapsed.
var ErrClaimLost = errors.New("the claim on the event was taken over by another run")

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
	// ReserveWrite takes one of the limit writes allowed on a resource key
	// since keepSince, before the remediator runs, so that concurrent runs
	// in any process cannot exceed the limit together. It drops the writes
	// older than keepSince and returns the ones left, oldest first, without
	// w. When limit of them are left it records nothing and ok is false.
	// The item expires at expires. Reserving the same w again (an SDK retry)
	// succeeds without a second entry.
	ReserveWrite(ctx context.Context, resource string, w Write, limit int, keepSince, expires time.Time) (recent []Write, ok bool, err error)
	// ReleaseWrite gives back a reservation whose run did not write (the
	// write with w's EventID and At); releasing one that is not there is no
	// error.
	ReleaseWrite(ctx context.Context, resource string, w Write) error
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

// Write is one change a remediator made (or is about to make) to a
// resource.
type Write struct {
	At      time.Time
	Actor   string // who had changed the resource (the triggering call's actor), "" when unknown
	EventID string
}

// ErrClaimLost is returned by StateStore.Record when another owner took the
// event over after this owner's lease lapsed.
var ErrClaimLost = errors.New("the claim on the event was taken over by another run")

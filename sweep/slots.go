package sweep

import (
	"context"
	"sync"
)

// slots bounds the checks that are working at once (Sweeper.Concurrency). A
// check that waits, for a rate-limit token or for a batched read, gives its
// slot up while it waits (park) and takes one again afterwards (unpark), so
// that the checks paced by AWS's limits never hold up the others: the token
// buckets decide the pace, the slots only how much runs at once.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

// acquire takes a slot for a new check.
func (s slots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s slots) release() { <-s }

// checkSlot is one check's hold on a slot. Its methods are safe for
// concurrent use, so that a check whose calls overlap still gives back only
// what it holds.
type checkSlot struct {
	s      slots
	mu     sync.Mutex
	held   bool
	parked int
}

type checkSlotKey struct{}

func withCheckSlot(ctx context.Context, c *checkSlot) context.Context {
	return context.WithValue(ctx, checkSlotKey{}, c)
}

// park gives up the slot of the check ctx belongs to, if any, while it
// waits; resume takes one again (it must be called once the wait, and the
// call it was for, are over).
func park(ctx context.Context) (resume func()) {
	c, ok := ctx.Value(checkSlotKey{}).(*checkSlot)
	if !ok {
		return func() {}
	}
	c.mu.Lock()
	c.parked++
	if c.held {
		c.held = false
		c.s.release()
	}
	c.mu.Unlock()
	return func() { c.unpark(ctx) }
}

func (c *checkSlot) unpark(ctx context.Context) {
	c.mu.Lock()
	c.parked--
	want := c.parked == 0 && !c.held
	c.mu.Unlock()
	if !want {
		return
	}
	// Without a slot (the sweep is ending) the check finishes unslotted.
	if c.s.acquire(ctx) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parked == 0 && !c.held {
		c.held = true
		return
	}
	// The check parked again, or another call of it took a slot, meanwhile.
	c.s.release()
}

// done gives the check's slot back when it ends.
func (c *checkSlot) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.held = false
		c.s.release()
	}
}

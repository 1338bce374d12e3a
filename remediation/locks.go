package remediation

import (
	"context"
	"sync"
)

// resourceLocks serializes remediations of the same resource within one
// process. Remediators read, decide, then write: two concurrent deliveries
// of the same event (EventBridge delivers at least once, Config re-sends on
// re-evaluation, the CLI may be given duplicates) would both read
// "non-compliant" and both write. Holding a per-resource lock makes the
// second one read after the first one's verified write, so it reports
// compliant and writes nothing. Across Lambda execution environments the
// writes are idempotent, so a rare duplicate write there is harmless.
//
// The zero value is ready to use. Entries are reference-counted and removed
// when no caller holds or waits for them, so the map does not grow with the
// number of resources ever seen.
type resourceLocks struct {
	mu      sync.Mutex
	entries map[string]*lockEntry
}

type lockEntry struct {
	sem  chan struct{} // capacity 1: holding the lock is having sent
	refs int
}

// lock waits until no other caller holds key, or ctx ends. The returned
// function releases the lock.
func (l *resourceLocks) lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	if l.entries == nil {
		l.entries = map[string]*lockEntry{}
	}
	e := l.entries[key]
	if e == nil {
		e = &lockEntry{sem: make(chan struct{}, 1)}
		l.entries[key] = e
	}
	e.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.entries, key)
		}
		l.mu.Unlock()
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

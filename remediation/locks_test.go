package remediation

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestResourceLocksSerializeOneKey(t *testing.T) {
	var l resourceLocks
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			unlock, err := l.lock(context.Background(), "k")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		})
	}
	wg.Wait()
	if m := maxInside.Load(); m != 1 {
		t.Errorf("%d holders at once, want 1", m)
	}
	if len(l.entries) != 0 {
		t.Errorf("%d entries left after every holder released", len(l.entries))
	}
}

func TestResourceLocksOtherKeyAndCancel(t *testing.T) {
	var l resourceLocks
	unlockA, err := l.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another resource does not wait.
	unlockB, err := l.lock(context.Background(), "b")
	if err != nil {
		t.Fatalf("key b blocked by key a: %v", err)
	}
	unlockB()
	// The same resource waits until the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, "a"); err == nil {
		t.Fatal("second holder of key a got the lock")
	}
	unlockA()
	unlock, err := l.lock(context.Background(), "a")
	if err != nil {
		t.Fatalf("key a not free after release: %v", err)
	}
	unlock()
	if len(l.entries) != 0 {
		t.Errorf("%d entries left", len(l.entries))
	}
}

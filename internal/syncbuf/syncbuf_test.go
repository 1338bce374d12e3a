package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// Run with -race: concurrent writes and reads are safe, and no write is
// lost or interleaved.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 || len(b.String()) != 800*5 {
		t.Errorf("%d lines, %d bytes; want 800 lines", got, len(b.String()))
	}
}

func TestMaxKeepsTheRecentPart(t *testing.T) {
	b := Buffer{Max: 10}
	for _, s := range []string{"aaaa", "bbbb", "cccc"} {
		_, _ = b.Write([]byte(s))
	}
	if got := b.String(); got != "cccc" {
		t.Errorf("String() = %q, want the write that passed Max to start afresh: %q", got, "cccc")
	}
}

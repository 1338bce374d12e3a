// Package syncbuf is a byte buffer that goroutines may write to and read
// from at the same time: the output of a process or logger that is read
// while it runs (the emulator's log, a function's output in tests).
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer guarded by a mutex. The zero value is ready.
type Buffer struct {
	// Max, when positive, bounds the memory held: a write that would take
	// the buffer past Max bytes empties it first (for endless output, such
	// as a server's log, of which the recent part is what matters).
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Max > 0 && b.b.Len()+len(p) > b.Max {
		b.b.Reset()
	}
	return b.b.Write(p)
}

// String returns what was written (since the last reset).
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

package emulator

import (
	"context"
	"sync"
	"testing"
	"time"
)

// StartT starts a server for a test and stops it when the test ends. It
// fails the test when moto_server is missing: an integration test that
// silently skips proves nothing.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background())
	if err != nil {
		t.Fatalf("starting the AWS emulator: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Lazy is one server shared by a test package: it starts on first use (so
// the package's unit tests do not wait for it) and the package's TestMain
// calls Stop. The zero value is ready to use.
type Lazy struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the shared server, starting it on first use; a missing or
// failing moto_server fails the test.
func (l *Lazy) Get(tb testing.TB) *Server {
	tb.Helper()
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		l.srv, l.err = Start(ctx)
	})
	if l.err != nil {
		tb.Fatalf("starting the AWS emulator: %v", l.err)
	}
	return l.srv
}

// Stop stops the server if it was started.
func (l *Lazy) Stop() {
	if l.srv != nil {
		l.srv.Stop()
	}
}

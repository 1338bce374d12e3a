package emulator

import (
	"context"
	"testing"
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

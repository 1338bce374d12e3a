package publish

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/remediation"
)

// recordingArchive records what the publisher hands the archive.
type recordingArchive struct {
	got    []remediation.Outcome
	err    error
	closed int
}

func (a *recordingArchive) Archive(_ context.Context, o remediation.Outcome) error {
	a.got = append(a.got, o)
	return a.err
}

func (a *recordingArchive) Close(context.Context) error { a.closed++; return nil }

func TestPublishArchivesEveryOutcome(t *testing.T) {
	arch := &recordingArchive{}
	p := &OutcomePublisher{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Archive: arch}
	o := remediation.Outcome{Remediator: "s3-encryption", ResourceID: "b", Action: remediation.ActionRemediated}
	if err := p.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(arch.got) != 1 || arch.got[0].ResourceID != "b" || arch.got[0].Action != remediation.ActionRemediated {
		t.Errorf("archived %+v", arch.got)
	}
	arch.err = errors.New("archiving outcome: disk full")
	if err := p.Publish(context.Background(), o); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("an archive failure is not reported: %v", err)
	}
	if err := p.Close(context.Background()); err != nil || arch.closed != 1 {
		t.Errorf("Close: %v, archive closed %d times", err, arch.closed)
	}
	if err := (&OutcomePublisher{}).Close(context.Background()); err != nil {
		t.Errorf("Close without an archive: %v", err)
	}
}

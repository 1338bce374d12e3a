package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
)

// On a terminal, the sweep's outcome lines below the log level stay off the
// screen, and the lines that are shown never land inside the progress bar.
func TestTerminalProgressKeepsLogLinesOffTheBar(t *testing.T) {
	var screen bytes.Buffer
	prog := newProgress(&screen, true)
	pub := &publish.OutcomePublisher{Logger: slog.New(levelFilter{slog.NewJSONHandler(prog, nil), slog.LevelWarn})}
	ctx := context.Background()

	prog.Update(1, 3, remediation.Outcome{Remediator: "s3-encryption", ResourceID: "bucket-a", Action: remediation.ActionCompliant})
	_ = pub.Publish(ctx, remediation.Outcome{Remediator: "s3-encryption", ResourceID: "bucket-a", Action: remediation.ActionCompliant})
	prog.Update(2, 3, remediation.Outcome{Remediator: "s3-encryption", ResourceID: "bucket-b", Action: remediation.ActionFailed})
	_ = pub.Publish(ctx, remediation.Outcome{Remediator: "s3-encryption", ResourceID: "bucket-b", Action: remediation.ActionFailed, Error: "AccessDenied"})
	prog.Update(3, 3, remediation.Outcome{Remediator: "s3-encryption", ResourceID: "bucket-c", Action: remediation.ActionRemediated})

	out := screen.String()
	if strings.Contains(out, `"resourceId":"bucket-a"`) {
		t.Errorf("an info-level outcome line reached the terminal:\n%q", out)
	}
	// The failed outcome's line starts on a cleared line: after a carriage
	// return, not after the bar's text.
	i := strings.Index(out, `{"time"`)
	if i < 0 || !strings.Contains(out[i:], `"resourceId":"bucket-b"`) {
		t.Fatalf("the failed outcome's line is missing:\n%q", out)
	}
	if out[i-1] != '\r' {
		t.Errorf("the log line is written inside the bar:\n%q", out)
	}
	// The bar comes back under the line, and is gone at the end.
	after := out[strings.Index(out[i:], "\n")+i+1:]
	if !strings.HasPrefix(after, "[") {
		t.Errorf("the bar is not drawn again after the line:\n%q", after)
	}
	if !strings.HasSuffix(out, "\r") || strings.Contains(out[strings.LastIndex(out, "\n"):], "3/3") {
		t.Errorf("the bar is not cleared at the end:\n%q", out)
	}
}

// Elsewhere (a file, a pipe) there is no bar: plain progress lines, and
// every log line as it comes.
func TestPlainProgress(t *testing.T) {
	var out bytes.Buffer
	prog := newProgress(&out, false)
	for i := 1; i <= 20; i++ {
		prog.Update(i, 20, remediation.Outcome{})
	}
	if n := strings.Count(out.String(), "\n"); n != 11 || strings.Contains(out.String(), "\r") || !strings.Contains(out.String(), "sweep: 20/20 checks done (100%)") {
		t.Errorf("%d lines:\n%s", n, out.String())
	}
}

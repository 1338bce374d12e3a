package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/autoremediate/autoremediate/remediation"
)

// isTerminal reports whether f is a character device (a terminal), without
// any terminal library.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows a sweep's progress on w: on a terminal a bar redrawn in
// place, with the log lines written above it (Write); otherwise a plain line
// every 10% and at the end.
type progress struct {
	mu         sync.Mutex
	w          io.Writer
	terminal   bool
	bar        string // the bar as drawn last, "" when none is shown
	lastDecile int
	start      time.Time
}

func newProgress(w io.Writer, terminal bool) *progress {
	return &progress{w: w, terminal: terminal, lastDecile: -1, start: time.Now()}
}

// Update is the sweep's Progress callback.
func (p *progress) Update(done, total int, o remediation.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total == 0 {
		return
	}
	if p.terminal {
		// At most about 80 columns: a wrapped bar could not be cleared.
		const width = 20
		filled := done * width / total
		p.clear()
		if done < total {
			p.bar = fmt.Sprintf("[%s%s] %d/%d checks  %-40.40s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
				done, total, o.Remediator+" "+o.ResourceID+": "+string(o.Action))
			fmt.Fprint(p.w, p.bar)
		}
		return
	}
	if d := done * 10 / total; d != p.lastDecile || done == total {
		p.lastDecile = d
		fmt.Fprintf(p.w, "sweep: %d/%d checks done (%d%%) after %s\n", done, total, done*100/total, time.Since(p.start).Round(time.Millisecond))
	}
}

// clear blanks the bar's line and leaves the cursor at its start.
func (p *progress) clear() {
	if p.bar != "" {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", len(p.bar)))
		p.bar = ""
	}
}

// Write writes log output: on a terminal the bar is taken away for the
// line and drawn again below it, so that no line lands inside the bar.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bar := p.bar
	p.clear()
	n, err := p.w.Write(b)
	if bar != "" {
		p.bar = bar
		fmt.Fprint(p.w, bar)
	}
	return n, err
}

// levelFilter drops records below min also when they are handed to Handle
// directly: the outcome publisher writes its line past the logger's level
// check (the line carries the EMF metrics), which on a terminal would
// bury the progress under info-level lines nobody ingests there.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (h levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFilter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{h.Handler.WithGroup(name), h.min}
}

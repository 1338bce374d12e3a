package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// STS returns the STS client of c, built once.
func STS(c *app.Clients) *sts.Client {
	return app.Memo(c, "sts", func(cfg aws.Config) *sts.Client { return sts.NewFromConfig(cfg) })
}

// New wires a sweeper from the same settings and clients as the event path:
// the registry, modes and publisher come from app.NewHandler. Install a
// RateLimiter on the aws.Config before building c.
func New(c *app.Clients, h *remediation.Handler) *Sweeper {
	return &Sweeper{Definitions: remediators.Definitions(), Clients: c, STS: STS(c), Handler: h, Region: c.Config().Region}
}

// IsTerminal reports whether f is a character device (a terminal), without
// any terminal library.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ProgressWriter returns a Progress callback: a redrawn bar on a terminal,
// a plain line every 10% (and at the end) otherwise.
func ProgressWriter(w io.Writer, terminal bool) func(done, total int, o remediation.Outcome) {
	var mu sync.Mutex
	lastDecile := -1
	start := time.Now()
	return func(done, total int, o remediation.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		if total == 0 {
			return
		}
		if terminal {
			const width = 30
			filled := done * width / total
			fmt.Fprintf(w, "\r[%s%s] %d/%d checks  %-60.60s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
				done, total, o.Remediator+" "+o.ResourceID+": "+string(o.Action))
			if done == total {
				fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", width+80))
			}
			return
		}
		if d := done * 10 / total; d != lastDecile || done == total {
			lastDecile = d
			fmt.Fprintf(w, "sweep: %d/%d checks done (%d%%) after %s\n", done, total, done*100/total, time.Since(start).Round(time.Millisecond))
		}
	}
}

// LambdaResult is what the scheduled sweep function returns: the summary
// counts and the score (the outcomes themselves are published one by one).
// When no check was scored (ScoredChecks is 0) there is no score:
// ScorePercent is nil (JSON null) and Score reads NoChecks.
type LambdaResult struct {
	Checked         int                        `json:"checked"`
	Counts          map[remediation.Action]int `json:"counts"`
	CompliantChecks int                        `json:"compliantChecks"`
	ScoredChecks    int                        `json:"scoredChecks"`
	ScorePercent    *float64                   `json:"scorePercent"`
	Score           string                     `json:"score"` // Score.String(), e.g. "66.7% (2 of 3 checks compliant)"
	DurationMs      int64                      `json:"durationMs"`
}

// LambdaHandler runs one sweep per invocation (an EventBridge Scheduler
// event, whose content is ignored). It returns an error when anything
// failed, so the invocation shows as an error and the failure alarm fires.
func LambdaHandler(s *Sweeper, summary io.Writer) func(ctx context.Context) (LambdaResult, error) {
	return func(ctx context.Context) (LambdaResult, error) {
		rep, err := s.Run(ctx)
		if err != nil {
			return LambdaResult{}, err
		}
		res := LambdaResult{Checked: len(rep.Outcomes), Counts: map[remediation.Action]int{}, DurationMs: rep.Duration.Milliseconds()}
		for _, o := range rep.Outcomes {
			res.Counts[o.Action]++
		}
		sc := rep.Score()
		res.CompliantChecks, res.ScoredChecks, res.Score = sc.Compliant, sc.Total, sc.String()
		if pct, ok := sc.Percent(); ok {
			res.ScorePercent = &pct
		}
		if summary != nil {
			b, _ := json.Marshal(struct {
				Msg string `json:"msg"`
				LambdaResult
			}{"sweep summary", res})
			fmt.Fprintln(summary, string(b))
		}
		if rep.Failed() {
			var problems []error
			for _, o := range rep.Outcomes {
				if o.Action == remediation.ActionFailed {
					problems = append(problems, fmt.Errorf("%s on %s %q: %s", o.Remediator, o.ResourceType, o.ResourceID, o.Error))
				}
			}
			problems = append(append(problems, rep.ListErrors...), rep.PublishErrors...)
			return res, fmt.Errorf("sweep: %d problem(s): %w", len(problems), errors.Join(problems...))
		}
		return res, nil
	}
}

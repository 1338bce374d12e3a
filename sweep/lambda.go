package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/autoremediate/autoremediate/remediation"
)

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

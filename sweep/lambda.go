package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/autoremediate/autoremediate/remediation"
)

// LambdaResult is what the scheduled sweep function returns, and the
// organisation sweep's summary: the summary counts and the score (the
// outcomes themselves are published one by one), with a breakdown per
// account. When no check was scored (ScoredChecks is 0) there is no score:
// ScorePercent is nil (JSON null) and Score reads NoChecks.
type LambdaResult struct {
	// RunID names the organisation sweep ("" for a sweep of the function's
	// own account and region).
	RunID           string                     `json:"runId,omitempty"`
	Checked         int                        `json:"checked"`
	Counts          map[remediation.Action]int `json:"counts"`
	CompliantChecks int                        `json:"compliantChecks"`
	ScoredChecks    int                        `json:"scoredChecks"`
	ScorePercent    *float64                   `json:"scorePercent"`
	Score           string                     `json:"score"` // Score.String(), e.g. "66.7% (2 of 3 checks compliant)"
	DurationMs      int64                      `json:"durationMs"`
	// Scopes counts the account-regions swept, FailedScopes those where
	// something failed or that could not be swept at all.
	Scopes       int `json:"scopes"`
	FailedScopes int `json:"failedScopes"`
	// Accounts is the breakdown per account, in account order.
	Accounts []AccountResult `json:"accounts"`
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
		scope := ScopeReport{AccountRegion: AccountRegion{Account: s.Account, Region: s.Region}, Report: rep}
		res := Summarize([]ScopeResult{scope.Result()}, rep.Duration)
		if summary != nil {
			b, _ := json.Marshal(struct {
				Msg string `json:"msg"`
				LambdaResult
			}{"sweep summary", res})
			fmt.Fprintln(summary, string(b))
		}
		if rep.Failed() {
			problems := rep.Problems()
			return res, fmt.Errorf("sweep: %d problem(s): %w", len(problems), errors.Join(problems...))
		}
		return res, nil
	}
}

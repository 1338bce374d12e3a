// Command sweep is the scheduled Lambda function that sweeps the account and
// region for non-compliant resources and remediates them, publishing every
// outcome like the event path (log line with EMF, metrics, SNS). With
// SWEEP_ACCOUNTS or SWEEP_REGIONS set it plans an organisation sweep
// instead: one message per account-region to the sweep queue, each swept by
// the sweep worker (functions/sweepworker).
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/lambdart"
	"github.com/autoremediate/autoremediate/sweep"
)

func main() { lambdart.Main("sweep", run) }

func run(ctx context.Context) error {
	cfg, err := app.Load(os.Getenv)
	if err != nil {
		return err
	}
	sc, err := app.LoadSweep(os.Getenv)
	if err != nil {
		return err
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	if sc.Org() {
		// No rate limiter here: the planner makes a handful of calls, and
		// each account-region's worker has its own.
		p, err := app.NewSweepFanOut(cfg, sc, app.NewClients(awsCfg), os.Stdout)
		if err != nil {
			return err
		}
		lambda.Start(func(ctx context.Context) (sweep.PlanResult, error) {
			var requestID string
			if lc, ok := lambdacontext.FromContext(ctx); ok {
				requestID = lc.AwsRequestID
			}
			return p.Run(ctx, app.SweepRunID(requestID, time.Now().Unix()))
		})
		return nil
	}
	sweep.NewRateLimiter(nil).AddTo(&awsCfg)
	clients := app.NewClients(awsCfg)
	h, err := app.NewHandler(cfg, clients, app.NewLogger(os.Stdout, cfg.LogLevel))
	if err != nil {
		return err
	}
	lambda.Start(sweep.LambdaHandler(app.NewSweeper(cfg, clients, h), os.Stdout))
	return nil
}

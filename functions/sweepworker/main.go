// Command sweepworker is the Lambda function that sweeps one account-region
// of a scheduled organisation sweep per message of the sweep queue (batch
// size 1), publishing every outcome like the event path, and, when its
// account-region is the run's last, the run's summary with its per-account
// breakdown (log line and SNS).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/lambdart"
)

func main() { lambdart.Main("sweepworker", run) }

func run(ctx context.Context) error {
	cfg, err := app.Load(os.Getenv)
	if err != nil {
		return err
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	// No rate limiter on the central configuration: each account-region
	// gets its own (app.NewOrgSweeper).
	w, err := app.NewSweepWorker(cfg, app.NewClients(awsCfg), app.NewLogger(os.Stdout, cfg.LogLevel), os.Stdout)
	if err != nil {
		return err
	}
	lambda.Start(w.LambdaHandler())
	return nil
}

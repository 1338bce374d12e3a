// Command sweep is the scheduled Lambda function that sweeps the account and
// region for non-compliant resources and remediates them, publishing every
// outcome like the event path (log line with EMF, metrics, SNS).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return err
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

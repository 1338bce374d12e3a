// Command remediate is the Lambda function that receives AWS Config
// compliance change events and "AWS API Call via CloudTrail" events from
// EventBridge and remediates them.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/lambdart"
)

func main() { lambdart.Main("remediate", run) }

func run(ctx context.Context) error {
	cfg, err := app.Load(os.Getenv)
	if err != nil {
		return err
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	h, err := app.NewHandler(cfg, app.NewClients(awsCfg), app.NewLogger(os.Stdout, cfg.LogLevel))
	if err != nil {
		return err
	}
	lambda.Start(h.Invoke)
	return nil
}

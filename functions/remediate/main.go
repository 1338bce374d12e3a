// Command remediate is the Lambda function that receives AWS Config
// compliance change events from EventBridge and remediates them.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/lambdart"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "remediate:", err)
		// aws-lambda-go reports nothing when the function fails before
		// lambda.Start; without this the invoker sees only Runtime.ExitError.
		if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
			if rerr := lambdart.ReportInitError(api, "InitError", err); rerr != nil {
				fmt.Fprintln(os.Stderr, "remediate:", rerr)
			}
		}
		os.Exit(1)
	}
}

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
	lambda.Start(h.Handle)
	return nil
}

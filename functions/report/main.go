// Command report is the Lambda function that, on an EventBridge Scheduler
// schedule, builds the SOC 2 compliance report from Security Hub findings
// and the remediation metrics, writes it to S3 and announces it on SNS.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/lambdart"
	"github.com/autoremediate/autoremediate/report"
)

func main() { lambdart.Main("report", run) }

func run(ctx context.Context) error {
	h, err := newHandler(ctx, os.Getenv)
	if err != nil {
		return err
	}
	lambda.Start(h)
	return nil
}

// newHandler wires the report from the environment; the handler ignores
// its payload (EventBridge Scheduler sends whatever the schedule says).
func newHandler(ctx context.Context, getenv func(string) string) (func(context.Context, json.RawMessage) (report.Delivery, error), error) {
	gen, pub, logger, err := wire(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, _ json.RawMessage) (report.Delivery, error) {
		d, err := report.Run(ctx, gen, pub)
		if err != nil {
			logger.LogAttrs(ctx, slog.LevelError, "SOC 2 report failed", slog.String("error", err.Error()))
			return d, err
		}
		logger.LogAttrs(ctx, slog.LevelInfo, "SOC 2 report written", slog.Any("delivery", d))
		return d, nil
	}, nil
}

// wire builds the generator and the publisher as the CLI does
// (report.NewGenerator), reading findings in the function's own Region.
func wire(ctx context.Context, getenv func(string) string) (*report.Generator, *report.Publisher, *slog.Logger, error) {
	cfg, err := app.LoadReport(getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	mapping, err := report.DefaultMapping()
	if err != nil {
		return nil, nil, nil, err
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	clients := app.NewClients(awsCfg)
	logger := app.NewLogger(os.Stdout, cfg.LogLevel)
	gen := report.NewGenerator(report.Wiring{
		AWS:       awsCfg,
		Metrics:   clients.CloudWatch(),
		Namespace: cfg.Namespace,
		Period:    cfg.Period,
		Mapping:   mapping,
		Logger:    logger,

		IncludeCredentials: cfg.IncludeCredentials,
	})
	// The previous runs are the date directories under the prefix, where
	// the publisher writes each run's summary.json.
	gen.History = report.S3Store{API: clients.S3(), Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	gen.HistoryRuns = cfg.HistoryRuns
	pub := &report.Publisher{S3: clients.S3(), SNS: clients.SNS(), Bucket: cfg.Bucket, Prefix: cfg.Prefix, TopicARN: cfg.TopicARN, Region: awsCfg.Region, Logger: logger}
	return gen, pub, logger, nil
}

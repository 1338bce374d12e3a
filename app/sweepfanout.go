package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/autoremediate/autoremediate/sweep"
)

// SQS returns the SQS client.
func (c *Clients) SQS() *sqs.Client {
	return Memo(c, "sqs", func(cfg aws.Config) *sqs.Client { return sqs.NewFromConfig(cfg) })
}

// ErrNoStateTable is the fan-out's error without STATE_TABLE: the run's
// account-regions are counted there.
var ErrNoStateTable = errors.New("STATE_TABLE: required by the organisation sweep (SWEEP_ACCOUNTS or SWEEP_REGIONS): the finished account-regions are counted there")

// NewSweepFanOut wires the scheduled sweep function of an organisation
// sweep (sc.Org()): it plans with the central account's clients c and sends
// the account-regions to the sweep queue. Its log lines go to log.
func NewSweepFanOut(cfg Config, sc SweepConfig, c *Clients, log io.Writer) (*sweep.Planner, error) {
	if cfg.StateTable == "" {
		return nil, ErrNoStateTable
	}
	planner := NewSweepPlanner(cfg, c)
	return &sweep.Planner{
		Plan: func(ctx context.Context) ([]sweep.AccountRegion, []string, error) {
			return planner.Plan(ctx, sc.Accounts, sc.Regions)
		},
		Queue: c.SQS(), QueueURL: sc.QueueURL,
		Table: c.DynamoDB(), TableName: cfg.StateTable,
		Log: log,
	}, nil
}

// NewSweepWorker wires the sweep worker: each message's account-region is
// swept as by the organisation sweep (OrgSweeper, with the central
// account's clients c and their member roles), outcomes are published like
// the event path's (logger), and the run's summary goes to SNS_TOPIC_ARN
// and log.
func NewSweepWorker(cfg Config, c *Clients, logger *slog.Logger, log io.Writer) (*sweep.Worker, error) {
	if cfg.StateTable == "" {
		return nil, ErrNoStateTable
	}
	h, err := NewHandler(cfg, c, logger)
	if err != nil {
		return nil, err
	}
	org := NewOrgSweeper(cfg, c, h)
	return &sweep.Worker{
		Sweep: func(ctx context.Context, runID string, t sweep.AccountRegion) sweep.ScopeResult {
			return org.SweepScope(ctx, runID, t).Result()
		},
		Table: c.DynamoDB(), TableName: cfg.StateTable,
		SNS: c.SNS(), TopicARN: cfg.SNSTopicARN,
		Log: log,
	}, nil
}

// SweepRunID names a scheduled sweep run after the Lambda request that
// planned it: Lambda retries an asynchronous invocation under the same
// request ID, so a retried plan is the same run and its account-regions are
// counted once. Outside Lambda (no request ID) it is sweep-<unix time>.
func SweepRunID(requestID string, unix int64) string {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, requestID)
	if id == "" {
		return fmt.Sprintf("sweep-%d", unix)
	}
	return "sweep-" + id
}

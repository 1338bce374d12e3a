package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/sweep"
)

// orgSweepArgsProblem names what is wrong with --accounts, --regions and
// --parallel, or returns "".
func orgSweepArgsProblem(accounts, regions string, parallel int) string {
	if err := app.CheckSweepAccounts(accounts); err != nil {
		return "--accounts: " + err.Error()
	}
	if err := app.CheckSweepRegions(regions); err != nil {
		return "--regions: " + err.Error()
	}
	if parallel < 1 {
		return fmt.Sprintf("--parallel %d: want 1 or more", parallel)
	}
	return ""
}

// orgSweepRun is `remediate sweep --accounts ... --regions ...`.
type orgSweepRun struct {
	accounts, regions string
	parallel          int
	only              []string
	dryRun            bool
	concurrency       int
	json              bool
	terminal          bool
	prog              *progress
}

func (o orgSweepRun) run(ctx context.Context, c *cli, cfg app.Config, awsCfg aws.Config, logger *slog.Logger) int {
	// No rate limiter on the central configuration: each account-region
	// gets its own (app.NewOrgSweeper).
	clients := app.NewClients(awsCfg)
	h, err := app.NewHandler(cfg, clients, logger)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate sweep: %v\n", err)
		return exitBadArgs
	}
	// Notes go above the progress bar on a terminal.
	var notes io.Writer = c.stderr
	if o.terminal {
		notes = o.prog
	}
	targets, skipped, err := app.NewSweepPlanner(cfg, clients).Plan(ctx, o.accounts, o.regions)
	for _, s := range skipped {
		fmt.Fprintf(notes, "remediate sweep: skipped: %s\n", s)
	}
	switch {
	case errors.Is(err, sweep.ErrNothingToSweep):
		fmt.Fprintf(c.stderr, "remediate sweep: %v\n", err)
		return exitBadArgs
	case err != nil:
		fmt.Fprintf(c.stderr, "remediate sweep: %v\n", err)
		return exitFailed
	}
	org := app.NewOrgSweeper(cfg, clients, h)
	org.Only, org.DryRun, org.Concurrency, org.Parallel = o.only, o.dryRun, o.concurrency, o.parallel
	org.Progress = o.prog.Update
	org.ScopeDone = func(s sweep.ScopeReport, done, total int) {
		what := "not swept"
		if s.Report != nil {
			what = fmt.Sprintf("%d checks in %s", len(s.Report.Outcomes), s.Report.Duration.Round(time.Millisecond))
		}
		fmt.Fprintf(notes, "sweep: %d/%d account-regions done (%s: %s)\n", done, total, s.AccountRegion, what)
	}
	runID := fmt.Sprintf("sweep-%d", time.Now().Unix())
	accounts := map[string]bool{}
	for _, t := range targets {
		accounts[t.Account] = true
	}
	fmt.Fprintf(notes, "sweep %s: %s (%s), %d at once\n", runID, plural(len(targets), "account-region"), plural(len(accounts), "account"), min(o.parallel, len(targets)))
	rep := org.Run(ctx, runID, targets)
	archived := closePublisher(ctx, c, "sweep", h.Publisher)
	if o.json {
		if err := rep.WriteJSON(c.stdout); err != nil {
			fmt.Fprintf(c.stderr, "remediate sweep: %v\n", err)
			return exitFailed
		}
		for _, e := range rep.Errors() {
			fmt.Fprintf(c.stderr, "remediate sweep: %v\n", e)
		}
	} else {
		rep.WriteSummary(c.stdout)
	}
	if rep.Failed() || !archived {
		return exitFailed
	}
	return exitOK
}

// plural is "1 account" or "2 accounts".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

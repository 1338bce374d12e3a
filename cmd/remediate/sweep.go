package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/sweep"
)

// sweepHelp is the usage text; what the sweep lists comes from the
// remediators' definitions, so that a new remediator's listing shows up.
func sweepHelp(defs []remediators.Definition) string {
	return "Usage: remediate sweep [--dry-run] [--only NAMES] [--concurrency N] [--output text|json]\n" +
		"       [--accounts all|ID,ID] [--regions all|REGION,REGION] [--parallel N]\n\n" +
		wrapText("Lists every resource the remediators cover in the account and region of your "+
			"AWS credentials (or AWS_ENDPOINT_URL): "+listings(defs)+". Each goes through its remediators "+
			"exactly as a Config event would (same settings, modes, exemptions, outcomes; outcomes are "+
			"published to the log, metrics and SNS the same way).", 78) + "\n" + sweepHelpRest
}

// listings joins the descriptions of the definitions' listers, each
// listing once (by Key), in the definitions' order.
func listings(defs []remediators.Definition) string {
	seen := map[string]bool{}
	var out []string
	for _, d := range defs {
		for _, c := range d.Sweep {
			if seen[c.Lister.Key] {
				continue
			}
			seen[c.Lister.Key] = true
			desc := c.Lister.Description
			if desc == "" {
				desc = c.Lister.ResourceType // a lister without a description still shows up
			}
			out = append(out, desc)
		}
	}
	switch len(out) {
	case 0:
		return "nothing (no remediator has a sweep check)"
	case 1:
		return out[0]
	}
	return strings.Join(out[:len(out)-1], ", ") + " and " + out[len(out)-1]
}

// wrapText breaks text into lines of at most width characters at spaces
// (a longer word stays whole), each ending in a newline.
func wrapText(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		if n > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		}
		if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	if n > 0 {
		b.WriteByte('\n')
	}
	return b.String()
}

const sweepHelpRest = `Output: a progress bar on standard error (plain progress lines when it is not
a terminal), then a summary table per remediator and the compliance score on
standard output. --output json prints one outcome JSON object per line
instead. The compliance score is the share of checks (a resource against one
rule of one remediator) that are compliant or remediated, not counting
resources that no longer exist; exempt, dry-run, deferred, needs-manual and
failed checks count as not compliant. With no check to score it reads
"n/a (no checks)".

Requests are rate-limited per API on the client to stay under AWS's
published EC2 request limits, and retried with backoff when throttled.

Organisation: --accounts and --regions sweep other accounts and regions
than the credentials' own, every account-region in parallel (--parallel at
once), each with its own rate limits, as AWS's are per account and region.
--accounts all is the organisation's ACTIVE accounts (AWS Organizations
ListAccounts: run it in the management account or a delegated
administrator), --regions all the enabled regions; EXCLUDED_ACCOUNTS are
left out, and with REGIONS set only its regions are swept. Another account
is acted in as its member role (MEMBER_ROLE_NAME); an account-region whose
role cannot be assumed is reported as not swept, with what to fix, and the
others go on. The text output then has a table per account and one for the
organisation; every JSON outcome carries its account and region.

Exit status: 0 when nothing failed, 1 when a check, a listing or a delivery
failed, 2 for bad flags or settings (a missing region too).

Flags:
`

func runSweep(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dryRun := fs.Bool("dry-run", false, "change nothing: report what would change (same as MODE=dry-run)")
	var names onlyList
	fs.Var(&names, "only", "comma-separated `remediators` to run; repeat to add more (default: every enabled one)")
	concurrency := fs.Int("concurrency", 8, "checks in flight at once")
	output := fs.String("output", "text", "`format`: text (summary table) or json (outcome JSON lines)")
	accounts := fs.String("accounts", "", "`all` (the organisation's ACTIVE accounts) or comma-separated account IDs (default: the credentials' account)")
	regions := fs.String("regions", "", "`all` (the enabled regions) or comma-separated regions (default: the credentials' region)")
	parallel := fs.Int("parallel", app.DefaultSweepParallel, "account-regions swept at once (with --accounts or --regions)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), sweepHelp(remediators.Definitions())); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs // the flag package has printed the problem and the usage
	}
	if problem := sweepArgsProblem(fs.Args(), *output, *concurrency); problem != "" {
		fmt.Fprintf(c.stderr, "remediate sweep: %s (see remediate sweep --help)\n", problem)
		return exitBadArgs
	}
	if problem := orgSweepArgsProblem(*accounts, *regions, *parallel); problem != "" {
		fmt.Fprintf(c.stderr, "remediate sweep: %s (see remediate sweep --help)\n", problem)
		return exitBadArgs
	}
	if err := sweep.ValidateOnly(names, remediators.Catalog(remediators.Definitions())); err != nil {
		fmt.Fprintf(c.stderr, "remediate sweep: --only: %v\n", err)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate sweep: configuration: %v\n", err)
		return exitBadArgs
	}
	if err := sweep.ValidateOnlyEnabled(names, cfg.Enabled, remediators.Catalog(cfg.Definitions)); err != nil {
		fmt.Fprintf(c.stderr, "remediate sweep: --only: %v\n", err)
		return exitBadArgs
	}
	terminal := false
	if f, ok := c.stderr.(*os.File); ok {
		terminal = isTerminal(f)
	}
	// On a terminal, log lines are kept to warnings and errors unless
	// LOG_LEVEL says otherwise (outcome lines included), and written above
	// the progress bar, never inside it.
	if terminal && strings.TrimSpace(c.getenv("LOG_LEVEL")) == "" {
		cfg.LogLevel = slog.LevelWarn
	}
	prog := newProgress(c.stderr, terminal)
	logger := app.NewLogger(c.stderr, cfg.LogLevel)
	if terminal {
		logger = slog.New(levelFilter{app.NewLogger(prog, cfg.LogLevel).Handler(), cfg.LogLevel})
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "sweep", err)
	}
	if *accounts != "" || *regions != "" {
		o := orgSweepRun{accounts: *accounts, regions: *regions, parallel: *parallel, only: names, dryRun: *dryRun,
			concurrency: *concurrency, json: *output == "json", terminal: terminal, prog: prog}
		return o.run(ctx, c, cfg, awsCfg, logger)
	}
	sweep.NewRateLimiter(nil).AddTo(&awsCfg)
	clients := app.NewClients(awsCfg)
	h, err := app.NewHandler(cfg, clients, logger)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate sweep: %v\n", err)
		return exitBadArgs
	}
	sw := app.NewSweeper(cfg, clients, h)
	sw.Only, sw.DryRun, sw.Concurrency = names, *dryRun, *concurrency
	sw.Progress = prog.Update
	rep, err := sw.Run(ctx)
	archived := closePublisher(ctx, c, "sweep", h.Publisher)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate sweep: %v\n", err)
		return exitFailed
	}
	if *output == "json" {
		if err := rep.WriteJSON(c.stdout); err != nil {
			fmt.Fprintf(c.stderr, "remediate sweep: %v\n", err)
			return exitFailed
		}
		for _, e := range append(rep.ListErrors, rep.PublishErrors...) {
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

// sweepArgsProblem names what is wrong with the arguments left after the
// flags and the flag values, or returns "".
func sweepArgsProblem(rest []string, output string, concurrency int) string {
	switch {
	case len(rest) > 0:
		return fmt.Sprintf("unexpected argument %q: sweep takes flags only", rest[0])
	case output != "text" && output != "json":
		return fmt.Sprintf("--output %q: want text or json", output)
	case concurrency < 1:
		return fmt.Sprintf("--concurrency %d: want 1 or more", concurrency)
	}
	return ""
}

// onlyList is the --only flag: comma-separated remediator names, and every
// repetition of the flag adds to the list.
type onlyList []string

func (l *onlyList) String() string { return strings.Join(*l, ",") }

func (l *onlyList) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*l = append(*l, n)
		}
	}
	return nil
}

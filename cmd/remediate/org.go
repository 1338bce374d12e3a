package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/orgcheck"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/sweep"
)

const orgHelp = `Usage: remediate org check [--accounts all|ID,ID] [--regions all|REGION,REGION] [--output text|json]

  check  assume each member role and report, per account and region, what
         works and what is missing

Run "remediate org check --help" for its flags.
`

func runOrg(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := c.stdout
		if len(args) == 0 {
			w = c.stderr
		}
		fmt.Fprint(w, orgHelp)
		if len(args) == 0 {
			return exitBadArgs
		}
		return exitOK
	}
	if args[0] == "check" {
		return runOrgCheck(ctx, c, args[1:])
	}
	fmt.Fprintf(c.stderr, "remediate org: unknown subcommand %q\n\n%s", args[0], orgHelp)
	return exitBadArgs
}

const orgCheckHelp = `Usage: remediate org check [--accounts all|ID,ID] [--regions all|REGION,REGION] [--output text|json]

Run with the central account's credentials (the ones the functions have, or
an administrator's that may assume the member roles). For each account it
assumes the member role (MEMBER_ROLE_NAME, with MEMBER_ROLE_EXTERNAL_ID),
exactly as the functions do; in each region it runs the sweep's listings
(the read calls the pipeline makes there) and asks IAM's policy simulator,
as the member role, whether the role may make every call the enabled
remediators need (iam:SimulatePrincipalPolicy on itself, which the member
stack grants). Nothing is changed. The central account itself is checked
with your own credentials, without a member role.

Each finding is ok, missing (with what to do about it) or unchecked (the
check could not run, e.g. a region that is not enabled). Accounts in
EXCLUDED_ACCOUNTS are skipped.

Exit status: 0 when nothing is missing; 1 when something is; 2 for bad
flags or settings.

Flags:
`

func runOrgCheck(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("org check", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	accountsFlag := fs.String("accounts", "all", "`all` (the organisation's ACTIVE accounts, from AWS Organizations) or comma-separated account IDs")
	regionsFlag := fs.String("regions", "", "`all` (the enabled regions) or comma-separated regions (default: REGIONS, else the credentials' region)")
	output := fs.String("output", "text", "`text` (a table per account) or json (one finding per line)")
	concurrency := fs.Int("concurrency", 8, "account-regions checked at once")
	fs.Usage = func() { fmt.Fprint(fs.Output(), orgCheckHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "remediate org check: unexpected argument %q (see remediate org check --help)\n", fs.Arg(0))
		return exitBadArgs
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(c.stderr, "remediate org check: --output %q is not text or json\n", *output)
		return exitBadArgs
	}
	if *concurrency < 1 {
		fmt.Fprintf(c.stderr, "remediate org check: --concurrency %d is not at least 1\n", *concurrency)
		return exitBadArgs
	}
	if err := app.CheckSweepAccounts(*accountsFlag); err != nil {
		fmt.Fprintf(c.stderr, "remediate org check: --accounts: %v\n", err)
		return exitBadArgs
	}
	if err := app.CheckSweepRegions(*regionsFlag); err != nil {
		fmt.Fprintf(c.stderr, "remediate org check: --regions: %v\n", err)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate org check: configuration: %v\n", err)
		return exitBadArgs
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "org check", err)
	}
	clients := app.NewClients(awsCfg)
	accounts, regions, skipped, err := orgTargets(ctx, cfg, clients, *accountsFlag, *regionsFlag)
	for _, sk := range skipped {
		fmt.Fprintf(c.stderr, "remediate org check: skipped: %s\n", sk)
	}
	if errors.Is(err, sweep.ErrNothingToSweep) {
		fmt.Fprintln(c.stderr, "remediate org check: no account-region is left to check (see EXCLUDED_ACCOUNTS and REGIONS)")
		return exitBadArgs
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate org check: %v\n", err)
		return exitFailed
	}
	terminal := false
	if f, ok := c.stderr.(*os.File); ok {
		terminal = isTerminal(f)
	}
	chk := &orgcheck.Checker{Scopes: app.NewScopes(cfg, clients).OrgCheck(), Definitions: remediators.Enabled(cfg.Definitions, cfg.Enabled), RunID: fmt.Sprint(time.Now().Unix()), Concurrency: *concurrency,
		Progress: func(done, total int) {
			if terminal {
				fmt.Fprintf(c.stderr, "\rchecked %d of %d account-regions", done, total)
			} else {
				fmt.Fprintf(c.stderr, "org check: %d of %d account-regions checked\n", done, total)
			}
		}}
	findings := chk.Run(ctx, accounts, regions)
	if terminal {
		fmt.Fprintln(c.stderr)
	}
	if *output == "json" {
		enc := json.NewEncoder(c.stdout)
		for _, f := range findings {
			_ = enc.Encode(f)
		}
	} else {
		printFindings(c, findings)
	}
	if orgcheck.Failed(findings) {
		return exitFailed
	}
	return exitOK
}

// printFindings writes a table per account and a closing count.
func printFindings(c *cli, fs []orgcheck.Finding) {
	counts := map[string]int{}
	account := ""
	var tw *tabwriter.Writer
	for _, f := range fs {
		if f.Account != account {
			if tw != nil {
				tw.Flush()
				fmt.Fprintln(c.stdout)
			}
			account = f.Account
			fmt.Fprintf(c.stdout, "Account %s\n", account)
			tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REGION\tCHECK\tSTATUS\tDETAIL")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Region, f.Check, f.Status, f.Detail)
		counts[f.Status]++
	}
	if tw != nil {
		tw.Flush()
		fmt.Fprintln(c.stdout)
	}
	fmt.Fprintf(c.stdout, "%d ok, %d missing, %d unchecked\n", counts[orgcheck.StatusOK], counts[orgcheck.StatusMissing], counts[orgcheck.StatusUnchecked])
}

// orgTargets resolves --accounts and --regions as the organisation sweep
// does (app.SweepPlanner): the accounts and the regions, in order, and what
// was skipped. An empty --regions is REGIONS, else the credentials' region.
func orgTargets(ctx context.Context, cfg app.Config, clients *app.Clients, accountsFlag, regionsFlag string) (accounts, regions, skipped []string, err error) {
	if strings.TrimSpace(regionsFlag) == "" {
		regionsFlag = strings.Join(cfg.Regions, ",")
	}
	targets, skipped, err := app.NewSweepPlanner(cfg, clients).Plan(ctx, accountsFlag, regionsFlag)
	if err != nil {
		return nil, nil, skipped, err
	}
	for _, t := range targets {
		if !contains(accounts, t.Account) {
			accounts = append(accounts, t.Account)
		}
		if !contains(regions, t.Region) {
			regions = append(regions, t.Region)
		}
	}
	return accounts, regions, skipped, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

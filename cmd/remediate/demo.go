package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/internal/demo"
)

const demoHelp = `Usage: remediate demo [--watch] [--interval 5s] [--dashboard demo/dashboard.html] [--log FILE] [--simulate-failure]
       remediate demo --accounts N [--log FILE]

Runs the whole production pipeline on a local AWS emulator, without an AWS
account, along both of its paths. It starts moto_server on a free loopback
port (stopped at the end, also on Ctrl-C) and, in front of it, a stand-in
for CloudTrail: a recording proxy that turns every S3 and EC2 change made
through it into an "AWS API Call via CloudTrail" event on the EventBridge
bus, naming the principal who signed the call (moto records no calls).

It builds an insecure account (public and unencrypted buckets, a website
bucket, an exempt bucket, IMDSv1 instances, unencrypted volumes, EBS
encryption by default off), then deploys the pipeline as terraform/ wires
it: the Config rule's and the CloudTrail rules' event patterns routing to a
queue in place of the Lambda function, the DynamoDB state table, and the
function's own handler code with IGNORE_ACTOR_ARNS listing the pipeline's
roles and FLAP_LIMIT=3.

The Config path: a stand-in for AWS Config evaluates the resources and puts
a "Config Rules Compliance Change" event on the bus for each non-compliant
one. The CloudTrail path: a developer's new misconfigurations, made through
the proxy, are fixed from their API call events; another automation that
re-opens a bucket after each fix ends escalated once the flap limit is
reached. The pipeline's own fixes go through the proxy too and are dropped
by the CloudTrail rules' pattern (counted). The demo prints the SNS
notifications, the outcomes with their trigger and time to fix (from the
API call, or from Config's notification, to the verified fix, as the
dashboard's TimeToRemediate measures it), the compliance score before and
after, and writes the dashboard page.

--watch keeps running: the command printed lets you misconfigure a bucket
through the CloudTrail stand-in from another terminal and see it fixed from
its event within the second; the Config stand-in re-evaluates every
--interval and catches changes made straight to the emulator.

By default nothing fails: the account ends compliant except the website
bucket's public access, the bucket tagged auto-remediation=off, the instance
whose IMDSv1 use defers the fix, the volume that needs a manual migration and
the bucket the other automation keeps re-opening (escalated: a human settles
it).
--simulate-failure adds the failure path: a bucket demo-restricted-data whose
encryption a service control policy denies. The policy is SIMULATED (the
emulator has no Organizations SCPs): an SDK middleware in the demo makes
PutBucketEncryption on that bucket fail with AccessDenied. The function's fix
fails, Lambda's retries fail too, the event lands in the dead-letter queue, a
high-severity notification goes out and the bucket stays unencrypted. The
summary counts that failed check once; the dashboard counts failed outcomes,
one per attempt.

The demo runs with its own settings (enforce mode, METRICS_MODE=api, its own
topic and state table, IGNORE_ACTOR_ARNS, FLAP_LIMIT=3); the pipeline's settings in the environment are checked like for the
other commands (exit 2 when one is bad) but not used.

--accounts N runs the organisation demo instead: AWS Organizations on the
emulator with N member accounts (at least 2), the member role in each but
the last (whose member stack was never deployed), the same
misconfigurations in every account, the central one included, in two
regions (EBS encryption by default off and an instance accepting IMDSv1 in
each, a bucket without a public access block), and one central function
(REGIONS, MEMBER_ROLE_EXTERNAL_ID set) handling every account's Config
events. A stand-in for STS (a proxy in front of the emulator, which grants
every AssumeRole) denies the AssumeRole into the missing role as STS does
and records which account's key signed each call. It prints a table per
account: events, fixed, compliant (read back with the account's own
credentials), failed, AssumeRole calls and writes, and the failed member's
message with what to do. With make: make demo ARGS=--accounts=3.

Exit status: 0 when the demo ran to the end (also with --simulate-failure,
whose failure is the point, and when Ctrl-C stops --watch); 1 when it could
not run (moto_server missing or failing, the pipeline not done in time, the
dashboard not written); 2 for bad flags or settings.

Flags:
`

// maxDemoAccounts bounds --accounts: each member account costs the
// emulator a second or so.
const maxDemoAccounts = 50

func runDemo(ctx context.Context, c *cli, args []string) int {
	opts, logPath, code, ok := parseDemo(c, args)
	if !ok {
		return code
	}
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			fmt.Fprintf(c.stderr, "remediate demo: %v\n", err)
			return exitBadArgs
		}
		defer f.Close()
		opts.Log = f
	}
	if opts.DashboardPath != "" {
		if err := os.MkdirAll(filepath.Dir(opts.DashboardPath), 0o755); err != nil {
			fmt.Fprintf(c.stderr, "remediate demo: %v\n", err)
			return exitFailed
		}
	}
	if _, err := demo.Run(ctx, opts); err != nil {
		if errors.Is(err, context.Canceled) {
			return exitOK
		}
		fmt.Fprintf(c.stderr, "remediate demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// parseDemo reads the flags into the demo's options; when ok is false the
// command ends with code (--help, bad arguments).
func parseDemo(c *cli, args []string) (opts demo.Options, logPath string, code int, ok bool) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	watch := fs.Bool("watch", false, "keep running (calls through the CloudTrail stand-in are fixed at once; the Config stand-in re-evaluates) until Ctrl-C")
	interval := fs.Duration("interval", 5*time.Second, "how often the Config stand-in re-evaluates in --watch mode")
	dashboard := fs.String("dashboard", filepath.Join("demo", "dashboard.html"), "where to write the dashboard page (empty: none)")
	archiveDir := fs.String("archive", filepath.Join("demo", "archive"), "`DIR` that receives every outcome in the outcome archive's layout, as ARCHIVE_DIR (empty: none)")
	fs.StringVar(&logPath, "log", "", "write the handler's structured outcome log lines to `FILE`")
	simulateFailure := fs.Bool("simulate-failure", false, "add a bucket whose fix a simulated service control policy denies: one failed outcome, a dead-letter message")
	accounts := fs.Int("accounts", 0, "run the organisation demo with `N` member accounts (at least 2; the last one without its member role)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), demoHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, "", exitOK, false
		}
		return opts, "", exitBadArgs, false
	}
	if fs.NArg() > 0 || *interval <= 0 {
		fmt.Fprintln(c.stderr, "remediate demo: bad arguments (see remediate demo --help)")
		return opts, "", exitBadArgs, false
	}
	if *accounts != 0 {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		var others []string
		for _, name := range []string{"watch", "interval", "dashboard", "simulate-failure", "archive"} {
			if set[name] {
				others = append(others, "--"+name)
			}
		}
		switch {
		case *accounts < 2 || *accounts > maxDemoAccounts:
			fmt.Fprintf(c.stderr, "remediate demo: --accounts %d: give from 2 to %d member accounts (the last one is left without its member role)\n", *accounts, maxDemoAccounts)
			return opts, "", exitBadArgs, false
		case len(others) > 0:
			fmt.Fprintf(c.stderr, "remediate demo: %s: not with --accounts (the organisation demo has neither watch mode, simulated failure nor dashboard)\n", strings.Join(others, ", "))
			return opts, "", exitBadArgs, false
		}
		return demo.Options{Out: c.stdout, Accounts: *accounts}, logPath, exitOK, true
	}
	opts = demo.Options{Out: c.stdout, Watch: *watch, Interval: *interval, DashboardPath: *dashboard, SimulateFailure: *simulateFailure, ArchiveDir: *archiveDir}
	return opts, logPath, exitOK, true
}

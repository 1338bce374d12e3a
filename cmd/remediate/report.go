package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/credentials"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/report"
)

const reportHelp = `Usage: remediate report <soc2|credentials|evidence> [flags]

  soc2         SOC 2 compliance report from AWS Security Hub findings
               (report.md, findings.csv, accounts.csv, report.html)
  credentials  audit of the IAM credential report against the CIS AWS
               Foundations Benchmark v3.0.0 credential controls
  evidence     audit evidence pack: per-resource compliance timelines from
               AWS Config's history and the outcome archive, with hashes

Run "remediate report <subcommand> --help" for its flags.
`

func runReport(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := c.stdout
		if len(args) == 0 {
			w = c.stderr
		}
		fmt.Fprint(w, reportHelp)
		if len(args) == 0 {
			return exitBadArgs
		}
		return exitOK
	}
	switch args[0] {
	case "soc2":
		return runReportSOC2(ctx, c, args[1:])
	case "credentials":
		return runReportCredentials(ctx, c, args[1:])
	case "evidence":
		return runReportEvidence(ctx, c, args[1:])
	}
	fmt.Fprintf(c.stderr, "remediate report: unknown subcommand %q\n\n%s", args[0], reportHelp)
	return exitBadArgs
}

const soc2Help = `Usage: remediate report soc2 --out DIR [--period 7d] [--region r1,r2] [--history 12]

Reads the active, failed, not suppressed AWS Security Hub findings of each
Region (every page), maps their controls to SOC 2 trust services criteria
(report/soc2_mapping.csv), adds the remediation outcomes the pipeline
published to CloudWatch over the period (namespace METRICS_NAMESPACE), and
writes DIR/report.md, DIR/findings.csv, DIR/accounts.csv (the breakdown by
account), DIR/report.html and DIR/summary.json. Prints the paths.

Trends: each run keeps its summary (counts, compliance score per standard,
failing findings) in DIR/summary.json, and reads the summaries of the last
--history runs from DIR's sibling directories (ordered by name). Give each
run its own directory under one parent, named by date so they sort in time:
  remediate report soc2 --out reports/2026-11-23   (the date of the run)

The remediation metrics are read in the Region of AWS_REGION (or the
profile's), which is needed even with --region. For an organisation, run it
in the central account: its Security Hub (the delegated administrator's,
with cross-Region aggregation) has the member accounts' findings, and its
CloudWatch every account's outcomes.

The report also has the active threats (GuardDuty) and vulnerabilities
(Amazon Inspector) that Security Hub holds, each as a section and as
DIR/threats.csv and DIR/vulnerabilities.csv, and says in which Regions a
product sends no findings. --include credentials adds the IAM credential
audit of "remediate report credentials" as a section mapped to SOC 2 CC6.x
(it needs iam:GenerateCredentialReport and iam:GetCredentialReport; if the
audit fails, the section says why and the rest is written).

Exit status: 0 when written, 1 when AWS could not be read (Security Hub not
enabled, access denied, throttling) or the files not written, 2 for bad flags
or settings (a missing region too).

Flags:
`

func runReportSOC2(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("report soc2", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	out := fs.String("out", "", "`DIR` to write the files to (created if missing)")
	periodFlag := fs.String("period", "7d", "remediation activity period: `N`d, or a Go duration such as 36h")
	history := fs.Int("history", report.DefaultHistoryRuns, "trends over the last `N` runs (sibling directories of --out); 0 reads none")
	var regions []string
	fs.Func("region", "`REGION`s to read findings from, comma-separated or repeated (default: AWS_REGION)", func(v string) error {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				regions = append(regions, r)
			}
		}
		return nil
	})
	include := fs.String("include", "", "optional `SECTIONS`, comma-separated: credentials (the IAM credential audit)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), soc2Help); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(c.stderr, "remediate report soc2: --out DIR is required")
		return exitBadArgs
	}
	if *history < 0 {
		fmt.Fprintf(c.stderr, "remediate report soc2: --history %d: want a number of runs, 0 or more\n", *history)
		return exitBadArgs
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: --out %s: %v\n", *out, err)
		return exitBadArgs
	}
	period, err := parsePeriod(*periodFlag)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: --period: %v\n", err)
		return exitBadArgs
	}
	withCredentials, err := report.ParseInclude(*include)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: --include: %v\n", err)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: configuration: %v\n", err)
		return exitBadArgs
	}
	mapping, err := report.DefaultMapping()
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: %v\n", err)
		return exitFailed
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "report soc2", err)
	}
	gen := report.NewGenerator(report.Wiring{
		AWS:       awsCfg,
		Metrics:   app.NewClients(awsCfg).CloudWatch(),
		Regions:   regions,
		Namespace: cfg.MetricsNamespace,
		Period:    period,
		Mapping:   mapping,
		Logger:    app.NewLogger(c.stderr, cfg.LogLevel),

		IncludeCredentials: withCredentials,
	})
	// The previous runs are the sibling directories of --out.
	gen.History = report.DirStore{Dir: filepath.Dir(outDir), Run: filepath.Base(outDir)}
	gen.HistoryRuns = *history
	r, err := gen.Generate(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: %v\n", err)
		return exitFailed
	}
	files, err := r.Files()
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: %v\n", err)
		return exitFailed
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(c.stderr, "remediate report soc2: creating %s: %v\n", *out, err)
		return exitFailed
	}
	for _, f := range files {
		path := filepath.Join(*out, f.Name)
		if err := os.WriteFile(path, f.Body, 0o644); err != nil {
			fmt.Fprintf(c.stderr, "remediate report soc2: writing %s: %v\n", path, err)
			return exitFailed
		}
		fmt.Fprintln(c.stdout, path)
	}
	if r.Total() == 0 {
		fmt.Fprintf(c.stderr, "remediate report soc2: no active failed findings in %s (is the AWS Foundational Security Best Practices standard enabled?)\n", strings.Join(gen.Regions, ", "))
	} else {
		fmt.Fprintf(c.stderr, "remediate report soc2: %d findings (%d critical, %d high) in %d accounts, %d unmapped\n",
			r.Total(), r.SeverityCount(report.SeverityCritical), r.SeverityCount(report.SeverityHigh), len(r.AccountsWithFindings()), len(r.Unmapped))
	}
	if r.Activity.Err != "" {
		fmt.Fprintf(c.stderr, "remediate report soc2: remediation activity unavailable: %s\n", r.Activity.Err)
	} else if r.Activity.AccountsErr != "" {
		fmt.Fprintf(c.stderr, "remediate report soc2: remediation activity by account unavailable: %s\n", r.Activity.AccountsErr)
	}
	fmt.Fprintf(c.stderr, "remediate report soc2: %s\n", r.ProductsSummary())
	for _, p := range []report.ProductSection{r.Threats.ProductSection, r.Vulnerabilities.ProductSection} {
		if note := p.NotSendingText(); note != "" {
			fmt.Fprintf(c.stderr, "remediate report soc2: %s\n", note)
		}
	}
	if r.Credentials != nil && r.Credentials.Err != "" {
		fmt.Fprintf(c.stderr, "remediate report soc2: IAM credential audit unavailable: %s\n", r.Credentials.Err)
	}
	return exitOK
}

// parsePeriod accepts "7d" or a Go duration.
func parsePeriod(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days such as 7d", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is neither Nd nor a duration such as 36h", s)
		}
	}
	if d < time.Minute || d > 455*24*time.Hour {
		return 0, fmt.Errorf("%q is outside 1 minute to 455 days (CloudWatch's retention)", s)
	}
	return d, nil
}

const credentialsHelp = `Usage: remediate report credentials [--output table|csv|json] [--out DIR]
                                  [--deactivate-unused-keys [--yes]]

Generates the IAM credential report (waiting until it is ready), and checks
every user against the CIS AWS Foundations Benchmark v3.0.0 credential
controls: 1.4 root access keys, 1.7 recent root use, 1.10 console users
without MFA, 1.12 passwords and access keys unused for 45 days or more,
1.13 users with two active access keys, 1.14 access keys older than 90 days.
Each finding names the control and the fix.

--out DIR also writes DIR/credentials.csv and DIR/credentials.json.

--deactivate-unused-keys deactivates active access keys unused for 45 days
or more (CIS 1.12). Without --yes it is a dry run. It prints one outcome
JSON line per key on standard output (the findings then go to standard
error, evaluated before any change; with --yes they are labelled so) and publishes the outcomes like the remediators do (log line,
metrics per METRICS_MODE, SNS_TOPIC_ARN). Root keys are never touched.

Exit status: 0 when the audit ran, 1 when AWS could not be read or a key
change failed, 2 for bad flags or settings (a missing region too).

Flags:
`

func runReportCredentials(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("report credentials", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	output := fs.String("output", credentials.FormatTable, "`FORMAT` on the terminal: table, csv or json")
	out := fs.String("out", "", "`DIR` to also write credentials.csv and credentials.json to")
	deactivate := fs.Bool("deactivate-unused-keys", false, "deactivate access keys unused for 45+ days (dry run unless --yes)")
	yes := fs.Bool("yes", false, "with --deactivate-unused-keys: really deactivate")
	asOf := fs.String("as-of", "", "evaluate ages as of this `DATE` (RFC 3339 or YYYY-MM-DD) instead of now; not allowed with --yes")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for IAM to generate the report")
	fs.Usage = func() { fmt.Fprint(fs.Output(), credentialsHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "remediate report credentials: unexpected argument %q\n", fs.Arg(0))
		return exitBadArgs
	}
	switch *output {
	case credentials.FormatTable, credentials.FormatCSV, credentials.FormatJSON:
	default:
		fmt.Fprintf(c.stderr, "remediate report credentials: --output %q is not table, csv or json\n", *output)
		return exitBadArgs
	}
	if *yes && !*deactivate {
		fmt.Fprintln(c.stderr, "remediate report credentials: --yes only applies with --deactivate-unused-keys")
		return exitBadArgs
	}
	now := time.Now
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			if t, err = time.Parse("2006-01-02", *asOf); err != nil {
				fmt.Fprintf(c.stderr, "remediate report credentials: --as-of %q is not RFC 3339 or YYYY-MM-DD\n", *asOf)
				return exitBadArgs
			}
		}
		if *yes {
			fmt.Fprintln(c.stderr, "remediate report credentials: --as-of cannot be combined with --yes: keys are only deactivated on their real age")
			return exitBadArgs
		}
		now = func() time.Time { return t }
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "report credentials", err)
	}
	api := iam.NewFromConfig(awsCfg)
	rep, err := (&credentials.Fetcher{API: api, Timeout: *timeout}).Fetch(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report credentials: %v\n", err)
		return exitFailed
	}
	th := credentials.DefaultThresholds()
	findings := credentials.Check(rep.Rows, now(), th)

	findingsOut := c.stdout
	if *deactivate {
		findingsOut = c.stderr // standard output carries the outcome lines
	}
	if *yes {
		// The findings are not evaluated again after the changes: IAM
		// generates a new credential report at most every 4 hours, so a
		// second read would show the same key states.
		fmt.Fprintf(c.stderr, "remediate report credentials: findings BEFORE the changes below (credential report generated %s):\n",
			rep.GeneratedAt.UTC().Format(time.RFC3339))
	}
	if err := credentials.Write(findingsOut, *output, findings); err != nil {
		fmt.Fprintf(c.stderr, "remediate report credentials: writing findings: %v\n", err)
		return exitFailed
	}
	if *out != "" {
		if err := writeCredentialFiles(c.stderr, *out, findings); err != nil {
			fmt.Fprintf(c.stderr, "remediate report credentials: %v\n", err)
			return exitFailed
		}
	}
	if !*deactivate {
		return exitOK
	}
	return deactivateKeys(ctx, c, api, rep.Rows, findings, th, *yes, now)
}

func writeCredentialFiles(w io.Writer, dir string, findings []credentials.Finding) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, f := range []struct{ name, format string }{{"credentials.csv", credentials.FormatCSV}, {"credentials.json", credentials.FormatJSON}} {
		path := filepath.Join(dir, f.name)
		file, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		werr := credentials.Write(file, f.format, findings)
		if cerr := file.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("writing %s: %w", path, werr)
		}
		fmt.Fprintln(w, path)
	}
	return nil
}

func deactivateKeys(ctx context.Context, c *cli, api credentials.KeyAPI, rows []credentials.Row, findings []credentials.Finding,
	th credentials.Thresholds, apply bool, now func() time.Time) int {
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate report credentials: configuration: %v\n", err)
		return exitBadArgs
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "report credentials", err)
	}
	pub := app.NewPublisher(cfg, app.NewClients(awsCfg), app.NewLogger(c.stderr, cfg.LogLevel))
	d := &credentials.Deactivator{API: api, Thresholds: th, Apply: apply, Now: now}
	code := exitOK
	enc := json.NewEncoder(c.stdout)
	outcomes := d.Run(ctx, rows, findings)
	for _, o := range outcomes {
		if err := enc.Encode(o); err != nil {
			fmt.Fprintf(c.stderr, "remediate report credentials: writing outcome: %v\n", err)
			return exitFailed
		}
		if err := pub.Publish(ctx, o); err != nil {
			code = exitFailed
		}
		if o.Action == remediation.ActionFailed {
			code = exitFailed
		}
	}
	if !closePublisher(ctx, c, "report credentials", pub) {
		code = exitFailed
	}
	if len(outcomes) == 0 {
		fmt.Fprintf(c.stderr, "remediate report credentials: no active access key unused for %d days or more\n", th.UnusedDays)
	}
	deactivated := 0
	for _, o := range outcomes {
		if o.Action == remediation.ActionRemediated {
			deactivated++
		}
	}
	if deactivated > 0 {
		keys := "1 access key"
		if deactivated > 1 {
			keys = fmt.Sprintf("%d access keys", deactivated)
		}
		fmt.Fprintf(c.stderr, "remediate report credentials: %s deactivated; the findings above were evaluated before this change (IAM generates a new credential report at most every 4 hours)\n", keys)
	}
	return code
}

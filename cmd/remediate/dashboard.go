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

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/dashboard"
	"github.com/autoremediate/autoremediate/terraform"
)

const dashboardHelp = `Usage: remediate dashboard --out FILE [flags]

Renders the CloudWatch compliance dashboard that terraform/ deploys (the same
widgets and metric queries, from terraform/templates/dashboard.json.tftpl) as
one self-contained HTML page with charts, from CloudWatch GetMetricData in
the account and region of your AWS credentials (or AWS_ENDPOINT_URL). It
needs cloudwatch:GetMetricData and cloudwatch:ListMetrics. SEARCH
expressions are evaluated with ListMetrics on the client, so the page is the
same against AWS and against emulators.

Exit status: 0 when the page is written with every widget's data; 1 when a
widget's data could not be fetched (the page is still written, with the
error in that widget), when CloudWatch cannot be reached (no page) or the
page cannot be written; 2 for bad flags or settings (a missing region too).

Flags:
`

func runDashboard(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	out := fs.String("out", "", "write the page to `FILE` (required)")
	namespace := fs.String("namespace", "", "metrics namespace (default: METRICS_NAMESPACE or AutoRemediation)")
	function := fs.String("function-name", "autoremediate-remediate", "the remediate Lambda function's name")
	dlq := fs.String("dlq-name", "autoremediate-dead-letters", "the dead-letter queue's name")
	hours := fs.Int("hours", 24, "time range: the last `N` hours")
	percentiles := fs.String("percentiles", "auto", "on, off (draw p50 as Average and p99 as Maximum, for emulators that compute no percentiles) or auto (off when AWS_ENDPOINT_URL is set)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), dashboardHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if problem := dashboardArgsProblem(fs.Args(), *out, *hours, *percentiles); problem != "" {
		fmt.Fprintf(c.stderr, "remediate dashboard: %s (see remediate dashboard --help)\n", problem)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate dashboard: configuration: %v\n", err)
		return exitBadArgs
	}
	if *namespace == "" {
		*namespace = cfg.MetricsNamespace
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "dashboard", err)
	}
	noPct := *percentiles == "off" || (*percentiles == "auto" && strings.TrimSpace(c.getenv("AWS_ENDPOINT_URL")) != "")
	page, widgets, err := render(ctx, app.NewClients(awsCfg), dashboard.Vars{Namespace: *namespace, Region: awsCfg.Region, FunctionName: *function, DLQName: *dlq},
		dashboard.Options{Start: time.Now().Add(-time.Duration(*hours) * time.Hour), NoPercentiles: noPct})
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate dashboard: %v\n", err)
		return exitFailed
	}
	if dir := filepath.Dir(*out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(c.stderr, "remediate dashboard: %v\n", err)
			return exitFailed
		}
	}
	if err := os.WriteFile(*out, page, 0o644); err != nil {
		fmt.Fprintf(c.stderr, "remediate dashboard: writing the page: %v\n", err)
		return exitFailed
	}
	code := exitOK
	for _, w := range widgets {
		if w.Err != "" {
			fmt.Fprintf(c.stderr, "remediate dashboard: widget %q: %s\n", w.Widget.Properties.Title, w.Err)
			code = exitFailed
		}
	}
	fmt.Fprintf(c.stdout, "wrote %s (%d widgets)\n", *out, len(widgets))
	return code
}

// dashboardArgsProblem names what is wrong with the arguments left after
// the flags and the flag values, or returns "".
func dashboardArgsProblem(rest []string, out string, hours int, percentiles string) string {
	switch {
	case len(rest) > 0:
		return fmt.Sprintf("unexpected argument %q: dashboard takes flags only", rest[0])
	case out == "":
		return "--out FILE is required"
	case hours < 1:
		return fmt.Sprintf("--hours %d: want 1 or more", hours)
	case percentiles != "auto" && percentiles != "on" && percentiles != "off":
		return fmt.Sprintf("--percentiles %q: want on, off or auto", percentiles)
	}
	return ""
}

func render(ctx context.Context, clients *app.Clients, vars dashboard.Vars, opts dashboard.Options) ([]byte, []dashboard.Rendered, error) {
	body, err := terraform.RenderDashboard(vars.Map())
	if err != nil {
		return nil, nil, err
	}
	return dashboard.Render(ctx, clients.CloudWatch(), body, opts)
}

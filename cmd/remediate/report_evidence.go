package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/archive"
	"github.com/autoremediate/autoremediate/evidence"
)

const evidenceHelp = `Usage: remediate report evidence --from DATE [--to DATE] --out DIR
                                [--resource ARN|ID] [--rule NAME] [--region r1,r2]
                                [--archive-dir DIR | --archive-bucket BUCKET[/PREFIX]]

The audit evidence pack: for every resource concerned (in the outcome
archive over the period, or evaluated by the rules concerned), a timeline
merging AWS Config's compliance history and configuration history with the
archived outcomes: when it became non-compliant, who changed it (when
known), when it was fixed and verified, and how long it was exposed. Totals
per rule (exposure p50, p95, max), failed and escalated cases still open,
and where AWS Config was not recording. Writes DIR/evidence.md,
DIR/timeline.csv, DIR/evidence.html, DIR/manifest.json (each file's SHA-256
and the inputs) and DIR/SHA256SUMS (check with: cd DIR && sha256sum -c
SHA256SUMS). Prints the paths; progress goes to standard error.

DATE is YYYY-MM-DD (UTC; as --to, the end of that day) or RFC 3339. --from
is required; --to defaults to now and is capped at now.

The archive is --archive-dir or --archive-bucket, by default the settings
ARCHIVE_DIR or ARCHIVE_BUCKET. AWS Config is read in the credentials'
account, in --region, by default REGIONS (or AWS_REGION); resources of other
accounts are listed with a note that their Config history was not read.

Exit status: 0 when written, 1 when the archive or AWS could not be read or
the files not written, 2 for bad flags or settings (a missing region too).

Flags:
`

func runReportEvidence(ctx context.Context, c *cli, args []string) int {
	const name = "remediate report evidence"
	fs := flag.NewFlagSet("report evidence", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fromFlag := fs.String("from", "", "start of the period: `DATE` (YYYY-MM-DD or RFC 3339)")
	toFlag := fs.String("to", "", "end of the period: `DATE` (default now)")
	out := fs.String("out", "", "`DIR` to write the files to (created if missing)")
	resource := fs.String("resource", "", "only this resource: its `ARN or ID`")
	rule := fs.String("rule", "", "only this Config rule: its `NAME`")
	archiveDir := fs.String("archive-dir", "", "outcome archive `DIR` (default ARCHIVE_DIR)")
	archiveBucket := fs.String("archive-bucket", "", "outcome archive `BUCKET[/PREFIX]` (default ARCHIVE_BUCKET)")
	var regions []string
	fs.Func("region", "`REGION`s to read AWS Config in, comma-separated or repeated (default REGIONS, else AWS_REGION)", func(v string) error {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				regions = append(regions, r)
			}
		}
		return nil
	})
	fs.Usage = func() { fmt.Fprint(fs.Output(), evidenceHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		return exitBadArgs
	}
	if *out == "" || *fromFlag == "" {
		fmt.Fprintf(c.stderr, "%s: --from DATE and --out DIR are required\n", name)
		return exitBadArgs
	}
	now := time.Now().UTC()
	from, err := parseDate(*fromFlag, false)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: --from: %v\n", name, err)
		return exitBadArgs
	}
	to := now
	if *toFlag != "" {
		if to, err = parseDate(*toFlag, true); err != nil {
			fmt.Fprintf(c.stderr, "%s: --to: %v\n", name, err)
			return exitBadArgs
		}
		if to.After(now) {
			to = now // an open case counts until now, not into the future
		}
	}
	if !from.Before(to) {
		fmt.Fprintf(c.stderr, "%s: --from %s is not before --to %s\n", name, from.Format(time.RFC3339), to.Format(time.RFC3339))
		return exitBadArgs
	}
	if *archiveDir == "" && *archiveBucket == "" {
		*archiveDir, *archiveBucket = c.getenv("ARCHIVE_DIR"), c.getenv("ARCHIVE_BUCKET")
	}
	if *archiveDir != "" && *archiveBucket != "" {
		fmt.Fprintf(c.stderr, "%s: give the archive as a directory or a bucket, not both\n", name)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: configuration: %v\n", name, err)
		return exitBadArgs
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "report evidence", err)
	}
	if len(regions) == 0 {
		regions = cfg.Regions
	}
	if len(regions) == 0 {
		regions = []string{awsCfg.Region}
	}
	clients := app.NewClients(awsCfg)
	f := evidence.Filter{Resource: *resource, Rule: *rule}

	var arch *archive.ReadResult
	switch {
	case *archiveDir != "":
		fmt.Fprintf(c.stderr, "%s: reading the outcome archive in %s\n", name, *archiveDir)
		arch, err = archive.ReadDir(*archiveDir, from, to)
	case *archiveBucket != "":
		bucket, prefix := archive.ParseBucket(*archiveBucket)
		fmt.Fprintf(c.stderr, "%s: reading the outcome archive in %s\n", name, archive.Location("", *archiveBucket))
		arch, err = archive.ReadBucket(ctx, clients.S3(), bucket, prefix, from, to)
	default:
		fmt.Fprintf(c.stderr, "%s: no outcome archive (ARCHIVE_DIR, ARCHIVE_BUCKET, --archive-dir or --archive-bucket): the timelines hold AWS Config's history only\n", name)
		arch = &archive.ReadResult{}
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", name, err)
		return exitFailed
	}
	for _, m := range arch.Malformed {
		fmt.Fprintf(c.stderr, "%s: archive line not read: %s\n", name, m)
	}

	account, err := app.OwnAccount(clients)(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: finding the account of the credentials: %v\n", name, err)
		return exitFailed
	}
	keys, rules := evidence.Concerned(arch.Outcomes, f)
	fmt.Fprintf(c.stderr, "%s: %d outcomes on %d resources in the archive; reading AWS Config in %s (%s)\n", name, len(arch.Outcomes), len(keys), account, strings.Join(regions, ", "))
	col := &evidence.Collector{Account: account, Regions: regions, Progress: c.stderr,
		Client: func(region string) evidence.ConfigAPI {
			return app.Memo(clients, "configservice/"+region, func(cfg aws.Config) *configservice.Client {
				return configservice.NewFromConfig(cfg, func(o *configservice.Options) { o.Region = region })
			})
		}}
	data, err := col.Collect(ctx, from, to, keys, rules, f)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", name, err)
		return exitFailed
	}
	rep := evidence.Build(evidence.Input{From: from, To: to, GeneratedAt: now, Filter: f, Outcomes: arch.Outcomes, Archive: arch, Config: data, Tool: evidence.BuildTool(version)})
	files, err := rep.Files()
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", name, err)
		return exitFailed
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(c.stderr, "%s: creating %s: %v\n", name, *out, err)
		return exitFailed
	}
	for _, file := range files {
		path := filepath.Join(*out, file.Name)
		if err := os.WriteFile(path, file.Body, 0o644); err != nil {
			fmt.Fprintf(c.stderr, "%s: writing %s: %v\n", name, path, err)
			return exitFailed
		}
		fmt.Fprintln(c.stdout, path)
		if file.Name == evidence.ManifestFile {
			fmt.Fprintf(c.stderr, "%s: %s SHA-256 %x (keep it with the pack's hand-over record)\n", name, evidence.ManifestFile, sha256.Sum256(file.Body))
		}
	}
	gaps := len(rep.GapLines()) + len(rep.Notes)
	fmt.Fprintf(c.stderr, "%s: %d resources, %d non-compliant periods (%d open, %d failed or escalated), %d gaps in AWS Config's evidence\n",
		name, len(rep.Resources), countEpisodes(rep), rep.OpenEpisodes(), len(rep.OpenCases), gaps)
	return exitOK
}

func countEpisodes(r *evidence.Report) int {
	n := 0
	for _, res := range r.Resources {
		n += len(res.Episodes)
	}
	return n
}

// parseDate reads YYYY-MM-DD (UTC midnight; as an end, the next midnight,
// so that --to names the last day included) or RFC 3339.
func parseDate(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYYY-MM-DD nor RFC 3339", s)
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

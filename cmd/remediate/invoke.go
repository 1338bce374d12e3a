package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/remediation"
)

const invokeHelp = `Usage: remediate invoke --event FILE [--dry-run]

Runs AWS Config "Config Rules Compliance Change" events and "AWS API Call
via CloudTrail" events (aws.s3, aws.ec2) through exactly the handler code the
remediate Lambda function runs, in the event's account and region: the
account of your AWS credentials (AWS_PROFILE or the usual credential
variables) with them, any other account as its member role
(MEMBER_ROLE_NAME), or an emulator with AWS_ENDPOINT_URL (S3 then uses
path-style addressing).

It reads the same settings as the Lambda function from the environment:
MODE (enforce | dry-run), REMEDIATOR_MODES, ENABLED_REMEDIATORS, RULE_MAP
(rule-name=remediator,...), EXEMPT_TAG_KEY, S3_WEBSITE_GUARD,
S3_SSE_ALGORITHM, S3_KMS_KEY_ARN, EBS_KMS_KEY_ID, EBS_MIGRATION
(off | unattached | all), EBS_MIGRATION_DELETE_ORIGINAL_AFTER,
EBS_MIGRATION_STUCK_AFTER, IMDS_LOOKBACK_DAYS, SG_BLOCKED_PORTS, IGNORE_ACTOR_ARNS, STATE_TABLE, FLAP_LIMIT, FLAP_WINDOW,
MEMBER_ROLE_NAME, MEMBER_ROLE_EXTERNAL_ID, EXCLUDED_ACCOUNTS, REGIONS,
SNS_TOPIC_ARN, METRICS_NAMESPACE, METRICS_MODE (emf | api | both | off),
LOG_LEVEL, and ARCHIVE_DIR / ARCHIVE_BUCKET (bucket or bucket/prefix), which
keep every outcome in the outcome archive's layout (docs/archive.md);
docs/configuration.md lists every setting with its default.

FILE holds one event, a JSON array of events, or one event per line
(JSON lines); "-" reads standard input. Every event is checked before any is
run: if one is not a valid compliance change or CloudTrail event, nothing
runs.

Output: one outcome JSON object per line on standard output, in input order:
one per compliance change event, and one per resource and remediator for a
CloudTrail event (a RunInstances call that started three instances yields
three; a failed or unknown call one ignored outcome); structured logs on
standard error.

Ctrl-C stops after the event being handled: the events not yet started
are not attempted (no outcome), and standard error says how many.

Exit status: 0 when no outcome is failed; 1 when an outcome is failed or
could not be published, or when interrupted before the last event; 2 for
bad flags, bad settings (a missing region too) or input that is not a valid
event.

Flags:
`

func runInvoke(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	eventPath := fs.String("event", "", "`FILE` with the event(s); - for standard input")
	dryRun := fs.Bool("dry-run", false, "change nothing (same as MODE=dry-run)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), invokeHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if *eventPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(c.stderr, "remediate invoke: --event FILE is required (- for standard input)")
		return exitBadArgs
	}
	data, err := readInput(c, *eventPath)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate invoke: %v\n", err)
		return exitBadArgs
	}
	evs, err := parseEvents(data)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate invoke: %s: %v\n", *eventPath, err)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate invoke: configuration: %v\n", err)
		return exitBadArgs
	}
	if *dryRun {
		cfg.Mode, cfg.RemediatorModes = remediation.ModeDryRun, nil
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "invoke", err)
	}
	h, err := app.NewHandler(cfg, app.NewClients(awsCfg), app.NewLogger(c.stderr, cfg.LogLevel))
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate invoke: %v\n", err)
		return exitBadArgs
	}
	code := invokeAll(ctx, c, h, evs)
	if !closePublisher(ctx, c, "invoke", h.Publisher) {
		code = exitFailed
	}
	return code
}

// closePublisher writes what the outcome publisher still holds (the
// ARCHIVE_BUCKET objects of the run) and reports a failure on standard
// error; false means the command must exit 1.
func closePublisher(ctx context.Context, c *cli, cmd string, p remediation.Publisher) bool {
	if err := app.ClosePublisher(ctx, p); err != nil {
		fmt.Fprintf(c.stderr, "remediate %s: %v\n", cmd, err)
		return false
	}
	return true
}

// eventTimeout bounds one event once Ctrl-C no longer can: the Lambda
// function's own default timeout.
const eventTimeout = 60 * time.Second

// invokeAll runs the events in order. Once ctx ends (Ctrl-C), the events
// not yet started are not attempted: they get no outcome, and one line on
// standard error says which.
func invokeAll(ctx context.Context, c *cli, h *remediation.Handler, evs []events.Event) int {
	code := exitOK
	enc := json.NewEncoder(c.stdout)
	for i, ev := range evs {
		if ctx.Err() != nil {
			which := fmt.Sprintf("event %d", i+1)
			if i+1 < len(evs) {
				which = fmt.Sprintf("events %d to %d", i+1, len(evs))
			}
			fmt.Fprintf(c.stderr, "remediate invoke: interrupted: %d of %d events not attempted (%s of the input): %v\n", len(evs)-i, len(evs), which, context.Cause(ctx))
			return exitFailed
		}
		// The event in hand finishes, its AWS calls and its delivery
		// included: Ctrl-C only keeps the next events from starting. A
		// half-done remediation would be reported as failed (or leave a
		// fix unverified and unpublished).
		evCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
		outs, err := handleOne(evCtx, h, ev)
		cancel()
		for _, o := range outs {
			if encErr := enc.Encode(o); encErr != nil {
				fmt.Fprintf(c.stderr, "remediate invoke: writing outcome: %v\n", encErr)
				return exitFailed
			}
		}
		if err != nil {
			code = exitFailed
			if msg := unreportedErrors(err); msg != "" {
				fmt.Fprintf(c.stderr, "remediate invoke: %s\n", msg)
			}
		}
	}
	return code
}

// handleOne runs one event of either kind.
func handleOne(ctx context.Context, h *remediation.Handler, ev events.Event) ([]remediation.Outcome, error) {
	switch ev := ev.(type) {
	case *events.CloudTrailEvent:
		return h.HandleCloudTrail(ctx, ev)
	case *events.ComplianceChangeEvent:
		o, err := h.HandleEvent(ctx, ev)
		return []remediation.Outcome{o}, err
	}
	return nil, fmt.Errorf("event %q: unexpected kind %T", ev.EventID(), ev)
}

// unreportedErrors returns the errors the outcome lines do not already
// show: a failed outcome is on standard output, a publishing error is not.
func unreportedErrors(err error) string {
	var msgs []string
	var visit func(error)
	visit = func(err error) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				visit(e)
			}
			return
		}
		var failed *remediation.OutcomeError
		if err != nil && !errors.As(err, &failed) {
			msgs = append(msgs, err.Error())
		}
	}
	visit(err)
	return strings.Join(msgs, "; ")
}

func readInput(c *cli, path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	return b, nil
}

// parseEvents accepts one event, a JSON array of events, or JSON lines, and
// validates every event before returning any.
func parseEvents(data []byte) ([]events.Event, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("no events in input")
	}
	var raws []json.RawMessage
	if trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, fmt.Errorf("not a JSON array of events: %w", err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", len(raws)+1, &events.ParseError{Kind: events.ErrNotJSON, Err: err})
			}
			raws = append(raws, raw)
		}
	}
	if len(raws) == 0 {
		return nil, errors.New("no events in input")
	}
	var problems []string
	evs := make([]events.Event, 0, len(raws))
	for i, raw := range raws {
		ev, err := events.Parse(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("event %d: %v", i+1, err))
			continue
		}
		evs = append(evs, ev)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return evs, nil
}

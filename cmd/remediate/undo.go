package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediation"
)

const undoHelp = `Usage: remediate undo --outcome FILE [--dry-run] [--force] [--no-exempt]

Reverts remediated outcomes: puts back what each outcome recorded as before,
through the remediator that made the change, in the outcome's account and
region (the account of your AWS credentials with them, any other account as
its member role, MEMBER_ROLE_NAME).

Each revert reads the resource first and refuses (needs-manual, nothing
written) when it has changed since the outcome, that is when it no longer
looks like the outcome's after; --force reverts anyway. Then it writes and
reads back to verify. What each remediator restores is in docs/undo.md.

So that the pipeline does not fix a reverted resource straight back (the
revert's own write is a CloudTrail event; Config and the sweep find it
later), undo first tags it EXEMPT_TAG_KEY=off (and
autoremediate:reverted-at=<when>), once the check says the revert is going
to be made; remove the tag to hand the resource back to the pipeline. The
account's EBS encryption default has no tag: the outcome says how to keep
the pipeline off it. --no-exempt reverts without the tag.

FILE ("-" for standard input) holds outcomes as the pipeline prints or
sends them, in any mix:
  - outcome JSON, as printed by remediate invoke and remediate sweep
    --output json: one object, a JSON array, or one per line;
  - SNS messages: the notification (its Message is the outcome JSON), also
    as delivered to SQS (the notification in the message Body), an
    aws sqs receive-message answer, or a Lambda SNS/SQS event;
  - log lines of the function (the outcome fields at the top level, beside
    level, msg and the _aws metrics block), or aws logs filter-log-events
    output.
Every value is read before anything is reverted: if one is not an outcome,
nothing runs. Outcomes that are not remediated are skipped with a line on
standard error. When one resource has several remediated outcomes of the
same remediator, only the latest is undone (it holds the state before the
last fix).

Output: one outcome JSON object per line on standard output, like invoke:
action reverted (dry-run with --dry-run; needs-manual when refused; gone,
ignored or failed), trigger undo, event ID undo-<the original's>. Each is
also published like every outcome (log line, metrics, SNS). A tagged
resource's outcome has the tags in after (exemptTags).

It reads the pipeline's settings from the environment like invoke
(ENABLED_REMEDIATORS, MEMBER_ROLE_NAME, EXCLUDED_ACCOUNTS, REGIONS,
SNS_TOPIC_ARN, METRICS_MODE, ...); MODE and REMEDIATOR_MODES do not apply
(--dry-run does).

Exit status: 0 when every remediated outcome was reverted (or, with
--dry-run, would be); 1 when one was refused, failed (its tag could not be
set, too), gone or ignored, or an outcome could not be published; 2 for bad flags, bad settings (a missing
region too) or input that is not outcomes.

Flags:
`

func runUndo(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("undo", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("outcome", "", "`FILE` with the outcome(s); - for standard input")
	dryRun := fs.Bool("dry-run", false, "change nothing: report what would be restored")
	force := fs.Bool("force", false, "revert even when the resource has changed since the outcome")
	noExempt := fs.Bool("no-exempt", false, "do not tag the reverted resources with the exemption tag: the pipeline fixes them again")
	fs.Usage = func() { fmt.Fprint(fs.Output(), undoHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(c.stderr, "remediate undo: --outcome FILE is required (- for standard input)")
		return exitBadArgs
	}
	data, err := readInput(c, *path)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate undo: %v\n", err)
		return exitBadArgs
	}
	outs, err := parseOutcomes(data)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate undo: %s: %v\n", *path, err)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate undo: configuration: %v\n", err)
		return exitBadArgs
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "undo", err)
	}
	clients := app.NewClients(awsCfg)
	h, err := app.NewHandler(cfg, clients, app.NewLogger(c.stderr, cfg.LogLevel))
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate undo: %v\n", err)
		return exitBadArgs
	}
	mode := remediation.ModeEnforce
	if *dryRun {
		mode = remediation.ModeDryRun
	}
	u := undoRun{mode: mode, force: *force, noExempt: *noExempt, actor: app.CallerARN(ctx, clients), exemptKey: cfg.Remediators.ExemptTagKey}
	code := u.all(ctx, c, h, outs)
	// The reverted outcomes go to the outcome archive like any other.
	if !closePublisher(ctx, c, "undo", h.Publisher) {
		code = exitFailed
	}
	return code
}

// undoRun is one `remediate undo`: its flags and who runs it.
type undoRun struct {
	mode      remediation.Mode
	force     bool
	noExempt  bool // --no-exempt: the resources are not tagged
	actor     string
	exemptKey string
}

// all reverts the remediated outcomes in input order (the latest of each
// resource), printing each result. Once ctx ends (Ctrl-C) the rest are not
// attempted.
func (u undoRun) all(ctx context.Context, c *cli, h *remediation.Handler, outs []remediation.Outcome) int {
	code := exitOK
	enc := json.NewEncoder(c.stdout)
	todo := latestRemediated(outs)
	reverted, tagged := 0, 0
	for i, o := range outs {
		skip, ok := todo[i]
		if !ok {
			skip = fmt.Sprintf("is %s, not remediated", orNone(string(o.Action)))
		}
		if skip != "" {
			fmt.Fprintf(c.stderr, "remediate undo: outcome %d (%s on %s %q, event %s) %s: skipped\n",
				i+1, orNone(o.Remediator), orNone(o.ResourceType), o.ResourceID, orNone(o.EventID), skip)
			continue
		}
		if ctx.Err() != nil {
			fmt.Fprintf(c.stderr, "remediate undo: interrupted: outcome %d and the ones after it not attempted: %v\n", i+1, context.Cause(ctx))
			return exitFailed
		}
		// As in invoke, the revert in hand finishes: a half-done one would
		// be neither verified nor published.
		oneCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
		res, err := h.Revert(oneCtx, remediation.Undo{Outcome: o, Mode: u.mode, Force: u.force, Actor: u.actor, Exempt: !u.noExempt})
		cancel()
		if encErr := enc.Encode(res); encErr != nil {
			fmt.Fprintf(c.stderr, "remediate undo: writing outcome: %v\n", encErr)
			return exitFailed
		}
		if msg := unreportedErrors(err); msg != "" {
			fmt.Fprintf(c.stderr, "remediate undo: %s\n", msg)
			code = exitFailed
		}
		switch res.Action {
		case remediation.ActionReverted:
			reverted++
			if _, ok := res.After[remediation.ExemptTagsKey]; ok {
				tagged++
			}
		case remediation.ActionDryRun:
		default:
			code = exitFailed
		}
	}
	if len(todo) == 0 || allSkipped(todo) {
		fmt.Fprintln(c.stderr, "remediate undo: no remediated outcome in the input: nothing to undo")
	}
	if u.mode != remediation.ModeEnforce || reverted == 0 {
		return code
	}
	key := u.exemptKey
	if key == "" {
		key = "auto-remediation"
	}
	if tagged > 0 {
		fmt.Fprintf(c.stderr, "remediate undo: note: %d reverted resource(s) tagged %s=off, so that the pipeline leaves them as restored; remove the tag to hand one back to the pipeline\n", tagged, key)
	}
	if untagged := reverted - tagged; untagged > 0 {
		why := "could not be tagged (each outcome's reason says why)"
		if u.noExempt {
			why = "not tagged (--no-exempt)"
		}
		fmt.Fprintf(c.stderr, "remediate undo: note: %d reverted resource(s) %s: the pipeline fixes them again at its next event (the undo's own change, as CloudTrail reports it, unless your credentials are in IGNORE_ACTOR_ARNS) or sweep; to keep one as it is, tag it %s=off or run its remediator in dry-run (REMEDIATOR_MODES)\n", untagged, why, key)
	}
	return code
}

// latestRemediated picks the outcomes to undo: by input index, "" for an
// outcome to revert, else why it is skipped; an index missing from the
// map is not a remediated outcome. Of several remediated outcomes of one
// remediator on one resource only the latest is undone: its before is
// the state before the last fix, and the older ones' after no longer
// matches once it is undone.
func latestRemediated(outs []remediation.Outcome) map[int]string {
	picks := map[int]string{}
	latest := map[string]int{}
	for i, o := range outs {
		if o.Action != remediation.ActionRemediated {
			continue
		}
		key := strings.Join([]string{o.Remediator, o.Account, o.Region, o.ResourceType, o.ResourceID}, "|")
		picks[i] = ""
		prev, seen := latest[key]
		if !seen {
			latest[key] = i
			continue
		}
		older, newer := prev, i
		if outs[i].CompletedAt.Before(outs[prev].CompletedAt) {
			older, newer = i, prev
		}
		latest[key] = newer
		if outs[older].EventID == outs[newer].EventID && outs[older].CompletedAt.Equal(outs[newer].CompletedAt) {
			picks[older] = fmt.Sprintf("is outcome %d again (the same outcome from another source)", newer+1)
		} else {
			picks[older] = fmt.Sprintf("is older than outcome %d of the same remediator and resource, which is undone instead", newer+1)
		}
		picks[newer] = ""
	}
	return picks
}

func allSkipped(todo map[int]string) bool {
	for _, why := range todo {
		if why == "" {
			return false
		}
	}
	return true
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// outcomeKeys are the outcome JSON's fields; a log line's other members
// (time, level, msg, warning, _aws and the EMF metric and dimension
// members, whose names differ only in case from some of these) are left
// out before it is read as an outcome.
var outcomeKeys = []string{"remediator", "rule", "resourceType", "resourceId", "account", "region", "action", "reason",
	"before", "after", "durationMs", "error", "eventId", "trigger", "actor", "actedAs", "detectedAt", "completedAt"}

// parseOutcomes reads every outcome in the input (see undoHelp for the
// forms) before any is acted on.
func parseOutcomes(data []byte) ([]remediation.Outcome, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("no outcomes in input")
	}
	var values []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("value %d is not JSON: %w", len(values)+1, err)
		}
		values = append(values, raw)
	}
	var outs []remediation.Outcome
	var problems []string
	for i, v := range values {
		got, err := outcomesIn(v, 0)
		if err != nil {
			problems = append(problems, fmt.Sprintf("value %d: %v", i+1, err))
			continue
		}
		outs = append(outs, got...)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if len(outs) == 0 {
		return nil, errors.New("no outcomes in input")
	}
	return outs, nil
}

// outcomesIn reads the outcomes one JSON value carries: an outcome, a log
// line, or one of the envelopes around them (an array, an SNS
// notification, an SQS message, a Lambda event, a ReceiveMessage or
// FilterLogEvents answer), whose strings hold JSON again.
func outcomesIn(raw json.RawMessage, depth int) ([]remediation.Outcome, error) {
	if depth > 8 {
		return nil, errors.New("nested too deeply")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		var outs []remediation.Outcome
		for i, it := range items {
			got, err := outcomesIn(it, depth+1)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i+1, err)
			}
			outs = append(outs, got...)
		}
		return outs, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("neither an outcome nor a list or message of outcomes")
	}
	// Envelopes: the first member found says which.
	for _, env := range []struct {
		key  string
		list bool
	}{
		{"Records", true}, {"Messages", true}, {"events", true}, // Lambda event, SQS ReceiveMessage, CloudWatch Logs FilterLogEvents
		{"Sns", false},                                                           // one record of a Lambda SNS event
		{"Message", false}, {"Body", false}, {"body", false}, {"message", false}, // SNS notification, SQS message, log event
	} {
		v, ok := m[env.key]
		if !ok {
			continue
		}
		if env.list {
			return outcomesIn(v, depth+1)
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			got, err := outcomesIn(json.RawMessage(s), depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", env.key, err)
			}
			return got, nil
		}
		return outcomesIn(v, depth+1)
	}
	// The publisher's line for an outcome it could not deliver carries the
	// outcome as a member.
	if o, ok := m["outcome"]; ok && bytes.HasPrefix(bytes.TrimSpace(o), []byte("{")) {
		return outcomesIn(o, depth+1)
	}
	if _, ok := m["action"]; !ok {
		return nil, errors.New("neither an outcome (no action) nor a list or message of outcomes")
	}
	if _, ok := m["resourceId"]; !ok {
		return nil, errors.New("not an outcome: no resourceId")
	}
	fields := map[string]json.RawMessage{}
	for _, k := range outcomeKeys {
		if v, ok := m[k]; ok {
			fields[k] = v
		}
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	var o remediation.Outcome
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("not an outcome: %w", err)
	}
	return []remediation.Outcome{o}, nil
}

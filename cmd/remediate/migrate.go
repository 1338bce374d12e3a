package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

const migrateHelp = `Usage: remediate migrate-volume VOLUME_ID [--dry-run] [--wait] [--region REGION]

Migrates one unencrypted EBS volume to an encrypted copy, with the same
state machine the pipeline runs for EBS_MIGRATION (docs/ebs-migration.md):
snapshot -> encrypted volume with the same zone, size, type, IOPS,
throughput and tags -> for an attached volume: stop the instance, detach the
original, attach the copy at the same device, restore DeleteOnTermination,
start the instance again if it was running -> verify. The original volume is
kept, tagged autoremediate:migrated-to=NEW_VOLUME_ID.

Naming the volume is consent to migrate it, whatever EBS_MIGRATION says
(and whatever the exemption tag, EXEMPT_TAG_KEY=off, which keeps the
pipeline's automatic runs away from it, says: a note on standard error
mentions it).
An attached volume is migrated only if its instance is tagged
autoremediate:stop-allowed=true: the migration stops the instance (downtime),
so its owner opts in; otherwise the outcome is needs-manual and nothing is
changed.

It acts in the account of your AWS credentials, in the region of --region,
else AWS_REGION (or the AWS_PROFILE's region), else REGIONS' first.

Without --wait it moves the migration on as far as it can without waiting
more than a few seconds for any one thing (one run of the pipeline) and
says where it stands: run it again to go on. The pipeline continues a
migration under way whatever EBS_MIGRATION says, but only when it looks at
the volume: its sweep lists unattached volumes (and an original the
migration detached) only with EBS_MIGRATION unattached or all. With --wait
it runs again every --interval until the migration is done or failed.
Ctrl-C stops after the run in hand; the same command resumes it.

--dry-run prints the plan, every API call the migration would make from the
volume's current state and the downtime it would cause, and changes
nothing; so does MODE=dry-run (or ebs-encryption=dry-run in
REMEDIATOR_MODES), the pipeline's safety switch.

Output: the outcome JSON on standard output, like invoke (rule
encrypted-volumes, remediator ebs-encryption, trigger cli): remediated with
the original and new volume IDs in before / after, in-progress with the
step and the snapshot's progress, dry-run with the plan in after, or
needs-manual, exempt (migrated earlier), compliant (encrypted), gone or
failed. It is also published like every outcome (log line, metrics, SNS,
ARCHIVE_DIR / ARCHIVE_BUCKET). Progress on standard error: the snapshot's
percentage as a bar on a terminal, then each step as it completes (plain
lines when standard error is not a terminal).

Exit status: 0 when the volume is migrated (or was, or is encrypted), the
migration is under way (without --wait) or with --dry-run when it would be
migrated; 1 when it failed, was refused (needs-manual), the volume does not
exist, the outcome could not be published, or --wait was interrupted;
2 for bad arguments or settings (a missing region too).

Flags:
`

// migrateDefaultInterval is how long --wait waits between runs: a snapshot
// takes minutes, an instance stop tens of seconds.
const migrateDefaultInterval = 5 * time.Second

// migrateRule is the rule a migration's outcome is reported under: the
// managed rule that flags unencrypted volumes.
const migrateRule = "encrypted-volumes"

var (
	volumeIDArg = regexp.MustCompile(`^vol-([0-9a-f]{8}|[0-9a-f]{17})$`)
	regionArg   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

func runMigrateVolume(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("migrate-volume", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dryRun := fs.Bool("dry-run", false, "print the plan (API calls and downtime) and change nothing")
	wait := fs.Bool("wait", false, "run again every --interval until the migration is done or failed")
	interval := fs.Duration("interval", migrateDefaultInterval, "time between runs with --wait (at least 1s)")
	region := fs.String("region", "", "`REGION` of the volume (default: AWS_REGION, else REGIONS' first)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), migrateHelp); fs.PrintDefaults() }
	// The volume ID comes first in the usage, and flags may follow it.
	var ids []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitBadArgs
		}
		if fs.NArg() == 0 {
			break
		}
		ids, rest = append(ids, fs.Arg(0)), fs.Args()[1:]
	}
	if problem := migrateArgsProblem(ids, *region, *interval, *dryRun, *wait); problem != "" {
		fmt.Fprintf(c.stderr, "remediate migrate-volume: %s (see remediate migrate-volume --help)\n", problem)
		return exitBadArgs
	}
	cfg, err := app.Load(c.getenv)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate migrate-volume: configuration: %v\n", err)
		return exitBadArgs
	}
	// MODE and REMEDIATOR_MODES are the pipeline's safety switch: in
	// dry-run the command plans and changes nothing, as invoke would.
	if mode := (remediation.Modes{Default: cfg.Mode, Per: cfg.RemediatorModes}).For(remediators.EBSEncryptionName); mode == remediation.ModeDryRun && !*dryRun {
		fmt.Fprintf(c.stderr, "remediate migrate-volume: note: %s runs in dry-run (MODE / REMEDIATOR_MODES): planning only, nothing is changed\n", remediators.EBSEncryptionName)
		*dryRun, *wait = true, false
	}
	awsCfg, err := migrateAWSConfig(ctx, *region, cfg.Regions)
	if err != nil {
		return awsConfigFailed(c, "migrate-volume", err)
	}
	if len(cfg.Regions) > 0 && !slices.Contains(cfg.Regions, awsCfg.Region) {
		fmt.Fprintf(c.stderr, "remediate migrate-volume: note: region %s is not in REGIONS (%s): the pipeline does not act there, so only this command continues the migration\n",
			awsCfg.Region, strings.Join(cfg.Regions, ","))
	}
	terminal := false
	if f, ok := c.stderr.(*os.File); ok {
		terminal = isTerminal(f)
	}
	show := newMigrateDisplay(c.stderr, terminal)
	// As in sweep: on a terminal the log lines are kept to warnings and
	// errors unless LOG_LEVEL says otherwise, and never land inside the bar.
	logger := app.NewLogger(c.stderr, cfg.LogLevel)
	if terminal {
		if strings.TrimSpace(c.getenv("LOG_LEVEL")) == "" {
			cfg.LogLevel = slog.LevelWarn
		}
		logger = slog.New(levelFilter{app.NewLogger(show, cfg.LogLevel).Handler(), cfg.LogLevel})
	}
	clients := app.NewClients(awsCfg)
	pub := app.NewPublisher(cfg, clients, logger)
	actor := app.CallerARN(ctx, clients)
	account := ""
	if a, err := arn.Parse(actor); err == nil {
		account = a.AccountID
	}
	m := migrateRun{
		ec2: clients.EC2(), opts: cfg.Remediators, pub: pub,
		account: account, region: awsCfg.Region, actor: actor, volumeID: ids[0],
		dryRun: *dryRun, wait: *wait, interval: *interval, show: show,
	}
	code := m.run(ctx, c)
	if !closePublisher(ctx, c, "migrate-volume", pub) {
		code = exitFailed
	}
	return code
}

// migrateArgsProblem names what is wrong with the arguments, or returns "".
func migrateArgsProblem(ids []string, region string, interval time.Duration, dryRun, wait bool) string {
	switch {
	case len(ids) == 0:
		return "VOLUME_ID is required"
	case len(ids) > 1:
		return fmt.Sprintf("one VOLUME_ID at a time, got %d (%s)", len(ids), strings.Join(ids, " "))
	case !volumeIDArg.MatchString(ids[0]):
		return fmt.Sprintf("%q is not an EBS volume ID (vol- and 8 or 17 hex digits)", ids[0])
	case region != "" && !regionArg.MatchString(region):
		return fmt.Sprintf("--region %q is not an AWS region name like eu-west-1", region)
	case interval < time.Second:
		return fmt.Sprintf("--interval %s: want at least 1s", interval)
	case dryRun && wait:
		return "--dry-run and --wait do not go together: a dry run changes nothing to wait for"
	}
	return ""
}

// migrateAWSConfig loads the SDK configuration for the region of the
// command: --region, else the SDK's own (AWS_REGION, the profile's), else
// REGIONS' first.
func migrateAWSConfig(ctx context.Context, region string, regions []string) (aws.Config, error) {
	cfg, err := app.LoadAWSConfig(ctx)
	if err == nil {
		if region != "" {
			cfg.Region = region
		}
		return cfg, nil
	}
	if region == "" && len(regions) > 0 {
		region = regions[0]
	}
	if !errors.Is(err, app.ErrNoRegion) || region == "" {
		return cfg, err
	}
	// app.LoadAWSConfig refuses a configuration without a region; this is
	// the same one with the region given.
	cfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryer(app.NewRetryer), awsconfig.WithRegion(region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return cfg, nil
}

// migrateRun is one `remediate migrate-volume`.
type migrateRun struct {
	ec2      remediators.VolumeMigrationAPI
	opts     remediators.Options
	pub      remediation.Publisher
	account  string
	region   string
	actor    string
	volumeID string
	dryRun   bool
	wait     bool
	interval time.Duration
	show     *migrateDisplay
	// sleep waits between runs with --wait (sleepFor when nil); now is the
	// clock (time.Now when nil).
	sleep func(context.Context, time.Duration) error
	now   func() time.Time
}

func (m *migrateRun) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

func sleepFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// run migrates (or plans), publishes the final outcome, prints it and
// returns the exit status.
func (m *migrateRun) run(ctx context.Context, c *cli) int {
	start := m.clock()
	o := remediation.Outcome{
		Remediator: remediators.EBSEncryptionName, Rule: migrateRule, ResourceType: remediators.ResourceTypeVolume,
		ResourceID: m.volumeID, Account: m.account, Region: m.region,
		EventID: fmt.Sprintf("migrate-volume-%s-%d", m.volumeID, start.UnixMilli()),
		Trigger: remediation.TriggerCLI, Actor: m.actor,
	}
	// Every call runs to its end once started: a half-done step after an
	// instance stop would be a failure and a rollback. Ctrl-C only keeps
	// the next run from starting.
	stepCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	}
	vctx, cancel := stepCtx()
	cur := m.read(vctx)
	cancel()
	m.show.begin(m.volumeID, m.account, m.region, cur, m.dryRun)
	interrupted := false
	var res remediation.Result
	var last remediators.MigrationStatus
	if m.dryRun {
		vctx, cancel := stepCtx()
		res = m.plan(vctx, cur)
		cancel()
	} else {
		migrator := remediators.NewVolumeMigrator(m.ec2, m.opts)
		// A run in hand can take several seconds: say at once that
		// Ctrl-C was heard.
		heard := make(chan struct{})
		stopHearing := context.AfterFunc(ctx, func() {
			defer close(heard)
			if m.wait {
				m.show.stopping()
			}
		})
		defer func() {
			if !stopHearing() {
				<-heard
			}
		}()
		for {
			vctx, cancel := stepCtx()
			st := migrator.Advance(vctx, m.region, m.volumeID)
			cancel()
			m.show.status(st)
			res, last = st.Result, st
			if !m.wait || res.Action != remediation.ActionInProgress {
				break
			}
			sleep := m.sleep
			if sleep == nil {
				sleep = sleepFor
			}
			if ctx.Err() != nil || sleep(ctx, m.interval) != nil {
				interrupted = true
				if ctx.Err() != nil {
					<-heard // its line first
				}
				m.show.interrupted(m.volumeID, st, context.Cause(ctx), resumeHint(m.volumeID, st, m.opts))
				break
			}
		}
	}
	o.Action, o.Reason, o.Before, o.After = res.Action, res.Reason, res.Before, res.After
	if res.Err != nil {
		o.Action, o.Error = remediation.ActionFailed, res.Err.Error()
	}
	if o.Action == remediation.ActionFailed && o.Error == "" {
		o.Error = res.Reason
	}
	if o.Reason == "" {
		o.Reason = o.Error
	}
	o.CompletedAt = m.clock()
	o.DurationMs = o.CompletedAt.Sub(start).Milliseconds()
	m.show.end(o)
	if o.Action == remediation.ActionInProgress && !interrupted {
		m.show.note(resumeHint(m.volumeID, last, m.opts))
	}
	code := exitOK
	switch o.Action {
	case remediation.ActionRemediated, remediation.ActionExempt, remediation.ActionCompliant, remediation.ActionDryRun, remediation.ActionInProgress:
	default:
		code = exitFailed
	}
	if interrupted {
		code = exitFailed
	}
	pctx, cancel := stepCtx()
	defer cancel()
	if err := m.pub.Publish(pctx, o); err != nil {
		fmt.Fprintf(c.stderr, "remediate migrate-volume: publishing outcome for volume %q: %v\n", m.volumeID, err)
		code = exitFailed
	}
	if err := json.NewEncoder(c.stdout).Encode(o); err != nil {
		fmt.Fprintf(c.stderr, "remediate migrate-volume: writing outcome: %v\n", err)
		return exitFailed
	}
	return code
}

// volumeState is the volume as read before the first run, for the
// display and to tell a dry run's refusals apart.
type volumeState struct {
	found       bool
	encrypted   bool
	migratedTo  string
	step        string
	exemptTag   string // "key=value" of the exemption tag, when the volume carries it
	attachments []ec2types.VolumeAttachment
	err         error
}

func (m *migrateRun) read(ctx context.Context) volumeState {
	out, err := m.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{m.volumeID}}, func(o *ec2.Options) { o.Region = m.region })
	if err != nil {
		if awserr.Is(err, "InvalidVolume.NotFound") {
			return volumeState{}
		}
		return volumeState{err: fmt.Errorf("describing volume %q: %w", m.volumeID, err)}
	}
	if len(out.Volumes) == 0 {
		return volumeState{}
	}
	v := out.Volumes[0]
	s := volumeState{found: true, encrypted: aws.ToBool(v.Encrypted), attachments: v.Attachments}
	exemptKey := m.opts.ExemptTagKey
	if exemptKey == "" {
		exemptKey = remediators.DefaultExemptTagKey
	}
	for _, t := range v.Tags {
		k, val := aws.ToString(t.Key), strings.TrimSpace(aws.ToString(t.Value))
		if k == exemptKey && (strings.EqualFold(val, "off") || strings.EqualFold(val, "false")) {
			s.exemptTag = k + "=" + val
		}
		switch k {
		case remediators.TagMigratedTo:
			s.migratedTo = aws.ToString(t.Value)
		case remediators.TagMigrationStep:
			s.step = aws.ToString(t.Value)
		}
	}
	return s
}

// plan is the dry run: the migrator's plan as a dry-run outcome, or the
// reason it would not migrate the volume.
func (m *migrateRun) plan(ctx context.Context, cur volumeState) remediation.Result {
	p, err := remediators.NewVolumeMigrator(m.ec2, m.opts).Plan(ctx, m.region, m.volumeID)
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("planning the migration of volume %q: %w", m.volumeID, err))
	}
	m.show.plan(p)
	before := map[string]any{"volumeId": m.volumeID}
	if cur.found {
		before["encrypted"] = cur.encrypted
		if len(cur.attachments) > 0 {
			before["instanceId"], before["device"] = aws.ToString(cur.attachments[0].InstanceId), aws.ToString(cur.attachments[0].Device)
		}
		if cur.step != "" {
			before["migrationStep"] = cur.step
		}
	}
	if p.Refusal != "" {
		action := remediation.ActionNeedsManual
		switch {
		case cur.err == nil && !cur.found:
			action = remediation.ActionGone
		case cur.migratedTo != "":
			action = remediation.ActionExempt
		case cur.encrypted:
			action = remediation.ActionCompliant
		}
		after := map[string]any{}
		if len(p.Calls) > 0 {
			after["plan"] = p.Calls
		}
		return remediation.Result{Action: action, Reason: p.Refusal, Before: before, After: after}
	}
	return remediation.Result{Action: remediation.ActionDryRun, Before: before,
		After: map[string]any{"plan": p.Calls, "downtime": p.Downtime},
		Reason: fmt.Sprintf("would migrate volume %s to an encrypted copy with %d API calls: %s. Downtime: %s",
			m.volumeID, len(p.Calls), strings.Join(p.Calls, "; "), p.Downtime)}
}

// migrateSteps are the steps in the order a migration goes through them.
var migrateSteps = []string{remediators.StepSeed, remediators.StepStop, remediators.StepSnapshot, remediators.StepVolume,
	remediators.StepDetach, remediators.StepAttach, remediators.StepStart, remediators.StepDone}

func stepIndex(step string) int {
	for i, s := range migrateSteps {
		if s == step {
			return i
		}
	}
	return -1
}

// migrateDisplay shows a migration's progress on standard error: on a
// terminal the snapshot's percentage as a bar redrawn in place, with the
// lines (each step as it completes, log lines) written above it; otherwise
// plain lines, one per change.
type migrateDisplay struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	bar      string // the bar as drawn last, "" when none is shown
	step     string // the step as last seen
	attached bool
	waiting  string // the last waiting line written (plain mode)
}

func newMigrateDisplay(w io.Writer, terminal bool) *migrateDisplay {
	return &migrateDisplay{w: w, terminal: terminal}
}

// Write writes log output above the bar, as progress.Write does.
func (d *migrateDisplay) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	bar := d.bar
	d.clear()
	n, err := d.w.Write(b)
	if bar != "" {
		d.bar = bar
		fmt.Fprint(d.w, bar)
	}
	return n, err
}

func (d *migrateDisplay) clear() {
	if d.bar != "" {
		fmt.Fprintf(d.w, "\r%s\r", strings.Repeat(" ", len(d.bar)))
		d.bar = ""
	}
}

// line writes one line above the bar (the bar is drawn again by the next
// status).
func (d *migrateDisplay) line(format string, args ...any) {
	d.clear()
	fmt.Fprintf(d.w, "migrate-volume: "+format+"\n", args...)
}

func (d *migrateDisplay) begin(id, account, region string, cur volumeState, dryRun bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.step, d.attached = cur.step, len(cur.attachments) > 0
	where := region
	if account != "" {
		where = account + " " + region
	}
	what := "migrating"
	if dryRun {
		what = "planning the migration of"
	}
	switch {
	case cur.err != nil:
		d.line("%s volume %s in %s (reading it: %v)", what, id, where, cur.err)
	case cur.migratedTo != "":
		d.line("%s volume %s in %s, migrated to %s earlier", what, id, where, cur.migratedTo)
	case cur.step != "":
		d.line("%s volume %s in %s, under way at step %s", what, id, where, cur.step)
	default:
		d.line("%s volume %s in %s", what, id, where)
	}
	if cur.exemptTag != "" && cur.migratedTo == "" && !cur.encrypted {
		d.line("note: tag %s exempts the volume from auto-remediation, not from this command: naming it is the consent", cur.exemptTag)
	}
}

// plan lists the dry run's plan, one numbered call per line.
func (d *migrateDisplay) plan(p remediators.MigrationPlan) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(p.Calls) == 0 {
		return
	}
	d.line("plan (%d API calls, nothing is changed now):", len(p.Calls))
	for i, call := range p.Calls {
		fmt.Fprintf(d.w, "  %2d. %s\n", i+1, call)
	}
	if p.Refusal == "" {
		d.line("downtime: %s", p.Downtime)
	}
}

// status shows where one run left the migration: the steps it completed,
// then the bar (or line) of what it waits for.
func (d *migrateDisplay) status(st remediators.MigrationStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st.InstanceID != "" {
		d.attached = true
	}
	from, to := stepIndex(d.step), stepIndex(st.Step)
	if st.Result.Action == remediation.ActionRemediated || (st.Step == remediators.StepDone && d.step != remediators.StepDone) {
		to = len(migrateSteps) - 1
	}
	if to > from {
		for i := max(from, 0); i < to; i++ {
			if msg := d.completed(migrateSteps[i], st, i == from); msg != "" {
				d.line("%s", msg)
			}
		}
	}
	if st.Step != "" {
		d.step = st.Step
	}
	if st.Result.Action != remediation.ActionInProgress {
		d.clear()
		return
	}
	pct, bar := snapshotPercent(st.SnapshotProgress)
	// SnapshotProgress stays set after the snapshot step
	bar = bar && (st.Step == remediators.StepSnapshot || st.Step == remediators.StepSeed)
	waiting := fmt.Sprintf("step %s: %s", st.Step, waitingFor(st.Result.Reason))
	if d.terminal {
		d.clear()
		if bar {
			what := "snapshot " + st.SnapshotID
			if st.Step == remediators.StepSeed {
				what = "seed snapshot"
			}
			// At most about 80 columns: a wrapped bar could not be cleared.
			const width = 20
			filled := pct * width / 100
			d.bar = fmt.Sprintf("[%s%s] %3d%% %-45.45s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, what)
		} else {
			d.bar = fmt.Sprintf("%-70.70s", waiting)
		}
		fmt.Fprint(d.w, d.bar)
		return
	}
	if waiting != d.waiting {
		d.waiting = waiting
		d.line("%s", waiting)
	}
}

// completed says what finishing step meant; "" for steps a migration of
// this kind does not go through. observed is whether the step was seen
// under way: a seed snapshot is taken only for a running instance, which a
// run that passed it in one go does not say.
func (d *migrateDisplay) completed(step string, st remediators.MigrationStatus, observed bool) string {
	inst := st.InstanceID
	switch step {
	case remediators.StepSeed:
		if observed {
			return "seed snapshot completed (the snapshot after the stop is incremental on it)"
		}
	case remediators.StepStop:
		if d.attached {
			return "instance " + inst + " stopped"
		}
	case remediators.StepSnapshot:
		return "snapshot " + orNone(st.SnapshotID) + " completed"
	case remediators.StepVolume:
		return "encrypted volume " + orNone(st.NewVolumeID) + " created"
	case remediators.StepDetach:
		if d.attached {
			return "original volume detached from instance " + inst
		}
	case remediators.StepAttach:
		if d.attached {
			return fmt.Sprintf("encrypted volume %s attached to instance %s at %s", orNone(st.NewVolumeID), inst, st.Device)
		}
	case remediators.StepStart:
		if d.attached {
			return "instance " + inst + " started again if it was running"
		}
	}
	return ""
}

// snapshotPercent reads a snapshot's progress ("42%"); false when there is
// none to show.
func snapshotPercent(p string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(p), "%d%%", &n); err != nil || n < 0 || n > 100 {
		return 0, false
	}
	return n, true
}

// waitingFor is the part of an in-progress reason that says what the run
// waits for (after "step X: ", before "; this run: ...").
func waitingFor(reason string) string {
	if _, after, ok := strings.Cut(reason, ": "); ok {
		reason = after
	}
	reason, _, _ = strings.Cut(reason, "; this run:")
	return reason
}

// note writes a line after the outcome's.
func (d *migrateDisplay) note(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.line("%s", s)
}

func (d *migrateDisplay) stopping() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.line("stopping after the run in hand (a step is never cut in half)...")
}

func (d *migrateDisplay) interrupted(id string, st remediators.MigrationStatus, cause error, hint string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.line("interrupted (%v) at step %s: the migration of %s is kept where it is; %s", cause, orNone(st.Step), id, hint)
}

// resumeHint says how a migration under way goes on. The pipeline goes on
// with it only when it looks at the volume again: the sweep lists
// unattached volumes (and an original its migration detached) only with
// EBS_MIGRATION unattached or all, and AWS Config's encrypted-volumes rule
// evaluates attached volumes only.
func resumeHint(id string, st remediators.MigrationStatus, opts remediators.Options) string {
	hint := fmt.Sprintf("run `remediate migrate-volume %s --wait` again to resume it", id)
	switch st.Step {
	case remediators.StepStop, remediators.StepSnapshot, remediators.StepVolume, remediators.StepDetach, remediators.StepAttach, remediators.StepStart, remediators.StepRollback:
		if st.InstanceID != "" {
			hint += fmt.Sprintf(" (instance %s may stay stopped until then)", st.InstanceID)
		}
	}
	if opts.EBSMigration == remediators.EBSMigrationOff || opts.EBSMigration == "" {
		hint += "; the pipeline's sweep continues it only where EBS_MIGRATION is unattached or all (with off it lists attached volumes only)"
	} else {
		hint += "; the pipeline's next sweep continues it too"
	}
	stuck := opts.EBSMigrationStuckAfter
	if stuck <= 0 {
		stuck = remediators.DefaultEBSMigrationStuckAfter
	}
	return hint + fmt.Sprintf("; a run after EBS_MIGRATION_STUCK_AFTER=%s from its start fails it (rolling back what it stopped)", stuck)
}

func (d *migrateDisplay) end(o remediation.Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	switch o.Action {
	case remediation.ActionRemediated:
		d.line("done: %s", o.Reason)
	case remediation.ActionInProgress:
		d.line("under way: %s", o.Reason)
	case remediation.ActionDryRun:
	case remediation.ActionFailed:
		d.line("failed: %s", o.Error)
	case remediation.ActionNeedsManual:
		d.line("refused (needs-manual): %s", o.Reason)
	default:
		d.line("%s: %s", o.Action, o.Reason)
	}
}

// Package demo runs the whole production pipeline against a local
// moto_server: an insecure account, a stand-in for AWS Config that reports
// the non-compliant resources to EventBridge, a stand-in for CloudTrail (a
// recording proxy in front of the emulator) that turns API calls into
// "AWS API Call via CloudTrail" events, the production event patterns
// routing both to a queue, the very handler code of the Lambda function
// remediating them with its DynamoDB state store, the SNS notifications,
// the compliance scores and the dashboard.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/archive"
	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/state"
	"github.com/autoremediate/autoremediate/sweep"
	"github.com/autoremediate/autoremediate/terraform"
)

// Names of the production resources the demo recreates, as terraform/
// names them with the default name prefix.
const (
	NamePrefix    = "autoremediate"
	FunctionName  = NamePrefix + "-remediate"
	TopicName     = NamePrefix + "-notifications"
	RuleName      = NamePrefix + "-compliance-change"
	DLQName       = NamePrefix + "-dead-letters"
	EventsQueue   = "demo-remediate-function" // stands in for the Lambda target
	NotifiesQueue = "demo-notifications"      // an SNS subscription
)

// Options configure a run.
type Options struct {
	Out io.Writer // the narrative (required)
	Log io.Writer // the handler's outcome log lines; discarded when nil
	// Server is the emulator to use; when nil the demo starts one and stops
	// it at the end (also when ctx is cancelled).
	Server *emulator.Server
	// DashboardPath, when set, is where the dashboard page is written.
	DashboardPath string
	// ArchiveDir, when set, receives every outcome in the outcome
	// archive's layout (ARCHIVE_DIR; docs/archive.md).
	ArchiveDir string
	// Watch keeps the demo running until ctx ends, re-evaluating every
	// Interval like Config does.
	Watch    bool
	Interval time.Duration // 5s when 0
	// WatchReady, when set, is called once watch mode is waiting for
	// changes, with what the printed command uses.
	WatchReady func(Watching)
	// Timeout bounds each wait for the pipeline to handle the events (60s
	// when 0).
	Timeout time.Duration
	// SimulateFailure adds BucketRestricted, unencrypted, and an SDK
	// middleware standing in for a service control policy that denies its
	// PutBucketEncryption: the function's fix fails, is retried, the event
	// lands in the dead-letter queue and a high-severity notification goes
	// out. Off, nothing fails.
	SimulateFailure bool
	// Accounts, when above 0, runs the organisation demo instead: AWS
	// Organizations with that many member accounts, each with the member
	// role but the last, the same misconfigurations in every account and
	// two regions, the central function fixing each in its own account,
	// and the per-account table (Result.Accounts). Watch, SimulateFailure
	// and DashboardPath do not apply to it.
	Accounts int
}

// Watching is what watch mode's printed command uses.
type Watching struct {
	Bucket      string // the bucket it misconfigures
	EndpointURL string // the CloudTrail stand-in's URL
	AccessKeyID string // the developer's key: the call is recorded as hers
}

// Result is what a run did, for tests and callers.
type Result struct {
	Baseline *Baseline
	Events   int // compliance change events the Config stand-in had routed to the function
	// CloudTrailCalls is the number of API calls the demo made through the
	// CloudTrail stand-in once the pipeline was deployed (steps 5 and 6),
	// each of which the function handled as one event.
	CloudTrailCalls int
	// PipelineCalls is the number of events the CloudTrail stand-in
	// recorded for the pipeline's own calls (its fixes); the rules' pattern
	// drops them before the function.
	PipelineCalls int
	Outcomes      []remediation.Outcome // as the handler produced them from the queue
	Notifications []Notification
	Before, After sweep.Score
	DashboardPath string
	ServerURL     string
	ProxyURL      string // the CloudTrail stand-in's (the STS stand-in's in the organisation demo)
	// Accounts is the organisation demo's table, the central account
	// first (Options.Accounts).
	Accounts []AccountResult
}

// Notification is one SNS message received through the SQS subscription.
type Notification struct {
	Subject  string
	Severity string
	Action   string
	Outcome  remediation.Outcome
}

type demo struct {
	opts     Options
	srv      *emulator.Server
	proxy    *cloudtrailproxy.Server
	recorded *recorded
	clients  *app.Clients // the pipeline's, signed as PipelineRole, through the proxy
	cfg      app.Config
	h        *remediation.Handler
	eb       *eventbridge.Client
	sqs      *sqs.Client
	cw       *cloudwatch.Client

	topicARN, eventsURL, notifyURL, dlqURL string

	mu                sync.Mutex
	out               io.Writer
	outcomes          []remediation.Outcome
	notifications     []Notification
	cloudTrailHandled int // CloudTrail events the function handled
	cloudTrailCalls   int // calls made through the proxy after the rules were in place
	handled           chan remediation.Outcome
	baseline          *Baseline
	lastDLQMetric     time.Time
	// liveNotifications prints notifications as they arrive (watch mode);
	// before, the report lists them.
	liveNotifications bool
}

// Run runs the demo. It returns when the account is compliant (or ctx
// ends, in watch mode).
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	d := &demo{opts: opts, out: opts.Out, handled: make(chan remediation.Outcome, 256)}
	d.srv = opts.Server
	if d.srv == nil {
		d.printf("Starting the AWS emulator (moto_server)...\n")
		srv, err := emulator.Start(ctx)
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		d.srv = srv
	}
	run := d.run
	if opts.Accounts > 0 {
		run = d.runOrg
	}
	res, err := run(ctx)
	if res != nil {
		res.ServerURL = d.srv.URL
	}
	return res, err
}

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// setup starts the CloudTrail stand-in and builds the clients: the
// stand-ins' own (bus, queues) straight to the emulator, the pipeline's
// through the proxy, signed as its role.
func (d *demo) setup() error {
	direct := d.srv.AWSConfig()
	direct.RetryMaxAttempts = 5
	d.eb = eventbridge.NewFromConfig(direct)
	d.sqs = sqs.NewFromConfig(direct)
	if err := d.startProxy(); err != nil {
		return err
	}
	pipeline := d.signedAs(PipelineKey)
	if d.opts.SimulateFailure {
		pipeline.APIOptions = append(pipeline.APIOptions, denyRestricted)
	}
	d.clients = app.NewClients(pipeline)
	d.clients.PathStyleS3 = true
	d.cw = d.clients.CloudWatch()
	return nil
}

// deploy wires the pipeline (step 2) and builds the function's handler
// with the settings Terraform gives it.
func (d *demo) deploy(ctx context.Context) error {
	if err := d.wire(ctx); err != nil {
		return err
	}
	cfg, err := app.Load(func(k string) string {
		return map[string]string{"METRICS_MODE": app.MetricsAPI, "SNS_TOPIC_ARN": d.topicARN,
			"IGNORE_ACTOR_ARNS": strings.Join(pipelineRoles(), ","), "STATE_TABLE": StateTable, "FLAP_LIMIT": strconv.Itoa(FlapLimit),
			"ARCHIVE_DIR": d.opts.ArchiveDir}[k]
	})
	if err != nil {
		return err
	}
	d.cfg = cfg
	if d.h, err = app.NewHandler(cfg, d.clients, app.NewLogger(d.opts.Log, cfg.LogLevel)); err != nil {
		return err
	}
	if d.h.Store == nil {
		return fmt.Errorf("the handler built with STATE_TABLE=%s has no state store", StateTable)
	}
	return nil
}

func (d *demo) run(ctx context.Context) (*Result, error) {
	if err := d.setup(); err != nil {
		return nil, err
	}
	defer d.proxy.Close()
	d.printf("\n== autoremediate demo: the production pipeline on a local AWS emulator ==\n")
	d.printf("emulator: moto_server at %s (region %s, account %s)\n", d.srv.URL, emulator.Region, emulator.Account)
	d.printf("CloudTrail (stand-in): a recording proxy at %s in front of the emulator, which records no API calls of its own.\n", d.proxy.URL)
	d.printf("   Every S3 and EC2 change that succeeds through it becomes an \"AWS API Call via CloudTrail\" event on the bus,\n")
	d.printf("   naming the principal who signed it. It stands in for CloudTrail as the evaluator below stands in for AWS Config.\n")

	d.printf("\n1. An insecure account, as it was before the pipeline was deployed (changed by %s/%s through the CloudTrail stand-in)\n",
		shortActor(DeveloperRole), DeveloperSession)
	var err error
	if d.baseline, err = buildBaseline(ctx, d.clientsAs(DeveloperKey), d.opts.SimulateFailure, d.printf); err != nil {
		return nil, err
	}
	d.printf("   CloudTrail recorded these %d changes, but no rule listened yet: CloudTrail reports changes as they happen,\n", d.recorded.total())
	d.printf("   not the state they leave. Finding what is already wrong is AWS Config's job.\n")
	if err := d.deploy(ctx); err != nil {
		return nil, err
	}
	// ARCHIVE_DIR's lines are written as each outcome is published; this
	// only closes the files.
	defer func() { _ = app.ClosePublisher(ctx, d.h.Publisher) }()
	res := &Result{Baseline: d.baseline}
	before, err := d.detect(ctx)
	if err != nil {
		return nil, err
	}
	res.Before = sweep.ScoreOf(before)
	d.printf("   compliance score before: %s\n", res.Before)

	d.printf("\n3. AWS Config (stand-in) evaluates every resource and reports each change of compliance to EventBridge\n")
	cfgState := newConfigState()
	changes, sent := d.evaluate(cfgState, before, true)
	res.Events = sent
	d.printf("   the rule's pattern lets the %d NON_COMPLIANT ones through to the function's queue\n", sent)

	d.printf("\n4. The function handles each event (remediates, verifies, publishes); SNS notifies the subscribers\n")
	workers, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.runFunction(workers) }()
	go func() { defer wg.Done(); d.receiveNotifications(workers) }()
	defer wg.Wait()
	defer stop()
	if err := d.notify(ctx, changes); err != nil {
		return nil, err
	}
	if err := d.waitOutcomes(ctx, sent); err != nil {
		return nil, err
	}
	if err := d.fastPath(ctx); err != nil {
		return nil, err
	}
	if err := d.flapping(ctx); err != nil {
		return nil, err
	}
	res.CloudTrailCalls = d.cloudTrailCalls
	d.mu.Lock()
	handled := len(d.outcomes)
	d.mu.Unlock()
	d.waitNotifications(ctx, handled, 10*time.Second)

	after, err := d.detect(ctx)
	if err != nil {
		return nil, err
	}
	res.After = sweep.ScoreOf(after)
	res.PipelineCalls = d.recorded.count(pipelineRoles()...)
	d.report(after, res, d.dlqDepth(ctx))
	if d.opts.ArchiveDir != "" {
		d.mu.Lock()
		n := len(d.outcomes)
		d.mu.Unlock()
		d.printf("\n   outcome archive: the %d outcomes, one JSON line each, in %s (ARCHIVE_DIR; docs/archive.md).\n", n,
			filepath.Join(d.opts.ArchiveDir, filepath.FromSlash(archive.DayDir(time.Now())))+string(filepath.Separator))
		d.printf("   In AWS the topic's Firehose subscription writes them to the Object Lock bucket (Terraform output archive_bucket).\n")
	}

	if d.opts.DashboardPath != "" {
		if err := d.writeDashboard(ctx); err != nil {
			return nil, err
		}
		res.DashboardPath = d.opts.DashboardPath
		d.printf("\n8. Dashboard: the one terraform/ deploys, rendered from CloudWatch: %s\n", d.opts.DashboardPath)
	}
	res.ProxyURL = d.proxy.URL
	if d.opts.Watch {
		_ = cfgState.observe(after) // the after-state is Config's view now
		if err := d.watch(ctx, cfgState); err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	d.mu.Lock()
	res.Outcomes = append([]remediation.Outcome(nil), d.outcomes...)
	res.Notifications = append([]Notification(nil), d.notifications...)
	d.mu.Unlock()
	return res, nil
}

// wire creates what terraform/ deploys, with an SQS queue in place of the
// Lambda function: the topic, the notification subscription, the rules with
// the production event patterns (Config's and CloudTrail's), the
// dead-letter queue and the state table.
func (d *demo) wire(ctx context.Context) error {
	d.printf("\n2. The pipeline is deployed, wired as terraform/ wires it\n")
	snsc := sns.NewFromConfig(d.srv.AWSConfig())
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(TopicName)})
	if err != nil {
		return fmt.Errorf("creating SNS topic %s: %w", TopicName, err)
	}
	d.topicARN = aws.ToString(topic.TopicArn)
	if d.dlqURL, err = d.queue(ctx, DLQName, nil); err != nil {
		return err
	}
	dlqARN := fmt.Sprintf("arn:aws:sqs:%s:%s:%s", emulator.Region, emulator.Account, DLQName)
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": 2})
	// A delivery is retried only when the invocation failed (invoke makes
	// the message visible again after a second), as Lambda retries an
	// asynchronous invocation that failed; never because the handler took
	// its time on a busy emulator.
	if d.eventsURL, err = d.queue(ctx, EventsQueue, map[string]string{"VisibilityTimeout": "60", "RedrivePolicy": string(redrive)}); err != nil {
		return err
	}
	if d.notifyURL, err = d.queue(ctx, NotifiesQueue, nil); err != nil {
		return err
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(fmt.Sprintf("arn:aws:sqs:%s:%s:%s", emulator.Region, emulator.Account, NotifiesQueue))}); err != nil {
		return fmt.Errorf("subscribing queue %s to topic %s: %w", NotifiesQueue, TopicName, err)
	}
	d.printf("   SNS topic %s, subscribed by the SQS queue %s (its messages are printed as notifications)\n", TopicName, NotifiesQueue)
	pattern, err := terraform.EventPattern(terraform.DefaultRuleNames(), true)
	if err != nil {
		return err
	}
	if err := d.rule(ctx, RuleName, pattern); err != nil {
		return err
	}
	d.printf("   EventBridge rule %s with the event pattern of terraform/templates/event_pattern.json.tftpl\n", RuleName)
	patterns, err := terraform.CloudTrailPatterns(terraform.TriggerCalls(nil), pipelineRoles())
	if err != nil {
		return err
	}
	var services []string
	for svc := range patterns {
		services = append(services, svc)
	}
	sort.Strings(services)
	for _, svc := range services {
		if err := d.rule(ctx, CloudTrailRulePrefix+svc, patterns[svc]); err != nil {
			return err
		}
	}
	d.printf("   EventBridge rules %s{%s} with the pattern of terraform/templates/cloudtrail_pattern.json.tftpl:\n",
		CloudTrailRulePrefix, strings.Join(services, ","))
	d.printf("     the calls the remediators' triggers list, that succeeded, and that none of the pipeline's roles made\n")
	d.printf("     -> SQS queue %s in place of the Lambda target; a runner calls the function's handler code on each event\n", EventsQueue)
	d.printf("   dead-letter queue %s; outcome metrics go to CloudWatch with PutMetricData (METRICS_MODE=api)\n", DLQName)
	if _, err := state.Init(ctx, d.clients.DynamoDB(), StateTable); err != nil {
		return err
	}
	d.printf("   DynamoDB table %s, the state store (created as `remediate state init` does): each event handled and notified once,\n", StateTable)
	d.printf("     at most FLAP_LIMIT=%d fixes per resource within FLAP_WINDOW; IGNORE_ACTOR_ARNS lists the pipeline's roles\n", FlapLimit)
	return nil
}

// rule puts an EventBridge rule with the functions' queue as its target.
func (d *demo) rule(ctx context.Context, name string, pattern []byte) error {
	if _, err := d.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(string(pattern))}); err != nil {
		return fmt.Errorf("creating EventBridge rule %s: %w", name, err)
	}
	if _, err := d.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{
		Id: aws.String("remediate"), Arn: aws.String(fmt.Sprintf("arn:aws:sqs:%s:%s:%s", emulator.Region, emulator.Account, EventsQueue))}}}); err != nil {
		return fmt.Errorf("adding the target of EventBridge rule %s: %w", name, err)
	}
	return nil
}

func (d *demo) queue(ctx context.Context, name string, attrs map[string]string) (string, error) {
	out, err := d.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("creating SQS queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// detect is the Config stand-in's evaluation: the sweep in dry-run mode,
// without publishing, so it decides compliance with the remediators' own
// logic and changes nothing.
func (d *demo) detect(ctx context.Context) ([]remediation.Outcome, error) {
	sw := app.NewSweeper(d.cfg, d.clients, &remediation.Handler{Registry: d.h.Registry, Rules: d.h.Rules, Modes: d.h.Modes})
	sw.Account, sw.DryRun, sw.Concurrency, sw.RunID = emulator.Account, true, 8, "config-evaluation"
	rep, err := sw.Run(ctx)
	if err != nil {
		return nil, err
	}
	if len(rep.ListErrors) > 0 {
		return nil, errors.Join(rep.ListErrors...)
	}
	for _, o := range rep.Outcomes {
		if o.Action == remediation.ActionFailed {
			return nil, fmt.Errorf("evaluating %s %s: %s", o.ResourceType, o.ResourceID, o.Error)
		}
	}
	return rep.Outcomes, nil
}

// nonCompliant is Config's verdict on a detection outcome: everything the
// remediator would not call compliant is NON_COMPLIANT for Config, exempt
// resources included (the exemption is ours, not Config's).
func nonCompliant(o remediation.Outcome) bool {
	switch o.Action {
	case remediation.ActionCompliant, remediation.ActionGone, remediation.ActionIgnored:
		return false
	}
	return true
}

// configState remembers Config's last verdict per rule and resource: Config
// notifies on changes only.
type configState struct{ last map[string]string }

func newConfigState() *configState { return &configState{last: map[string]string{}} }

func key(o remediation.Outcome) string { return o.Rule + "|" + o.ResourceType + "|" + o.ResourceID }

// observe records the verdicts and returns the changes (old, new) by key.
func (c *configState) observe(outcomes []remediation.Outcome) map[string][2]string {
	changes := map[string][2]string{}
	for _, o := range outcomes {
		v := events.ComplianceTypeCompliant
		if nonCompliant(o) {
			v = events.ComplianceTypeNonCompliant
		}
		if old := c.last[key(o)]; old != v {
			changes[key(o)] = [2]string{old, v}
			c.last[key(o)] = v
		}
	}
	return changes
}

// ruleName is the Config rule name the stand-in reports under. The S3
// encryption rule is reported under the generated name Security Hub gives
// it, as in most real accounts, to show that the production pattern and
// resolver recognise such names.
func ruleName(managed string) string {
	if managed == "s3-bucket-server-side-encryption-enabled" {
		return terraform.SecurityHubPrefix(managed) + "a1b2c3d4"
	}
	return managed
}

// emit puts one compliance change event per changed verdict on the bus.
func (d *demo) emit(ctx context.Context, state *configState, outcomes []remediation.Outcome, print bool) (int, error) {
	changes, routed := d.evaluate(state, outcomes, print)
	return routed, d.notify(ctx, changes)
}

// evaluate returns the compliance changes Config would notify (printing
// them) and how many the rule routes to the function.
func (d *demo) evaluate(state *configState, outcomes []remediation.Outcome, print bool) ([]events.ComplianceChange, int) {
	changes := state.observe(outcomes)
	routed := 0
	var out []events.ComplianceChange
	for _, o := range outcomes {
		ch, ok := changes[key(o)]
		if !ok {
			continue
		}
		c := events.ComplianceChange{Account: emulator.Account, Region: emulator.Region, RuleName: ruleName(o.Rule),
			ResourceType: o.ResourceType, ResourceID: o.ResourceID, New: ch[1], Old: ch[0]}
		out = append(out, c)
		if ch[1] == events.ComplianceTypeNonCompliant {
			routed++ // the rule routes NON_COMPLIANT changes only
		}
		if print {
			d.printf("   %-13s %-61s %-18s %s\n", ch[1], c.RuleName, o.ResourceType, o.ResourceID)
		}
	}
	return out, routed
}

// notify puts the compliance change events on the bus one by one, each
// stamped (notificationCreationTime) when it is sent: the emulator's bus
// takes a tenth of a second or so to deliver one event to a queue, so a
// burst stamped at once would charge each event the wait for the ones
// before it.
func (d *demo) notify(ctx context.Context, changes []events.ComplianceChange) error {
	for _, c := range changes {
		c.At = time.Now()
		body, err := json.Marshal(c.Detail())
		if err != nil {
			return fmt.Errorf("encoding the compliance change of %s %s: %w", c.ResourceType, c.ResourceID, err)
		}
		// Only AWS Config can put "aws.config" events on a real bus; the
		// emulator accepts them from us, which is what a stand-in needs.
		out, err := d.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{Source: aws.String(events.SourceConfig),
			DetailType: aws.String(events.DetailTypeComplianceChange), Detail: aws.String(string(body)), Time: aws.Time(c.At), Resources: []string{}}}})
		if err != nil {
			return fmt.Errorf("putting the compliance change event of %s %s: %w", c.ResourceType, c.ResourceID, err)
		}
		if out.FailedEntryCount > 0 {
			return fmt.Errorf("putting the compliance change event of %s %s: rejected", c.ResourceType, c.ResourceID)
		}
	}
	return nil
}

// runFunction is the stand-in for the Lambda service: it receives the
// events the rule delivered to the queue and calls the function's handler
// (the same Handle the Lambda runtime calls), deletes what succeeded (what
// fails is received again, then lands in the dead-letter queue), and
// records the AWS/Lambda and AWS/SQS metrics those services would.
func (d *demo) runFunction(ctx context.Context) {
	// Lambda invokes the function for each event as it comes, up to its
	// concurrency: an invocation does not wait for the others of a burst.
	const concurrency = 10
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		free := int32(concurrency - len(sem))
		if free == 0 {
			sleep(ctx, 20*time.Millisecond)
			continue
		}
		out, err := d.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.eventsURL), MaxNumberOfMessages: free, WaitTimeSeconds: 1})
		if err != nil {
			if ctx.Err() == nil {
				d.printf("   ! receiving events: %v\n", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for _, m := range out.Messages {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				d.invoke(ctx, m)
			}()
		}
		d.dlqMetric(ctx, false)
	}
}

// invoke is one Lambda invocation on one delivered event: the function's
// entry point (Handler.Invoke) takes both kinds of events.
func (d *demo) invoke(ctx context.Context, m sqstypes.Message) {
	start := time.Now()
	res, herr := d.h.Invoke(ctx, json.RawMessage(aws.ToString(m.Body)))
	elapsed := time.Since(start)
	if herr == nil {
		if _, err := d.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.eventsURL), ReceiptHandle: m.ReceiptHandle}); err != nil && ctx.Err() == nil {
			d.printf("   ! deleting a handled event: %v\n", err)
		}
	} else if _, err := d.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(d.eventsURL),
		ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 1}); err != nil && ctx.Err() == nil {
		d.printf("   ! scheduling the retry of a failed event: %v\n", err)
	}
	d.lambdaMetrics(ctx, elapsed, herr != nil)
	var pe *events.ParseError
	if errors.As(herr, &pe) {
		d.printf("   ! the function rejected an event: %v\n", herr)
		return
	}
	var outs []remediation.Outcome
	cloudTrail := false
	switch v := res.(type) {
	case remediation.Outcome:
		outs = []remediation.Outcome{v}
	case []remediation.Outcome:
		outs, cloudTrail = v, true
	}
	d.mu.Lock()
	for _, o := range outs {
		d.outcomes = append(d.outcomes, o)
		took := fmt.Sprintf("%dms", o.DurationMs)
		if o.Action == remediation.ActionFailed {
			took += ": " + short(o.Error, 110)
		}
		if ttf := timeToFix(o); ttf != "-" {
			took = "fixed and verified " + ttf + " after " + fixedAfter(o)
		}
		if o.Trigger == remediation.TriggerCloudTrail {
			took = "call by " + shortActor(o.Actor) + "; " + took
		}
		fmt.Fprintf(d.out, "   function: %-12s %-22s %-18s %s (%s)\n", o.Action, o.Remediator, o.ResourceType, o.ResourceID, took)
	}
	if cloudTrail {
		d.cloudTrailHandled++
	}
	d.mu.Unlock()
	for _, o := range outs {
		select {
		case d.handled <- o:
		default:
		}
	}
}

// fixedAfter names what an outcome's time to fix runs from.
func fixedAfter(o remediation.Outcome) string {
	if o.Trigger == remediation.TriggerCloudTrail {
		return "the API call"
	}
	return "Config's notification"
}

func (d *demo) lambdaMetrics(ctx context.Context, elapsed time.Duration, failed bool) {
	dim := []cwtypes.Dimension{{Name: aws.String("FunctionName"), Value: aws.String(FunctionName)}}
	errs := 0.0
	if failed {
		errs = 1
	}
	now := time.Now()
	datum := func(name string, v float64, unit cwtypes.StandardUnit) cwtypes.MetricDatum {
		return cwtypes.MetricDatum{MetricName: aws.String(name), Value: aws.Float64(v), Unit: unit, Dimensions: dim, Timestamp: aws.Time(now)}
	}
	_, err := d.cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/Lambda"), MetricData: []cwtypes.MetricDatum{
		datum("Invocations", 1, cwtypes.StandardUnitCount), datum("Errors", errs, cwtypes.StandardUnitCount),
		datum("Throttles", 0, cwtypes.StandardUnitCount), datum("ConcurrentExecutions", 1, cwtypes.StandardUnitCount),
		datum("Duration", float64(elapsed.Microseconds())/1000, cwtypes.StandardUnitMilliseconds),
	}})
	if err != nil && ctx.Err() == nil {
		d.printf("   ! recording function metrics: %v\n", err)
	}
}

func (d *demo) dlqDepth(ctx context.Context) int {
	attrs, err := d.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(d.dlqURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	return n
}

// dlqMetric records the dead-letter queue's depth as AWS/SQS would.
func (d *demo) dlqMetric(ctx context.Context, force bool) {
	if !force && time.Since(d.lastDLQMetric) < 5*time.Second {
		return
	}
	d.lastDLQMetric = time.Now()
	n := float64(d.dlqDepth(ctx))
	if n < 0 {
		return
	}
	_, _ = d.cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/SQS"), MetricData: []cwtypes.MetricDatum{{
		MetricName: aws.String("ApproximateNumberOfMessagesVisible"), Value: aws.Float64(n), Unit: cwtypes.StandardUnitCount,
		Dimensions: []cwtypes.Dimension{{Name: aws.String("QueueName"), Value: aws.String(DLQName)}}, Timestamp: aws.Time(time.Now())}}})
}

// receiveNotifications prints what the SNS subscription receives.
func (d *demo) receiveNotifications(ctx context.Context) {
	for ctx.Err() == nil {
		out, err := d.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.notifyURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for _, m := range out.Messages {
			n, err := parseNotification(aws.ToString(m.Body))
			if err != nil {
				d.printf("   ! notification: %v\n", err)
			} else {
				d.mu.Lock()
				d.notifications = append(d.notifications, n)
				if d.liveNotifications {
					fmt.Fprintf(d.out, "   sns:      severity=%-6s %s\n", n.Severity, n.Subject)
				}
				d.mu.Unlock()
			}
			_, _ = d.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.notifyURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
}

// parseNotification reads the SNS envelope SQS subscriptions receive (raw
// message delivery off).
func parseNotification(body string) (Notification, error) {
	var env struct {
		Type, Subject, Message string
		MessageAttributes      map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return Notification{}, fmt.Errorf("not an SNS envelope: %w", err)
	}
	n := Notification{Subject: env.Subject, Severity: env.MessageAttributes["severity"].Value, Action: env.MessageAttributes["action"].Value}
	if err := json.Unmarshal([]byte(env.Message), &n.Outcome); err != nil {
		return n, fmt.Errorf("message is not an outcome: %w", err)
	}
	return n, nil
}

// waitOutcomes waits until n distinct checks have outcomes and every check
// that keeps failing has reached the dead-letter queue (after its retries).
func (d *demo) waitOutcomes(ctx context.Context, n int) error {
	deadline := time.After(d.opts.Timeout)
	for {
		d.mu.Lock()
		latest := map[string]remediation.Action{}
		for _, o := range d.outcomes {
			latest[d.check(o)] = o.Action
		}
		d.mu.Unlock()
		got, failing := len(latest), 0
		for _, a := range latest {
			if a == remediation.ActionFailed {
				failing++
			}
		}
		if got >= n && (failing == 0 || d.dlqDepth(ctx) >= failing) {
			d.dlqMetric(ctx, true)
			return nil
		}
		select {
		case <-d.handled:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("the pipeline handled %d of %d events within %s", got, n, d.opts.Timeout)
		}
	}
}

func (d *demo) waitNotifications(ctx context.Context, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		d.mu.Lock()
		got := len(d.notifications)
		d.mu.Unlock()
		if got >= n {
			return
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// report prints the outcome table, the time to fix by trigger, what the
// loop prevention dropped and the score after.
func (d *demo) report(after []remediation.Outcome, res *Result, deadLetters int) {
	d.mu.Lock()
	outcomes := append([]remediation.Outcome(nil), d.outcomes...)
	notes := len(d.notifications)
	d.mu.Unlock()
	order := map[string]int{"AWS::S3::Bucket": 0, "AWS::EC2::Instance": 1, "AWS::EC2::Volume": 2, "AWS::EC2::SecurityGroup": 3, "AWS::::Account": 4}
	sort.SliceStable(outcomes, func(i, j int) bool {
		if outcomes[i].ResourceType != outcomes[j].ResourceType {
			return order[outcomes[i].ResourceType] < order[outcomes[j].ResourceType]
		}
		return outcomes[i].ResourceID < outcomes[j].ResourceID
	})
	d.mu.Lock()
	d.liveNotifications = true
	fmt.Fprintf(d.out, "\n   SNS notifications received by the topic's SQS subscription (%d):\n", len(d.notifications))
	for _, n := range d.notifications {
		fmt.Fprintf(d.out, "   sns:      severity=%-6s %s\n", n.Severity, n.Subject)
	}
	d.mu.Unlock()
	events := res.Events + res.CloudTrailCalls
	retries := fmt.Sprintf(" for %d events: %d from Config, %d from CloudTrail", events, res.Events, res.CloudTrailCalls)
	d.printf("\n7. Outcomes (%d outcomes%s; %d SNS notifications received)\n", len(outcomes), retries, notes)
	d.mu.Lock()
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   RESOURCE\tREMEDIATOR\tTRIGGER\tACTION\tTIME TO FIX\tWHY")
	for _, o := range outcomes {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\t%s\n", label(o), o.Remediator, o.Trigger, o.Action, timeToFix(o), short(o.Reason, 64))
	}
	tw.Flush()
	fmt.Fprintf(d.out, "   %s\n", TimeToFixDefinition)
	d.mu.Unlock()
	for _, trigger := range []remediation.Trigger{remediation.TriggerConfig, remediation.TriggerCloudTrail} {
		if times := fixTimes(outcomes, trigger); len(times) > 0 {
			d.printf("   time to fix, %-10s %d fixes, median %s, slowest %s (from %s)\n", string(trigger)+":", len(times),
				percentile(times, 50).Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond),
				fixedAfter(remediation.Outcome{Trigger: trigger}))
		}
	}
	d.printf("   Locally both paths take the same route (bus, queue, function); Config's events came here as one burst, which the\n")
	d.printf("   emulator serves one call at a time (`make bench` compares the paths one change at a time). On AWS what differs is the\n")
	d.printf("   delivery: Config evaluates a change minutes after it (1-15), CloudTrail delivers the call's event within seconds.\n")
	ownDropped, ownIgnored := res.PipelineCalls, 0
	for _, o := range outcomes {
		if o.Trigger == remediation.TriggerCloudTrail && strings.HasPrefix(o.Actor, PipelineRole+"/") {
			ownIgnored++
		}
	}
	d.printf("   loop prevention: the pipeline's own %d changes were recorded by the CloudTrail stand-in as %s; the CloudTrail\n", ownDropped, shortActor(PipelineRole))
	d.printf("   rules' pattern dropped all of them before the function (%d reached it; IGNORE_ACTOR_ARNS would ignore them there)\n", ownIgnored)
	if esc, ok := d.lastOutcome(BucketFlapping); ok && esc.Action == remediation.ActionEscalated {
		fixes := 0
		for _, o := range outcomes {
			if o.ResourceID == BucketFlapping && o.Action == remediation.ActionRemediated {
				fixes++
			}
		}
		d.printf("   flapping: bucket %s fixed %d times, then escalated (severity high): %s undoes the fix; a human settles it\n",
			BucketFlapping, fixes, shortActor(esc.Actor))
	}
	d.printf("\n   compliance score before: %s\n", res.Before)
	d.printf("   compliance score after:  %s\n", res.After)
	// The function's last word on each check; CloudTrail outcomes name no
	// rule, so they stand for every check of their remediator on the
	// resource.
	latest := map[string]remediation.Outcome{}
	latestCloudTrail := map[string]remediation.Outcome{}
	attempts := map[string]int{}
	for _, o := range outcomes {
		latest[d.check(o)] = o
		attempts[d.check(o)]++
		if o.Rule == "" {
			latestCloudTrail[o.Remediator+"|"+o.ResourceID] = o
		}
	}
	d.printf("   still not compliant:\n")
	for _, o := range after {
		if !nonCompliant(o) {
			continue
		}
		why := string(o.Action)
		ev, ok := latest[d.check(o)]
		if ct, found := latestCloudTrail[o.Remediator+"|"+o.ResourceID]; found && (!ok || ct.CompletedAt.After(ev.CompletedAt)) {
			ev, ok = ct, true
		}
		if ok {
			why = string(ev.Action)
			if ev.Action == remediation.ActionFailed {
				why = fmt.Sprintf("failed %d times (Lambda's retries), then the event went to the dead-letter queue %s; the errors alarm fires", attempts[d.check(o)], DLQName)
			}
		}
		d.printf("     %-32s %-22s %s\n", label(o), o.Remediator, why)
	}
	failed, failedOutcomes := 0, 0
	for _, o := range latest {
		if o.Action == remediation.ActionFailed {
			failed++
		}
	}
	for _, o := range outcomes {
		if o.Action == remediation.ActionFailed {
			failedOutcomes++
		}
	}
	depth := strconv.Itoa(deadLetters)
	if deadLetters < 0 {
		depth = "unknown (its attributes could not be read)"
	}
	counted := ""
	if failedOutcomes != failed {
		counted = fmt.Sprintf(" (%d failed outcomes, retries included: the dashboard counts outcomes)", failedOutcomes)
	}
	d.printf("   failed checks: %d%s; dead-letter queue %s: %s message(s)\n", failed, counted, DLQName, depth)
}

// TimeToFixDefinition is what the demo's time to fix measures: the same
// span as the TimeToRemediate metric the dashboard draws.
const TimeToFixDefinition = "TIME TO FIX: from the API call (trigger cloudtrail: the call's eventTime) or from Config's notification " +
	"(trigger config: notificationCreationTime) to the verified fix, as the TimeToRemediate metric and the dashboard measure it"

// timeToFix is an outcome's time from the API call or Config's
// notification to the verified fix, or "-" when it fixed nothing.
func timeToFix(o remediation.Outcome) string {
	if o.Action != remediation.ActionRemediated || o.DetectedAt.IsZero() || o.CompletedAt.Before(o.DetectedAt) {
		return "-"
	}
	return o.CompletedAt.Sub(o.DetectedAt).Round(time.Millisecond).String()
}

// fixTimes are the times to fix of the remediated outcomes of a trigger,
// sorted.
func fixTimes(outcomes []remediation.Outcome, trigger remediation.Trigger) []time.Duration {
	var out []time.Duration
	for _, o := range outcomes {
		if o.Trigger == trigger && timeToFix(o) != "-" {
			out = append(out, o.CompletedAt.Sub(o.DetectedAt))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// percentile is the nearest-rank percentile p of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// check identifies the check an outcome is for: one remediator can check a
// resource against several rules (restricted-ssh and
// restricted-common-ports on one security group). The rule is the managed
// rule the event's rule name resolves to, so that the function's outcomes
// (reported under generated names) and the sweep's match.
func (d *demo) check(o remediation.Outcome) string {
	rule := o.Rule
	if _, managed, ok := d.h.Rules.Resolve(o.Rule); ok && managed != "" {
		rule = managed
	}
	return o.Remediator + "|" + rule + "|" + o.ResourceID
}

func label(o remediation.Outcome) string {
	kind := map[string]string{"AWS::S3::Bucket": "bucket", "AWS::EC2::Instance": "instance", "AWS::EC2::Volume": "volume",
		"AWS::EC2::SecurityGroup": "security group", "AWS::::Account": "account"}[o.ResourceType]
	return kind + " " + o.ResourceID
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

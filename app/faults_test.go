package app_test

// Resilience under throttling: the production wiring (app.LoadAWSConfig,
// app.NewClients, app.NewHandler, pointed at the endpoint with
// AWS_ENDPOINT_URL as the CLI is) talks to moto_server through a proxy that
// answers a seeded half of the calls with each service's throttling or
// server error, or makes the call and loses its answer. Every event must end
// with the resource fixed, read back from moto directly, and an honest
// outcome. FAULT_SEED=n runs it with another seed (the default is 1):
//
//	FAULT_SEED=7 go test -count=1 -run TestRemediationUnderInjectedFaults -v ./app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/faultproxy"
	"github.com/autoremediate/autoremediate/internal/syncbuf"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/state"
)

// faultFraction is the share of calls the proxy fails.
const faultFraction = 0.5

// faultDeadline is each event's deadline: the remediate function's default
// timeout (terraform lambda_timeout_seconds), also remediate invoke's
// per-event bound.
const faultDeadline = 60 * time.Second

// faultSeed is the proxy's seed: FAULT_SEED, or 1.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	s := os.Getenv("FAULT_SEED")
	if s == "" {
		return 1
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("FAULT_SEED=%q is not a whole number", s)
	}
	return n
}

// faultEvent is one event of the run and what became of it.
type faultEvent struct {
	what, fixture, id string
	raw               []byte // the event
	// fixed reads the resource back from moto (not through the proxy);
	// it is called once every event has ended.
	fixed func() (bool, string)
	o     remediation.Outcome
	err   error
}

func TestRemediationUnderInjectedFaults(t *testing.T) {
	r := newRig(t, nil) // its clients go to moto directly: setup and read-back
	seed := faultSeed(t)
	proxy, err := faultproxy.Start(faultproxy.Options{Target: r.srv.URL, Seed: seed, Fraction: faultFraction})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	topic, err := r.SNS.CreateTopic(ctx(t), &sns.CreateTopicInput{Name: aws.String(uniqueName("faults"))})
	if err != nil {
		t.Fatal(err)
	}
	queue := r.subscribeQueue(aws.ToString(topic.TopicArn), true)
	// The state table, as Terraform deploys it: its conditional writes go
	// through the proxy too.
	table := uniqueName("faults-state")
	if _, err := state.Init(ctx(t), dynamodb.NewFromConfig(r.srv.AWSConfig()), table); err != nil {
		t.Fatal(err)
	}

	// The production wiring, configured from the environment as the CLI
	// and the function are.
	for _, kv := range r.srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "AWS_ENDPOINT_URL" {
			v = proxy.URL
		}
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	t.Setenv("AWS_RETRY_MODE", "")
	// The test switches EBS encryption by default off four times, so the
	// flap limit is four: each fix must be counted once, even when the
	// store's conditional write is retried after a lost answer, or the
	// fourth event would be escalated.
	settings := map[string]string{"SNS_TOPIC_ARN": aws.ToString(topic.TopicArn), "STATE_TABLE": table, "FLAP_LIMIT": "4",
		"AWS_ENDPOINT_URL": proxy.URL}
	cfg, err := app.Load(func(k string) string { return settings[k] })
	if err != nil {
		t.Fatal(err)
	}
	awsCfg, err := app.LoadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	h, err := app.NewHandler(cfg, app.NewClients(awsCfg), app.NewLogger(logs, slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs.String())
		}
	})

	// The misconfigured resources, made directly on moto.
	var evs []*faultEvent
	for i := range 4 {
		public := r.makePublic("faults-public")
		evs = append(evs, &faultEvent{what: "public bucket " + public, fixture: fixturePublicRead, id: public, fixed: func() (bool, string) {
			got, err := r.S3.GetPublicAccessBlock(ctx(t), &s3.GetPublicAccessBlockInput{Bucket: aws.String(public)})
			if err != nil {
				return false, fmt.Sprintf("no public access block (%v)", err)
			}
			return allBlocked(got.PublicAccessBlockConfiguration), fmt.Sprintf("public access block %+v", got.PublicAccessBlockConfiguration)
		}})
		plain := r.createBucket("faults-sse")
		evs = append(evs, &faultEvent{what: "unencrypted bucket " + plain, fixture: fixtureSSE, id: plain, fixed: func() (bool, string) {
			got, err := r.S3.GetBucketEncryption(ctx(t), &s3.GetBucketEncryptionInput{Bucket: aws.String(plain)})
			if err != nil {
				return false, fmt.Sprintf("no default encryption (%v)", err)
			}
			rules := got.ServerSideEncryptionConfiguration.Rules
			return len(rules) == 1 && rules[0].ApplyServerSideEncryptionByDefault != nil &&
				rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm == "AES256", fmt.Sprintf("default encryption %+v", rules)
		}})
		http := r.createBucket("faults-tls")
		evs = append(evs, &faultEvent{what: "bucket without TLS-only policy " + http, fixture: fixtureSSL, id: http, fixed: func() (bool, string) {
			doc, ok := r.bucketPolicy(http)
			if !ok {
				return false, "no bucket policy"
			}
			// One statement, the deny: added once even when a write's
			// answer was lost and the call retried.
			stmts := policyStatements(t, doc)
			if len(stmts) != 1 {
				return false, "policy " + doc
			}
			checkTLSDeny(t, stmts[0], http)
			return true, "policy " + doc
		}})
		id := r.launchIMDSv1()
		evs = append(evs, &faultEvent{what: "IMDSv1 instance " + id, fixture: fixtureIMDSv2, id: id, fixed: func() (bool, string) {
			got := r.metadataOptions(id)
			return got.HttpTokens == "required" && aws.ToInt32(got.HttpPutResponseHopLimit) == 2, fmt.Sprintf("HttpTokens %s, hop limit %d", got.HttpTokens, aws.ToInt32(got.HttpPutResponseHopLimit))
		}})
		open, corp := sgSpec{"tcp", 22, 22, "0.0.0.0/0"}, sgSpec{"tcp", 22, 22, "10.0.0.0/8"}
		sg := r.newGroup(fmt.Sprintf("faults-sg-%d", i), nil, open, corp)
		evs = append(evs, &faultEvent{what: "security group open to SSH " + sg, fixture: sgFixture, id: sg, fixed: func() (bool, string) {
			got := r.ingress(sg)
			return slices.Equal(got, specs(corp)), fmt.Sprintf("ingress %v", got)
		}})
	}
	// EBS encryption by default is one setting per region: its events run
	// one after the other, each after switching it off again.
	var ebs []*faultEvent
	for range 4 {
		ebs = append(ebs, &faultEvent{what: "EBS encryption by default off", fixture: fixtureEBSDefault, id: emulatorAccount})
	}

	for _, ev := range append(slices.Clip(evs), ebs...) {
		ev.raw = uniqueEventID(t, fixtureEvent(t, ev.fixture, ev.id))
	}
	run := func(ev *faultEvent) {
		c, cancel := context.WithTimeout(context.Background(), faultDeadline)
		defer cancel()
		// As in Lambda: the function's ARN tells the account.
		c = lambdacontext.NewContext(c, &lambdacontext.LambdaContext{
			AwsRequestID:       uniqueName("req"),
			InvokedFunctionArn: "arn:aws:lambda:us-east-1:" + emulatorAccount + ":function:autoremediate-remediate",
		})
		ev.o, ev.err = h.Handle(c, ev.raw)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, ev := range evs {
		wg.Go(func() { run(ev) })
	}
	wg.Go(func() {
		for _, ev := range ebs {
			if _, err := r.EC2.DisableEbsEncryptionByDefault(context.Background(), &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
				ev.err = fmt.Errorf("test setup: switching EBS encryption by default off: %w", err)
				continue
			}
			run(ev)
			got, err := r.EC2.GetEbsEncryptionByDefault(context.Background(), &ec2.GetEbsEncryptionByDefaultInput{})
			on := err == nil && aws.ToBool(got.EbsEncryptionByDefault)
			desc := fmt.Sprintf("EBS encryption by default on: %t (%v)", on, err)
			ev.fixed = func() (bool, string) { return on, desc }
		}
	})
	wg.Wait()
	wall := time.Since(start)
	evs = append(evs, ebs...)

	actions := map[remediation.Action]int{}
	var failedFixed, claimedUnfixed, understated, notDelivered int
	for _, ev := range evs {
		actions[ev.o.Action]++
		fixed, state := ev.fixed()
		switch {
		case fixed && ev.o.Action == remediation.ActionFailed:
			failedFixed++
			t.Errorf("%s: failed although the fix is in place (%s): %s", ev.what, state, ev.o.Error)
		case !fixed && ev.o.Action != remediation.ActionFailed:
			claimedUnfixed++
			t.Errorf("%s: outcome %s (%s) but the resource is not fixed: %s", ev.what, ev.o.Action, ev.o.Reason, state)
		case !fixed:
			t.Errorf("%s: not fixed (%s): %s", ev.what, state, ev.o.Error)
		case ev.o.Action != remediation.ActionRemediated:
			// Each resource was misconfigured and nothing else fixed it:
			// the pipeline's change is what fixed it.
			understated++
			t.Errorf("%s: outcome %s (%s), want remediated", ev.what, ev.o.Action, ev.o.Reason)
		}
		if ev.err != nil && ev.o.Action != remediation.ActionFailed {
			notDelivered++
			t.Errorf("%s: %v", ev.what, ev.err)
		}
	}

	// Every outcome reached the topic's subscribers. A Publish whose answer
	// was lost is sent again by the SDK: SNS standard topics do not
	// deduplicate, so a subscriber may get an outcome twice.
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.o.EventID)
	}
	notified := r.drainOutcomes(queue, ids)
	duplicates := 0
	for _, ev := range evs {
		switch n := notified[ev.o.EventID]; {
		case n == 0:
			t.Errorf("%s: no notification of its %s outcome", ev.what, ev.o.Action)
		case n > 1:
			duplicates += n - 1
		}
	}

	stats := proxy.Stats()
	t.Logf("seed %d, %d events in %s: %v (failed with the fix in place %d, claimed but not fixed %d, fixed but not reported remediated %d, outcome not delivered %d), %d duplicate notifications; proxy: %d faults (%d throttles, %d server errors, %d lost responses), %d retries; %s",
		seed, len(evs), wall.Round(time.Millisecond), actions, failedFixed, claimedUnfixed, understated, notDelivered, duplicates, stats.TotalFaults(""), stats.TotalFaults(faultproxy.Throttle),
		stats.TotalFaults(faultproxy.ServerError), stats.TotalFaults(faultproxy.LostResponse), stats.TotalRetries(), stats)

	// The run is not vacuous: every service the pipeline calls got faults,
	// of every kind, and the SDK retried.
	for _, svc := range []string{"s3", "ec2", "monitoring", "sns", "dynamodb"} {
		if stats.ServiceFaults(svc) == 0 {
			t.Errorf("no fault was injected into %s calls", svc)
		}
	}
	for _, k := range faultproxy.Kinds() {
		if stats.TotalFaults(k) == 0 {
			t.Errorf("no %s was injected", k)
		}
	}
	if stats.Forwarded[""] > 0 || stats.TotalRetries() == 0 {
		t.Errorf("unsigned requests %d, retries %d: the pipeline did not go through the proxy as expected", stats.Forwarded[""], stats.TotalRetries())
	}
}

// drainOutcomes reads the outcome messages in the queue (raw delivery) and
// counts them by event ID, until it has seen every one of want and the
// queue is empty, or for 10 s.
func (r *rig) drainOutcomes(queue *string, want []string) map[string]int {
	r.t.Helper()
	n := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		out, err := r.SQS.ReceiveMessage(ctx(r.t), &sqs.ReceiveMessageInput{QueueUrl: queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			r.t.Fatal(err)
		}
		if len(out.Messages) == 0 && !slices.ContainsFunc(want, func(id string) bool { return n[id] == 0 }) {
			break
		}
		for _, m := range out.Messages {
			var o remediation.Outcome
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &o); err != nil {
				r.t.Fatalf("outcome message %q: %v", aws.ToString(m.Body), err)
			}
			n[o.EventID]++
		}
	}
	return n
}

// uniqueEventID gives the event an EventBridge id of its own: the same
// fixture serves several resources, and a redelivered id means the same
// event.
func uniqueEventID(t *testing.T, raw []byte) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["id"] = uniqueName("fault-event")
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

package main

// The state store across Lambda execution environments: two bootstrap
// processes share the DynamoDB table on the emulator, and the test counts
// what reaches AWS through a proxy between them and the emulator.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/state"
)

// countingProxy forwards to the emulator, counts the public access block
// writes, and refuses the first failPublishes SNS Publish calls with a
// non-retryable error, as a topic policy that denies would. It passes
// DynamoDB requests one at a time: moto checks a write's condition and
// writes in two steps on many threads, so two racing conditional writes can
// both succeed there, which DynamoDB never allows.
type countingProxy struct {
	*httptest.Server
	dynamo        sync.Mutex
	writes        atomic.Int64
	publishes     atomic.Int64
	failPublishes atomic.Int64
}

func newCountingProxy(t *testing.T, srv *emulator.Server) *countingProxy {
	t.Helper()
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("publicAccessBlock") {
			p.writes.Add(1)
		}
		if r.Method == http.MethodPost && strings.Contains(r.Header.Get("Authorization"), "/sns/aws4_request") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if strings.Contains(string(body), "Action=Publish") {
				p.publishes.Add(1)
				if p.failPublishes.Add(-1) >= 0 {
					w.Header().Set("Content-Type", "text/xml")
					w.WriteHeader(http.StatusForbidden)
					fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>User is not authorized to perform: SNS:Publish</Message></Error><RequestId>6f1c0d7e-0000-4000-8000-000000000001</RequestId></ErrorResponse>`)
					return
				}
			}
		}
		if strings.Contains(r.Header.Get("Authorization"), "/dynamodb/aws4_request") {
			p.dynamo.Lock()
			defer p.dynamo.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// stateRig is a state table, a topic with a queue subscribed to it, and the
// proxy.
type stateRig struct {
	table, topic, queue string
	sqs                 *sqs.Client
	proxy               *countingProxy
}

func newStateRig(t *testing.T) *stateRig {
	t.Helper()
	srv := emu(t)
	ctx := context.Background()
	cfg := srv.AWSConfig()
	r := &stateRig{table: fmt.Sprintf("state-%d", time.Now().UnixNano()), sqs: sqs.NewFromConfig(cfg), proxy: newCountingProxy(t, srv)}
	if _, err := state.Init(ctx, dynamodb.NewFromConfig(cfg), r.table); err != nil {
		t.Fatal(err)
	}
	snsc := sns.NewFromConfig(cfg)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(r.table)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := r.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(r.table)})
	if err != nil {
		t.Fatal(err)
	}
	r.topic, r.queue = aws.ToString(topic.TopicArn), aws.ToString(q.QueueUrl)
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String("arn:aws:sqs:us-east-1:" + emulator.Account + ":" + r.table),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	return r
}

// env is what the functions get: the table, the topic, and the proxy as
// their endpoint (a later variable wins in exec.Cmd's environment).
func (r *stateRig) env() []string {
	return []string{"STATE_TABLE=" + r.table, "SNS_TOPIC_ARN=" + r.topic, "METRICS_MODE=off", "AWS_ENDPOINT_URL=" + r.proxy.URL}
}

// messages drains the queue until it has been empty for a second and
// returns the outcomes it held.
func (r *stateRig) messages(t *testing.T) []remediation.Outcome {
	t.Helper()
	var outs []remediation.Outcome
	for {
		res, err := r.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.queue),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return outs
		}
		for _, m := range res.Messages {
			var o remediation.Outcome
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &o); err != nil {
				t.Fatalf("notification is not an outcome: %v\n%s", err, aws.ToString(m.Body))
			}
			outs = append(outs, o)
		}
	}
}

// aclEvent is the PutBucketAcl fixture on bucket: one remediator checks it.
func aclEvent(t *testing.T, bucket string) []byte {
	t.Helper()
	return fixture(t, "cloudtrail/s3-put-bucket-acl.json", "example-public-site", bucket)
}

func responseOutcomes(body []byte) ([]remediation.Outcome, error) {
	var outs []remediation.Outcome
	if err := json.Unmarshal(body, &outs); err != nil {
		return nil, fmt.Errorf("response is not a JSON array of outcomes: %w\n%s", err, body)
	}
	return outs, nil
}

// TestTwoEnvironmentsActAndNotifyOnce delivers one event ten times, five to
// each of two function processes at once: one write, one notification, and
// every delivery answers with the recorded outcome.
func TestTwoEnvironmentsActAndNotifyOnce(t *testing.T) {
	r := newStateRig(t)
	bucket := publicBucket(t, emu(t), "exactly-once")
	fs := []*function{startFunction(t, r.env()...), startFunction(t, r.env()...)}
	for _, f := range fs {
		f.initDone()
	}
	ev := aclEvent(t, bucket)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var actions []string
	var problems []string
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := f.rt.Invoke(ctx, ev, 25*time.Second)
				cancel()
				mu.Lock()
				switch {
				case err != nil:
					problems = append(problems, err.Error())
				case res.Err != nil:
					problems = append(problems, fmt.Sprintf("%+v", res.Err))
				default:
					outs, err := responseOutcomes(res.Body)
					if err != nil || len(outs) != 1 {
						problems = append(problems, fmt.Sprintf("%v %s", err, res.Body))
					} else {
						actions = append(actions, string(outs[0].Action))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("deliveries failed: %v", problems)
	}
	if got := strings.Join(actions, ","); got != strings.Repeat("remediated,", 9)+"remediated" {
		t.Errorf("answers %s; want the recorded remediated outcome ten times", got)
	}
	if n := r.proxy.writes.Load(); n != 1 {
		t.Errorf("%d public access block writes, want 1", n)
	}
	if msgs := r.messages(t); len(msgs) != 1 || msgs[0].Action != remediation.ActionRemediated || msgs[0].Actor == "" {
		t.Errorf("%d notifications %+v; want one remediated, naming the actor", len(msgs), msgs)
	}
}

// TestFailedPublishIsRetriedWithTheRecordedOutcome: the first delivery fixes
// the bucket but cannot notify; Lambda's retry of the same event sends the
// remediated outcome, not a fresh compliant one.
func TestFailedPublishIsRetriedWithTheRecordedOutcome(t *testing.T) {
	r := newStateRig(t)
	r.proxy.failPublishes.Store(1)
	bucket := publicBucket(t, emu(t), "retry-publish")
	f := startFunction(t, r.env()...)
	f.initDone()
	ev := aclEvent(t, bucket)
	if res := f.invoke(ev); res.Err == nil || !strings.Contains(res.Err.Message, "AuthorizationError") {
		t.Fatalf("first delivery: %+v %s; want an invocation error naming the refused publish", res.Err, res.Body)
	}
	res := f.invoke(ev)
	if res.Err != nil {
		t.Fatalf("retry: %+v", res.Err)
	}
	if outs, err := responseOutcomes(res.Body); err != nil || len(outs) != 1 || outs[0].Action != remediation.ActionRemediated {
		t.Errorf("retry answered %s (%v); want the recorded remediated outcome", res.Body, err)
	}
	if msgs := r.messages(t); len(msgs) != 1 || msgs[0].Action != remediation.ActionRemediated {
		t.Errorf("notifications %+v; want exactly the remediated one", msgs)
	}
	if n, p := r.proxy.writes.Load(), r.proxy.publishes.Load(); n != 1 || p != 2 {
		t.Errorf("%d writes and %d publish calls; want 1 write, the refused publish and its retry", n, p)
	}
}

package sweep_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/syncbuf"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/state"
	"github.com/autoremediate/autoremediate/sweep"
)

const queueURL = "https://sqs.eu-west-1.amazonaws.com/111111111111/autoremediate-sweep"

// fakeQueue records the messages sent and refuses, once, the entries whose
// body names refuseOnce.
type fakeQueue struct {
	t          *testing.T
	mu         sync.Mutex
	bodies     []string
	batches    int
	refuseOnce string
	refused    bool
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if aws.ToString(in.QueueUrl) != queueURL {
		q.t.Errorf("SendMessageBatch to %q, want %q", aws.ToString(in.QueueUrl), queueURL)
	}
	if n := len(in.Entries); n < 1 || n > 10 {
		q.t.Errorf("SendMessageBatch with %d entries: SQS takes 1 to 10", n)
	}
	q.batches++
	out := &sqs.SendMessageBatchOutput{}
	ids := map[string]bool{}
	for _, e := range in.Entries {
		if ids[aws.ToString(e.Id)] {
			q.t.Errorf("entry ID %q twice in one batch", aws.ToString(e.Id))
		}
		ids[aws.ToString(e.Id)] = true
		if q.refuseOnce != "" && !q.refused && strings.Contains(aws.ToString(e.MessageBody), q.refuseOnce) {
			q.refused = true
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false})
			continue
		}
		q.bodies = append(q.bodies, aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (q *fakeQueue) messages(t *testing.T) []sweep.Message {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []sweep.Message
	for _, b := range q.bodies {
		m, err := sweep.ParseMessage(b)
		if err != nil {
			t.Fatalf("the planner sent a message the worker refuses: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// fakeTopic records the summaries published; fail makes the next publish
// fail.
type fakeTopic struct {
	mu   sync.Mutex
	msgs []*sns.PublishInput
	fail atomic.Bool
}

func (f *fakeTopic) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	if f.fail.Swap(false) {
		return nil, errors.New("InternalErrorException: SNS is having a bad day")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, in)
	return &sns.PublishOutput{MessageId: aws.String("m")}, nil
}

func (f *fakeTopic) published() []*sns.PublishInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

// fakeOrgAPI is an organisation of pages of accounts.
type fakeOrgAPI struct{ pages [][]orgtypes.Account }

func (f fakeOrgAPI) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	i := 0
	if in.NextToken != nil {
		fmt.Sscan(aws.ToString(in.NextToken), &i)
	}
	out := &organizations.ListAccountsOutput{Accounts: f.pages[i]}
	if i+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprint(i + 1))
	}
	return out, nil
}

type fakeRegionsAPI []string

func (f fakeRegionsAPI) DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	out := &ec2.DescribeRegionsOutput{}
	for _, r := range f {
		out.Regions = append(out.Regions, ec2types.Region{RegionName: aws.String(r), OptInStatus: aws.String("opt-in-not-required")})
	}
	out.Regions = append(out.Regions, ec2types.Region{RegionName: aws.String("ap-east-1"), OptInStatus: aws.String("not-opted-in")})
	return out, nil
}

func active(id string) orgtypes.Account {
	return orgtypes.Account{Id: aws.String(id), State: orgtypes.AccountStateActive}
}

// stateTable is a fresh state table on the emulator (created as `remediate
// state init` does): the run is counted with DynamoDB's own conditional
// writes.
func stateTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := dynamodb.NewFromConfig(srv.AWSConfig())
	table := fmt.Sprintf("sweep-runs-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := state.Init(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	return client, table
}

// The planner of a fake organisation: one message per account-region of the
// ACTIVE accounts (every page) but the excluded one, in the enabled regions
// that REGIONS allows, each naming how many regions its account has; a
// refused entry is sent again; the run is recorded in the state table with
// its TTL; planning the same run again sends again without resetting it.
func TestPlannerSendsOneMessagePerAccountRegion(t *testing.T) {
	table, name := stateTable(t)
	var accounts [][]orgtypes.Account
	for p := range 3 {
		var page []orgtypes.Account
		for i := range 5 {
			page = append(page, active(fmt.Sprintf("1000000000%d%d", p, i)))
		}
		accounts = append(accounts, page)
	}
	accounts[1] = append(accounts[1], orgtypes.Account{Id: aws.String("999999999999"), State: orgtypes.AccountStateSuspended})
	planner := &app.SweepPlanner{
		Config:        app.Config{ExcludedAccounts: []string{"100000000001"}, Regions: []string{"eu-west-1", "us-east-1"}},
		Organizations: fakeOrgAPI{pages: accounts},
		Regions:       fakeRegionsAPI{"eu-west-1", "us-east-1", "us-west-2"},
	}
	q := &fakeQueue{t: t, refuseOnce: `"account":"100000000023","region":"us-east-1"`}
	var log syncbuf.Buffer
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	p := &sweep.Planner{
		Plan: func(ctx context.Context) ([]sweep.AccountRegion, []string, error) {
			return planner.Plan(ctx, app.All, app.All)
		},
		Queue: q, QueueURL: queueURL, Table: table, TableName: name, Log: &log, Now: func() time.Time { return now },
	}
	res, err := p.Run(context.Background(), "sweep-run-1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Accounts != 14 || res.Scopes != 28 {
		t.Errorf("plan %+v, want 14 accounts and 28 account-regions", res)
	}
	if !slices.Contains(res.Skipped, "account 100000000001 is excluded (EXCLUDED_ACCOUNTS)") {
		t.Errorf("skipped %v, want the excluded account named", res.Skipped)
	}
	got := q.messages(t)
	var keys []string
	for _, m := range got {
		if m.RunID != "sweep-run-1" || m.Regions != 2 {
			t.Errorf("message %+v, want run sweep-run-1 and 2 regions", m)
		}
		keys = append(keys, m.Account+"/"+m.Region)
	}
	slices.Sort(keys)
	var want []string
	for p := range 3 {
		for i := range 5 {
			if id := fmt.Sprintf("1000000000%d%d", p, i); id != "100000000001" {
				want = append(want, id+"/eu-west-1", id+"/us-east-1")
			}
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("messages for\n  %v\nwant\n  %v", keys, want)
	}
	if !q.refused || q.batches != 4 {
		t.Errorf("%d batches (refused once: %t), want 3 and one more for the refused entry", q.batches, q.refused)
	}
	key := map[string]ddbtypes.AttributeValue{state.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: "sweeprun#sweep-run-1"}}
	item, err := table.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(name), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	num := func(attr string) string {
		v, _ := item.Item[attr].(*ddbtypes.AttributeValueMemberN)
		if v == nil {
			return ""
		}
		return v.Value
	}
	if num("accounts") != "14" || num("scopes") != "28" || num(state.TTLAttribute) != fmt.Sprint(now.Add(sweep.RunTTL).Unix()) {
		t.Errorf("run item %v", item.Item)
	}
	if !strings.Contains(log.String(), `"msg":"sweep planned","runId":"sweep-run-1","accounts":14,"scopes":28`) {
		t.Errorf("log %q", log.String())
	}

	// The same run again (a retried invocation): sent again, not reset.
	now = now.Add(time.Minute)
	if _, err := p.Run(context.Background(), "sweep-run-1"); err != nil {
		t.Fatal(err)
	}
	if n := len(q.messages(t)); n != 56 {
		t.Errorf("%d messages after planning twice, want 56", n)
	}
	again, err := table.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(name), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if v := again.Item["startedAt"].(*ddbtypes.AttributeValueMemberN).Value; v != fmt.Sprint(now.Add(-time.Minute).UnixMilli()) {
		t.Errorf("planning again reset the run's start to %s", v)
	}
}

// worker returns a worker on a fresh table whose sweep answers from
// results (by account/region) and counts its calls.
func worker(t *testing.T, results map[string]sweep.ScopeResult) (*sweep.Worker, *fakeTopic, *syncbuf.Buffer, *atomic.Int32) {
	t.Helper()
	table, name := stateTable(t)
	topic := &fakeTopic{}
	log := &syncbuf.Buffer{}
	var calls atomic.Int32
	w := &sweep.Worker{
		Sweep: func(ctx context.Context, runID string, ar sweep.AccountRegion) sweep.ScopeResult {
			calls.Add(1)
			r, ok := results[ar.String()]
			if !ok {
				t.Errorf("swept %s, which is not in the plan", ar)
			}
			return r
		},
		Table: table, TableName: name, SNS: topic, TopicARN: "arn:aws:sns:eu-west-1:111111111111:autoremediate-notifications", Log: log,
	}
	return w, topic, log, &calls
}

// plan plans run on the worker's table for accounts x regions and returns
// the messages the planner sent.
func plan(t *testing.T, w *sweep.Worker, run string, accounts, regions []string) []sweep.Message {
	t.Helper()
	q := &fakeQueue{t: t}
	p := &sweep.Planner{
		Plan: func(context.Context) ([]sweep.AccountRegion, []string, error) {
			return sweep.Cross(accounts, regions), nil, nil
		},
		Queue: q, QueueURL: queueURL, Table: w.Table, TableName: w.TableName,
	}
	if _, err := p.Run(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	return q.messages(t)
}

func body(m sweep.Message) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func summaries(t *testing.T, topic *fakeTopic) []sweep.LambdaResult {
	t.Helper()
	var out []sweep.LambdaResult
	for _, m := range topic.published() {
		var r sweep.LambdaResult
		if err := json.Unmarshal([]byte(aws.ToString(m.Message)), &r); err != nil {
			t.Fatalf("summary %q: %v", aws.ToString(m.Message), err)
		}
		out = append(out, r)
	}
	return out
}

// The summary comes when the last account-region is done, once: messages
// delivered twice (before and after the end) are counted once and publish
// nothing more; a member whose role cannot be assumed is reported in its
// account's breakdown, and its message is not retried.
func TestWorkerPublishesTheSummaryWhenTheLastScopeFinishes(t *testing.T) {
	accounts, regions := []string{"111111111111", "222222222222", "333333333333"}, []string{"eu-west-1", "us-east-1"}
	results := map[string]sweep.ScopeResult{}
	for _, a := range accounts {
		for _, r := range regions {
			results[a+"/"+r] = sweep.ScopeResult{Checked: 2, Counts: map[remediation.Action]int{remediation.ActionRemediated: 1, remediation.ActionCompliant: 1}, CompliantChecks: 2, ScoredChecks: 2, DurationMs: 10}
		}
	}
	results["333333333333/us-east-1"] = sweep.ScopeResult{Error: "cannot assume the member role arn:aws:iam::333333333333:role/autoremediate-member in account 333333333333 (sts:AssumeRole denied)"}
	w, topic, log, calls := worker(t, results)
	msgs := plan(t, w, "sweep-run-2", accounts, regions)
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6", len(msgs))
	}
	h := w.LambdaHandler()
	deliver := func(m sweep.Message) {
		t.Helper()
		resp, err := h(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "id-" + m.Account + m.Region, Body: body(m)}}})
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("delivering %+v: %v %+v\n%s", m, err, resp, log.String())
		}
	}
	for i, m := range msgs {
		deliver(m)
		if i == 2 {
			deliver(msgs[0]) // a duplicate, before the end
		}
		if got := len(topic.published()); i < len(msgs)-1 && got != 0 {
			t.Fatalf("a summary after %d of %d account-regions", i+1, len(msgs))
		}
	}
	deliver(msgs[len(msgs)-1]) // a duplicate of the last one
	deliver(msgs[3])
	sums := summaries(t, topic)
	if len(sums) != 1 {
		t.Fatalf("%d summaries published, want 1", len(sums))
	}
	if n := calls.Load(); n != 6 {
		t.Errorf("%d sweeps for 6 account-regions and 3 duplicates, want 6 (a duplicate finds its result recorded and does not sweep again)", n)
	}
	if n := strings.Count(log.String(), `"msg":"sweep account-region already recorded"`); n != 3 {
		t.Errorf("%d duplicates noted, want 3:\n%s", n, log.String())
	}
	s := sums[0]
	if s.RunID != "sweep-run-2" || s.Scopes != 6 || s.FailedScopes != 1 || s.Checked != 10 || s.CompliantChecks != 10 || s.Counts[remediation.ActionRemediated] != 5 || len(s.Accounts) != 3 {
		t.Errorf("summary %+v", s)
	}
	for _, a := range s.Accounts {
		if !slices.Equal(a.Regions, regions) {
			t.Errorf("account %s: regions %v, want %v", a.Account, a.Regions, regions)
		}
	}
	if a := s.Accounts[2]; a.Account != "333333333333" || !slices.Equal(a.FailedRegions, []string{"us-east-1"}) || len(a.Problems) != 1 || !strings.Contains(a.Problems[0], "us-east-1: not swept: cannot assume the member role") {
		t.Errorf("the broken member's breakdown: %+v", a)
	}
	msg := topic.published()[0]
	if v := msg.MessageAttributes["type"]; aws.ToString(v.StringValue) != "sweep-summary" || !strings.Contains(aws.ToString(msg.Subject), "1 of 6 account-regions with problems") {
		t.Errorf("SNS message: subject %q, attributes %v", aws.ToString(msg.Subject), msg.MessageAttributes)
	}
	if n := strings.Count(log.String(), `"msg":"sweep summary"`); n != 1 {
		t.Errorf("%d summary log lines, want 1:\n%s", n, log.String())
	}
	if n := strings.Count(log.String(), `"msg":"sweep account-region done","runId":"sweep-run-2","account":"333333333333","region":"us-east-1"`); n != 1 {
		t.Errorf("%d log lines for the broken member's account-region, delivered twice, want 1 (the duplicate is not swept):\n%s", n, log.String())
	}
}

// A summary that cannot be published fails the message that completed the
// run, so that it is delivered again; the redelivery publishes it.
func TestWorkerPublishesTheSummaryOnRedeliveryWhenPublishingFailed(t *testing.T) {
	results := map[string]sweep.ScopeResult{"111111111111/eu-west-1": {Checked: 1, Counts: map[remediation.Action]int{remediation.ActionCompliant: 1}, CompliantChecks: 1, ScoredChecks: 1}}
	w, topic, log, calls := worker(t, results)
	msgs := plan(t, w, "sweep-run-3", []string{"111111111111"}, []string{"eu-west-1"})
	topic.fail.Store(true)
	ev := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m-1", Body: body(msgs[0])}}}
	resp, err := w.LambdaHandler()(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-1" {
		t.Fatalf("a failed publish: %v %+v, want message m-1 reported failed", err, resp)
	}
	if !strings.Contains(log.String(), "SNS is having a bad day") {
		t.Errorf("the failure is not logged:\n%s", log.String())
	}
	resp, err = w.LambdaHandler()(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %v %+v\n%s", err, resp, log.String())
	}
	if sums := summaries(t, topic); len(sums) != 1 || sums[0].Checked != 1 {
		t.Errorf("summaries %+v, want one after the redelivery", sums)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d sweeps, want 1: the redelivery publishes the recorded result without sweeping again", n)
	}
}

// A message the worker cannot read fails (and so ends in the dead-letter
// queue); one for a run the table does not know is dropped with a log line,
// since delivering it again cannot help.
func TestWorkerRefusesBadMessagesAndUnknownRuns(t *testing.T) {
	w, topic, log, calls := worker(t, map[string]sweep.ScopeResult{"111111111111/eu-west-1": {}})
	for _, b := range []string{
		`{"runId":"sweep-1","account":"1111","region":"eu-west-1","regions":1}`,
		`{"runId":"sweep-1","account":"111111111111","region":"Ireland","regions":1}`,
		`{"runId":"sweep 1","account":"111111111111","region":"eu-west-1","regions":1}`,
		`{"runId":"sweep-1","account":"111111111111","region":"eu-west-1","regions":0}`,
		`{"runId":"sweep-1","account":"111111111111","region":"eu-west-1","regions":1,"extra":true}`,
		`not json`,
	} {
		resp, _ := w.LambdaHandler()(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "bad", Body: b}}})
		if len(resp.BatchItemFailures) != 1 {
			t.Errorf("message %s: %+v, want it reported failed", b, resp)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("a bad message was swept")
	}
	err := w.Handle(context.Background(), `{"runId":"sweep-never-planned","account":"111111111111","region":"eu-west-1","regions":1}`)
	if err != nil || !strings.Contains(log.String(), `"msg":"sweep run unknown","runId":"sweep-never-planned"`) || len(topic.published()) != 0 {
		t.Errorf("unknown run: %v, published %d\n%s", err, len(topic.published()), log.String())
	}
}

// The sweep stops Reserve before the invocation's deadline, so that its
// result is still recorded; of a short invocation it keeps a quarter.
func TestWorkerSweepsWithinTheReserve(t *testing.T) {
	w, _, _, _ := worker(t, map[string]sweep.ScopeResult{"111111111111/eu-west-1": {}})
	var left time.Duration
	sweepFn := w.Sweep
	w.Sweep = func(ctx context.Context, runID string, ar sweep.AccountRegion) sweep.ScopeResult {
		dl, _ := ctx.Deadline()
		left = time.Until(dl)
		return sweepFn(ctx, runID, ar)
	}
	for _, tc := range []struct {
		reserve, timeout, wantAbout time.Duration
	}{
		{10 * time.Minute, 60 * time.Minute, 50 * time.Minute},
		{0, 15 * time.Minute, 15*time.Minute - sweep.DefaultReserve},
		{0, 60 * time.Second, 45 * time.Second},
	} {
		// A run of its own each: a recorded account-region is not swept
		// again.
		msgs := plan(t, w, fmt.Sprintf("sweep-run-4-%d", tc.timeout/time.Second), []string{"111111111111"}, []string{"eu-west-1"})
		w.Reserve = tc.reserve
		ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
		if err := w.Handle(ctx, body(msgs[0])); err != nil {
			t.Fatal(err)
		}
		cancel()
		if left > tc.wantAbout || left < tc.wantAbout-5*time.Second {
			t.Errorf("reserve %s of %s: the sweep had %s, want about %s", tc.reserve, tc.timeout, left, tc.wantAbout)
		}
	}
}

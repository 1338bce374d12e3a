package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/state"
)

// The scheduled organisation sweep is fanned out so that no Lambda
// invocation's 15 minutes bound it: the planner (the scheduled sweep
// function) sends one Message per account-region to the sweep queue, a
// worker invocation sweeps each, and the worker that finishes the last
// account-region publishes the summary. The run's progress is counted in
// the state table (STATE_TABLE), with conditional writes only, so that a
// message delivered twice is counted once:
//
//   - the run's item (sweeprun#RUN) holds how many accounts the run covers
//     and the set of the accounts that are finished;
//   - each account's item (sweeprun#RUN#ACCOUNT) holds the summary of each
//     of its regions (ScopeResult, one attribute per region, written only
//     if absent) and how many are done.
//
// An account whose last region reports is added to the run's set (only if
// absent); the worker that completes the set claims the summary, reads the
// accounts' items and publishes. Every item carries the table's TTL.

// PlannerActions are the calls the planner of a scheduled organisation
// sweep makes besides the state table's (state.Actions): the
// organisation's accounts (ListAccounts has no resource type), the enabled
// regions, and the sweep queue (SendMessageBatch is authorised as
// sqs:SendMessage).
func PlannerActions() []string {
	return []string{"organizations:ListAccounts", "ec2:DescribeRegions", "sqs:SendMessage"}
}

// WorkerQueueActions are what Lambda's event source mapping needs of the
// worker's role on the sweep queue: it receives the messages, deletes the
// handled ones and reads the queue's attributes.
func WorkerQueueActions() []string {
	return []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
}

// Message is one account-region of a scheduled organisation sweep: what the
// planner sends and a worker sweeps.
type Message struct {
	RunID   string `json:"runId"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Regions is how many regions of the account the run sweeps: the
	// account is finished when that many have reported.
	Regions int `json:"regions"`
}

// QueueAPI is the part of the SQS client the planner sends with.
type QueueAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// TableAPI is the part of the DynamoDB client the run is counted with: the
// state store's actions (state.Actions), nothing more.
type TableAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// TopicAPI is the part of the SNS client the summary is published with.
type TopicAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// RunTTL is how long a run's items live: as long as a message can wait in
// the sweep queue's dead-letter queue (SQS keeps messages up to 14 days),
// so that a redriven message still finds its run.
const RunTTL = state.DefaultEventTTL

// The items and attributes of a run.
const (
	runPrefix           = "sweeprun#"
	attrAccounts        = "accounts"        // run: how many accounts the run covers
	attrScopes          = "scopes"          // run: how many account-regions
	attrStartedAt       = "startedAt"       // run: epoch ms
	attrFinished        = "finished"        // run: string set of the finished accounts
	attrSummarizer      = "summarizer"      // run: who is publishing the summary
	attrSummarizerUntil = "summarizerUntil" // run: until when (epoch ms)
	attrSummarizedAt    = "summarizedAt"    // run: when the summary was published (epoch ms)
	attrRegions         = "regions"         // account: how many regions
	attrDone            = "done"            // account: how many regions reported
	regionAttrPrefix    = "region#"         // account: one ScopeResult (JSON) per region
)

func runKey(runID string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{state.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: runPrefix + runID}}
}

func accountKey(runID, account string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{state.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: runPrefix + runID + "#" + account}}
}

func numAttr(n int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func strAttr(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }

func readNum(item map[string]ddbtypes.AttributeValue, name string) int64 {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// Planner is the scheduled sweep function of an organisation sweep.
type Planner struct {
	// Plan lists the account-regions to sweep (app.SweepPlanner) and what
	// it left out.
	Plan func(ctx context.Context) ([]AccountRegion, []string, error)
	// Queue and QueueURL are the sweep queue.
	Queue    QueueAPI
	QueueURL string
	// Table and TableName are the state table.
	Table     TableAPI
	TableName string
	// Log receives the plan's log line (JSON); nil discards it.
	Log io.Writer
	Now func() time.Time // time.Now when nil
}

// PlanResult is what the planner returns.
type PlanResult struct {
	RunID    string   `json:"runId"`
	Accounts int      `json:"accounts"`
	Scopes   int      `json:"scopes"`
	Skipped  []string `json:"skipped,omitempty"`
}

// sendBatch is SQS's SendMessageBatch maximum.
const sendBatch = 10

// sendAttempts bounds the retries of the entries SendMessageBatch refuses
// (it answers with per-entry failures, not an error).
const sendAttempts = 3

// Run plans the run runID, records it in the state table and sends its
// messages. A planner invoked again with the same runID (Lambda retries an
// asynchronous invocation under the same request ID) sends them again: the
// workers count each account-region once.
func (p *Planner) Run(ctx context.Context, runID string) (PlanResult, error) {
	res := PlanResult{RunID: runID}
	targets, skipped, err := p.Plan(ctx)
	res.Skipped = skipped
	if err != nil {
		return res, fmt.Errorf("planning sweep %s: %w", runID, err)
	}
	regions := map[string]int{}
	for _, t := range targets {
		regions[t.Account]++
	}
	res.Accounts, res.Scopes = len(regions), len(targets)
	now := p.now()
	item := runKey(runID)
	item[attrAccounts] = numAttr(int64(len(regions)))
	item[attrScopes] = numAttr(int64(len(targets)))
	item[attrStartedAt] = numAttr(now.UnixMilli())
	item[state.TTLAttribute] = numAttr(now.Add(RunTTL).Unix())
	_, err = p.Table.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(p.TableName), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": state.KeyAttribute},
	})
	if err != nil && !awserr.Is(err, "ConditionalCheckFailedException") {
		return res, fmt.Errorf("recording sweep %s in DynamoDB table %q: %w", runID, p.TableName, err)
	}
	var batches [][]sqstypes.SendMessageBatchRequestEntry
	for i, t := range targets {
		body, _ := json.Marshal(Message{RunID: runID, Account: t.Account, Region: t.Region, Regions: regions[t.Account]})
		if i%sendBatch == 0 {
			batches = append(batches, nil)
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], sqstypes.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body)),
		})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 8)
	)
	for _, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := p.send(ctx, b); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	writeLine(p.Log, "sweep planned", res)
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("sending sweep %s to queue %s: %w", runID, p.QueueURL, err)
	}
	return res, nil
}

func (p *Planner) send(ctx context.Context, entries []sqstypes.SendMessageBatchRequestEntry) error {
	for attempt := 1; ; attempt++ {
		out, err := p.Queue.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(p.QueueURL), Entries: entries})
		if err != nil {
			return err
		}
		if len(out.Failed) == 0 {
			return nil
		}
		failed := map[string]sqstypes.BatchResultErrorEntry{}
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = f
		}
		if attempt == sendAttempts {
			var errs []error
			for _, f := range out.Failed {
				errs = append(errs, fmt.Errorf("message %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
			}
			return errors.Join(errs...)
		}
		entries = slices.DeleteFunc(entries, func(e sqstypes.SendMessageBatchRequestEntry) bool {
			_, again := failed[aws.ToString(e.Id)]
			return !again
		})
	}
}

func (p *Planner) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// Worker sweeps the account-region of one message and, when it finishes
// the run's last one, publishes the run's summary.
type Worker struct {
	// Sweep sweeps one account-region (app.OrgSweeper.SweepScope).
	Sweep func(ctx context.Context, runID string, t AccountRegion) ScopeResult
	// Table and TableName are the state table.
	Table     TableAPI
	TableName string
	// SNS and TopicARN receive the summary; an empty TopicARN skips it.
	SNS      TopicAPI
	TopicARN string
	// Log receives the account-region's line and the summary (JSON); nil
	// discards them.
	Log io.Writer
	// Reserve is the time kept, before the invocation's deadline, to record
	// the account-region's result and publish the summary (DefaultReserve
	// when 0, and at most a quarter of the time left): the sweep stops that
	// much earlier.
	Reserve time.Duration
	// SummaryLease is how long a worker may take to publish the summary
	// before another may (DefaultSummaryLease when 0).
	SummaryLease time.Duration
	Now          func() time.Time // time.Now when nil
}

// Defaults of Worker.
const (
	DefaultReserve      = 30 * time.Second
	DefaultSummaryLease = 2 * time.Minute
)

// runIDPattern is what a run ID may be: it names role sessions and table
// keys.
var runIDPattern = regexp.MustCompile(`^[\w+=,.@-]{1,48}$`)

var (
	accountPattern = regexp.MustCompile(`^\d{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

// ParseMessage reads a sweep queue message.
func ParseMessage(body string) (Message, error) {
	var m Message
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("reading sweep message: %w", err)
	}
	switch {
	case !runIDPattern.MatchString(m.RunID):
		return m, fmt.Errorf("sweep message: runId %q is not a run ID", m.RunID)
	case !accountPattern.MatchString(m.Account):
		return m, fmt.Errorf("sweep message: account %q is not a 12-digit account ID", m.Account)
	case !regionPattern.MatchString(m.Region):
		return m, fmt.Errorf("sweep message: region %q is not a region name", m.Region)
	case m.Regions < 1:
		return m, fmt.Errorf("sweep message: regions %d: want at least 1", m.Regions)
	}
	return m, nil
}

// LambdaHandler handles a batch of sweep queue messages (the event source
// mapping's batch size is 1), reporting the messages that failed so that
// only they are delivered again (ReportBatchItemFailures); a message that
// fails every delivery goes to the queue's dead-letter queue.
func (w *Worker) LambdaHandler() func(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	return func(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
		var resp lambdaevents.SQSEventResponse
		for _, r := range ev.Records {
			if err := w.Handle(ctx, r.Body); err != nil {
				writeLine(w.Log, "sweep message failed", struct {
					MessageID string `json:"messageId"`
					Error     string `json:"error"`
				}{r.MessageId, err.Error()})
				resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
}

// Handle sweeps the message's account-region, records its result and, if
// it was the run's last, publishes the summary. A message whose result is
// recorded already is not swept again. An account-region that
// could not be swept (its member role cannot be assumed) is a result like
// any other: it is recorded and reported in the summary, not retried. An
// error means the message should be delivered again: it could not be read,
// or the result could not be recorded or the summary not published.
func (w *Worker) Handle(ctx context.Context, body string) error {
	m, err := ParseMessage(body)
	if err != nil {
		return err
	}
	// A message delivered again (SQS's at-least-once delivery, a retried
	// planner, a summary that could not be published) finds its result
	// recorded: it goes on from there instead of sweeping, and writing,
	// the account-region a second time.
	acct, err := w.get(ctx, accountKey(m.RunID, m.Account))
	if err != nil {
		return err
	}
	if acct[regionAttrPrefix+m.Region] != nil {
		writeLine(w.Log, "sweep account-region already recorded", struct {
			RunID   string `json:"runId"`
			Account string `json:"account"`
			Region  string `json:"region"`
		}{m.RunID, m.Account, m.Region})
		run, last, err := w.record(ctx, m, ScopeResult{Account: m.Account, Region: m.Region})
		if err != nil || !last {
			return err
		}
		return w.summarize(ctx, m.RunID, run)
	}
	sweepCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		// At most a quarter of the time left is kept back: a short
		// invocation still gets most of its time to sweep.
		var cancel context.CancelFunc
		sweepCtx, cancel = context.WithDeadline(ctx, dl.Add(-min(w.reserve(), time.Until(dl)/4)))
		defer cancel()
	}
	res := w.Sweep(sweepCtx, m.RunID, AccountRegion{Account: m.Account, Region: m.Region})
	res.Account, res.Region = m.Account, m.Region
	writeLine(w.Log, "sweep account-region done", struct {
		RunID string `json:"runId"`
		ScopeResult
	}{m.RunID, res})
	run, last, err := w.record(ctx, m, res)
	if err != nil || !last {
		return err
	}
	return w.summarize(ctx, m.RunID, run)
}

// record stores the account-region's result and, when it finishes its
// account, the account in the run's set. last says whether the run is
// complete; run is then its item.
func (w *Worker) record(ctx context.Context, m Message, res ScopeResult) (run map[string]ddbtypes.AttributeValue, last bool, err error) {
	body, _ := json.Marshal(res)
	now := w.now()
	out, err := w.Table.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(w.TableName),
		Key:                      accountKey(m.RunID, m.Account),
		UpdateExpression:         aws.String("SET #r = :r, #regions = :regions, #exp = :exp ADD #done :one"),
		ConditionExpression:      aws.String("attribute_not_exists(#r)"),
		ExpressionAttributeNames: map[string]string{"#r": regionAttrPrefix + m.Region, "#regions": attrRegions, "#exp": state.TTLAttribute, "#done": attrDone},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":r": strAttr(string(body)), ":regions": numAttr(int64(m.Regions)), ":exp": numAttr(now.Add(RunTTL).Unix()), ":one": numAttr(1),
		},
		ReturnValues: ddbtypes.ReturnValueAllNew,
	})
	var acct map[string]ddbtypes.AttributeValue
	switch {
	case err == nil:
		acct = out.Attributes
	case awserr.Is(err, "ConditionalCheckFailedException"):
		// Delivered again: the first delivery's result stands, and what
		// it did next may not have happened (it may have stopped here).
		if acct, err = w.get(ctx, accountKey(m.RunID, m.Account)); err != nil {
			return nil, false, err
		}
	default:
		return nil, false, fmt.Errorf("recording %s/%s of sweep %s in DynamoDB table %q: %w", m.Account, m.Region, m.RunID, w.TableName, err)
	}
	if readNum(acct, attrDone) < readNum(acct, attrRegions) {
		return nil, false, nil
	}
	out, err = w.Table.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(w.TableName),
		Key:                       runKey(m.RunID),
		UpdateExpression:          aws.String("ADD #finished :account"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND NOT contains(#finished, :id)"),
		ExpressionAttributeNames:  map[string]string{"#pk": state.KeyAttribute, "#finished": attrFinished},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":account": &ddbtypes.AttributeValueMemberSS{Value: []string{m.Account}}, ":id": strAttr(m.Account)},
		ReturnValues:              ddbtypes.ReturnValueAllNew,
	})
	switch {
	case err == nil:
		run = out.Attributes
	case awserr.Is(err, "ConditionalCheckFailedException"):
		if run, err = w.get(ctx, runKey(m.RunID)); err != nil {
			return nil, false, err
		}
		if run == nil {
			// Nothing to count against: the run was never planned or
			// its items expired. Delivering the message again cannot
			// change that.
			writeLine(w.Log, "sweep run unknown", struct {
				RunID string `json:"runId"`
				Error string `json:"error"`
			}{m.RunID, fmt.Sprintf("DynamoDB table %q has no item for sweep %s: no summary is published for it", w.TableName, m.RunID)})
			return nil, false, nil
		}
	default:
		return nil, false, fmt.Errorf("recording account %s as finished in sweep %s in DynamoDB table %q: %w", m.Account, m.RunID, w.TableName, err)
	}
	finished, _ := run[attrFinished].(*ddbtypes.AttributeValueMemberSS)
	if finished == nil || int64(len(finished.Value)) < readNum(run, attrAccounts) || run[attrSummarizedAt] != nil {
		return nil, false, nil
	}
	return run, true, nil
}

func (w *Worker) get(ctx context.Context, key map[string]ddbtypes.AttributeValue) (map[string]ddbtypes.AttributeValue, error) {
	out, err := w.Table.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(w.TableName), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		pk, _ := key[state.KeyAttribute].(*ddbtypes.AttributeValueMemberS)
		return nil, fmt.Errorf("reading item %q of DynamoDB table %q: %w", pk.Value, w.TableName, err)
	}
	return out.Item, nil
}

// summarize claims the run's summary, reads every account's results and
// publishes the summary. Another worker holding the claim (a duplicate
// delivery) makes it return without publishing; a failure releases the
// claim, so that a later delivery can publish.
func (w *Worker) summarize(ctx context.Context, runID string, run map[string]ddbtypes.AttributeValue) error {
	owner := fmt.Sprintf("%d", w.now().UnixNano())
	now := w.now()
	_, err := w.Table.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(w.TableName),
		Key:                      runKey(runID),
		UpdateExpression:         aws.String("SET #s = :owner, #until = :until"),
		ConditionExpression:      aws.String("attribute_not_exists(#done) AND (attribute_not_exists(#s) OR #until < :now)"),
		ExpressionAttributeNames: map[string]string{"#s": attrSummarizer, "#until": attrSummarizerUntil, "#done": attrSummarizedAt},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":owner": strAttr(owner), ":until": numAttr(now.Add(w.summaryLease()).UnixMilli()), ":now": numAttr(now.UnixMilli()),
		},
	})
	if awserr.Is(err, "ConditionalCheckFailedException") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("claiming the summary of sweep %s in DynamoDB table %q: %w", runID, w.TableName, err)
	}
	if err := w.publish(ctx, runID, run); err != nil {
		// Let the next delivery publish: the claim is given back.
		_, _ = w.Table.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(w.TableName), Key: runKey(runID),
			UpdateExpression:          aws.String("REMOVE #s, #until"),
			ConditionExpression:       aws.String("#s = :owner"),
			ExpressionAttributeNames:  map[string]string{"#s": attrSummarizer, "#until": attrSummarizerUntil},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":owner": strAttr(owner)},
		})
		return err
	}
	_, err = w.Table.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(w.TableName), Key: runKey(runID),
		UpdateExpression:          aws.String("SET #done = :now"),
		ExpressionAttributeNames:  map[string]string{"#done": attrSummarizedAt},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":now": numAttr(w.now().UnixMilli())},
	})
	if err != nil {
		// Published; a redelivery after the claim's lease could publish
		// it a second time, which is better than not at all.
		return fmt.Errorf("recording that the summary of sweep %s was published in DynamoDB table %q: %w", runID, w.TableName, err)
	}
	return nil
}

// Results reads the results of every finished account of the run.
func (w *Worker) Results(ctx context.Context, runID string, run map[string]ddbtypes.AttributeValue) ([]ScopeResult, error) {
	finished, _ := run[attrFinished].(*ddbtypes.AttributeValueMemberSS)
	if finished == nil {
		return nil, nil
	}
	accounts := slices.Sorted(slices.Values(finished.Value))
	items := make([]map[string]ddbtypes.AttributeValue, len(accounts))
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, a := range accounts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			items[i], errs[i] = w.get(ctx, accountKey(runID, a))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var results []ScopeResult
	for i, item := range items {
		for _, name := range slices.Sorted(maps.Keys(item)) {
			if !strings.HasPrefix(name, regionAttrPrefix) {
				continue
			}
			v, _ := item[name].(*ddbtypes.AttributeValueMemberS)
			var r ScopeResult
			if v == nil || json.Unmarshal([]byte(v.Value), &r) != nil {
				r = ScopeResult{Account: accounts[i], Region: strings.TrimPrefix(name, regionAttrPrefix), Error: "its recorded result cannot be read"}
			}
			results = append(results, r)
		}
	}
	return results, nil
}

// publish writes the summary's log line and sends it to the topic.
func (w *Worker) publish(ctx context.Context, runID string, run map[string]ddbtypes.AttributeValue) error {
	results, err := w.Results(ctx, runID, run)
	if err != nil {
		return fmt.Errorf("reading the results of sweep %s: %w", runID, err)
	}
	started := time.UnixMilli(readNum(run, attrStartedAt))
	res := Summarize(results, w.now().Sub(started))
	res.RunID = runID
	writeLine(w.Log, "sweep summary", res)
	if w.TopicARN == "" || w.SNS == nil {
		return nil
	}
	if _, err := w.SNS.Publish(ctx, SummaryMessage(w.TopicARN, res)); err != nil {
		return fmt.Errorf("publishing the summary of sweep %s to %s: %w", runID, w.TopicARN, err)
	}
	return nil
}

// maxSummaryMessage keeps the summary under SNS's 256 KiB message limit,
// with room for the attributes and the subject.
const maxSummaryMessage = 240 << 10

// SummaryMessage is the SNS message of a sweep's summary: its JSON (with
// the per-account breakdown; the accounts' problems, then the accounts
// without any problem, are left out when it would not fit), the subject
// saying the score and how many account-regions had problems, and the
// attributes subscribers filter on (type sweep-summary, severity high when
// something failed).
func SummaryMessage(topicARN string, res LambdaResult) *sns.PublishInput {
	body := fitSummary(res, maxSummaryMessage)
	severity := "info"
	if res.FailedScopes > 0 {
		severity = "high"
	}
	subject := fmt.Sprintf("Sweep %s: %s", res.RunID, res.Score)
	if res.FailedScopes > 0 {
		subject = fmt.Sprintf("Sweep %s: %d of %d account-regions with problems, %s", res.RunID, res.FailedScopes, res.Scopes, res.Score)
	}
	str := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return &sns.PublishInput{
		TopicArn: aws.String(topicARN),
		Subject:  aws.String(snsSubject(subject)),
		Message:  aws.String(body),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"type":     str("sweep-summary"),
			"trigger":  str("sweep"),
			"severity": str(severity),
		},
	}
}

// fitSummary is the summary's JSON, made to fit in limit bytes.
func fitSummary(res LambdaResult, limit int) string {
	b, _ := json.MarshalIndent(res, "", "  ")
	if len(b) <= limit {
		return string(b)
	}
	res.Accounts = slices.Clone(res.Accounts)
	for i := range res.Accounts {
		res.Accounts[i].MoreProblems += len(res.Accounts[i].Problems)
		res.Accounts[i].Problems = nil
	}
	// The accounts with problems first: they are what the reader needs.
	slices.SortStableFunc(res.Accounts, func(a, b AccountResult) int {
		return len(b.FailedRegions) - len(a.FailedRegions)
	})
	for n := len(res.Accounts); n >= 0; n-- {
		res.Accounts = res.Accounts[:n]
		if b, _ = json.Marshal(res); len(b) <= limit {
			return string(b)
		}
	}
	return string(b)
}

// snsSubject keeps printable ASCII and at most 100 characters, as SNS
// requires of a subject.
func snsSubject(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 100; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}

// writeLine writes one JSON log line {"msg": msg, ...v's fields}.
func writeLine(w io.Writer, msg string, v any) {
	if w == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) < 2 || b[0] != '{' {
		return
	}
	head, _ := json.Marshal(map[string]string{"msg": msg})
	if string(b) == "{}" {
		fmt.Fprintln(w, string(head))
		return
	}
	fmt.Fprintf(w, "%s,%s\n", head[:len(head)-1], b[1:])
}

func (w *Worker) now() time.Time {
	if w.Now == nil {
		return time.Now()
	}
	return w.Now()
}

func (w *Worker) reserve() time.Duration {
	if w.Reserve <= 0 {
		return DefaultReserve
	}
	return w.Reserve
}

func (w *Worker) summaryLease() time.Duration {
	if w.SummaryLease <= 0 {
		return DefaultSummaryLease
	}
	return w.SummaryLease
}

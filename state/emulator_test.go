package state

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

// The store on moto_server (moto 5.2.1), which evaluates condition
// expressions like DynamoDB. Differences from AWS that matter here:
//   - moto checks a condition and writes the item in two steps without a
//     lock, and moto_server serves requests on many threads: two racing
//     conditional writes can both succeed (seen: 2 owners of one key in 15
//     runs of TestConcurrentClaimsOnEmulator). DynamoDB applies a
//     conditional write atomically. The processes here therefore talk to
//     moto through serializer, a proxy that passes one request at a time:
//     the goroutines still race, the writes are atomic as on AWS.
//   - UpdateTimeToLive on a table whose TTL is already enabled succeeds on
//     moto and is a ValidationException on AWS (Init asks
//     DescribeTimeToLive first either way).
//   - moto never deletes expired items.

var shared emulator.Lazy

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

var tableSeq atomic.Int64

// emuTable returns a client on the shared emulator and a new table made by
// Init.
func emuTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := dynamodb.NewFromConfig(shared.Get(t).AWSConfig())
	table := fmt.Sprintf("state-test-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	if _, err := Init(testCtx(t), client, table); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return client, table
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// twoProcesses returns two stores with their own clients, as two Lambda
// execution environments have, talking to the emulator through one
// serializer.
func twoProcesses(t *testing.T, table string) (*Store, *Store) {
	cfg := shared.Get(t).AWSConfig()
	cfg.BaseEndpoint = aws.String(serializer(t))
	return New(dynamodb.NewFromConfig(cfg), table), New(dynamodb.NewFromConfig(cfg), table)
}

// serializer starts a proxy to the emulator that handles one request at a
// time (see the top of the file) and returns its URL.
func serializer(t *testing.T) string {
	target, err := url.Parse(shared.Get(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestInitOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	client := dynamodb.NewFromConfig(shared.Get(t).AWSConfig())
	table := fmt.Sprintf("state-init-%d", time.Now().UnixNano())
	res, err := Init(ctx, client, table)
	if err != nil || !res.Created || !res.TTLEnabled {
		t.Fatalf("Init on a new table = %+v, %v; want created with TTL enabled", res, err)
	}
	d, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	tb := d.Table
	if len(tb.KeySchema) != 1 || aws.ToString(tb.KeySchema[0].AttributeName) != "pk" || tb.KeySchema[0].KeyType != types.KeyTypeHash {
		t.Errorf("key schema %+v, want pk HASH only", tb.KeySchema)
	}
	if len(tb.AttributeDefinitions) != 1 || tb.AttributeDefinitions[0].AttributeType != types.ScalarAttributeTypeS {
		t.Errorf("attribute definitions %+v, want pk S", tb.AttributeDefinitions)
	}
	if tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing %+v, want PAY_PER_REQUEST", tb.BillingModeSummary)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "expiresAt" {
		t.Errorf("TTL %+v, want ENABLED on expiresAt", ttl.TimeToLiveDescription)
	}

	if res, err := Init(ctx, client, table); err != nil || res.Created || res.TTLEnabled {
		t.Errorf("Init again = %+v, %v; want nothing done", res, err)
	}

	// An existing table without TTL gets it.
	bare := table + "-bare"
	createTable(t, client, bare, "pk", types.ScalarAttributeTypeS)
	if res, err := Init(ctx, client, bare); err != nil || res.Created || !res.TTLEnabled {
		t.Errorf("Init on a table without TTL = %+v, %v; want TTL enabled", res, err)
	}

	for _, bad := range []struct {
		key string
		typ types.ScalarAttributeType
	}{{"id", types.ScalarAttributeTypeS}, {"pk", types.ScalarAttributeTypeN}} {
		name := fmt.Sprintf("%s-%s-%s", table, bad.key, bad.typ)
		createTable(t, client, name, bad.key, bad.typ)
		_, err := Init(ctx, client, name)
		if err == nil || !strings.Contains(err.Error(), "key schema") || !strings.Contains(err.Error(), name) {
			t.Errorf("Init on a table keyed %s (%s): %v, want a key schema error naming the table", bad.key, bad.typ, err)
		}
	}

	other := table + "-otherttl"
	createTable(t, client, other, "pk", types.ScalarAttributeTypeS)
	if _, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(other),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(ctx, client, other); err == nil || !strings.Contains(err.Error(), `TTL on attribute "ttl"`) {
		t.Errorf("Init on a table with TTL on another attribute: %v", err)
	}
}

func createTable(t *testing.T, client *dynamodb.Client, name, key string, typ types.ScalarAttributeType) {
	t.Helper()
	_, err := client.CreateTable(testCtx(t), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: typ}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("creating table %s: %v", name, err)
	}
}

func sampleOutcome(action remediation.Action) remediation.Outcome {
	return remediation.Outcome{
		Remediator: "s3-public-access-block", Rule: "s3-bucket-level-public-access-prohibited",
		ResourceType: "AWS::S3::Bucket", ResourceID: "example-bucket", Account: "123456789012", Region: "us-east-1",
		Action: action, Reason: "public access block was off", EventID: "ev-1",
		Before:  map[string]any{"blockPublicAcls": false},
		After:   map[string]any{"blockPublicAcls": true},
		Trigger: remediation.TriggerCloudTrail, Actor: "arn:aws:iam::123456789012:role/Admin/alice",
		// Not on a millisecond boundary: RFC 3339 keeps nanoseconds.
		DetectedAt:  time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		CompletedAt: time.Date(2026, 3, 1, 12, 0, 4, 987654321, time.UTC),
		DurationMs:  812,
	}
}

func TestClaimRecordClaimAgainOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	client, table := emuTable(t)
	a, b := twoProcesses(t, table)
	const key = "ev-1|s3-public-access-block|123456789012|us-east-1|example-bucket"

	if c, err := a.Claim(ctx, key, "a", time.Minute); err != nil || !c.Owned {
		t.Fatalf("first claim = %+v, %v; want owned", c, err)
	}
	c, err := b.Claim(ctx, key, "b", time.Minute)
	if err != nil || c.Owned || c.Done || time.Until(c.LeaseUntil) < 50*time.Second {
		t.Fatalf("claim under a's lease = %+v, %v; want a's lease, about a minute ahead", c, err)
	}
	want := sampleOutcome(remediation.ActionRemediated)
	want.Warning = "reserving a write in the state store: throttled (flap limit not applied)"
	if err := a.Record(ctx, key, "a", want); err != nil {
		t.Fatal(err)
	}
	c, err = b.Claim(ctx, key, "b", time.Minute)
	if err != nil || !c.Done || c.Owned || c.Published {
		t.Fatalf("claim after the record = %+v, %v; want done, not published", c, err)
	}
	got := c.Outcome
	if !got.DetectedAt.Equal(want.DetectedAt) || !got.CompletedAt.Equal(want.CompletedAt) {
		t.Errorf("times: detected %v completed %v, want %v %v", got.DetectedAt, got.CompletedAt, want.DetectedAt, want.CompletedAt)
	}
	if got.Action != want.Action || got.Actor != want.Actor || got.Trigger != want.Trigger || got.DurationMs != want.DurationMs || got.Warning != want.Warning ||
		got.ResourceID != want.ResourceID || got.Before["blockPublicAcls"] != false || got.After["blockPublicAcls"] != true {
		t.Errorf("recorded outcome %+v, want %+v", got, want)
	}

	if ok, err := b.ClaimPublish(ctx, key, "b", time.Minute); err != nil || !ok {
		t.Fatalf("ClaimPublish = %v, %v", ok, err)
	}
	if err := b.MarkPublished(ctx, key, "b"); err != nil {
		t.Fatal(err)
	}
	if c, err := a.Claim(ctx, key, "c", time.Minute); err != nil || !c.Done || !c.Published {
		t.Errorf("claim after publication = %+v, %v; want done and published", c, err)
	}
	if ok, err := a.ClaimPublish(ctx, key, "c", time.Minute); err != nil || ok {
		t.Errorf("ClaimPublish after publication = %v, %v; want false", ok, err)
	}

	// Every item carries the TTL attribute, under the prefixed key.
	item := rawItem(t, client, table, "event#"+key)
	exp, ok := getNum(item, "expiresAt")
	if wantExp := time.Now().Add(DefaultEventTTL).Unix(); !ok || exp < wantExp-60 || exp > wantExp+60 {
		t.Errorf("expiresAt %d (%v), want about %d", exp, ok, wantExp)
	}
	if rawItem(t, client, table, key) != nil {
		t.Error("an item under the unprefixed key")
	}
}

func rawItem(t *testing.T, client *dynamodb.Client, table, key string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(testCtx(t), &dynamodb.GetItemInput{TableName: aws.String(table), Key: pk(key), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		return nil
	}
	return out.Item
}

// Two processes, many deliveries each: every key has exactly one owner.
func TestConcurrentClaimsOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	_, table := emuTable(t)
	a, b := twoProcesses(t, table)
	stores := []*Store{a, b}
	const keys, perStore = 10, 8
	for k := range keys {
		key := fmt.Sprintf("ev-%d", k)
		var owned, waiting atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, len(stores)*perStore)
		for s, st := range stores {
			for g := range perStore {
				wg.Go(func() {
					c, err := st.Claim(ctx, key, fmt.Sprintf("p%d-g%d", s, g), time.Minute)
					switch {
					case err != nil:
						errs <- err
					case c.Owned:
						owned.Add(1)
					case !c.LeaseUntil.IsZero():
						waiting.Add(1)
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", key, err)
		}
		if owned.Load() != 1 || int(waiting.Load()) != len(stores)*perStore-1 {
			t.Errorf("%s: %d owned, %d told to wait; want 1 and %d", key, owned.Load(), waiting.Load(), len(stores)*perStore-1)
		}
	}
}

func TestExpiredLeaseIsTakenOverOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	_, table := emuTable(t)
	a, b := twoProcesses(t, table)
	if c, err := a.Claim(ctx, "ev", "a", 100*time.Millisecond); err != nil || !c.Owned {
		t.Fatalf("a's claim = %+v, %v", c, err)
	}
	time.Sleep(200 * time.Millisecond)
	if c, err := b.Claim(ctx, "ev", "b", time.Minute); err != nil || !c.Owned {
		t.Fatalf("b's claim after a's lease = %+v, %v; want owned", c, err)
	}
	if err := a.Record(ctx, "ev", "a", sampleOutcome(remediation.ActionRemediated)); !errors.Is(err, remediation.ErrClaimLost) {
		t.Errorf("a's record after the takeover: %v, want ErrClaimLost", err)
	}
	if err := b.Record(ctx, "ev", "b", sampleOutcome(remediation.ActionCompliant)); err != nil {
		t.Errorf("b's record: %v", err)
	}
	if c, err := a.Claim(ctx, "ev", "a2", time.Minute); err != nil || !c.Done || c.Outcome.Action != remediation.ActionCompliant {
		t.Errorf("claim after b's record = %+v, %v; want b's compliant outcome", c, err)
	}
}

func TestFailedOutcomeIsReclaimedOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	_, table := emuTable(t)
	a, b := twoProcesses(t, table)
	if c, err := a.Claim(ctx, "ev", "a", time.Minute); err != nil || !c.Owned {
		t.Fatalf("a's claim = %+v, %v", c, err)
	}
	if err := a.Record(ctx, "ev", "a", sampleOutcome(remediation.ActionFailed)); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.ClaimPublish(ctx, "ev", "a", time.Minute); err != nil || !ok {
		t.Fatalf("publishing the failed outcome: %v, %v", ok, err)
	}
	if err := a.MarkPublished(ctx, "ev", "a"); err != nil {
		t.Fatal(err)
	}
	// The retry of the failed event runs again, and publishes its own outcome.
	if c, err := b.Claim(ctx, "ev", "b", time.Minute); err != nil || !c.Owned {
		t.Fatalf("claim of a failed outcome = %+v, %v; want owned", c, err)
	}
	if c, err := a.Claim(ctx, "ev", "a2", time.Minute); err != nil || c.Owned || c.LeaseUntil.IsZero() {
		t.Errorf("claim during the retry = %+v, %v; want b's lease", c, err)
	}
	if err := b.Record(ctx, "ev", "b", sampleOutcome(remediation.ActionRemediated)); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.ClaimPublish(ctx, "ev", "b", time.Minute); err != nil || !ok {
		t.Errorf("publishing the retry's outcome: %v, %v; want the right to publish", ok, err)
	}
}

// Two processes race for the right to publish: one wins; a release or an
// expired lease hands it on; once published, nobody gets it.
func TestPublishClaimIsExclusiveOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	_, table := emuTable(t)
	a, b := twoProcesses(t, table)
	stores := []*Store{a, b}
	if ok, err := stores[0].ClaimPublish(ctx, "ev", "early", time.Minute); err != nil || ok {
		t.Errorf("ClaimPublish before anything is recorded = %v, %v; want false", ok, err)
	}
	if _, err := stores[0].Claim(ctx, "ev", "runner", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := stores[0].ClaimPublish(ctx, "ev", "runner", time.Minute); err != nil || ok {
		t.Errorf("ClaimPublish before the record = %v, %v; want false", ok, err)
	}
	if err := stores[0].Record(ctx, "ev", "runner", sampleOutcome(remediation.ActionRemediated)); err != nil {
		t.Fatal(err)
	}
	round := 0
	race := func(lease time.Duration) []string {
		round++
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		for s, st := range stores {
			for g := range 8 {
				wg.Go(func() {
					owner := fmt.Sprintf("r%d-p%d-g%d", round, s, g)
					ok, err := st.ClaimPublish(ctx, "ev", owner, lease)
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						winners = append(winners, owner)
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		return winners
	}
	w := race(time.Minute)
	if len(w) != 1 {
		t.Fatalf("publish claim winners %v, want exactly one", w)
	}
	if ok, _ := stores[1].ClaimPublish(ctx, "ev", w[0], time.Minute); !ok {
		t.Error("the holder cannot claim again (an SDK retry of its own call would fail)")
	}
	if err := stores[1].ReleasePublish(ctx, "ev", "not-the-holder"); err != nil {
		t.Errorf("release by a non-holder: %v", err)
	}
	if w2 := race(time.Minute); len(w2) != 0 {
		t.Errorf("winners %v while %s holds the right", w2, w[0])
	}
	if err := stores[0].ReleasePublish(ctx, "ev", w[0]); err != nil {
		t.Fatal(err)
	}
	w = race(100 * time.Millisecond)
	if len(w) != 1 {
		t.Fatalf("after the release: winners %v, want exactly one", w)
	}
	time.Sleep(200 * time.Millisecond)
	w2 := race(time.Minute)
	if len(w2) != 1 {
		t.Fatalf("after the lease expired: winners %v, want exactly one", w2)
	}
	if err := stores[0].MarkPublished(ctx, "ev", w[0]); !errors.Is(err, remediation.ErrClaimLost) {
		t.Errorf("MarkPublished by the expired holder: %v, want ErrClaimLost", err)
	}
	if err := stores[0].MarkPublished(ctx, "ev", w2[0]); err != nil {
		t.Fatal(err)
	}
	if err := stores[0].MarkPublished(ctx, "ev", w2[0]); err != nil {
		t.Errorf("MarkPublished again (an SDK retry): %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	if w3 := race(time.Nanosecond); len(w3) != 0 {
		t.Errorf("winners %v after publication", w3)
	}
}

func TestAddWriteOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	client, table := emuTable(t)
	a, b := twoProcesses(t, table)
	now := time.Now().Truncate(time.Millisecond)
	expires := now.Add(2 * time.Hour)
	const res = "s3-public-access-block|123456789012|us-east-1|example-bucket"

	for i, age := range []time.Duration{3 * time.Hour, 2 * time.Hour} {
		if err := a.AddWrite(ctx, res, remediation.Write{At: now.Add(-age), Actor: "old", EventID: fmt.Sprint("old-", i)}, now.Add(-4*time.Hour), expires); err != nil {
			t.Fatal(err)
		}
	}
	// Many writers at once across two processes: none is lost, the two
	// older than keepSince are dropped, the rest come back oldest first.
	keepSince := now.Add(-time.Hour)
	var wg sync.WaitGroup
	const writers = 8
	for i := range writers {
		st := []*Store{a, b}[i%2]
		wg.Go(func() {
			w := remediation.Write{At: now.Add(-time.Duration(writers-i) * time.Minute), Actor: fmt.Sprint("actor-", i), EventID: fmt.Sprint("ev-", i)}
			if err := st.AddWrite(ctx, res, w, keepSince, expires); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ws, err := b.Writes(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range ws {
		got = append(got, w.EventID)
	}
	want := "ev-0 ev-1 ev-2 ev-3 ev-4 ev-5 ev-6 ev-7"
	if strings.Join(got, " ") != want {
		t.Errorf("writes %v, want %s", got, want)
	}
	if len(ws) > 0 && (!ws[0].At.Equal(now.Add(-writers*time.Minute)) || ws[0].Actor != "actor-0") {
		t.Errorf("first write %+v", ws[0])
	}

	item := rawItem(t, client, table, "resource#"+res)
	if exp, _ := getNum(item, "expiresAt"); exp != expires.Unix() {
		t.Errorf("resource item expiresAt %d, want %d", exp, expires.Unix())
	}
	if v, _ := getNum(item, "version"); v != 2+writers {
		t.Errorf("version %d after %d writes", v, 2+writers)
	}
	// Event and resource keys never meet.
	if ws, err := a.Writes(ctx, "ev-0"); err != nil || len(ws) != 0 {
		t.Errorf("writes on a key only used for events: %v, %v", ws, err)
	}
	if c, err := a.Claim(ctx, res, "x", time.Minute); err != nil || !c.Owned {
		t.Errorf("claiming an event key equal to a resource key: %+v, %v", c, err)
	}
}

// TestReserveWriteLimitOnEmulator: eight runs in two processes reserve one
// of three writes at once; exactly three get one, the others see the three,
// and a released reservation frees its place.
func TestReserveWriteLimitOnEmulator(t *testing.T) {
	ctx := testCtx(t)
	_, table := emuTable(t)
	a, b := twoProcesses(t, table)
	now := time.Now().Truncate(time.Millisecond)
	const res = "s3-public-access-block|123456789012|us-east-1|fought-over"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []remediation.Write
	refused := 0
	for i := range 8 {
		st := []*Store{a, b}[i%2]
		wg.Go(func() {
			w := remediation.Write{At: now.Add(time.Duration(i) * time.Millisecond), Actor: "other", EventID: fmt.Sprint("ev-", i)}
			recent, ok, err := st.ReserveWrite(ctx, res, w, 3, now.Add(-time.Hour), now.Add(time.Hour))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case ok:
				got = append(got, w)
			default:
				if len(recent) != 3 {
					t.Errorf("a refused reservation saw %d writes, want the 3 that took the budget", len(recent))
				}
				refused++
			}
		})
	}
	wg.Wait()
	if len(got) != 3 || refused != 5 {
		t.Fatalf("%d reservations and %d refusals, want 3 and 5", len(got), refused)
	}
	if err := b.ReleaseWrite(ctx, res, got[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.ReleaseWrite(ctx, res, got[0]); err != nil {
		t.Errorf("releasing twice: %v", err)
	}
	w := remediation.Write{At: now.Add(time.Second), EventID: "after-release"}
	if recent, ok, err := a.ReserveWrite(ctx, res, w, 3, now.Add(-time.Hour), now.Add(time.Hour)); err != nil || !ok || len(recent) != 2 {
		t.Errorf("after a release: ok %t, %d recent, %v; want the freed place", ok, len(recent), err)
	}
	// Once the window has passed, the old writes no longer count.
	if _, ok, err := a.ReserveWrite(ctx, res, remediation.Write{At: now.Add(2 * time.Hour), EventID: "later"}, 3, now.Add(time.Hour+time.Minute), now.Add(3*time.Hour)); err != nil || !ok {
		t.Errorf("after the window: ok %t, %v", ok, err)
	}
}

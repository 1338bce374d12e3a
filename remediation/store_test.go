package remediation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStore is a StateStore in memory, with the semantics the DynamoDB store
// implements with conditional writes. It counts the calls it gets, and can
// be made to fail.
type memStore struct {
	mu     sync.Mutex
	events map[string]*memEvent
	writes map[string][]Write
	fail   error // every call fails with it when set
	calls  int   // ReserveWrite calls
}

type memEvent struct {
	owner      string
	leaseUntil time.Time
	done       bool
	outcome    Outcome
	published  bool
	pubOwner   string
	pubUntil   time.Time
}

func newMemStore() *memStore {
	return &memStore{events: map[string]*memEvent{}, writes: map[string][]Write{}}
}

func (m *memStore) Claim(_ context.Context, key, owner string, lease time.Duration) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return Claim{}, m.fail
	}
	e := m.events[key]
	now := time.Now()
	if e == nil || (!e.done && now.After(e.leaseUntil)) || (e.done && e.outcome.Action == ActionFailed) {
		m.events[key] = &memEvent{owner: owner, leaseUntil: now.Add(lease)}
		return Claim{Owned: true}, nil
	}
	if e.done {
		return Claim{Done: true, Outcome: e.outcome, Published: e.published}, nil
	}
	return Claim{LeaseUntil: e.leaseUntil}, nil
}

func (m *memStore) Record(_ context.Context, key, owner string, o Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	e := m.events[key]
	if e == nil || e.owner != owner {
		return ErrClaimLost
	}
	e.done, e.outcome = true, o
	return nil
}

func (m *memStore) ClaimPublish(_ context.Context, key, owner string, lease time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	e := m.events[key]
	if e == nil || e.published || (e.pubOwner != "" && time.Now().Before(e.pubUntil)) {
		return false, nil
	}
	e.pubOwner, e.pubUntil = owner, time.Now().Add(lease)
	return true, nil
}

func (m *memStore) MarkPublished(_ context.Context, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.events[key]; e != nil && e.pubOwner == owner {
		e.published = true
		return nil
	}
	return fmt.Errorf("not the publisher of %q", key)
}

func (m *memStore) ReleasePublish(_ context.Context, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.events[key]; e != nil && e.pubOwner == owner {
		e.pubOwner = ""
	}
	return nil
}

func (m *memStore) ReserveWrite(_ context.Context, resource string, w Write, limit int, keepSince, _ time.Time) ([]Write, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail != nil {
		return nil, false, m.fail
	}
	var kept []Write
	for _, old := range m.writes[resource] {
		if old.EventID == w.EventID && old.At.Equal(w.At) {
			return kept, true, nil // an SDK retry of a reservation that went through
		}
		if old.At.After(keepSince) {
			kept = append(kept, old)
		}
	}
	if len(kept) >= limit {
		m.writes[resource] = kept
		return kept, false, nil
	}
	m.writes[resource] = append(append([]Write(nil), kept...), w)
	return kept, true, nil
}

func (m *memStore) ReleaseWrite(_ context.Context, resource string, w Write) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	var kept []Write
	for _, old := range m.writes[resource] {
		if old.EventID != w.EventID || !old.At.Equal(w.At) {
			kept = append(kept, old)
		}
	}
	m.writes[resource] = kept
	return nil
}

// statefulRemediator fixes a resource that another "automation" may break
// again: Remediate writes (and counts the write) only when the resource is
// broken and the mode allows it.
type statefulRemediator struct {
	mu     sync.Mutex
	broken bool
	writes atomic.Int32
	calls  atomic.Int32
}

func (s *statefulRemediator) Name() string            { return S3PublicAccessBlock }
func (s *statefulRemediator) ResourceTypes() []string { return []string{"AWS::S3::Bucket"} }
func (s *statefulRemediator) Remediate(_ context.Context, req Request) Result {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	before := map[string]any{"blocked": !s.broken}
	switch {
	case !s.broken:
		return Result{Action: ActionCompliant, Before: before, After: before}
	case req.Mode == ModeDryRun:
		return Result{Action: ActionDryRun, Before: before, After: map[string]any{"blocked": true}}
	}
	time.Sleep(2 * time.Millisecond) // a write takes a while: duplicates overlap
	s.broken = false
	s.writes.Add(1)
	return Result{Action: ActionRemediated, Before: before, After: map[string]any{"blocked": true}}
}

func (s *statefulRemediator) breakIt() { s.mu.Lock(); s.broken = true; s.mu.Unlock() }

// countingPublisher counts deliveries by action and can fail the first n.
type countingPublisher struct {
	mu         sync.Mutex
	outcomes   []Outcome
	failures   int
	duplicates int
}

func (p *countingPublisher) NoteDuplicate(context.Context, Outcome) {
	p.mu.Lock()
	p.duplicates++
	p.mu.Unlock()
}

func (p *countingPublisher) Publish(_ context.Context, o Outcome) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures > 0 {
		p.failures--
		return errors.New("sns: throttled")
	}
	p.outcomes = append(p.outcomes, o)
	return nil
}

func (p *countingPublisher) published() []Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Outcome(nil), p.outcomes...)
}

// storeHandler builds a handler ("process") over a shared store and
// remediator.
func storeHandler(t *testing.T, store StateStore, rem Remediator, pub Publisher, now func() time.Time) *Handler {
	t.Helper()
	reg, err := NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{Registry: reg, Rules: NewRuleResolver(testCatalog(), nil), Publisher: pub, Store: store, Now: now}
}

func TestRedeliveriesActAndNotifyOnce(t *testing.T) {
	store, rem, pub := newMemStore(), &statefulRemediator{broken: true}, &countingPublisher{}
	// Two processes: two handlers (no shared in-process locks), one store.
	procs := []*Handler{storeHandler(t, store, rem, pub, nil), storeHandler(t, store, rem, pub, nil)}
	raw := fixture(t, "s3-public-read-noncompliant.json")
	var wg sync.WaitGroup
	outs := make([]Outcome, 10)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = procs[i%2].Handle(context.Background(), raw)
		}()
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil || outs[i].Action != ActionRemediated {
			t.Errorf("delivery %d: %s, %v; want the recorded remediated outcome", i, outs[i].Action, errs[i])
		}
	}
	if n := rem.writes.Load(); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
	if n := rem.calls.Load(); n != 1 {
		t.Errorf("the remediator ran %d times, want 1", n)
	}
	if got := pub.published(); len(got) != 1 {
		t.Errorf("%d notifications, want 1", len(got))
	}
	// A delivery that finds the outcome recorded but its notification still
	// in flight returns it without a note; the others say they were
	// duplicates.
	if pub.duplicates < 1 || pub.duplicates > 9 {
		t.Errorf("%d deliveries noted as duplicates, want up to 9", pub.duplicates)
	}
}

func TestFailedPublishIsRetriedWithTheRecordedOutcome(t *testing.T) {
	store, rem, pub := newMemStore(), &statefulRemediator{broken: true}, &countingPublisher{failures: 1}
	h := storeHandler(t, store, rem, pub, nil)
	raw := fixture(t, "s3-public-read-noncompliant.json")
	if o, err := h.Handle(context.Background(), raw); err == nil || o.Action != ActionRemediated {
		t.Fatalf("first delivery: %s, %v; want remediated and a publishing error", o.Action, err)
	}
	// Lambda retries the invocation: the resource is compliant now, but the
	// remediated outcome is what must reach the subscribers.
	o, err := h.Handle(context.Background(), raw)
	if err != nil || o.Action != ActionRemediated {
		t.Fatalf("retry: %s, %v; want remediated", o.Action, err)
	}
	got := pub.published()
	if len(got) != 1 || got[0].Action != ActionRemediated {
		t.Fatalf("published %+v, want one remediated outcome", got)
	}
	if n := rem.calls.Load(); n != 1 {
		t.Errorf("the remediator ran %d times, want 1", n)
	}
	// A third delivery publishes nothing more.
	if _, err := h.Handle(context.Background(), raw); err != nil || len(pub.published()) != 1 {
		t.Errorf("third delivery: %v, %d notifications", err, len(pub.published()))
	}
}

func TestFailedOutcomeRunsAgainOnRedelivery(t *testing.T) {
	store, pub := newMemStore(), &countingPublisher{}
	rem := &fakeRemediator{name: S3PublicAccessBlock, types: []string{"AWS::S3::Bucket"},
		result: Result{Action: ActionFailed, Err: errors.New("putting public access block: throttled")}}
	h := storeHandler(t, store, rem, pub, nil)
	raw := fixture(t, "s3-public-read-noncompliant.json")
	for range 2 {
		if _, err := h.Handle(context.Background(), raw); !errors.As(err, new(*OutcomeError)) {
			t.Fatalf("err = %v, want an OutcomeError", err)
		}
	}
	if n := len(rem.requests()); n != 2 {
		t.Errorf("the remediator ran %d times, want 2: a failed outcome is not final", n)
	}
}

// TestFlapLimitEscalates: another automation re-opens the bucket after each
// fix; the fourth event in the window is escalated without a write, and the
// budget comes back once the window has passed.
func TestFlapLimitEscalates(t *testing.T) {
	clock := &flapClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	store, rem, pub := newMemStore(), &statefulRemediator{}, &countingPublisher{}
	h := storeHandler(t, store, rem, pub, clock.now)
	h.FlapLimit, h.FlapWindow = 3, time.Hour
	raw := cloudTrailFixture(t, "s3-put-bucket-policy.json")
	round := func(i int) Outcome {
		t.Helper()
		rem.breakIt()
		clock.t = clock.t.Add(5 * time.Minute)
		ev := strings.Replace(string(raw), `"id": "`, fmt.Sprintf(`"id": "round-%d-`, i), 1)
		outs, err := invokeCloudTrail(t, h, []byte(ev))
		if err != nil || len(outs) != 1 {
			t.Fatalf("round %d: %+v, %v", i, outs, err)
		}
		return outs[0]
	}
	var actions []Action
	var last Outcome
	for i := range 5 {
		last = round(i)
		actions = append(actions, last.Action)
	}
	want := []Action{ActionRemediated, ActionRemediated, ActionRemediated, ActionEscalated, ActionEscalated}
	if fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Fatalf("actions = %v, want %v", actions, want)
	}
	if n := rem.writes.Load(); n != 3 {
		t.Errorf("%d writes, want 3", n)
	}
	if last.Action.Severity() != "high" || !strings.Contains(last.Reason, "fixed 3 times") ||
		!strings.Contains(last.Reason, last.Actor) || last.Actor == "" {
		t.Errorf("escalated reason %q (actor %q): want the count and the actor", last.Reason, last.Actor)
	}
	if got := pub.published(); len(got) != 5 || got[4].Action != ActionEscalated {
		t.Errorf("published %d outcomes, last %v", len(got), got[len(got)-1].Action)
	}
	// An hour after the first fix the oldest write leaves the window.
	clock.t = clock.t.Add(40 * time.Minute)
	if o := round(5); o.Action != ActionRemediated {
		t.Errorf("after the window: %s (%s), want remediated", o.Action, o.Reason)
	}
}

func TestStoreErrorsLoseNoOutcome(t *testing.T) {
	store, rem, pub := newMemStore(), &statefulRemediator{broken: true}, &countingPublisher{}
	store.fail = errors.New("dial tcp: connection refused")
	h := storeHandler(t, store, rem, pub, nil)
	o, err := h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
	if err != nil || o.Action != ActionRemediated {
		t.Fatalf("%s, %v; want remediated despite the store", o.Action, err)
	}
	if !strings.Contains(o.Warning, "connection refused") {
		t.Errorf("warning = %q, want the store's error", o.Warning)
	}
	if store.calls != 0 {
		t.Errorf("%d write reservations tried after the claim failed: an unreachable store must cost one call's retries", store.calls)
	}
	if len(pub.published()) != 1 {
		t.Errorf("published %d, want 1", len(pub.published()))
	}
}

func TestIgnoredRedeliveryNotifiesOnce(t *testing.T) {
	store, rem, pub := newMemStore(), &statefulRemediator{broken: true}, &countingPublisher{}
	h := storeHandler(t, store, rem, pub, nil)
	raw := cloudTrailFixture(t, "s3-put-bucket-policy-access-denied.json")
	for range 3 {
		outs, err := invokeCloudTrail(t, h, raw)
		if err != nil || len(outs) != 1 || outs[0].Action != ActionIgnored {
			t.Fatalf("%+v, %v; want one ignored outcome", outs, err)
		}
	}
	if n := len(pub.published()); n != 1 {
		t.Errorf("%d notifications for three deliveries of one ignored event, want 1", n)
	}
}

// fightRemediator stands for a resource that another automation reverts at
// once: every enforce run writes. verifyFails makes the verify read see the
// revert.
type fightRemediator struct {
	writes      atomic.Int32
	verifyFails bool
}

func (f *fightRemediator) Name() string            { return S3PublicAccessBlock }
func (f *fightRemediator) ResourceTypes() []string { return []string{"AWS::S3::Bucket"} }
func (f *fightRemediator) Remediate(_ context.Context, req Request) Result {
	before := map[string]any{"blocked": false}
	if req.Mode == ModeDryRun {
		return Result{Action: ActionDryRun, Before: before, After: map[string]any{"blocked": true}}
	}
	time.Sleep(5 * time.Millisecond)
	f.writes.Add(1)
	if f.verifyFails {
		return Unverified(before, errors.New(`verifying public access block of bucket "b": still off after the write: BlockPublicAcls`))
	}
	return Result{Action: ActionRemediated, Before: before, After: map[string]any{"blocked": true}}
}

func roundEvent(raw []byte, id string) []byte {
	return []byte(strings.Replace(string(raw), `"id": "`, `"id": "`+id+`-`, 1))
}

// TestFlapLimitHoldsUnderConcurrentEvents: six events for one resource
// reach six processes (and then one process) at once; the write budget is
// reserved before acting, so no more than FLAP_LIMIT of them write.
func TestFlapLimitHoldsUnderConcurrentEvents(t *testing.T) {
	raw := cloudTrailFixture(t, "s3-put-bucket-policy.json")
	for _, processes := range []int{6, 1} {
		store, rem := newMemStore(), &fightRemediator{}
		hs := make([]*Handler, processes)
		for i := range hs {
			hs[i] = storeHandler(t, store, rem, &countingPublisher{}, nil)
			hs[i].FlapLimit, hs[i].FlapWindow = 3, time.Hour
		}
		var wg sync.WaitGroup
		var escalated atomic.Int32
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, _ := hs[i%processes].Invoke(context.Background(), roundEvent(raw, fmt.Sprintf("concurrent-%d", i)))
				if outs, _ := v.([]Outcome); len(outs) == 1 && outs[0].Action == ActionEscalated {
					escalated.Add(1)
				}
			}()
		}
		wg.Wait()
		if n, e := rem.writes.Load(), escalated.Load(); n != 3 || e != 3 {
			t.Errorf("%d processes: %d writes and %d escalated of 6 events; want 3 and 3 (FLAP_LIMIT 3)", processes, n, e)
		}
	}
}

// TestWritesThatFailVerifyCountTowardTheFlapLimit: an automation that
// reverts within milliseconds makes every verify read fail; those writes
// still count, so the fight escalates.
func TestWritesThatFailVerifyCountTowardTheFlapLimit(t *testing.T) {
	clock := &flapClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	store, rem, pub := newMemStore(), &fightRemediator{verifyFails: true}, &countingPublisher{}
	h := storeHandler(t, store, rem, pub, clock.now)
	h.FlapLimit, h.FlapWindow = 3, time.Hour
	raw := cloudTrailFixture(t, "s3-put-bucket-policy.json")
	var actions []Action
	for i := range 5 {
		clock.t = clock.t.Add(5 * time.Minute)
		outs, _ := invokeCloudTrail(t, h, roundEvent(raw, fmt.Sprintf("round-%d", i)))
		actions = append(actions, outs[0].Action)
	}
	if n := rem.writes.Load(); n != 3 || actions[3] != ActionEscalated || actions[4] != ActionEscalated {
		t.Errorf("%d writes, actions %v; want 3 writes, then escalated", n, actions)
	}
}

// TestUnusedReservationsAreGivenBack: runs that find nothing to change
// leave the budget untouched.
func TestUnusedReservationsAreGivenBack(t *testing.T) {
	store, rem, pub := newMemStore(), &statefulRemediator{}, &countingPublisher{}
	h := storeHandler(t, store, rem, pub, nil)
	h.FlapLimit = 1
	raw := cloudTrailFixture(t, "s3-put-bucket-policy.json")
	for i := range 3 {
		if outs, err := invokeCloudTrail(t, h, roundEvent(raw, fmt.Sprintf("noop-%d", i))); err != nil || outs[0].Action != ActionCompliant {
			t.Fatalf("round %d: %+v, %v; want compliant", i, outs, err)
		}
	}
	rem.breakIt()
	if outs, err := invokeCloudTrail(t, h, roundEvent(raw, "fix")); err != nil || outs[0].Action != ActionRemediated {
		t.Errorf("%+v, %v; want remediated: compliant runs must not use the budget", outs, err)
	}
}

// markFailStore fails MarkPublished once.
type markFailStore struct {
	*memStore
	fail atomic.Bool
}

func (m *markFailStore) MarkPublished(ctx context.Context, key, owner string) error {
	if m.fail.CompareAndSwap(true, false) {
		return errors.New("dynamodb: ProvisionedThroughputExceededException")
	}
	return m.memStore.MarkPublished(ctx, key, owner)
}

// TestMarkPublishedErrorIsNotTheInvocationsError: the notification went out;
// failing to record that must not make Lambda retry (and notify again).
func TestMarkPublishedErrorIsNotTheInvocationsError(t *testing.T) {
	store := &markFailStore{memStore: newMemStore()}
	store.fail.Store(true)
	rem, pub := &statefulRemediator{broken: true}, &countingPublisher{}
	h := storeHandler(t, store, rem, pub, nil)
	if o, err := h.Handle(context.Background(), fixture(t, "s3-public-read-noncompliant.json")); err != nil || o.Action != ActionRemediated {
		t.Errorf("%s, %v; want remediated without an error: the outcome was delivered", o.Action, err)
	}
	if n := len(pub.published()); n != 1 {
		t.Errorf("%d notifications, want 1", n)
	}
}

// deadlineRemediator records the deadline its context carries.
type deadlineRemediator struct{ deadline time.Time }

func (d *deadlineRemediator) Name() string            { return S3PublicAccessBlock }
func (d *deadlineRemediator) ResourceTypes() []string { return []string{"AWS::S3::Bucket"} }
func (d *deadlineRemediator) Remediate(ctx context.Context, _ Request) Result {
	d.deadline, _ = ctx.Deadline()
	return Result{Action: ActionCompliant}
}

func TestRemediationLeavesTimeToPublish(t *testing.T) {
	rem := &deadlineRemediator{}
	h := storeHandler(t, nil, rem, &countingPublisher{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dl, _ := ctx.Deadline()
	if _, err := h.Handle(ctx, fixture(t, "s3-public-read-noncompliant.json")); err != nil {
		t.Fatal(err)
	}
	if want := dl.Add(-publishReserve); !rem.deadline.Equal(want) {
		t.Errorf("the remediator's deadline is %v, want the invocation's less %v (%v)", rem.deadline, publishReserve, want)
	}
}

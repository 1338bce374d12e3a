package sweep

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// A parked check's slot serves another check; the parked one gets a slot
// back only once one is free.
func TestParkGivesTheSlotUp(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	first := &checkSlot{s: s, held: true}
	resume := park(withCheckSlot(ctx, first))
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.acquire(bounded); err != nil {
		t.Fatalf("no slot for a second check while the first is parked: %v", err)
	}
	resumed := make(chan struct{})
	go func() { resume(); close(resumed) }()
	select {
	case <-resumed:
		t.Fatal("resumed while the only slot is taken")
	case <-time.After(20 * time.Millisecond):
	}
	s.release()
	<-resumed
	first.done()
	if len(s) != 0 {
		t.Errorf("%d slots taken after the check is done, want 0", len(s))
	}
	// A context without a check parks nothing.
	park(ctx)()
}

// ec2Stub is an EC2 client whose ModifyInstanceMetadataOptions calls go
// through the rate limiter and are answered in the process.
func ec2Stub(l *RateLimiter) *ec2.Client {
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}}
	l.AddTo(&cfg)
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("answer",
			func(context.Context, middleware.FinalizeInput, middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				return middleware.FinalizeOutput{Result: &ec2.ModifyInstanceMetadataOptionsOutput{}}, middleware.Metadata{}, nil
			}), middleware.After)
	})
	return ec2.NewFromConfig(cfg)
}

// writer writes its instance twice; the second write waits for a token.
type writer struct{ client *ec2.Client }

func (w writer) Name() string            { return "writer" }
func (w writer) ResourceTypes() []string { return []string{typeInstance} }
func (w writer) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	for range 2 {
		if _, err := w.client.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(req.ResourceID)}); err != nil {
			return remediation.Failed(nil, err)
		}
	}
	return remediation.Result{Action: remediation.ActionRemediated}
}

// other is a check that needs no token; it says when it ran.
type other struct{ ran chan struct{} }

func (o other) Name() string            { return "other" }
func (o other) ResourceTypes() []string { return []string{typeBucket} }
func (o other) Remediate(context.Context, remediation.Request) remediation.Result {
	close(o.ran)
	return remediation.Result{Action: remediation.ActionCompliant}
}

// With one slot, a check waiting for a rate-limit token does not hold up a
// check that needs none: the waiting check's token comes only once the
// other check has run.
func TestWaitingForATokenDoesNotHoldTheSlot(t *testing.T) {
	l := NewRateLimiter(map[string]Limit{"EC2.ModifyInstanceMetadataOptions": {Burst: 1, Rate: 1}})
	ran := make(chan struct{})
	l.sleep = func(ctx context.Context, _ time.Duration) error {
		select {
		case <-ran:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the other check did not run while this one waited for its token")
		}
	}
	reg, err := remediation.NewRegistry(writer{ec2Stub(l)}, other{ran})
	if err != nil {
		t.Fatal(err)
	}
	defs := []remediators.Definition{
		def("writer", []string{typeInstance}, remediators.SweepCheck{Rule: "w", Lister: lister(t, "instances", typeInstance, []string{"i-1"}, nil, nil)}),
		def("other", []string{typeBucket}, remediators.SweepCheck{Rule: "o", Lister: lister(t, "buckets", typeBucket, []string{"b"}, nil, nil)}),
	}
	sw := &Sweeper{Definitions: defs, Account: "111122223333", Region: "eu-west-1", Concurrency: 1,
		Handler: &remediation.Handler{Registry: reg, Modes: remediation.Modes{Default: remediation.ModeEnforce}}}
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rep.Outcomes {
		if o.Action == remediation.ActionFailed {
			t.Errorf("%s %s: %s", o.Remediator, o.ResourceID, o.Error)
		}
	}
}

// blocker is a check that waits (parked, as for a token) until released,
// counting the checks waiting at once.
type blocker struct {
	waiting, most *atomic.Int32
	release       chan struct{}
}

func (b blocker) Name() string            { return "blocker" }
func (b blocker) ResourceTypes() []string { return []string{typeInstance} }
func (b blocker) Remediate(ctx context.Context, _ remediation.Request) remediation.Result {
	resume := park(ctx)
	n := b.waiting.Add(1)
	for {
		m := b.most.Load()
		if n <= m || b.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-b.release
	b.waiting.Add(-1)
	resume()
	return remediation.Result{Action: remediation.ActionCompliant}
}

// No more than Concurrency + Waiting checks are under way at once, waiting
// ones included.
func TestWaitingChecksAreBounded(t *testing.T) {
	var waiting, most atomic.Int32
	b := blocker{waiting: &waiting, most: &most, release: make(chan struct{})}
	reg, err := remediation.NewRegistry(b)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"i-1", "i-2", "i-3", "i-4", "i-5", "i-6"}
	sw := &Sweeper{Definitions: []remediators.Definition{def("blocker", []string{typeInstance},
		remediators.SweepCheck{Rule: "b", Lister: lister(t, "instances", typeInstance, ids, nil, nil)})},
		Account: "111122223333", Region: "eu-west-1", Concurrency: 1, Waiting: 2,
		Handler: &remediation.Handler{Registry: reg, Modes: remediation.Modes{Default: remediation.ModeEnforce}}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if rep, err := sw.Run(context.Background()); err != nil || len(rep.Outcomes) != len(ids) {
			t.Errorf("Run: %v, %v", rep, err)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); waiting.Load() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			close(b.release)
			t.Fatalf("%d checks waiting, never 3 (Concurrency 1 + Waiting 2)", waiting.Load())
		}
	}
	// A fourth check is not let in while three wait.
	time.Sleep(20 * time.Millisecond)
	close(b.release)
	wg.Wait()
	if m := most.Load(); m != 3 {
		t.Errorf("at most %d checks waited at once, want 3 (Concurrency 1 + Waiting 2)", m)
	}
}

// parker waits, parked, until release is closed (or gives up after 10 s).
type parker struct{ release chan struct{} }

func (p parker) Name() string            { return "parker" }
func (p parker) ResourceTypes() []string { return []string{typeInstance} }
func (p parker) Remediate(ctx context.Context, _ remediation.Request) remediation.Result {
	defer park(ctx)()
	select {
	case <-p.release:
		return remediation.Result{Action: remediation.ActionCompliant}
	case <-time.After(10 * time.Second):
		return remediation.Failed(nil, errors.New("never released: the bucket checks did not all run while the instance checks waited"))
	}
}

// counter counts its checks and closes done after the last.
type counter struct {
	n, of *atomic.Int32
	done  chan struct{}
}

func (c counter) Name() string            { return "counter" }
func (c counter) ResourceTypes() []string { return []string{typeBucket} }
func (c counter) Remediate(context.Context, remediation.Request) remediation.Result {
	if c.n.Add(1) == c.of.Load() {
		close(c.done)
	}
	return remediation.Result{Action: remediation.ActionCompliant}
}

// The checks of one resource type that fill their waiting places do not
// keep another type's checks from starting: here the bucket checks all run
// while every instance check waits.
func TestWaitingChecksOfOneTypeDoNotHoldUpOthers(t *testing.T) {
	release := make(chan struct{})
	var n, of atomic.Int32
	buckets := []string{"b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"}
	of.Store(int32(len(buckets)))
	reg, err := remediation.NewRegistry(parker{release}, counter{&n, &of, release})
	if err != nil {
		t.Fatal(err)
	}
	defs := []remediators.Definition{
		def("parker", []string{typeInstance}, remediators.SweepCheck{Rule: "p", Lister: lister(t, "instances", typeInstance, []string{"i-1", "i-2", "i-3", "i-4", "i-5", "i-6"}, nil, nil)}),
		def("counter", []string{typeBucket}, remediators.SweepCheck{Rule: "c", Lister: lister(t, "buckets", typeBucket, buckets, nil, nil)}),
	}
	sw := &Sweeper{Definitions: defs, Account: "111122223333", Region: "eu-west-1", Concurrency: 1, Waiting: 1,
		Handler: &remediation.Handler{Registry: reg, Modes: remediation.Modes{Default: remediation.ModeEnforce}}}
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 14 {
		t.Errorf("%d outcomes, want 14", len(rep.Outcomes))
	}
	for _, o := range rep.Outcomes {
		if o.Action == remediation.ActionFailed {
			t.Errorf("%s: %s", o.ResourceID, o.Error)
		}
	}
}

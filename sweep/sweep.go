// Package sweep finds every resource the remediators cover in an account and
// region and runs each one through its remediators, exactly as the event path
// does (same modes, exemptions, outcomes and publishing): "fix what is
// already broken, not only what changes next". Compliance is decided by the
// remediators themselves; in dry-run mode the sweep is a detector.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// STSAPI is the part of the STS client the sweep finds its account with.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Permissions lists the IAM statements the sweep itself needs to list the
// resources of the given remediators (each remediator's listers declare
// theirs) and to find its account; the remediators' own permissions and the
// publisher's come on top.
func Permissions(defs []remediators.Definition) []remediation.Permission {
	// GetCallerIdentity needs no permission; it is listed because the
	// sweep calls it.
	return append(remediators.SweepPermissions(defs),
		remediation.Permission{Sid: "SweepAccount", Actions: []string{"sts:GetCallerIdentity"}, Resources: []string{"*"}})
}

// Target is one check: one resource through one remediator. Rule is the AWS
// Config managed rule the check stands for; it goes into the outcome and
// the remediator's request as if Config had reported it.
type Target struct {
	Remediator   string
	Rule         string
	ResourceType string
	ResourceID   string
}

// Sweeper lists resources and runs them through the handler's remediators.
type Sweeper struct {
	// Definitions are the remediators the sweep knows: their listers say
	// what to check (only the ones the handler's registry enables run).
	Definitions []remediators.Definition
	// Clients are handed to the listers.
	Clients remediators.Clients
	STS     STSAPI // used when Account is empty
	// Handler supplies the registry, the modes and the publisher: outcomes
	// are decided and published exactly as on the event path. A handler
	// without a publisher makes a silent detector.
	Handler *remediation.Handler
	Region  string
	Account string
	// Only limits the sweep to these remediators (all enabled ones when
	// empty).
	Only []string
	// DryRun runs every remediator in dry-run mode whatever Handler.Modes
	// says.
	DryRun bool
	// Concurrency bounds the checks working at once (DefaultConcurrency
	// when 0). A check waiting for a client-side rate-limit token
	// (RateLimiter) or for a batched read does not count: AWS's limits set
	// the pace of the checks they hold back, and the others go on
	// meanwhile.
	Concurrency int
	// Waiting bounds, per resource type, the checks that may be waiting on
	// top of Concurrency (DefaultWaiting when 0). It keeps a check's read
	// close to its write: a check waits at most for the tokens of the
	// Waiting checks of its type ahead of it.
	Waiting int
	// Progress, when set, is called after each check (from one goroutine at
	// a time).
	Progress func(done, total int, o remediation.Outcome)
	// RunID prefixes the outcomes' eventId (sweep-<unix time> when empty).
	RunID string
	// ActedAs is the member role session the sweep acts as in a member
	// account (the outcomes' actedAs); "" in the function's own account.
	ActedAs string
}

// Report is the result of a sweep.
type Report struct {
	Outcomes []remediation.Outcome // in target order
	// ListErrors are the listings that failed; the other resource types
	// were still swept.
	ListErrors []error
	// PublishErrors are the outcomes that could not be delivered.
	PublishErrors []error
	// Remediators are the names of the remediators swept, in registry
	// order (the order of the summary).
	Remediators []string
	Started     time.Time
	Duration    time.Duration
}

// Failed reports whether anything failed: an outcome, a listing or a
// delivery.
func (r *Report) Failed() bool {
	if len(r.ListErrors) > 0 || len(r.PublishErrors) > 0 {
		return true
	}
	for _, o := range r.Outcomes {
		if o.Action == remediation.ActionFailed {
			return true
		}
	}
	return false
}

func (s *Sweeper) enabled(name string) bool {
	if s.Handler == nil || s.Handler.Registry == nil || !s.Handler.Registry.Has(name) {
		return false
	}
	if len(s.Only) == 0 {
		return true
	}
	cat := remediators.Catalog(s.Definitions)
	for _, n := range s.Only {
		if c, _ := cat.Canonical(n); c == name {
			return true
		}
	}
	return false
}

// ValidateOnly checks that every name in only is a remediator of the
// catalog (a name or an alias).
func ValidateOnly(only []string, cat remediation.Catalog) error {
	for _, n := range only {
		if _, ok := cat.Canonical(n); !ok {
			return fmt.Errorf("unknown remediator %q (known: %s)", n, strings.Join(cat.Names(), ", "))
		}
	}
	return nil
}

// ValidateOnlyEnabled checks that every name in only is one of the enabled
// remediators (the ENABLED_REMEDIATORS setting; every remediator when
// enabled is empty). A sweep limited to a remediator that is not enabled
// would check nothing and report nothing, which reads like a clean account.
func ValidateOnlyEnabled(only, enabled []string, cat remediation.Catalog) error {
	if len(enabled) == 0 {
		return nil
	}
	for _, n := range only {
		name, _ := cat.Canonical(n)
		found := false
		for _, e := range enabled {
			if c, _ := cat.Canonical(e); c == name {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("remediator %q is not enabled (ENABLED_REMEDIATORS=%s)", n, strings.Join(enabled, ","))
		}
	}
	return nil
}

// DefaultConcurrency is Sweeper.Concurrency when it is 0. The checks that
// are not rate-limited client-side (S3's bucket settings) go at the pace of
// the calls' latency, so it takes this many for them to finish within the
// time AWS's EC2 write limits keep the others: 500 buckets (some 7,000
// calls) took 35 s at 4 with 20 ms a call, 17 s at 16.
const DefaultConcurrency = 16

// DefaultWaiting is Sweeper.Waiting when it is 0: more than the burst of
// any of AWS's write limits the sweep meets (ModifyInstanceMetadataOptions
// allows 100 at once), so that a burst is spent at once, and at 5 writes a
// second about half a minute of waiting at most.
const DefaultWaiting = 128

// Targets lists the checks to run: each enabled remediator's sweep checks
// over the resources of their listers, each lister run once. A listing that
// fails is returned among the errors and the others still run. The checks
// of the different listings are interleaved, so that every resource type
// is under way from the start.
func (s *Sweeper) Targets(ctx context.Context) ([]Target, []error) {
	return s.targets(ctx, nil)
}

// targets is Targets, handing what the instance listing reads to sink when
// it is not nil. The listings run in parallel (each is its own API).
func (s *Sweeper) targets(ctx context.Context, sink remediators.InstanceSink) ([]Target, []error) {
	if sink != nil {
		ctx = remediators.WithInstanceSink(ctx, sink)
	}
	type listing struct {
		lister  remediators.Lister
		checks  []Target // one per check, ResourceID empty
		ids     []string
		listErr error
	}
	var order []string
	byKey := map[string]*listing{}
	for _, d := range s.Definitions {
		if !s.enabled(d.Name) {
			continue
		}
		for _, c := range d.Sweep {
			l := byKey[c.Lister.Key]
			if l == nil {
				l = &listing{lister: c.Lister}
				byKey[c.Lister.Key] = l
				order = append(order, c.Lister.Key)
			}
			l.checks = append(l.checks, Target{Remediator: d.Name, Rule: c.Rule, ResourceType: c.Lister.ResourceType})
		}
	}
	groups := make([][]Target, len(order))
	listErrs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, key := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := byKey[key]
			ids, err := l.lister.List(ctx, s.Clients, s.Account, s.Region)
			listErrs[i] = err
			for _, id := range ids {
				for _, c := range l.checks {
					c.ResourceID = id
					groups[i] = append(groups[i], c)
				}
			}
		}()
	}
	wg.Wait()
	var errs []error
	for _, err := range listErrs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return interleave(groups), errs
}

// interleave takes one element of each group in turn.
func interleave(groups [][]Target) []Target {
	var out []Target
	for i := 0; ; i++ {
		took := false
		for _, g := range groups {
			if i < len(g) {
				out = append(out, g[i])
				took = true
			}
		}
		if !took {
			return out
		}
	}
}

// Run lists the resources, runs every check with bounded concurrency, and
// publishes each outcome through the handler. An error on one resource is
// that resource's failed outcome; the sweep goes on. Run returns an error
// only when the sweep cannot start (no account, no handler, Only naming a
// remediator the handler's registry does not have).
func (s *Sweeper) Run(ctx context.Context) (*Report, error) {
	rep := &Report{Started: time.Now()}
	if s.Handler == nil || s.Handler.Registry == nil {
		return nil, errors.New("sweep: no handler")
	}
	cat := remediators.Catalog(s.Definitions)
	if err := ValidateOnly(s.Only, cat); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := ValidateOnlyEnabled(s.Only, s.Handler.Registry.Names(), cat); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if s.Account == "" {
		if s.STS == nil {
			return nil, errors.New("sweep: no account given and no STS client to find it")
		}
		out, err := s.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return nil, fmt.Errorf("sweep: finding the account with STS GetCallerIdentity: %w", err)
		}
		s.Account = aws.ToString(out.Account)
	}
	for _, d := range s.Definitions {
		if s.enabled(d.Name) {
			rep.Remediators = append(rep.Remediators, d.Name)
		}
	}
	// The instance listing's reads are the IMDSv2 checks' reads, and their
	// read-backs are batched (remediators.InstanceReads).
	var reads *instanceReads
	if s.Clients != nil {
		reads = newInstanceReads(ctx, func() ec2.DescribeInstancesAPIClient { return s.Clients.EC2() })
	}
	var sink remediators.InstanceSink
	if reads != nil {
		sink = reads
	}
	targets, errs := s.targets(ctx, sink)
	rep.ListErrors = errs
	rep.Outcomes = make([]remediation.Outcome, len(targets))
	runID := s.RunID
	if runID == "" {
		runID = fmt.Sprintf("sweep-%d", rep.Started.Unix())
	}
	workers := s.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	waiting := s.Waiting
	if waiting <= 0 {
		waiting = DefaultWaiting
	}
	// A check holds a working slot whenever it is not waiting (slots), and
	// one of its resource type's admitted places from its start to its
	// end. Each resource type is fed on its own, so that the checks of one
	// type waiting for tokens never keep the others from starting.
	working := newSlots(workers)
	var types []string
	byType := map[string][]int{}
	for i, t := range targets {
		if byType[t.ResourceType] == nil {
			types = append(types, t.ResourceType)
		}
		byType[t.ResourceType] = append(byType[t.ResourceType], i)
	}
	started := make([]bool, len(targets))
	var mu sync.Mutex
	done := 0
	var checks, feeders sync.WaitGroup
	for _, typ := range types {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			admitted := make(chan struct{}, workers+waiting)
			for _, i := range byType[typ] {
				select {
				case admitted <- struct{}{}:
				case <-ctx.Done():
					return
				}
				if working.acquire(ctx) != nil {
					return
				}
				started[i] = true
				slot := &checkSlot{s: working, held: true}
				checks.Add(1)
				go func() {
					defer checks.Done()
					cctx := withCheckSlot(ctx, slot)
					if reads != nil {
						cctx = remediators.WithInstanceReads(cctx, reads)
					}
					o, err := s.check(cctx, targets[i], fmt.Sprintf("%s-%d", runID, i+1))
					slot.done()
					<-admitted
					mu.Lock()
					defer mu.Unlock()
					rep.Outcomes[i] = o
					var failed *remediation.OutcomeError
					if err != nil && !errors.As(err, &failed) {
						rep.PublishErrors = append(rep.PublishErrors, err)
					}
					done++
					if s.Progress != nil {
						s.Progress(done, len(targets), o)
					}
				}()
			}
		}()
	}
	feeders.Wait()
	checks.Wait()
	// Checks not started because the context ended are left out.
	kept := rep.Outcomes[:0]
	for i, o := range rep.Outcomes {
		if started[i] {
			kept = append(kept, o)
		}
	}
	rep.Outcomes = kept
	rep.Duration = time.Since(rep.Started)
	return rep, nil
}

func (s *Sweeper) check(ctx context.Context, t Target, eventID string) (remediation.Outcome, error) {
	h := s.Handler
	rem, _ := h.Registry.Get(t.Remediator)
	mode := h.Modes.For(t.Remediator)
	if s.DryRun {
		mode = remediation.ModeDryRun
	}
	req := remediation.Request{
		Rule: t.Rule, ManagedRule: t.Rule, ResourceType: t.ResourceType, ResourceID: t.ResourceID,
		Account: s.Account, Region: s.Region, Mode: mode,
	}
	// Through Process: with a state store the sweep's fixes count toward the
	// flap limit like the events' do.
	return h.Process(ctx, remediation.Job{Remediator: rem, Request: req, EventID: eventID, Trigger: remediation.TriggerSweep, ActedAs: s.ActedAs})
}

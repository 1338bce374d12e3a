package app

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/sweep"
)

// All is the --accounts, --regions, SWEEP_ACCOUNTS and SWEEP_REGIONS value
// that means every one: the organisation's ACTIVE accounts, the enabled
// regions.
const All = "all"

// DefaultSweepParallel is how many account-regions an organisation sweep
// runs at once unless told otherwise. Each mostly waits on its own
// account-region's rate limits, so many can share one process.
const DefaultSweepParallel = 32

// SweepSettings lists the scheduled sweep function's own environment
// variables, on top of Settings(): they turn it into the planner of an
// organisation sweep.
func SweepSettings() []Setting {
	return []Setting{
		{"SWEEP_ACCOUNTS", "", "Accounts the scheduled sweep covers: empty sweeps the function's own account; `all` every ACTIVE account of the organisation (AWS Organizations ListAccounts, from the management account or a delegated administrator); or comma-separated account IDs. EXCLUDED_ACCOUNTS are left out. Set (or SWEEP_REGIONS set), the sweep function plans: it sends one message per account-region to SWEEP_QUEUE_URL, and the sweep worker sweeps each (needs STATE_TABLE)."},
		{"SWEEP_REGIONS", "", "Regions the scheduled sweep covers: empty sweeps the function's own region; `all` the enabled regions (EC2 DescribeRegions); or comma-separated regions. Regions outside REGIONS are left out."},
		{"SWEEP_QUEUE_URL", "", "The sweep queue the planner sends the account-regions to (required when SWEEP_ACCOUNTS or SWEEP_REGIONS is set; Terraform sets it)."},
	}
}

// SweepConfig is the scheduled sweep function's own settings.
type SweepConfig struct {
	// Accounts and Regions are "" (the function's own), All or a
	// comma-separated list, as SWEEP_ACCOUNTS and SWEEP_REGIONS say.
	Accounts, Regions string
	QueueURL          string
}

// Org reports whether the sweep covers more than the function's own account
// and region, and so is planned and fanned out.
func (c SweepConfig) Org() bool { return c.Accounts != "" || c.Regions != "" }

// LoadSweep reads the scheduled sweep's own settings from getenv.
func LoadSweep(getenv func(string) string) (SweepConfig, error) {
	get := lookup(getenv, SweepSettings())
	c := SweepConfig{Accounts: get("SWEEP_ACCOUNTS"), Regions: get("SWEEP_REGIONS"), QueueURL: get("SWEEP_QUEUE_URL")}
	if err := CheckSweepAccounts(c.Accounts); err != nil {
		return c, fmt.Errorf("SWEEP_ACCOUNTS: %w", err)
	}
	if err := CheckSweepRegions(c.Regions); err != nil {
		return c, fmt.Errorf("SWEEP_REGIONS: %w", err)
	}
	if c.Org() && !strings.HasPrefix(c.QueueURL, "https://") && !strings.HasPrefix(c.QueueURL, "http://") {
		return c, fmt.Errorf("SWEEP_QUEUE_URL: %q is not a queue URL (required when SWEEP_ACCOUNTS or SWEEP_REGIONS is set)", c.QueueURL)
	}
	return c, nil
}

// CheckSweepAccounts says what is wrong with an accounts selection: "" (the
// credentials' own), All, or comma-separated account IDs.
func CheckSweepAccounts(v string) error {
	if v = strings.TrimSpace(v); v == All {
		return nil
	}
	ids, err := accountList(v)
	if err != nil {
		return fmt.Errorf("%w (want %s or comma-separated account IDs)", err, All)
	}
	if v != "" && len(ids) == 0 {
		return fmt.Errorf("%q names no account", v)
	}
	return nil
}

// CheckSweepRegions says what is wrong with a regions selection: "" (the
// credentials' own), All, or comma-separated regions.
func CheckSweepRegions(v string) error {
	if v = strings.TrimSpace(v); v == All {
		return nil
	}
	names, err := regionList(v)
	if err != nil {
		return fmt.Errorf("%w (want %s or comma-separated regions)", err, All)
	}
	if v != "" && len(names) == 0 {
		return fmt.Errorf("%q names no region", v)
	}
	return nil
}

// SweepPlanner turns an accounts and a regions selection into the
// account-regions to sweep.
type SweepPlanner struct {
	// Config supplies EXCLUDED_ACCOUNTS and REGIONS.
	Config Config
	// Organizations lists the organisation's accounts (for All).
	Organizations sweep.OrganizationsAPI
	// Regions lists the enabled regions (for All), in the home region.
	Regions sweep.RegionsAPI
	// Own tells the credentials' account (no accounts selected).
	Own func(ctx context.Context) (string, error)
	// Home is the credentials' region (no regions selected).
	Home string
}

// NewSweepPlanner plans with the central account's clients.
func NewSweepPlanner(cfg Config, c *Clients) *SweepPlanner {
	return &SweepPlanner{Config: cfg, Organizations: c.Organizations(), Regions: c.EC2(), Own: OwnAccount(c), Home: c.Config().Region}
}

// Plan resolves accounts and regions ("" for the credentials' own, All, or
// a comma-separated list; see CheckSweepAccounts and CheckSweepRegions) into account-regions, by
// account then region. EXCLUDED_ACCOUNTS are left out, and with REGIONS set
// only its regions are kept; skipped says what was left out for a reason
// worth telling. With nothing left it returns sweep.ErrNothingToSweep.
func (p *SweepPlanner) Plan(ctx context.Context, accounts, regions string) (targets []sweep.AccountRegion, skipped []string, err error) {
	if err := CheckSweepAccounts(accounts); err != nil {
		return nil, nil, fmt.Errorf("accounts: %w", err)
	}
	if err := CheckSweepRegions(regions); err != nil {
		return nil, nil, fmt.Errorf("regions: %w", err)
	}
	var accs, regs []string
	switch a := strings.TrimSpace(accounts); a {
	case All:
		if accs, err = sweep.ActiveAccounts(ctx, p.Organizations); err != nil {
			return nil, nil, err
		}
	case "":
		own, err := p.Own(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("finding the credentials' account: %w", err)
		}
		accs = []string{own}
	default:
		accs, _ = accountList(a)
	}
	switch r := strings.TrimSpace(regions); r {
	case All:
		if regs, err = sweep.EnabledRegions(ctx, p.Regions); err != nil {
			return nil, nil, err
		}
	case "":
		regs = []string{p.Home}
	default:
		regs, _ = regionList(r)
	}
	slices.Sort(accs)
	accs = slices.DeleteFunc(slices.Compact(accs), func(a string) bool {
		if slices.Contains(p.Config.ExcludedAccounts, a) {
			skipped = append(skipped, fmt.Sprintf("account %s is excluded (EXCLUDED_ACCOUNTS)", a))
			return true
		}
		return false
	})
	regs = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(regs))), func(r string) bool {
		if len(p.Config.Regions) > 0 && !slices.Contains(p.Config.Regions, r) {
			// Every enabled region but REGIONS' is no news.
			if strings.TrimSpace(regions) != All {
				skipped = append(skipped, fmt.Sprintf("region %s is not one this deployment acts in (REGIONS: %s)", r, strings.Join(p.Config.Regions, ", ")))
			}
			return true
		}
		return false
	})
	if len(accs) == 0 || len(regs) == 0 {
		return nil, skipped, sweep.ErrNothingToSweep
	}
	return sweep.Cross(accs, regs), skipped, nil
}

// OrgSweeper sweeps account-regions of the organisation in parallel, each
// with its own clients, rate limiter, remediators and sweeper: AWS's EC2
// request limits are per account and region, so the whole organisation
// takes about as long as its slowest account-region. Outcomes are decided
// and published exactly as by one account's sweep (the handler's modes,
// publisher and state store), in the central account.
type OrgSweeper struct {
	Config Config
	// Scopes hands out each account-region's clients and remediators (the
	// member role in another account). NewOrgSweeper installs one rate
	// limiter per account-region through its Configure hook.
	Scopes *Scopes
	// Handler is the template of each account-region's handler: its
	// publisher, modes and store are shared, its registry is the scope's.
	Handler *remediation.Handler
	// Limits are each account-region's client-side limits
	// (sweep.DefaultLimits when nil).
	Limits map[string]sweep.Limit
	// Only, DryRun and Concurrency are each account-region's sweeper's.
	Only        []string
	DryRun      bool
	Concurrency int
	// Parallel bounds the account-regions swept at once
	// (DefaultSweepParallel when 0).
	Parallel int
	// Progress, when set, is called after each check with the counts of
	// the whole run (from one goroutine at a time); the total grows as the
	// account-regions list their resources.
	Progress func(done, total int, o remediation.Outcome)
	// ScopeDone, when set, is called after each account-region with how
	// many are done (from one goroutine at a time).
	ScopeDone func(s sweep.ScopeReport, done, total int)

	mu sync.Mutex // serialises Progress and ScopeDone
}

// NewOrgSweeper wires an organisation sweep from the central account's
// clients and handler (NewHandler): member accounts are acted in through
// their member role, each account-region with its own rate limiter. central
// must not carry a rate limiter of its own: one limiter for all would pace
// the organisation as one account-region.
func NewOrgSweeper(cfg Config, central *Clients, h *remediation.Handler) *OrgSweeper {
	o := &OrgSweeper{Config: cfg, Handler: h, Scopes: NewScopes(cfg, central)}
	// Scopes clips each scope's APIOptions, so that the limiters of two
	// scopes never share a slot.
	o.Scopes.Configure = func(c *aws.Config, _, _ string) { sweep.NewRateLimiter(o.Limits).AddTo(c) }
	return o
}

// Run sweeps every target, at most Parallel at once; an account-region
// that cannot be swept (its member role cannot be assumed) is that
// account-region's failure and the others go on. runID names the run: the
// member role sessions ("autoremediate-<runID>") and the outcomes' event
// IDs.
func (o *OrgSweeper) Run(ctx context.Context, runID string, targets []sweep.AccountRegion) *sweep.OrgReport {
	rep := &sweep.OrgReport{RunID: runID, Started: time.Now(), Scopes: make([]sweep.ScopeReport, len(targets))}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = DefaultSweepParallel
	}
	var (
		wg             sync.WaitGroup
		sem            = make(chan struct{}, parallel)
		checks         = map[sweep.AccountRegion][2]int{} // done, total
		done, total    int
		scopesFinished int
	)
	progress := func(t sweep.AccountRegion) func(int, int, remediation.Outcome) {
		if o.Progress == nil {
			return nil
		}
		return func(d, n int, out remediation.Outcome) {
			o.mu.Lock()
			defer o.mu.Unlock()
			prev := checks[t]
			done, total = done+d-prev[0], total+n-prev[1]
			checks[t] = [2]int{d, n}
			o.Progress(done, total, out)
		}
	}
	for i, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			rep.Scopes[i] = sweep.ScopeReport{AccountRegion: t, Err: fmt.Errorf("not started: %w", context.Cause(ctx))}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s := o.sweepScope(ctx, runID, t, progress(t))
			rep.Scopes[i] = s
			if o.ScopeDone != nil {
				o.mu.Lock()
				scopesFinished++
				o.ScopeDone(s, scopesFinished, len(targets))
				o.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Duration = time.Since(rep.Started)
	return rep
}

// SweepScope sweeps one account-region (the sweep worker's unit).
func (o *OrgSweeper) SweepScope(ctx context.Context, runID string, t sweep.AccountRegion) sweep.ScopeReport {
	return o.sweepScope(ctx, runID, t, nil)
}

func (o *OrgSweeper) sweepScope(ctx context.Context, runID string, t sweep.AccountRegion, progress func(int, int, remediation.Outcome)) sweep.ScopeReport {
	res := sweep.ScopeReport{AccountRegion: t}
	// A member role assumed (or renewed) for this run names its session
	// after the run; credentials still valid from an earlier run or event
	// keep that one's name (they are cached per account), and ActedAs says
	// which session it is.
	ctx = withSession(ctx, runID)
	sc, err := o.Scopes.For(ctx, t.Account, t.Region, runID)
	if err != nil {
		res.Err = err
		return res
	}
	sw := NewSweeper(o.Config, sc.Clients, scopeHandler(o.Handler, sc.Registry))
	sw.Account, sw.Region = t.Account, t.Region
	sw.Only, sw.DryRun, sw.Concurrency = o.Only, o.DryRun, o.Concurrency
	sw.RunID = fmt.Sprintf("%s-%s-%s", runID, t.Account, t.Region)
	sw.ActedAs = sc.ActedAs()
	sw.Progress = progress
	res.Report, res.Err = sw.Run(ctx)
	return res
}

// scopeHandler is a fresh handler with every exported setting of template
// (publisher, modes, store, ...) and the scope's registry. It copies the
// exported fields one by one rather than the struct, whose unexported
// per-resource locks must not be shared by copy; a field added to the
// handler later is carried over without a change here.
func scopeHandler(template *remediation.Handler, reg *remediation.Registry) *remediation.Handler {
	h := &remediation.Handler{}
	src, dst := reflect.ValueOf(template).Elem(), reflect.ValueOf(h).Elem()
	for i := range src.NumField() {
		if src.Type().Field(i).IsExported() {
			dst.Field(i).Set(src.Field(i))
		}
	}
	h.Registry = reg
	return h
}

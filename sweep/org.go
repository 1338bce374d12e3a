package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// AccountRegion is one account and region of an organisation sweep: the
// unit AWS's EC2 request limits apply to, and so the unit that gets its
// own rate limiter, its own sweeper and, in the scheduled sweep, its own
// worker invocation.
type AccountRegion struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

func (a AccountRegion) String() string { return a.Account + "/" + a.Region }

// Cross is every account in every region, by account then region.
func Cross(accounts, regions []string) []AccountRegion {
	var out []AccountRegion
	for _, a := range accounts {
		for _, r := range regions {
			out = append(out, AccountRegion{Account: a, Region: r})
		}
	}
	return out
}

// OrganizationsAPI is the part of the AWS Organizations client the sweep
// lists the organisation's accounts with (from the management account or a
// delegated administrator).
type OrganizationsAPI interface {
	ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

// RegionsAPI is the part of the EC2 client the sweep finds the enabled
// regions with.
type RegionsAPI interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// ActiveAccounts lists the organisation's ACTIVE accounts (suspended,
// closed and pending-closure accounts cannot be acted in), sorted.
func ActiveAccounts(ctx context.Context, org OrganizationsAPI) ([]string, error) {
	var out []string
	p := organizations.NewListAccountsPaginator(org, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the organisation's accounts with Organizations ListAccounts (run it from the management account or a delegated administrator): %w", err)
		}
		for _, a := range page.Accounts {
			// State replaces Status (retired in September 2026); an
			// answer that carries only Status still counts.
			active := a.State == orgtypes.AccountStateActive || (a.State == "" && a.Status == orgtypes.AccountStatusActive)
			if active && a.Id != nil {
				out = append(out, aws.ToString(a.Id))
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// EnabledRegions lists the regions enabled for the account, sorted.
// DescribeRegions without AllRegions answers only those on AWS; the opt-in
// status is checked as well, so that a region listed as not opted in (as
// some emulators list every region) is left out.
func EnabledRegions(ctx context.Context, client RegionsAPI) ([]string, error) {
	out, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing the enabled regions with EC2 DescribeRegions: %w", err)
	}
	var regions []string
	for _, r := range out.Regions {
		switch aws.ToString(r.OptInStatus) {
		case "", "opt-in-not-required", "opted-in":
			regions = append(regions, aws.ToString(r.RegionName))
		}
	}
	sort.Strings(regions)
	return regions, nil
}

// ScopeReport is the sweep of one account-region: its report, or why it
// could not be swept at all (Err, e.g. a member role that cannot be
// assumed).
type ScopeReport struct {
	AccountRegion
	Report *Report
	Err    error
}

// maxProblems is how many problems a ScopeResult keeps: the outcomes have
// them all; the summary needs enough to say where to look.
const maxProblems = 10

// ScopeResult is the summary of one account-region's sweep, small enough
// to be stored and sent: counts, score and the first problems.
type ScopeResult struct {
	Account         string                     `json:"account"`
	Region          string                     `json:"region"`
	Checked         int                        `json:"checked"`
	Counts          map[remediation.Action]int `json:"counts"`
	CompliantChecks int                        `json:"compliantChecks"`
	ScoredChecks    int                        `json:"scoredChecks"`
	// Problems are the failed checks, listings and deliveries, each on one
	// line, at most maxProblems of them; MoreProblems counts the rest.
	Problems     []string `json:"problems,omitempty"`
	MoreProblems int      `json:"moreProblems,omitempty"`
	// Error says why the account-region could not be swept at all.
	Error      string `json:"error,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// Failed reports whether anything failed in the account-region.
func (r ScopeResult) Failed() bool {
	return r.Error != "" || len(r.Problems) > 0 || r.MoreProblems > 0
}

// Result summarises the scope.
func (s ScopeReport) Result() ScopeResult {
	res := ScopeResult{Account: s.Account, Region: s.Region, Counts: map[remediation.Action]int{}}
	if s.Err != nil {
		res.Error = s.Err.Error()
	}
	if s.Report == nil {
		return res
	}
	rep := s.Report
	res.Checked, res.DurationMs = len(rep.Outcomes), rep.Duration.Milliseconds()
	for _, o := range rep.Outcomes {
		res.Counts[o.Action]++
	}
	sc := rep.Score()
	res.CompliantChecks, res.ScoredChecks = sc.Compliant, sc.Total
	for _, p := range rep.Problems() {
		if len(res.Problems) == maxProblems {
			res.MoreProblems++
			continue
		}
		res.Problems = append(res.Problems, oneLine(p.Error(), maxLine))
	}
	return res
}

// Problems lists what failed in the sweep: each failed check, then the
// failed listings and the undelivered outcomes.
func (r *Report) Problems() []error {
	var problems []error
	for _, o := range r.Outcomes {
		if o.Action == remediation.ActionFailed {
			problems = append(problems, fmt.Errorf("%s on %s %q: %s", o.Remediator, o.ResourceType, o.ResourceID, o.Error))
		}
	}
	return append(append(problems, r.ListErrors...), r.PublishErrors...)
}

// AccountResult is one account's part of a sweep summary: its regions
// added up.
type AccountResult struct {
	Account         string                     `json:"account"`
	Regions         []string                   `json:"regions"`
	Checked         int                        `json:"checked"`
	Counts          map[remediation.Action]int `json:"counts"`
	CompliantChecks int                        `json:"compliantChecks"`
	ScoredChecks    int                        `json:"scoredChecks"`
	ScorePercent    *float64                   `json:"scorePercent"`
	Score           string                     `json:"score"`
	// FailedRegions are the regions that could not be swept at all or
	// where something failed.
	FailedRegions []string `json:"failedRegions,omitempty"`
	// Problems are the regions' problems, each prefixed with its region.
	Problems     []string `json:"problems,omitempty"`
	MoreProblems int      `json:"moreProblems,omitempty"`
}

// Summarize adds the account-regions' results up into the sweep's summary:
// the totals, the score and one AccountResult per account (in account
// order). duration is the whole sweep's wall time.
func Summarize(results []ScopeResult, duration time.Duration) LambdaResult {
	res := LambdaResult{Counts: map[remediation.Action]int{}, DurationMs: duration.Milliseconds(), Scopes: len(results), Accounts: []AccountResult{}}
	results = slices.Clone(results)
	slices.SortFunc(results, func(a, b ScopeResult) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	var acct *AccountResult
	for _, r := range results {
		if acct == nil || acct.Account != r.Account {
			res.Accounts = append(res.Accounts, AccountResult{Account: r.Account, Counts: map[remediation.Action]int{}})
			acct = &res.Accounts[len(res.Accounts)-1]
		}
		acct.Regions = append(acct.Regions, r.Region)
		acct.Checked += r.Checked
		acct.CompliantChecks += r.CompliantChecks
		acct.ScoredChecks += r.ScoredChecks
		for a, n := range r.Counts {
			acct.Counts[a] += n
			res.Counts[a] += n
		}
		res.Checked += r.Checked
		res.CompliantChecks += r.CompliantChecks
		res.ScoredChecks += r.ScoredChecks
		if !r.Failed() {
			continue
		}
		res.FailedScopes++
		acct.FailedRegions = append(acct.FailedRegions, r.Region)
		if r.Error != "" {
			acct.Problems = append(acct.Problems, r.Region+": not swept: "+r.Error)
		}
		for _, p := range r.Problems {
			acct.Problems = append(acct.Problems, r.Region+": "+p)
		}
		acct.MoreProblems += r.MoreProblems
	}
	for i := range res.Accounts {
		a := &res.Accounts[i]
		sc := Score{Compliant: a.CompliantChecks, Total: a.ScoredChecks}
		a.Score = sc.String()
		if pct, ok := sc.Percent(); ok {
			a.ScorePercent = &pct
		}
	}
	sc := Score{Compliant: res.CompliantChecks, Total: res.ScoredChecks}
	res.Score = sc.String()
	if pct, ok := sc.Percent(); ok {
		res.ScorePercent = &pct
	}
	return res
}

// OrgReport is an organisation sweep: one ScopeReport per account-region,
// in account then region order.
type OrgReport struct {
	RunID    string
	Scopes   []ScopeReport
	Started  time.Time
	Duration time.Duration
}

// Failed reports whether anything failed in any account-region, including
// an account-region that could not be swept.
func (r *OrgReport) Failed() bool {
	for _, s := range r.Scopes {
		if s.Err != nil || (s.Report != nil && s.Report.Failed()) {
			return true
		}
	}
	return false
}

// Result is the summary of the sweep, with its per-account breakdown.
func (r *OrgReport) Result() LambdaResult {
	var results []ScopeResult
	for _, s := range r.Scopes {
		results = append(results, s.Result())
	}
	res := Summarize(results, r.Duration)
	res.RunID = r.RunID
	return res
}

// Outcomes are the outcomes of every account-region, in the report's
// order.
func (r *OrgReport) Outcomes() []remediation.Outcome {
	var out []remediation.Outcome
	for _, s := range r.Scopes {
		if s.Report != nil {
			out = append(out, s.Report.Outcomes...)
		}
	}
	return out
}

// WriteJSON prints one outcome JSON object per line; each carries its
// account and region.
func (r *OrgReport) WriteJSON(w io.Writer) error {
	return (&Report{Outcomes: r.Outcomes()}).WriteJSON(w)
}

// Errors are what kept account-regions from being swept and what failed in
// their listings and deliveries, each naming its account and region.
func (r *OrgReport) Errors() []error {
	var errs []error
	for _, s := range r.Scopes {
		if s.Err != nil {
			errs = append(errs, fmt.Errorf("%s: not swept: %w", s.AccountRegion, s.Err))
		}
		if s.Report == nil {
			continue
		}
		for _, e := range append(slices.Clone(s.Report.ListErrors), s.Report.PublishErrors...) {
			errs = append(errs, fmt.Errorf("%s: %w", s.AccountRegion, e))
		}
	}
	return errs
}

// byAccount merges each account's regions into one report (outcomes,
// errors, the longest region's duration), in account order.
func (r *OrgReport) byAccount() (accounts []string, reports map[string]*Report, unswept map[string][]ScopeReport) {
	reports, unswept = map[string]*Report{}, map[string][]ScopeReport{}
	for _, s := range r.Scopes {
		rep := reports[s.Account]
		if rep == nil {
			rep = &Report{}
			reports[s.Account] = rep
			accounts = append(accounts, s.Account)
		}
		if s.Err != nil {
			unswept[s.Account] = append(unswept[s.Account], s)
		}
		if s.Report == nil {
			continue
		}
		rep.Outcomes = append(rep.Outcomes, s.Report.Outcomes...)
		for _, e := range s.Report.ListErrors {
			rep.ListErrors = append(rep.ListErrors, fmt.Errorf("%s: %w", s.Region, e))
		}
		for _, e := range s.Report.PublishErrors {
			rep.PublishErrors = append(rep.PublishErrors, fmt.Errorf("%s: %w", s.Region, e))
		}
		for _, n := range s.Report.Remediators {
			if !slices.Contains(rep.Remediators, n) {
				rep.Remediators = append(rep.Remediators, n)
			}
		}
		rep.Duration = max(rep.Duration, s.Report.Duration)
	}
	return accounts, reports, unswept
}

// WriteSummary prints, for each account, the per-remediator table of its
// regions together, what stays non-compliant, the regions that could not be
// swept and its score; then the organisation's table, one row per account,
// with the total and the overall score.
func (r *OrgReport) WriteSummary(w io.Writer) {
	accounts, reports, unswept := r.byAccount()
	for _, a := range accounts {
		var regions []string
		for _, s := range r.Scopes {
			if s.Account == a {
				regions = append(regions, s.Region)
			}
		}
		fmt.Fprintf(w, "== account %s (%s)\n", a, strings.Join(regions, ", "))
		for _, s := range unswept[a] {
			fmt.Fprintf(w, "not swept in %s: %v\n", s.Region, s.Err)
		}
		reports[a].WriteSummary(w)
		fmt.Fprintln(w)
	}
	res := r.Result()
	notSwept := 0
	for _, s := range unswept {
		notSwept += len(s)
	}
	fmt.Fprintf(w, "== organisation: %d %s, %d account-regions", len(res.Accounts), plural(len(res.Accounts), "account", "accounts"), len(r.Scopes))
	if res.FailedScopes > 0 {
		fmt.Fprintf(w, " (%d with problems, %d not swept)", res.FailedScopes, notSwept)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"account", "regions", "checked"}
	for _, a := range summaryColumns {
		header = append(header, string(a))
	}
	fmt.Fprintln(tw, strings.Join(append(header, "score", "not swept"), "\t")+"\t")
	row := func(name string, regions, checked int, counts map[remediation.Action]int, score Score, notSwept int) {
		cells := []string{name, fmt.Sprint(regions), fmt.Sprint(checked)}
		for _, a := range summaryColumns {
			cells = append(cells, fmt.Sprint(counts[a]))
		}
		pct := "n/a"
		if p, ok := score.Percent(); ok {
			pct = fmt.Sprintf("%.1f%%", p)
		}
		fmt.Fprintln(tw, strings.Join(append(cells, pct, fmt.Sprint(notSwept)), "\t")+"\t")
	}
	for _, a := range res.Accounts {
		row(a.Account, len(a.Regions), a.Checked, a.Counts, Score{a.CompliantChecks, a.ScoredChecks}, len(unswept[a.Account]))
	}
	row("total", len(r.Scopes), res.Checked, res.Counts, Score{res.CompliantChecks, res.ScoredChecks}, notSwept)
	tw.Flush()
	fmt.Fprintf(w, "compliance score: %s, in %s\n", res.Score, r.Duration.Round(time.Millisecond))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ErrNothingToSweep is the planning error when the selection leaves no
// account-region (every account excluded, no region left by REGIONS).
var ErrNothingToSweep = errors.New("nothing to sweep: no account-region is left")

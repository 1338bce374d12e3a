// Package evidence builds the audit evidence pack of `remediate report
// evidence`: for each resource concerned, a timeline merging AWS Config's
// compliance and configuration history with the outcomes the pipeline
// archived, the periods in which it was non-compliant (who changed it, when
// it was fixed and verified, how long it was exposed), totals per rule, and
// where Config was not recording. The pack is Markdown, CSV and HTML with a
// manifest of SHA-256 hashes and inputs, byte-identical for the same input.
package evidence

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/archive"
	"github.com/autoremediate/autoremediate/remediation"
)

// Key names one resource.
type Key struct {
	Account, Region, Type, ID string
}

func (k Key) String() string { return k.Type + " " + k.ID }

func sortKeys(ks []Key) {
	slices.SortFunc(ks, func(a, b Key) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
}

// Filter is --resource and --rule.
type Filter struct {
	// Resource is an ID or an ARN ("" for all).
	Resource string
	// Rule is a Config rule name ("" for all).
	Rule string
}

// MatchResource says whether k is the --resource asked for: its ID, or an
// ARN whose resource part ends with the ID (arn:aws:s3:::bucket,
// arn:aws:ec2:us-east-1:111122223333:security-group/sg-1).
func (f Filter) MatchResource(k Key) bool {
	if f.Resource == "" || f.Resource == k.ID {
		return true
	}
	if !strings.HasPrefix(f.Resource, "arn:") {
		return false
	}
	parts := strings.SplitN(f.Resource, ":", 6)
	if len(parts) < 6 {
		return false
	}
	if (parts[3] != "" && parts[3] != k.Region) || (parts[4] != "" && parts[4] != k.Account) {
		return false
	}
	res := parts[5]
	return res == k.ID || strings.HasSuffix(res, "/"+k.ID) || strings.HasSuffix(res, ":"+k.ID)
}

// MatchRule says whether the rule passes --rule.
func (f Filter) MatchRule(rule string) bool { return f.Rule == "" || f.Rule == rule }

// Sources of timeline entries.
const (
	SourceCompliance    = "Config compliance"
	SourceConfiguration = "Config configuration"
	SourceOutcome       = "pipeline outcome"
	SourceReport        = "report"
)

// Unknown is the actor when nobody is known: AWS Config's items do not
// carry the caller, and the report does not guess one.
const Unknown = "unknown"

// Entry is one line of a resource's timeline.
type Entry struct {
	Time   time.Time
	Source string
	// Rule is "" for entries about the resource as a whole.
	Rule   string
	Event  string
	Actor  string
	Detail string
	order  int // source order for equal times: Config compliance, configuration, outcomes, report
	seq    int
	// outcome is the index+1 of the outcome the entry shows, 0 for others.
	outcome int
	// lagging marks a Config evaluation of the state before a fix.
	lagging bool
}

// ConfigLag is how long after the pipeline's verified fix a NON_COMPLIANT
// evaluation by AWS Config may still be Config evaluating the configuration
// from before the fix: a CloudTrail-triggered remediation usually finishes
// before Config has evaluated the change that triggered it. Such an
// evaluation, when Config's next one is COMPLIANT and no outcome in between
// found the resource non-compliant, is shown but not counted as a new
// non-compliant period.
const ConfigLag = 15 * time.Minute

// Episode is one period of non-compliance with one rule.
type Episode struct {
	Rule  string
	Start time.Time
	// StartedBefore: already non-compliant at the start of the period;
	// Start is then the period's start.
	StartedBefore bool
	// End is when it was fixed (or found compliant), zero while open.
	End  time.Time
	Open bool
	// ChangedBy is the actor of the CloudTrail call that made it
	// non-compliant, Unknown otherwise.
	ChangedBy string
	// DetectedBy says what reported it first.
	DetectedBy string
	// FixedBy says who or what ended it; VerifiedBy and VerifiedAt how that
	// was confirmed (the remediator's read-back, AWS Config's evaluation).
	FixedBy    string
	VerifiedBy string
	VerifiedAt time.Time
	// ConfigConfirmedAt is AWS Config's later COMPLIANT evaluation of a
	// fix by the pipeline, zero when none in the period.
	ConfigConfirmedAt time.Time
	// LastAction is the last pipeline action taken in the episode.
	LastAction remediation.Action
	Exposure   time.Duration
}

// Resource is one resource's timeline and episodes.
type Resource struct {
	Key      Key
	Rules    []string
	Entries  []Entry
	Episodes []Episode
	Exposure time.Duration
	// Notes say where the evidence is incomplete: Config not recording,
	// not read, errors.
	Notes []string
}

// Open says whether an episode is still open at the end of the period.
func (r *Resource) Open() bool {
	for _, e := range r.Episodes {
		if e.Open {
			return true
		}
	}
	return false
}

// RuleStats are the totals of one rule.
type RuleStats struct {
	Rule      string
	Resources int
	Episodes  int
	Open      int
	P50, P95  time.Duration
	Max       time.Duration
}

// OpenCase is an episode still open at the end whose last pipeline action
// failed or was escalated.
type OpenCase struct {
	Key     Key
	Episode Episode
}

// Tool is the build that made the pack.
type Tool struct {
	Name         string `json:"name"`
	Version      string `json:"version,omitempty"`
	Module       string `json:"module,omitempty"`
	Revision     string `json:"vcsRevision,omitempty"`
	RevisionTime string `json:"vcsTime,omitempty"`
	Modified     bool   `json:"vcsModified,omitempty"`
	GoVersion    string `json:"goVersion,omitempty"`
}

// Input is everything a pack is built from.
type Input struct {
	From, To, GeneratedAt time.Time
	Filter                Filter
	Outcomes              []archive.Record
	Archive               *archive.ReadResult
	Config                *ConfigData
	Tool                  Tool
}

// Report is the evidence pack's content.
type Report struct {
	From, To, GeneratedAt time.Time
	Filter                Filter
	Resources             []*Resource
	Rules                 []RuleStats
	OpenCases             []OpenCase
	Coverage              []Coverage
	Notes                 []string
	Malformed             []archive.LineError
	ArchiveLocation       string
	ArchiveFiles          []string
	ArchiveSums           []archive.FileSum
	OutcomesRead          int
	Account               string
	Regions               []string
	Tool                  Tool
}

// NeverNonCompliant counts the resources without an episode.
func (r *Report) NeverNonCompliant() int {
	n := 0
	for _, res := range r.Resources {
		if len(res.Episodes) == 0 {
			n++
		}
	}
	return n
}

// OpenEpisodes counts the episodes open at the end of the period.
func (r *Report) OpenEpisodes() int {
	n := 0
	for _, res := range r.Resources {
		for _, e := range res.Episodes {
			if e.Open {
				n++
			}
		}
	}
	return n
}

// Concerned returns the resources and rules of the archived outcomes that
// pass the filter: the keys whose Config history to read, and the rules
// whose evaluations list the other resources (--rule alone when given).
func Concerned(records []archive.Record, f Filter) ([]Key, []string) {
	var keys []Key
	rules := map[string]bool{}
	if f.Rule != "" {
		rules[f.Rule] = true
	}
	for _, r := range records {
		o := r.Outcome
		k := Key{Account: o.Account, Region: o.Region, Type: o.ResourceType, ID: o.ResourceID}
		if k.ID == "" || !f.MatchResource(k) || !f.MatchRule(o.Rule) {
			continue
		}
		keys = append(keys, k)
		if o.Rule != "" {
			rules[o.Rule] = true
		}
	}
	sortKeys(keys)
	names := make([]string, 0, len(rules))
	for r := range rules {
		names = append(names, r)
	}
	sort.Strings(names)
	return slices.Compact(keys), names
}

// Build merges the inputs into the report.
func Build(in Input) *Report {
	rep := &Report{From: in.From.UTC(), To: in.To.UTC(), GeneratedAt: in.GeneratedAt.UTC(), Filter: in.Filter, Tool: in.Tool}
	if in.Archive != nil {
		rep.Malformed = in.Archive.Malformed
		rep.ArchiveLocation = in.Archive.Location
		rep.ArchiveFiles = in.Archive.Files
		rep.ArchiveSums = in.Archive.Sums
	}
	cfg := in.Config
	if cfg == nil {
		cfg = &ConfigData{Histories: map[Key]*History{}}
		rep.Notes = append(rep.Notes, "AWS Config was not read: the timelines hold the archived outcomes only")
	}
	rep.Account = cfg.Account
	rep.Coverage = cfg.Coverage
	for _, c := range cfg.Coverage {
		rep.Regions = append(rep.Regions, c.Region)
		rep.Notes = append(rep.Notes, c.PeriodNotes(rep.From, rep.To)...)
	}
	rep.Notes = append(rep.Notes, cfg.Notes...)

	byKey := map[Key][]remediation.Outcome{}
	for _, r := range in.Outcomes {
		o := r.Outcome
		k := Key{Account: o.Account, Region: o.Region, Type: o.ResourceType, ID: o.ResourceID}
		if k.ID == "" || !in.Filter.MatchResource(k) || !in.Filter.MatchRule(o.Rule) {
			continue
		}
		byKey[k] = append(byKey[k], o)
		rep.OutcomesRead++
	}
	keys := make([]Key, 0, len(byKey))
	for k, os := range byKey {
		keys = append(keys, k)
		slices.SortStableFunc(os, func(a, b remediation.Outcome) int {
			return cmp.Or(a.CompletedAt.Compare(b.CompletedAt), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Remediator, b.Remediator),
				cmp.Compare(a.Action, b.Action), cmp.Compare(a.EventID, b.EventID))
		})
	}
	for k := range cfg.Histories {
		if in.Filter.MatchResource(k) {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 && in.Filter.Resource != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("resource %s is neither in the archive for the period nor among the resources Config's rules evaluated (with no outcome in the period, --rule finds it through that rule's evaluations)", in.Filter.Resource))
	}
	coverage := map[string]Coverage{}
	for _, c := range cfg.Coverage {
		coverage[c.Region] = c
	}
	others := map[string]int{}
	for _, k := range keys {
		rep.Resources = append(rep.Resources, buildResource(k, byKey[k], cfg.Histories[k], coverage, rep.From, rep.To, in.Filter))
		if cfg.Account != "" && k.Account != cfg.Account {
			others[k.Account]++
		}
	}
	if len(others) > 0 {
		accounts := make([]string, 0, len(others))
		n := 0
		for a, c := range others {
			accounts = append(accounts, a)
			n += c
		}
		sort.Strings(accounts)
		rep.Notes = append(rep.Notes, fmt.Sprintf("AWS Config history was not read for %s of other accounts (%s): the report reads Config in %s only; run it with credentials in those accounts for their history",
			plural(n, "resource", "resources"), strings.Join(accounts, ", "), cfg.Account))
	}
	rep.Rules = ruleStats(rep.Resources)
	for _, res := range rep.Resources {
		for _, e := range res.Episodes {
			if e.Open && (e.LastAction == remediation.ActionFailed || e.LastAction == remediation.ActionEscalated) {
				rep.OpenCases = append(rep.OpenCases, OpenCase{Key: res.Key, Episode: e})
			}
		}
	}
	return rep
}

func buildResource(k Key, outcomes []remediation.Outcome, h *History, coverage map[string]Coverage, from, to time.Time, f Filter) *Resource {
	res := &Resource{Key: k}
	var entries []Entry
	add := func(e Entry) {
		e.seq = len(entries)
		entries = append(entries, e)
	}
	rules := map[string]bool{}
	for _, o := range outcomes {
		if o.Rule != "" {
			rules[o.Rule] = true
		}
	}

	// The Config side, and what is missing from it.
	if h == nil {
		h = &History{NotRead: "Config history not read"}
	}
	if h.NotRead != "" {
		res.Notes = append(res.Notes, h.NotRead)
	} else {
		if c, ok := coverage[k.Region]; ok {
			if gap := c.Gap(k.Type); gap != "" {
				res.Notes = append(res.Notes, gap)
			}
			if gap := c.Gap(ComplianceType); gap != "" && gap != c.Gap(k.Type) {
				res.Notes = append(res.Notes, gap+": no compliance history, the non-compliant periods come from the pipeline's outcomes only")
			}
		}
		for _, e := range []string{h.ComplianceErr, h.ConfigurationErr} {
			if e != "" {
				res.Notes = append(res.Notes, e)
			}
		}
		if h.ComplianceErr == "" && len(h.Compliance) == 0 && h.ComplianceBefore == nil {
			res.Notes = append(res.Notes, "AWS Config holds no compliance history for this resource up to the end of the period")
		}
		if h.ConfigurationErr == "" && len(h.Configuration) == 0 && h.ConfigurationBefore == nil {
			res.Notes = append(res.Notes, "AWS Config holds no configuration history for this resource up to the end of the period")
		}
	}
	prev := map[string]string{}
	if b := h.ComplianceBefore; b != nil {
		names := make([]string, 0, len(b.Rules))
		for r := range b.Rules {
			names = append(names, r)
		}
		sort.Strings(names)
		for _, r := range names {
			if !f.MatchRule(r) {
				continue
			}
			prev[r] = b.Rules[r]
			rules[r] = true
			// The state at the start, so that a resource compliant
			// throughout shows the evaluation that says so.
			add(Entry{Time: from, Source: SourceCompliance, Rule: r, Event: b.Rules[r] + " at the start", Actor: Unknown,
				Detail: "AWS Config's last evaluation before the period, recorded " + stamp(b.Time), order: 0})
		}
	}
	for _, ci := range h.Compliance {
		if ci.Err != "" {
			add(Entry{Time: ci.Time, Source: SourceCompliance, Event: "unreadable item", Actor: Unknown, Detail: ci.Err, order: 0})
			continue
		}
		names := make([]string, 0, len(ci.Rules))
		for r := range ci.Rules {
			names = append(names, r)
		}
		sort.Strings(names)
		for _, r := range names {
			c := ci.Rules[r]
			if !f.MatchRule(r) || prev[r] == c {
				continue
			}
			prev[r] = c
			rules[r] = true
			add(Entry{Time: ci.Time, Source: SourceCompliance, Rule: r, Event: c, Actor: Unknown, order: 0})
		}
	}
	notRecordedSince := time.Time{}
	if b := h.ConfigurationBefore; b != nil && isNotRecorded(b.Status) {
		notRecordedSince = from
	}
	for _, ci := range h.Configuration {
		add(Entry{Time: ci.Time, Source: SourceConfiguration, Event: ci.Status, Actor: Unknown, Detail: statusDetail(ci.Status), order: 1})
		switch {
		case isNotRecorded(ci.Status) && notRecordedSince.IsZero():
			notRecordedSince = ci.Time
		case !isNotRecorded(ci.Status) && !notRecordedSince.IsZero():
			res.Notes = append(res.Notes, fmt.Sprintf("AWS Config was not recording this resource from %s to %s", stamp(notRecordedSince), stamp(ci.Time)))
			notRecordedSince = time.Time{}
		}
	}
	if !notRecordedSince.IsZero() {
		res.Notes = append(res.Notes, fmt.Sprintf("AWS Config was not recording this resource from %s to the end of the period", stamp(notRecordedSince)))
	}

	for i, o := range outcomes {
		at := o.CompletedAt
		detail := o.Reason
		if o.Error != "" {
			detail = strings.TrimSpace(detail + " (error: " + o.Error + ")")
		}
		actor := o.Actor
		if actor == "" {
			actor = Unknown
		}
		add(Entry{Time: at, Source: SourceOutcome, Rule: o.Rule, Event: string(o.Action) + " by " + o.Remediator + " (" + string(o.Trigger) + ")", Actor: actor, Detail: detail, order: 2, outcome: i + 1})
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.order != b.order {
			return a.order < b.order
		}
		return a.seq < b.seq
	})

	// Episodes per rule.
	names := make([]string, 0, len(rules))
	for r := range rules {
		names = append(names, r)
	}
	sort.Strings(names)
	res.Rules = names
	for _, r := range names {
		markLagging(r, entries, outcomes)
		res.Episodes = append(res.Episodes, episodes(r, h, outcomes, entries, from, to)...)
	}
	for i := range res.Episodes {
		res.Exposure += res.Episodes[i].Exposure
		e := &res.Episodes[i]
		if e.Open {
			entries = append(entries, Entry{Time: to, Source: SourceReport, Rule: e.Rule, Event: "still non-compliant at the end of the period", Actor: Unknown,
				Detail: "exposed " + Duration(e.Exposure) + " so far", order: 3})
		}
	}
	res.Entries = entries
	return res
}

// markLagging marks the rule's NON_COMPLIANT evaluations that AWS Config
// recorded within ConfigLag after the pipeline's verified fix, followed by
// a COMPLIANT one with no outcome in between that found it non-compliant.
func markLagging(rule string, entries []Entry, outcomes []remediation.Outcome) {
	var fixedAt time.Time
	for i := range entries {
		en := &entries[i]
		if en.Rule != rule {
			continue
		}
		if en.outcome > 0 {
			if a := outcomes[en.outcome-1].Action; a == remediation.ActionRemediated {
				fixedAt = en.Time
			} else if nonCompliant(a) {
				fixedAt = time.Time{}
			}
			continue
		}
		if en.Source != SourceCompliance {
			continue
		}
		if en.Event != "NON_COMPLIANT" || fixedAt.IsZero() || en.Time.Sub(fixedAt) > ConfigLag {
			fixedAt = time.Time{}
			continue
		}
		for j := i + 1; j < len(entries); j++ {
			next := entries[j]
			if next.Rule != rule {
				continue
			}
			if next.outcome > 0 && nonCompliant(outcomes[next.outcome-1].Action) {
				break
			}
			if next.Source == SourceCompliance {
				if next.Event == "COMPLIANT" {
					en.lagging = true
					en.Detail = fmt.Sprintf("recorded %s after the pipeline's verified fix and COMPLIANT again at %s: AWS Config evaluating the configuration from before the fix; not counted as a new non-compliant period",
						Duration(en.Time.Sub(fixedAt)), stamp(next.Time))
				}
				break
			}
		}
		fixedAt = time.Time{}
	}
}

// nonCompliant says whether an outcome's action means the resource was
// found non-compliant and left so.
func nonCompliant(a remediation.Action) bool {
	switch a {
	case remediation.ActionDryRun, remediation.ActionDeferred, remediation.ActionNeedsManual, remediation.ActionFailed,
		remediation.ActionEscalated, remediation.ActionInProgress, remediation.ActionReverted:
		return true
	}
	return false
}

func isNotRecorded(status string) bool {
	return status == "ResourceNotRecorded" || status == "ResourceDeletedNotRecorded"
}

func statusDetail(status string) string {
	switch status {
	case "OK":
		return "configuration changed and recorded"
	case "ResourceDiscovered":
		return "first recorded by AWS Config"
	case "ResourceNotRecorded":
		return "exists, but AWS Config is not recording its type"
	case "ResourceDeleted":
		return "deleted"
	case "ResourceDeletedNotRecorded":
		return "deleted, while AWS Config was not recording its type"
	}
	return ""
}

// episodes runs one rule's state machine over the merged entries.
func episodes(rule string, h *History, outcomes []remediation.Outcome, entries []Entry, from, to time.Time) []Episode {
	var out []Episode
	var cur *Episode
	open := func(at time.Time, by, actor string) {
		if cur != nil {
			if cur.ChangedBy == Unknown && actor != Unknown {
				cur.ChangedBy = actor
			}
			// An outcome detected before the evaluation that opened the
			// period (the CloudTrail call came first) moves its start.
			if at.Before(cur.Start) && !cur.StartedBefore && (len(out) == 0 || !at.Before(out[len(out)-1].End)) {
				cur.Start, cur.DetectedBy = at, by
				if !at.After(from) {
					cur.Start, cur.StartedBefore = from, true
				}
			}
			return
		}
		e := Episode{Rule: rule, Start: at, ChangedBy: actor, DetectedBy: by}
		if !at.After(from) {
			e.Start, e.StartedBefore = from, true
		}
		if n := len(out); n > 0 && e.Start.Before(out[n-1].End) {
			e.Start = out[n-1].End
		}
		cur = &e
	}
	closeAt := func(at time.Time, fixedBy string) {
		if cur == nil {
			return
		}
		cur.End, cur.FixedBy = at, fixedBy
		out = append(out, *cur)
		cur = nil
	}
	if b := h.ComplianceBefore; b != nil && b.Rules[rule] == "NON_COMPLIANT" {
		open(from, SourceCompliance+" (before the period)", Unknown)
	}
	for _, en := range entries {
		if en.lagging {
			continue
		}
		switch en.Source {
		case SourceCompliance:
			if en.Rule != rule {
				continue
			}
			switch en.Event {
			case "NON_COMPLIANT":
				open(en.Time, SourceCompliance, Unknown)
			case "COMPLIANT":
				if cur != nil {
					closeAt(en.Time, "outside the pipeline, by whom unknown (AWS Config evaluated COMPLIANT)")
					out[len(out)-1].VerifiedBy, out[len(out)-1].VerifiedAt = "AWS Config evaluation", en.Time
				} else if n := len(out); n > 0 && out[n-1].ConfigConfirmedAt.IsZero() {
					out[n-1].ConfigConfirmedAt = en.Time
				}
			case "NOT_APPLICABLE":
				closeAt(en.Time, "no longer in the rule's scope (AWS Config: NOT_APPLICABLE)")
			}
		case SourceConfiguration:
			if en.Event == "ResourceDeleted" || en.Event == "ResourceDeletedNotRecorded" {
				closeAt(en.Time, "resource deleted (AWS Config)")
			}
		case SourceOutcome:
			o := &outcomes[en.outcome-1]
			if o.Rule != rule {
				continue
			}
			start := o.DetectedAt
			if start.IsZero() || start.After(o.CompletedAt) {
				start = o.CompletedAt
			}
			actor := Unknown
			if o.Trigger == remediation.TriggerCloudTrail && o.Actor != "" {
				actor = o.Actor
			}
			switch o.Action {
			case remediation.ActionRemediated:
				open(start, SourceOutcome+" ("+string(o.Trigger)+")", actor)
				cur.LastAction = o.Action
				closeAt(o.CompletedAt, "the pipeline: remediator "+o.Remediator)
				out[len(out)-1].VerifiedBy, out[len(out)-1].VerifiedAt = "the remediator's read-back", o.CompletedAt
			case remediation.ActionDryRun, remediation.ActionDeferred, remediation.ActionNeedsManual, remediation.ActionFailed,
				remediation.ActionEscalated, remediation.ActionInProgress:
				open(start, SourceOutcome+" ("+string(o.Trigger)+")", actor)
				cur.LastAction = o.Action
			case remediation.ActionReverted:
				// `remediate undo` put the earlier, non-compliant state back.
				open(o.CompletedAt, SourceOutcome+" (undo)", actor)
				cur.LastAction = o.Action
			case remediation.ActionCompliant:
				closeAt(o.CompletedAt, "outside the pipeline, by whom unknown (the pipeline's read found it compliant)")
				if n := len(out); n > 0 && out[n-1].VerifiedAt.IsZero() && out[n-1].End.Equal(o.CompletedAt) {
					out[n-1].VerifiedBy, out[n-1].VerifiedAt = "the pipeline's read", o.CompletedAt
				}
			case remediation.ActionGone:
				closeAt(o.CompletedAt, "resource deleted (the pipeline found it gone)")
			}
		}
	}
	if cur != nil {
		cur.Open = true
		out = append(out, *cur)
	}
	for i := range out {
		end := out[i].End
		if out[i].Open {
			end = to
		}
		out[i].Exposure = max(end.Sub(out[i].Start), 0)
	}
	return out
}

func ruleStats(resources []*Resource) []RuleStats {
	by := map[string]*RuleStats{}
	exposures := map[string][]time.Duration{}
	for _, res := range resources {
		for _, r := range res.Rules {
			s := by[r]
			if s == nil {
				s = &RuleStats{Rule: r}
				by[r] = s
			}
			s.Resources++
		}
		for _, e := range res.Episodes {
			s := by[e.Rule]
			s.Episodes++
			if e.Open {
				s.Open++
			}
			exposures[e.Rule] = append(exposures[e.Rule], e.Exposure)
		}
	}
	var out []RuleStats
	for r, s := range by {
		d := exposures[r]
		slices.Sort(d)
		s.P50, s.P95 = percentile(d, 0.50), percentile(d, 0.95)
		if len(d) > 0 {
			s.Max = d[len(d)-1]
		}
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b RuleStats) int { return cmp.Compare(a.Rule, b.Rule) })
	return out
}

// percentile is the nearest-rank percentile of sorted durations: the
// smallest value with at least q of the values at or below it.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func stamp(t time.Time) string { return t.UTC().Format(remediation.TimeLayout) }

// Duration renders an exposure for people, to the second (to the tenth of
// a second under a minute): 0s, 4.2s, 3m12s, 5h03m12s, 2d04h00m09s.
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	days, h, m, sec := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%02dh%02dm%02ds", days, h, m, sec)
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, sec)
	}
	return fmt.Sprintf("%dm%02ds", m, sec)
}

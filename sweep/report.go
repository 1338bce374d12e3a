package sweep

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/autoremediate/autoremediate/remediation"
)

// Row is one line of the summary: the checks of one remediator by action.
type Row struct {
	Remediator string
	Checked    int
	Counts     map[remediation.Action]int
}

// Summary counts the outcomes per remediator, in registry order.
func (r *Report) Summary() []Row {
	by := map[string]*Row{}
	for _, o := range r.Outcomes {
		row := by[o.Remediator]
		if row == nil {
			row = &Row{Remediator: o.Remediator, Counts: map[remediation.Action]int{}}
			by[o.Remediator] = row
		}
		row.Checked++
		row.Counts[o.Action]++
	}
	var rows []Row
	for _, n := range r.Remediators {
		if row := by[n]; row != nil {
			rows = append(rows, *row)
			delete(by, n)
		}
	}
	var rest []string
	for n := range by {
		rest = append(rest, n)
	}
	sort.Strings(rest)
	for _, n := range rest {
		rows = append(rows, *by[n])
	}
	return rows
}

// Score is the compliance score of a set of outcomes.
type Score struct {
	Compliant int // checks compliant after the run: compliant or remediated
	Total     int // checks of resources that exist (all but gone and ignored)
}

// Percent is Compliant/Total as a percentage. ok is false when there is
// nothing to score (Total is 0): a sweep that checked nothing says nothing
// about compliance, so it has no score rather than 100%.
func (s Score) Percent() (pct float64, ok bool) {
	if s.Total == 0 {
		return 0, false
	}
	return 100 * float64(s.Compliant) / float64(s.Total), true
}

// NoChecks is how a score without any scored check reads.
const NoChecks = "n/a (no checks)"

// String is "66.7% (2 of 3 checks compliant)", or NoChecks when Total is 0.
func (s Score) String() string {
	pct, ok := s.Percent()
	if !ok {
		return NoChecks
	}
	return fmt.Sprintf("%.1f%% (%d of %d checks compliant)", pct, s.Compliant, s.Total)
}

// ScoreOf computes the compliance score: the share of checks (one resource
// through one remediator) whose resource is compliant after the run, i.e.
// whose outcome is compliant or remediated. Checks of resources that no
// longer exist (gone) or were not acted on (ignored) do not count. Exempt,
// dry-run, deferred, needs-manual and failed checks count as not compliant:
// the resource is still misconfigured, whatever the reason. A dry-run sweep
// therefore gives the score before remediation.
func ScoreOf(outcomes []remediation.Outcome) Score {
	var s Score
	for _, o := range outcomes {
		switch o.Action {
		case remediation.ActionGone, remediation.ActionIgnored:
			continue
		case remediation.ActionCompliant, remediation.ActionRemediated:
			s.Compliant++
		}
		s.Total++
	}
	return s
}

// Score is the compliance score of the sweep's outcomes.
func (r *Report) Score() Score { return ScoreOf(r.Outcomes) }

// summaryColumns are the actions the table shows, in order.
var summaryColumns = []remediation.Action{
	remediation.ActionCompliant, remediation.ActionRemediated, remediation.ActionDryRun, remediation.ActionExempt,
	remediation.ActionDeferred, remediation.ActionNeedsManual, remediation.ActionGone, remediation.ActionFailed,
}

// WriteSummary prints the per-remediator table, the problems and the score.
func (r *Report) WriteSummary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"remediator", "checked"}
	for _, a := range summaryColumns {
		header = append(header, string(a))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	total := Row{Remediator: "total", Counts: map[remediation.Action]int{}}
	for _, row := range append(r.Summary(), total) {
		if row.Remediator == "total" {
			row = total
		} else {
			total.Checked += row.Checked
			for a, n := range row.Counts {
				total.Counts[a] += n
			}
		}
		cells := []string{row.Remediator, fmt.Sprint(row.Checked)}
		for _, a := range summaryColumns {
			cells = append(cells, fmt.Sprint(row.Counts[a]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	r.writeNotCompliant(w)
	for _, err := range r.ListErrors {
		fmt.Fprintf(w, "listing failed: %v\n", err)
	}
	for _, err := range r.PublishErrors {
		fmt.Fprintf(w, "not delivered: %v\n", err)
	}
	fmt.Fprintf(w, "compliance score: %s, in %s\n", r.Score(), r.Duration.Round(1e6))
}

// notCompliantOrder is the order in which the summary lists the checks that
// stay non-compliant: what needs attention first.
var notCompliantOrder = []remediation.Action{
	remediation.ActionFailed, remediation.ActionNeedsManual, remediation.ActionDeferred, remediation.ActionExempt, remediation.ActionDryRun,
}

// maxListed is how many checks of one action other than failed the summary
// lists (every failure is listed); --output json has them all.
const maxListed = 20

// maxLine is the longest line of the list: the reason is cut to fit.
const maxLine = 220

// writeNotCompliant lists the checks whose resource stays non-compliant
// (those the score counts against), each with its rule, and why: the error of a failure, the
// remediator's reason otherwise.
func (r *Report) writeNotCompliant(w io.Writer) {
	by := map[remediation.Action][]remediation.Outcome{}
	n := 0
	for _, o := range r.Outcomes {
		switch o.Action {
		case remediation.ActionCompliant, remediation.ActionRemediated, remediation.ActionGone, remediation.ActionIgnored:
			continue
		}
		by[o.Action] = append(by[o.Action], o)
		n++
	}
	if n == 0 {
		return
	}
	checks := "checks"
	if n == 1 {
		checks = "check"
	}
	fmt.Fprintf(w, "not compliant after the sweep: %d %s\n", n, checks)
	for _, a := range notCompliantOrder {
		for i, o := range by[a] {
			if a != remediation.ActionFailed && i == maxListed {
				fmt.Fprintf(w, "  ... and %d more %s (--output json lists every outcome)\n", len(by[a])-maxListed, a)
				break
			}
			why := o.Reason
			if a == remediation.ActionFailed && o.Error != "" {
				why = o.Error
			}
			// The rule tells apart the checks of one resource under
			// several rules (a security group under restricted-ssh and
			// restricted-common-ports).
			check := fmt.Sprintf("  %s: %s %s %s", a, o.Remediator, o.ResourceType, o.ResourceID)
			if o.Rule != "" {
				check += " (" + o.Rule + ")"
			}
			fmt.Fprintf(w, "%s: %s\n", check, oneLine(why, max(60, maxLine-len(check)-2)))
		}
	}
}

// oneLine puts s on one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

// WriteJSON prints one outcome JSON object per line.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, o := range r.Outcomes {
		if err := enc.Encode(o); err != nil {
			return fmt.Errorf("writing outcome: %w", err)
		}
	}
	return nil
}

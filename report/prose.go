package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/remediation"
)

// The prose of the report comes from these rules only: same report data,
// same words.

// Status is the overall rating the executive summary opens with.
func (r *Report) Status() string {
	switch {
	case r.SeverityCount(SeverityCritical) > 0:
		return "At risk"
	case r.SeverityCount(SeverityHigh) > 0:
		return "Needs attention"
	case r.Total() > 0:
		return "Minor gaps"
	}
	return "No open findings"
}

// ExecutiveSummary returns the summary paragraphs.
func (r *Report) ExecutiveSummary() []string {
	var out []string
	if r.Total() == 0 {
		regions := "Region " + listOrNone(r.Regions)
		if len(r.Regions) > 1 {
			regions = "Regions " + listOrNone(r.Regions)
		}
		out = append(out, fmt.Sprintf("Security Hub reported no active failed findings in %s. %s",
			regions, "This covers only the controls enabled in Security Hub; confirm that the AWS Foundational Security Best Practices standard is enabled in every account and Region in scope."))
	} else {
		var parts []string
		for _, c := range r.BySeverity {
			if c.Count > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", c.Count, strings.ToLower(c.Key)))
			}
		}
		// Findings without a control ID share one group in r.Controls; it
		// is not a control, so it is neither counted nor named as one.
		var real []ControlSummary
		for _, c := range r.Controls {
			if c.ControlID != "" {
				real = append(real, c)
			}
		}
		controls := plural(len(real), "control", "controls")
		if r.NoControlID > 0 {
			controls += fmt.Sprintf(" (plus %s without a control ID)", plural(r.NoControlID, "finding", "findings"))
		}
		out = append(out, fmt.Sprintf("Security Hub reports %s in %s: %s, across %s and %s.",
			plural(r.Total(), "active failed finding", "active failed findings"), scopePhrase(r), strings.Join(parts, ", "),
			controls, plural(len(r.ByService), "AWS service", "AWS services")))
		if r.Merged > 0 {
			out = append(out, r.MergedSentence())
		}
		if len(r.AccountsWithFindings()) > 1 {
			out = append(out, r.AccountsSentence()+"; the section \"By account\" has each account's findings, controls and criteria.")
		}
		if urgent := r.SeverityCount(SeverityCritical) + r.SeverityCount(SeverityHigh); urgent > 0 {
			sentence := pluralVerb(urgent, "finding is", "findings are") + " critical or high severity and should be fixed first"
			if len(real) > 0 {
				top := real[0]
				sentence += fmt.Sprintf("; the most severe control is %s (%s) with %s", top.ControlID, top.Title, plural(top.Findings, "finding", "findings"))
			}
			out = append(out, sentence+".")
		}
		if len(r.Criteria) > 0 {
			top := topCriteria(r.Criteria, 3)
			var names []string
			for _, c := range top {
				names = append(names, fmt.Sprintf("%s (%s, %s)", c.Criterion, strings.ToLower(CriterionGroupName(CriterionGroup(c.Criterion))), plural(c.Findings, "finding", "findings")))
			}
			out = append(out, fmt.Sprintf("The findings affect %s; the most affected are %s.",
				plural(len(r.Criteria), "SOC 2 criterion", "SOC 2 criteria"), joinAnd(names)))
		}
		if n := len(r.Unmapped); n > 0 {
			out = append(out, fmt.Sprintf("%s not mapped to SOC 2 criteria (%d without a control ID, %d with a control not in the mapping table); they are listed under \"Unmapped findings\" and need a manual assessment.",
				pluralVerb(n, "finding is", "findings are"), r.NoControlID, r.UnmappedControls))
		}
		auto := 0
		for _, c := range r.Controls {
			if c.Mapped && c.Row.Remediator != "" {
				auto += c.Findings
			}
		}
		if auto > 0 {
			out = append(out, fmt.Sprintf("%s controls that this project's remediators fix automatically once enabled in enforce mode.",
				pluralVerb(auto, "finding concerns", "findings concern")))
		}
	}
	if s := r.productsSentence(); s != "" {
		out = append(out, s)
	}
	out = append(out, r.activitySentence())
	if s := r.attentionSentence(); s != "" && len(r.ByAccount) > 1 {
		out = append(out, s)
	}
	return out
}

// MergedSentence says how many standard-specific findings were counted in
// another finding of the same check and resource.
func (r *Report) MergedSentence() string {
	standards := ""
	if len(r.MergedStandards) > 0 {
		standards = " (" + joinAnd(r.MergedStandards) + ")"
	}
	return fmt.Sprintf("%s merged into others: Security Hub reported the same check of the same resource once per standard%s, as it does when consolidated control findings is off. Each check of a resource is counted once; findings.csv lists the merged finding IDs.",
		pluralVerb(r.Merged, "finding was", "findings were"), standards)
}

func (r *Report) activitySentence() string {
	a := r.Activity
	if a.Err != "" {
		return "The remediation activity of the period could not be read: " + a.Err + "."
	}
	rem, failed := a.Total(remediation.ActionRemediated), a.Total(remediation.ActionFailed)
	deferred, manual := a.Total(remediation.ActionDeferred), a.Total(remediation.ActionNeedsManual)
	if rem+failed+deferred+manual == 0 {
		return fmt.Sprintf("No remediation outcomes were recorded in CloudWatch namespace %s between %s and %s.", a.Namespace, day(a.Start), day(a.End))
	}
	return fmt.Sprintf("Between %s and %s the auto-remediation pipeline made %s; %d failed, %s deferred and %s manual work.",
		day(a.Start), day(a.End), plural(rem, "verified fix", "verified fixes"), failed,
		pluralVerb(deferred, "was", "were"), pluralVerb(manual, "needs", "need"))
}

// MappingSources describes where the correspondences used in this report
// come from, counted over the mapped controls present.
func (r *Report) MappingSources() string {
	counts := map[string]int{}
	var order []string
	for _, c := range r.Controls {
		if !c.Mapped {
			continue
		}
		if counts[c.Row.Source] == 0 {
			order = append(order, c.Row.Source)
		}
		counts[c.Row.Source]++
	}
	if len(order) == 0 {
		return "No finding in this report maps to a SOC 2 criterion."
	}
	var parts []string
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%s: %s", s, plural(counts[s], "control", "controls")))
	}
	note := ""
	if counts[SourceTeamReasoning] > 0 {
		note = " Correspondences marked \"team reasoning\" are this team's own assessment, not AWS Audit Manager's SOC 2 framework; an auditor should review them."
	}
	return "Sources of the control-to-criteria mapping used here (" + strings.Join(parts, "; ") + ")." + note
}

func topCriteria(cs []CriterionImpact, n int) []CriterionImpact {
	top := append([]CriterionImpact(nil), cs...)
	// stable: keeps criterion order among equal counts
	for i := 1; i < len(top); i++ {
		for j := i; j > 0 && top[j].Findings > top[j-1].Findings; j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	if len(top) > n {
		top = top[:n]
	}
	return top
}

func scopePhrase(r *Report) string {
	return fmt.Sprintf("%s and %s", plural(len(r.Accounts), "account", "accounts"), plural(len(r.Regions), "Region", "Regions"))
}

func controlLabel(id string) string {
	if id == "" {
		return "(no control ID)"
	}
	return id
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func pluralVerb(n int, one, many string) string { return plural(n, one, many) }

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func ttr(d time.Duration, ok bool) string {
	if !ok {
		return "n/a"
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.1f min", d.Minutes())
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}

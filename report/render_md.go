package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/autoremediate/autoremediate/internal/csvsafe"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
)

// MaxRecommendations bounds the prioritised list; the CSV has every finding.
const MaxRecommendations = 15

// Markdown renders the report.
func (r *Report) Markdown() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# SOC 2 Compliance Report: AWS Security Hub findings\n\n")
	r.execMarkdown(&b)
	p("## Report scope\n\n")
	p("- **Generated:** %s\n", day(r.Meta.GeneratedAt))
	p("- **Accounts:** %s\n", listOrNone(r.Accounts))
	p("- **Regions:** %s\n", listOrNone(r.Regions))
	p("- **Source:** AWS Security Hub findings with record state ACTIVE, compliance status FAILED and workflow status not SUPPRESSED\n")
	p("- **Remediation period:** %s to %s\n", day(r.Meta.PeriodStart), day(r.Meta.PeriodEnd))
	if e := r.Meta.Excluded; e.Total() > 0 {
		p("- **Excluded:** %s returned by the API did not match the filter and are not counted (archived %d, suppressed %d, not failed %d, duplicate %d)\n",
			plural(e.Total(), "finding", "findings"), e.Archived, e.Suppressed, e.NotFailed, e.Duplicate)
	}
	if r.Merged > 0 {
		p("- **Merged:** %s of a check already counted for the same resource under another standard (listed in findings.csv, merged_finding_ids)\n",
			plural(r.Merged, "finding", "findings"))
	}
	p("\n## Executive summary\n\n**Overall status: %s.**\n\n", r.Status())
	for _, s := range r.ExecutiveSummary() {
		p("%s\n\n", s)
	}
	r.trendsMarkdown(&b)

	p("## Finding summary\n\n| Severity | Findings |\n|---|---:|\n")
	for _, c := range r.BySeverity {
		p("| %s | %d |\n", c.Key, c.Count)
	}
	p("| **Total** | **%d** |\n\n", r.Total())
	if len(r.ByService) > 0 {
		p("### By AWS service\n\n| Service | Findings |\n|---|---:|\n")
		for _, c := range r.ByService {
			p("| %s | %d |\n", mdCell(c.Key), c.Count)
		}
		p("\n### By control\n\n| Control | Title | Highest severity | Findings | Resources | SOC 2 criteria |\n|---|---|---|---:|---:|---|\n")
		for _, c := range r.Controls {
			p("| %s | %s | %s | %d | %d | %s |\n", controlLabel(c.ControlID), mdCell(c.Title), c.Severity, c.Findings, c.Resources, criteriaCell(c))
		}
		p("\n")
	}

	p("## SOC 2 impact by criterion\n\n")
	if len(r.Criteria) == 0 {
		p("No finding maps to a SOC 2 trust services criterion.\n\n")
	} else {
		p("| Criterion | Category | What it covers | Findings | Highest severity | Controls |\n|---|---|---|---:|---|---|\n")
		for _, c := range r.Criteria {
			p("| %s | %s | %s | %d | %s | %s |\n", c.Criterion, CriterionGroupName(CriterionGroup(c.Criterion)), mdCell(c.Name), c.Findings, c.Severity, strings.Join(c.Controls, ", "))
		}
		p("\nA finding counts once for each criterion its control maps to. %s\n\n", r.MappingSources())
	}

	p("## By account\n\n")
	r.accountsMarkdown(&b)

	p("## Unmapped findings\n\n")
	if len(r.Unmapped) == 0 {
		p("Every finding maps to at least one SOC 2 criterion.\n\n")
	} else {
		p("%s no SOC 2 mapping: %d without a control ID, %d whose control is not in the mapping table. They are reported here rather than dropped.\n\n",
			pluralVerb(len(r.Unmapped), "finding has", "findings have"), r.NoControlID, r.UnmappedControls)
		p("| Severity | Control | Title | Account | Region | Resource |\n|---|---|---|---|---|---|\n")
		for _, f := range r.Unmapped {
			p("| %s | %s | %s | %s | %s | %s |\n", f.Severity, controlLabel(f.ControlID), mdCell(f.Title), f.Account, f.Region, mdCell(f.ResourceID))
		}
		p("\n")
	}

	r.productsMarkdown(&b)

	p("## Prioritised recommendations\n\n")
	if len(r.Recommendations) == 0 {
		p("Nothing to fix. Keep the Security Hub standards enabled and review this report every period.\n\n")
	}
	for i, rec := range r.Recommendations {
		if i == MaxRecommendations {
			p("%s more in findings.csv.\n\n", plural(len(r.Recommendations)-i, "control with findings is", "controls with findings are"))
			break
		}
		p("%d. **[%s] %s: %s**. %s on %s.", rec.Priority, rec.Severity, controlLabel(rec.ControlID), mdText(rec.Title),
			plural(rec.Findings, "finding", "findings"), plural(rec.Resources, "resource", "resources"))
		if len(rec.Criteria) > 0 {
			p(" SOC 2: %s.", strings.Join(rec.Criteria, ", "))
		}
		p("\n   %s", mdText(rec.Action))
		if rec.Remediator != "" {
			p(" Automated: the `%s` remediator fixes this when enabled.", rec.Remediator)
		}
		p("\n")
	}
	if len(r.Recommendations) > 0 {
		p("\n")
	}

	p("## Remediation activity\n\n")
	r.activityMarkdown(&b)

	p("## Method\n\n")
	p("Findings are read with Security Hub GetFindings (filters RecordState = ACTIVE, ComplianceStatus = FAILED, WorkflowStatus != SUPPRESSED; every page), and the same conditions are checked again on each finding. ")
	p("Each security control ID (Compliance.SecurityControlId; for findings generated without consolidated control findings, the standard's own ID from ProductFields or the GeneratorId, translated with `report/standard_controls.csv`, taken from the AWS Security Hub user guide) is looked up in the mapping table `report/soc2_mapping.csv`, whose `source` column says where each correspondence comes from. ")
	p("Findings of one check on one resource under several standards are counted once. ")
	p("Remediation activity comes from the CloudWatch metrics `%s` and `%s` in namespace `%s`; by account, from `%s` by `%s` and `%s`, for the accounts CloudWatch ListMetrics lists (those with outcomes in the past two weeks). ",
		publish.MetricRemediations, publish.MetricTimeToRemediate, r.Activity.Namespace, publish.MetricRemediations, publish.DimensionAccount, publish.DimensionAction)
	p("%s ", r.ProductsMethod())
	p("The text of this report is generated by fixed rules from these data; findings.csv lists every finding and accounts.csv every account.\n")
	return b.Bytes()
}

func (r *Report) activityMarkdown(b *bytes.Buffer) {
	a := r.Activity
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("Outcomes published by the remediation pipeline between %s and %s (CloudWatch namespace `%s`).\n\n", day(a.Start), day(a.End), a.Namespace)
	if a.Err != "" {
		p("Not available: %s.\n\n", mdText(a.Err))
		return
	}
	p("| Remediator | Remediated | Failed | Deferred | Needs manual | Avg time to remediate | Median time to remediate |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, ra := range a.Remediators {
		p("| %s | %d | %d | %d | %d | %s | %s |\n", ra.Remediator,
			ra.Counts[remediation.ActionRemediated], ra.Counts[remediation.ActionFailed], ra.Counts[remediation.ActionDeferred], ra.Counts[remediation.ActionNeedsManual],
			ttr(ra.AvgTTR, ra.HasAverage), ttr(ra.P50TTR, ra.HasP50))
	}
	p("| **Total** | **%d** | **%d** | **%d** | **%d** | | |\n\n",
		a.Total(remediation.ActionRemediated), a.Total(remediation.ActionFailed), a.Total(remediation.ActionDeferred), a.Total(remediation.ActionNeedsManual))
	if a.P50Note != "" {
		p("Note: %s.\n\n", mdText(a.P50Note))
	}
	p("### By account\n\n")
	if a.AccountsErr != "" {
		p("Not available: %s.\n\n", mdText(a.AccountsErr))
		return
	}
	rows := r.AccountsWithOutcomes()
	if len(rows) == 0 {
		p("No account has outcomes of these actions in the period.\n\n")
		return
	}
	p("| Account |")
	for _, act := range AccountActions() {
		p(" %s |", ActionTitle(act))
	}
	p("\n|---|%s\n", strings.Repeat("---:|", len(AccountActions())))
	for _, ra := range rows {
		p("| %s |", AccountLabel(ra.Account))
		for _, act := range AccountActions() {
			p(" %d |", ra.Outcomes[act])
		}
		p("\n")
	}
	p("| **Total** |")
	for _, act := range AccountActions() {
		p(" **%d** |", a.AccountTotal(act))
	}
	p("\n\n%s\n\n", NotCompliantNote())
}

// accountsMarkdown writes the findings by account: the evidence of each
// account's controls.
func (r *Report) accountsMarkdown(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	rows := r.AccountsWithFindings()
	if len(rows) == 0 {
		p("No account has active failed findings. Remediation outcomes by account are under \"Remediation activity\".\n\n")
		return
	}
	p("%s. Remediation outcomes by account are under \"Remediation activity\".\n\n", r.AccountsSentence())
	p("| Account | Highest severity | Findings |")
	for _, sev := range Severities() {
		p(" %s |", SeverityTitle(sev))
	}
	p(" Resources | Controls with findings | SOC 2 criteria |\n|---|---|---:|%s---:|---|---|\n", strings.Repeat("---:|", len(Severities())))
	for _, a := range rows {
		p("| %s | %s | %d |", AccountLabel(a.Account), a.Severity, a.Findings)
		for _, c := range a.BySeverity {
			p(" %d |", c.Count)
		}
		p(" %d | %s | %s |\n", a.Resources, mdCell(ControlsCell(a.Controls)), strings.Join(a.Criteria, ", "))
	}
	p("\n")
}

func criteriaCell(c ControlSummary) string {
	if !c.Mapped {
		return "unmapped"
	}
	return strings.Join(c.Row.Criteria, ", ")
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}

// mdText keeps finding text from being read as Markdown or HTML markup.
func mdText(s string) string {
	r := strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`)
	return r.Replace(oneLine(s))
}

// AccountsCSVHeader is the header of accounts.csv: one row per account
// with its findings by severity, the controls and criteria they concern,
// and its outcomes of the period by action (empty when they could not be
// read).
func AccountsCSVHeader() []string {
	h := []string{"account_id", "highest_severity", "findings"}
	for _, s := range Severities() {
		h = append(h, strings.ToLower(s))
	}
	h = append(h, "resources", "controls", "soc2_criteria")
	for _, a := range AccountActions() {
		h = append(h, strings.ReplaceAll(string(a), "-", "_"))
	}
	return h
}

// AccountsCSV renders accounts.csv, in report order. controls lists
// CONTROL:FINDINGS pairs separated by semicolons, "(no control ID)" for the
// findings without one.
func (r *Report) AccountsCSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(AccountsCSVHeader()) // writes to a bytes.Buffer cannot fail
	for _, a := range r.ByAccount {
		rec := []string{a.Account, a.Severity, strconv.Itoa(a.Findings)}
		for _, c := range a.BySeverity {
			rec = append(rec, strconv.Itoa(c.Count))
		}
		var ctl []string
		for _, c := range a.Controls {
			ctl = append(ctl, fmt.Sprintf("%s:%d", controlLabel(c.Key), c.Count))
		}
		rec = append(rec, strconv.Itoa(a.Resources), strings.Join(ctl, ";"), strings.Join(a.Criteria, ";"))
		for _, act := range AccountActions() {
			v := ""
			if a.Outcomes != nil {
				v = strconv.Itoa(a.Outcomes[act])
			}
			rec = append(rec, v)
		}
		_ = w.Write(csvsafe.Record(rec))
	}
	w.Flush()
	return b.Bytes()
}

// CSVHeader is the header of findings.csv.
func CSVHeader() []string {
	return []string{"account_id", "region", "resource_type", "resource_id", "control_id", "title", "severity",
		"workflow_status", "compliance_status", "first_seen", "last_seen", "soc2_criteria", "mapping_source", "recommendation", "finding_id",
		"standard_controls", "merged_finding_ids"}
}

// CSV renders one row per finding, in report order.
func (r *Report) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(CSVHeader()) // writes to a bytes.Buffer cannot fail
	for _, f := range r.Findings {
		crit, source := "unmapped", ""
		if row, ok := r.mapping.Lookup(f.ControlID); ok {
			crit, source = strings.Join(row.Criteria, ";"), row.Source
		}
		_ = w.Write(csvsafe.Record([]string{f.Account, f.Region, f.ResourceType, f.ResourceID, f.ControlID, f.Title, f.Severity,
			f.WorkflowStatus, f.ComplianceStatus, stamp(f.FirstSeen), stamp(f.LastSeen), crit, source, r.RecommendationOf(f), f.ID,
			strings.Join(f.StandardControls, ";"), strings.Join(f.Merged, ";")}))
	}
	w.Flush()
	return b.Bytes()
}

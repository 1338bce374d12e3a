package report

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/autoremediate/autoremediate/remediation"
)

// severityColors are the chart and badge colours per severity.
var severityColors = map[string]string{
	SeverityCritical:      "#7b1fa2",
	SeverityHigh:          "#c62828",
	SeverityMedium:        "#ef6c00",
	SeverityLow:           "#f9a825",
	SeverityInformational: "#607d8b",
}

type chartBar struct {
	Label, Color    string
	Count           int
	Y, Width, TextX int
}

// SeverityChart returns an inline SVG bar chart of the findings by
// severity: no script, no external resource, so it prints as drawn.
func (r *Report) SeverityChart() template.HTML {
	const (
		labelW, barMax, rowH, barH = 130, 360, 30, 20
	)
	maxCount := 0
	for _, c := range r.BySeverity {
		if c.Count > maxCount {
			maxCount = c.Count
		}
	}
	var b strings.Builder
	height := rowH*len(r.BySeverity) + 10
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Findings by severity" width="%d" height="%d" viewBox="0 0 %d %d">`,
		labelW+barMax+60, height, labelW+barMax+60, height)
	for i, c := range r.BySeverity {
		w := 0
		if maxCount > 0 {
			w = c.Count * barMax / maxCount
		}
		if c.Count > 0 && w < 2 {
			w = 2
		}
		y := 5 + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="13" font-family="sans-serif">%s</text>`, labelW-8, y+15, template.HTMLEscapeString(c.Key))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, labelW, y, w, barH, severityColors[c.Key])
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" font-family="sans-serif">%d</text>`, labelW+w+6, y+15, c.Count)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped labels only
}

var htmlFuncs = template.FuncMap{
	"day":          day,
	"control":      controlLabel,
	"join":         strings.Join,
	"plural":       plural,
	"ttr":          ttr,
	"group":        func(c string) string { return CriterionGroupName(CriterionGroup(c)) },
	"sevColor":     func(s string) string { return severityColors[s] },
	"criteria":     criteriaCell,
	"count":        func(m map[remediation.Action]int, a string) int { return m[remediation.Action(a)] },
	"total":        func(a Activity, action string) int { return a.Total(remediation.Action(action)) },
	"account":      AccountLabel,
	"controls":     ControlsCell,
	"sevTitle":     SeverityTitle,
	"actions":      AccountActions,
	"actTitle":     ActionTitle,
	"outcome":      func(m map[remediation.Action]int, a remediation.Action) int { return m[a] },
	"accTotal":     func(a Activity, action remediation.Action) int { return a.AccountTotal(action) },
	"severities":   Severities,
	"notCompliant": NotCompliantNote,
	"limit": func(recs []Recommendation) []Recommendation {
		if len(recs) > MaxRecommendations {
			return recs[:MaxRecommendations]
		}
		return recs
	},
	"more": func(recs []Recommendation) int {
		if len(recs) > MaxRecommendations {
			return len(recs) - MaxRecommendations
		}
		return 0
	},
}

var htmlTemplate = template.Must(template.New("report").Funcs(htmlFuncs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SOC 2 Compliance Report: AWS Security Hub findings ({{day .Meta.GeneratedAt}})</title>
<style>
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1b1b1b;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}
h1{font-size:1.7em;border-bottom:3px solid #232f3e;padding-bottom:.3em}
h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #d0d0d0;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f2f4f7}
td.n,th.n{text-align:right}
table.narrow{width:auto;min-width:22em}
.sev{display:inline-block;color:#fff;border-radius:3px;padding:0 5px;font-size:.85em;font-weight:600}
.status{font-size:1.1em;font-weight:700}
.meta td:first-child{width:12em;font-weight:600;background:#f7f7f7}
.note{color:#555;font-size:.9em}
ol li{margin-bottom:.6em}
.exec{border:2px solid #232f3e;border-radius:6px;padding:0 1em .5em;margin:1em 0}
.exec h2{margin-top:.6em}
.better{color:#2e7d32;font-weight:700}
.worse{color:#c62828;font-weight:700}
@media print{
 body{margin:0;max-width:none;font-size:10pt}
 h2{page-break-after:avoid}
 .exec{page-break-after:always}
 table,tr,li,svg{page-break-inside:avoid}
 .sev{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 @page{size:A4;margin:15mm}
}
</style>
</head>
<body>
<h1>SOC 2 Compliance Report: AWS Security Hub findings</h1>
{{.ExecutiveHTML}}
<h2>Report scope</h2>
<table class="meta">
<tr><td>Generated</td><td>{{day .Meta.GeneratedAt}}</td></tr>
<tr><td>Accounts</td><td>{{if .Accounts}}{{join .Accounts ", "}}{{else}}none{{end}}</td></tr>
<tr><td>Regions</td><td>{{if .Regions}}{{join .Regions ", "}}{{else}}none{{end}}</td></tr>
<tr><td>Source</td><td>AWS Security Hub findings with record state ACTIVE, compliance status FAILED and workflow status not SUPPRESSED</td></tr>
<tr><td>Remediation period</td><td>{{day .Meta.PeriodStart}} to {{day .Meta.PeriodEnd}}</td></tr>
{{if .Merged}}<tr><td>Merged</td><td>{{plural .Merged "finding" "findings"}} of a check already counted for the same resource under another standard (listed in findings.csv, merged_finding_ids)</td></tr>{{end}}{{with .Meta.Excluded}}{{if .Total}}<tr><td>Excluded</td><td>{{plural .Total "finding" "findings"}} returned by the API did not match the filter and are not counted (archived {{.Archived}}, suppressed {{.Suppressed}}, not failed {{.NotFailed}}, duplicate {{.Duplicate}})</td></tr>{{end}}{{end}}
</table>

<h2>Executive summary</h2>
<p class="status">Overall status: {{.Status}}.</p>
{{range .ExecutiveSummary}}<p>{{.}}</p>
{{end}}
{{.TrendsHTML}}
<h2>Finding summary</h2>
{{.SeverityChart}}
<table class="narrow">
<tr><th>Severity</th><th class="n">Findings</th></tr>
{{range .BySeverity}}<tr><td><span class="sev" style="background:{{sevColor .Key}}">{{.Key}}</span></td><td class="n">{{.Count}}</td></tr>
{{end}}<tr><th>Total</th><th class="n">{{.Total}}</th></tr>
</table>
{{if .ByService}}<h3>By AWS service</h3>
<table class="narrow">
<tr><th>Service</th><th class="n">Findings</th></tr>
{{range .ByService}}<tr><td>{{.Key}}</td><td class="n">{{.Count}}</td></tr>
{{end}}</table>
<h3>By control</h3>
<table>
<tr><th>Control</th><th>Title</th><th>Highest severity</th><th class="n">Findings</th><th class="n">Resources</th><th>SOC 2 criteria</th></tr>
{{range .Controls}}<tr><td>{{control .ControlID}}</td><td>{{.Title}}</td><td>{{.Severity}}</td><td class="n">{{.Findings}}</td><td class="n">{{.Resources}}</td><td>{{criteria .}}</td></tr>
{{end}}</table>{{end}}

<h2>SOC 2 impact by criterion</h2>
{{if .Criteria}}<table>
<tr><th>Criterion</th><th>Category</th><th>What it covers</th><th class="n">Findings</th><th>Highest severity</th><th>Controls</th></tr>
{{range .Criteria}}<tr><td>{{.Criterion}}</td><td>{{group .Criterion}}</td><td>{{.Name}}</td><td class="n">{{.Findings}}</td><td>{{.Severity}}</td><td>{{join .Controls ", "}}</td></tr>
{{end}}</table>
<p class="note">A finding counts once for each criterion its control maps to. {{.MappingSources}}</p>
{{else}}<p>No finding maps to a SOC 2 trust services criterion.</p>{{end}}

<h2>By account</h2>
{{with .AccountsWithFindings}}<p>{{$.AccountsSentence}}. Remediation outcomes by account are under "Remediation activity".</p>
<table>
<tr><th>Account</th><th>Highest severity</th><th class="n">Findings</th>{{range severities}}<th class="n">{{sevTitle .}}</th>{{end}}<th class="n">Resources</th><th>Controls with findings</th><th>SOC 2 criteria</th></tr>
{{range .}}<tr><td>{{account .Account}}</td><td><span class="sev" style="background:{{sevColor .Severity}}">{{.Severity}}</span></td><td class="n">{{.Findings}}</td>{{range .BySeverity}}<td class="n">{{.Count}}</td>{{end}}<td class="n">{{.Resources}}</td><td>{{controls .Controls}}</td><td>{{join .Criteria ", "}}</td></tr>
{{end}}</table>
{{else}}<p>No account has active failed findings. Remediation outcomes by account are under "Remediation activity".</p>{{end}}

<h2>Unmapped findings</h2>
{{if .Unmapped}}<p>{{plural (len .Unmapped) "finding has" "findings have"}} no SOC 2 mapping: {{.NoControlID}} without a control ID, {{.UnmappedControls}} whose control is not in the mapping table. They are reported here rather than dropped.</p>
<table>
<tr><th>Severity</th><th>Control</th><th>Title</th><th>Account</th><th>Region</th><th>Resource</th></tr>
{{range .Unmapped}}<tr><td>{{.Severity}}</td><td>{{control .ControlID}}</td><td>{{.Title}}</td><td>{{.Account}}</td><td>{{.Region}}</td><td>{{.ResourceID}}</td></tr>
{{end}}</table>
{{else}}<p>Every finding maps to at least one SOC 2 criterion.</p>{{end}}

{{.ProductsHTML}}
<h2>Prioritised recommendations</h2>
{{if .Recommendations}}<ol>
{{range limit .Recommendations}}<li><strong><span class="sev" style="background:{{sevColor .Severity}}">{{.Severity}}</span> {{control .ControlID}}: {{.Title}}</strong>. {{plural .Findings "finding" "findings"}} on {{plural .Resources "resource" "resources"}}.{{if .Criteria}} SOC 2: {{join .Criteria ", "}}.{{end}}<br>{{.Action}}{{if .Remediator}} Automated: the <code>{{.Remediator}}</code> remediator fixes this when enabled.{{end}}</li>
{{end}}</ol>
{{with more .Recommendations}}<p>{{plural . "control with findings is" "controls with findings are"}} more in findings.csv.</p>{{end}}
{{else}}<p>Nothing to fix. Keep the Security Hub standards enabled and review this report every period.</p>{{end}}

<h2>Remediation activity</h2>
{{with .Activity}}<p>Outcomes published by the remediation pipeline between {{day .Start}} and {{day .End}} (CloudWatch namespace <code>{{.Namespace}}</code>).</p>
{{if .Err}}<p>Not available: {{.Err}}.</p>{{else}}<table>
<tr><th>Remediator</th><th class="n">Remediated</th><th class="n">Failed</th><th class="n">Deferred</th><th class="n">Needs manual</th><th class="n">Avg time to remediate</th><th class="n">Median time to remediate</th></tr>
{{range .Remediators}}<tr><td>{{.Remediator}}</td><td class="n">{{count .Counts "remediated"}}</td><td class="n">{{count .Counts "failed"}}</td><td class="n">{{count .Counts "deferred"}}</td><td class="n">{{count .Counts "needs-manual"}}</td><td class="n">{{ttr .AvgTTR .HasAverage}}</td><td class="n">{{ttr .P50TTR .HasP50}}</td></tr>
{{end}}<tr><th>Total</th><th class="n">{{total . "remediated"}}</th><th class="n">{{total . "failed"}}</th><th class="n">{{total . "deferred"}}</th><th class="n">{{total . "needs-manual"}}</th><th></th><th></th></tr>
</table>
{{if .P50Note}}<p class="note">Note: {{.P50Note}}.</p>{{end}}
<h3>By account</h3>
{{if .AccountsErr}}<p>Not available: {{.AccountsErr}}.</p>{{else}}{{with $.AccountsWithOutcomes}}<table class="narrow">
<tr><th>Account</th>{{range actions}}<th class="n">{{actTitle .}}</th>{{end}}</tr>
{{range .}}{{$o := .Outcomes}}<tr><td>{{account .Account}}</td>{{range actions}}<td class="n">{{outcome $o .}}</td>{{end}}</tr>
{{end}}<tr><th>Total</th>{{range actions}}<th class="n">{{accTotal $.Activity .}}</th>{{end}}</tr>
</table>
<p class="note">{{notCompliant}}</p>{{else}}<p>No account has outcomes of these actions in the period.</p>{{end}}{{end}}{{end}}{{end}}

<h2>Method</h2>
<p class="note">Findings are read with Security Hub GetFindings (filters RecordState = ACTIVE, ComplianceStatus = FAILED, WorkflowStatus != SUPPRESSED; every page), and the same conditions are checked again on each finding. Each security control ID (Compliance.SecurityControlId; for findings generated without consolidated control findings, the standard's own ID translated with <code>report/standard_controls.csv</code>, taken from the AWS Security Hub user guide) is looked up in the mapping table <code>report/soc2_mapping.csv</code>, whose <code>source</code> column says where each correspondence comes from. Findings of one check on one resource under several standards are counted once. Remediation outcomes by account come from the metric <code>Remediations</code> by <code>Account</code> and <code>Action</code>, for the accounts CloudWatch ListMetrics lists (those with outcomes in the past two weeks). {{.ProductsMethod}} The text of this report is generated by fixed rules from these data; findings.csv lists every finding and accounts.csv every account.</p>
</body>
</html>
`))

// HTML renders the report as one self-contained page (inline CSS and SVG,
// print styles for "Save as PDF").
func (r *Report) HTML() ([]byte, error) {
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("rendering the HTML report: %w", err)
	}
	return b.Bytes(), nil
}

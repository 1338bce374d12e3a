package evidence

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/autoremediate/autoremediate/internal/csvsafe"
)

// The pack's file names.
const (
	MarkdownFile = "evidence.md"
	CSVFile      = "timeline.csv"
	HTMLFile     = "evidence.html"
	ManifestFile = "manifest.json"
	SumsFile     = "SHA256SUMS"
)

// csvHeader is the timeline CSV's header row.
var csvHeader = []string{"account", "region", "resource_type", "resource_id", "time", "source", "rule", "event", "actor", "detail"}

// CSV is one row per timeline entry, every resource, spreadsheet-safe.
func (r *Report) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(csvHeader) // a bytes.Buffer does not fail
	for _, res := range r.Resources {
		for _, e := range res.Entries {
			_ = w.Write(csvsafe.Record([]string{res.Key.Account, res.Key.Region, res.Key.Type, res.Key.ID, stamp(e.Time), e.Source, e.Rule, e.Event, e.Actor, e.Detail}))
		}
	}
	w.Flush()
	return b.Bytes()
}

// Summary lines shared by Markdown and HTML.

// PeriodText is the period, UTC, and its length.
func (r *Report) PeriodText() string {
	return stamp(r.From) + " to " + stamp(r.To) + " (" + Duration(r.To.Sub(r.From)) + ")"
}

// FilterText says what --resource and --rule selected.
func (r *Report) FilterText() string {
	res, rule := "all", "all"
	if r.Filter.Resource != "" {
		res = r.Filter.Resource
	}
	if r.Filter.Rule != "" {
		rule = r.Filter.Rule
	}
	return "resource: " + res + "; rule: " + rule
}

// ConfigText names where AWS Config was read.
func (r *Report) ConfigText() string {
	if r.Account == "" && len(r.Regions) == 0 {
		return "not read"
	}
	return "account " + r.Account + ", regions " + strings.Join(r.Regions, ", ")
}

// ArchiveText names the outcome archive and what was read from it.
func (r *Report) ArchiveText() string {
	if r.ArchiveLocation == "" {
		return "none"
	}
	return fmt.Sprintf("%s (%s read, %s in the period, %s that could not be read)", r.ArchiveLocation,
		plural(len(r.ArchiveFiles), "file", "files"), plural(r.OutcomesRead, "outcome", "outcomes"), plural(len(r.Malformed), "line", "lines"))
}

func (t Tool) String() string {
	s := t.Name
	if t.Version != "" {
		s += " " + t.Version
	}
	if t.Revision != "" {
		s += " (commit " + t.Revision
		if t.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// CoverageRow is one row of the recorder table.
type CoverageRow struct{ Region, Recorder, Recording, Records, ComplianceHistory, LastStatus string }

// CoverageRows are the recorder table's rows: one per recorder, or one per
// region saying why there is none.
func (r *Report) CoverageRows() []CoverageRow {
	var rows []CoverageRow
	for _, c := range r.Coverage {
		if c.Err != "" || len(c.Recorders) == 0 {
			rows = append(rows, CoverageRow{Region: c.Region, Recorder: "none", Recording: "no", Records: c.Gap("*"), ComplianceHistory: "no"})
			continue
		}
		for _, rec := range c.Recorders {
			row := CoverageRow{Region: c.Region, Recorder: rec.Name, Recording: "no", ComplianceHistory: "no", LastStatus: rec.LastStatus}
			if rec.Recording {
				row.Recording = "yes"
			}
			if !rec.LastStop.IsZero() && !rec.Recording {
				row.Recording += ", stopped " + stamp(rec.LastStop)
			}
			switch rec.Strategy {
			case "INCLUSION_BY_RESOURCE_TYPES":
				row.Records = "only " + strings.Join(rec.Types, ", ")
			case "EXCLUSION_BY_RESOURCE_TYPES":
				row.Records = "all supported types except " + strings.Join(rec.Types, ", ")
			default:
				row.Records = "all supported types"
				if !rec.IncludeGlobal {
					row.Records += " (IAM types excluded)"
				}
			}
			if rec.Records(ComplianceType) && rec.Recording {
				row.ComplianceHistory = "yes"
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// GapLines are the per-resource notes, each prefixed with the resource.
func (r *Report) GapLines() []string {
	var out []string
	for _, res := range r.Resources {
		for _, n := range res.Notes {
			out = append(out, res.Key.String()+" ("+res.Key.Account+" "+res.Key.Region+"): "+n)
		}
	}
	return out
}

// EndText is the end, or open.
func (e Episode) EndText() string {
	if e.Open {
		return "open"
	}
	return stamp(e.End)
}

// StartText is the start, marked when it was non-compliant already.
func (e Episode) StartText() string {
	if e.StartedBefore {
		return stamp(e.Start) + " (already non-compliant)"
	}
	return stamp(e.Start)
}

// VerifiedText says how the fix was confirmed.
func (e Episode) VerifiedText() string {
	var parts []string
	if !e.VerifiedAt.IsZero() {
		parts = append(parts, e.VerifiedBy+" at "+stamp(e.VerifiedAt))
	}
	if !e.ConfigConfirmedAt.IsZero() {
		parts = append(parts, "AWS Config evaluated COMPLIANT at "+stamp(e.ConfigConfirmedAt))
	}
	if len(parts) == 0 {
		if e.Open {
			return "not fixed"
		}
		return "not verified"
	}
	return strings.Join(parts, "; ")
}

// FixedText says who or what ended the period.
func (e Episode) FixedText() string {
	if e.Open {
		s := "not fixed"
		if e.LastAction != "" {
			s += " (last action: " + string(e.LastAction) + ")"
		}
		return s
	}
	return e.FixedBy
}

// ExposureText is the exposure, marked when open.
func (e Episode) ExposureText() string {
	s := Duration(e.Exposure)
	if e.Open {
		s += " (open)"
	}
	return s
}

// mdCell escapes a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\\\")
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

func mdRow(b *bytes.Buffer, cells ...string) {
	for i := range cells {
		cells[i] = mdCell(cells[i])
	}
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

// Markdown is the pack as one Markdown document.
func (r *Report) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Audit evidence: compliance timelines\n\n")
	mdRow(&b, "", "")
	b.WriteString("|---|---|\n")
	mdRow(&b, "Period (UTC)", r.PeriodText())
	mdRow(&b, "Generated", stamp(r.GeneratedAt))
	mdRow(&b, "Filters", r.FilterText())
	mdRow(&b, "AWS Config", r.ConfigText())
	mdRow(&b, "Outcome archive", r.ArchiveText())
	mdRow(&b, "Tool", r.Tool.String())
	b.WriteString("\nThe integrity of these files is in manifest.json and SHA256SUMS (`sha256sum -c SHA256SUMS`).\n")

	b.WriteString("\n## Summary\n\n")
	fmt.Fprintf(&b, "- Resources: %d (%d with a non-compliant period, %d never non-compliant in the period)\n", len(r.Resources), len(r.Resources)-r.NeverNonCompliant(), r.NeverNonCompliant())
	n := 0
	for _, s := range r.Rules {
		n += s.Episodes
	}
	fmt.Fprintf(&b, "- Non-compliant periods: %d, %d still open at the end of the period\n", n, r.OpenEpisodes())
	fmt.Fprintf(&b, "- Failed or escalated cases still open: %d\n", len(r.OpenCases))
	fmt.Fprintf(&b, "- Gaps in AWS Config's evidence: %d\n", len(r.GapLines())+len(r.Notes))

	b.WriteString("\n### Exposure per rule\n\n")
	if len(r.Rules) == 0 {
		b.WriteString("No rule concerned a resource in the period.\n")
	} else {
		mdRow(&b, "Rule", "Resources", "Non-compliant periods", "Open", "p50", "p95", "Max")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|\n")
		for _, s := range r.Rules {
			mdRow(&b, s.Rule, strconv.Itoa(s.Resources), strconv.Itoa(s.Episodes), strconv.Itoa(s.Open), Duration(s.P50), Duration(s.P95), Duration(s.Max))
		}
	}

	b.WriteString("\n### Failed and escalated cases still open\n\n")
	if len(r.OpenCases) == 0 {
		b.WriteString("None.\n")
	} else {
		mdRow(&b, "Resource", "Account", "Region", "Rule", "Non-compliant since", "Last action", "Exposed")
		b.WriteString("|---|---|---|---|---|---|--:|\n")
		for _, c := range r.OpenCases {
			mdRow(&b, c.Key.String(), c.Key.Account, c.Key.Region, c.Episode.Rule, c.Episode.StartText(), string(c.Episode.LastAction), c.Episode.ExposureText())
		}
	}

	b.WriteString("\n## Where AWS Config was not recording\n\n")
	if rows := r.CoverageRows(); len(rows) > 0 {
		mdRow(&b, "Region", "Recorder", "Recording", "Records", "Compliance history", "Last status")
		b.WriteString("|---|---|---|---|---|---|\n")
		for _, c := range rows {
			mdRow(&b, c.Region, c.Recorder, c.Recording, c.Records, c.ComplianceHistory, c.LastStatus)
		}
		b.WriteString("\n")
	}
	gaps := append(append([]string(nil), r.Notes...), r.GapLines()...)
	if len(gaps) == 0 {
		b.WriteString("AWS Config recorded every resource of this report, and its compliance history, throughout the period.\n")
	}
	for _, g := range gaps {
		b.WriteString("- " + g + "\n")
	}

	if len(r.Malformed) > 0 {
		b.WriteString("\n## Archive lines that could not be read\n\n")
		for _, m := range r.Malformed {
			b.WriteString("- " + m.String() + "\n")
		}
	}

	b.WriteString("\n## Resources\n")
	for _, res := range r.Resources {
		fmt.Fprintf(&b, "\n### %s `%s`\n\n", res.Key.Type, res.Key.ID)
		exp := Duration(res.Exposure)
		if res.Open() {
			exp += " (still open)"
		}
		fmt.Fprintf(&b, "Account %s, region %s. Rules: %s. Exposed: %s.\n", res.Key.Account, res.Key.Region, orNone(strings.Join(res.Rules, ", ")), exp)
		for _, n := range res.Notes {
			b.WriteString("\n- " + n)
		}
		if len(res.Notes) > 0 {
			b.WriteString("\n")
		}
		if len(res.Episodes) == 0 {
			b.WriteString("\nNever non-compliant in the period.\n")
		} else {
			b.WriteString("\n")
			mdRow(&b, "Rule", "Non-compliant from", "To", "Exposure", "Changed by", "Detected by", "Fixed by", "Verified")
			b.WriteString("|---|---|---|--:|---|---|---|---|\n")
			for _, e := range res.Episodes {
				mdRow(&b, e.Rule, e.StartText(), e.EndText(), e.ExposureText(), e.ChangedBy, e.DetectedBy, e.FixedText(), e.VerifiedText())
			}
		}
		b.WriteString("\n")
		mdRow(&b, "Time (UTC)", "Source", "Rule", "Event", "Actor", "Detail")
		b.WriteString("|---|---|---|---|---|---|\n")
		for _, e := range res.Entries {
			mdRow(&b, stamp(e.Time), e.Source, e.Rule, e.Event, e.Actor, e.Detail)
		}
	}
	if len(r.Resources) == 0 {
		b.WriteString("\nNo resource in the period.\n")
	}
	b.WriteString("\n## How the numbers are computed\n\n" + methodText + "\n")
	return b.Bytes()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

const methodText = `A non-compliant period starts at AWS Config's NON_COMPLIANT evaluation or at the detection time of a pipeline outcome that found the resource non-compliant (remediated, dry-run, deferred, needs-manual, failed, escalated, in-progress), whichever comes first; at the start of the report when Config's last evaluation before it was NON_COMPLIANT. It ends when the pipeline remediated it (the outcome's completedAt, verified by the remediator's read-back), when AWS Config evaluated it COMPLIANT or NOT_APPLICABLE, or when it was deleted. One still open at the end of the report counts until then and is marked open. Exposure is the end minus the start. p50, p95 and max are over the non-compliant periods of a rule (nearest rank). "Changed by" is the caller of the CloudTrail API call that triggered the pipeline; AWS Config does not record the caller, so it is unknown otherwise.`

// HTML is the pack as one self-contained HTML page: inline CSS, no script,
// no external resource.
func (r *Report) HTML() ([]byte, error) {
	var b bytes.Buffer
	if err := htmlTmpl.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("rendering the evidence HTML: %w", err)
	}
	return b.Bytes(), nil
}

var htmlTmpl = template.Must(template.New("evidence").Funcs(template.FuncMap{
	"stamp":    stamp,
	"duration": Duration,
	"join":     strings.Join,
	"orNone":   orNone,
	"episodes": func(rs []RuleStats) int {
		n := 0
		for _, s := range rs {
			n += s.Episodes
		}
		return n
	},
	"sub":    func(a, b int) int { return a - b },
	"gaps":   func(r *Report) []string { return append(append([]string(nil), r.Notes...), r.GapLines()...) },
	"method": func() string { return methodText },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Audit evidence: compliance timelines</title>
<style>
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1b1b1b;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}
h1{font-size:1.7em;border-bottom:3px solid #232f3e;padding-bottom:.3em}
h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #ccc;padding-bottom:.2em}
h3{font-size:1.05em;margin-top:1.5em}
table{border-collapse:collapse;width:100%;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #d0d0d0;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f2f4f7}
td.n,th.n{text-align:right}
.meta td:first-child{width:12em;font-weight:600;background:#f7f7f7}
.open{color:#c62828;font-weight:600}
.gap{color:#8a4b00}
.note{color:#555;font-size:.9em}
@media print{
 body{margin:0;max-width:none;font-size:10pt}
 h2,h3{page-break-after:avoid}
 tr{page-break-inside:avoid}
 @page{size:A4;margin:15mm}
}
</style>
</head>
<body>
<h1>Audit evidence: compliance timelines</h1>
<table class="meta">
<tr><td>Period (UTC)</td><td>{{.PeriodText}}</td></tr>
<tr><td>Generated</td><td>{{stamp .GeneratedAt}}</td></tr>
<tr><td>Filters</td><td>{{.FilterText}}</td></tr>
<tr><td>AWS Config</td><td>{{.ConfigText}}</td></tr>
<tr><td>Outcome archive</td><td>{{.ArchiveText}}</td></tr>
<tr><td>Tool</td><td>{{.Tool.String}}</td></tr>
</table>
<p class="note">The integrity of these files is in manifest.json and SHA256SUMS (<code>sha256sum -c SHA256SUMS</code>).</p>
<h2>Summary</h2>
<ul>
<li>Resources: {{len .Resources}} ({{sub (len .Resources) .NeverNonCompliant}} with a non-compliant period, {{.NeverNonCompliant}} never non-compliant in the period)</li>
<li>Non-compliant periods: {{episodes .Rules}}, {{.OpenEpisodes}} still open at the end of the period</li>
<li>Failed or escalated cases still open: {{len .OpenCases}}</li>
<li>Gaps in AWS Config's evidence: {{len (gaps .)}}</li>
</ul>
<h3>Exposure per rule</h3>
{{if .Rules}}<table>
<tr><th>Rule</th><th class="n">Resources</th><th class="n">Non-compliant periods</th><th class="n">Open</th><th class="n">p50</th><th class="n">p95</th><th class="n">Max</th></tr>
{{range .Rules}}<tr><td>{{.Rule}}</td><td class="n">{{.Resources}}</td><td class="n">{{.Episodes}}</td><td class="n">{{.Open}}</td><td class="n">{{duration .P50}}</td><td class="n">{{duration .P95}}</td><td class="n">{{duration .Max}}</td></tr>
{{end}}</table>{{else}}<p>No rule concerned a resource in the period.</p>{{end}}
<h3>Failed and escalated cases still open</h3>
{{if .OpenCases}}<table>
<tr><th>Resource</th><th>Account</th><th>Region</th><th>Rule</th><th>Non-compliant since</th><th>Last action</th><th class="n">Exposed</th></tr>
{{range .OpenCases}}<tr><td>{{.Key.String}}</td><td>{{.Key.Account}}</td><td>{{.Key.Region}}</td><td>{{.Episode.Rule}}</td><td>{{.Episode.StartText}}</td><td class="open">{{.Episode.LastAction}}</td><td class="n">{{.Episode.ExposureText}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>Where AWS Config was not recording</h2>
{{with .CoverageRows}}<table>
<tr><th>Region</th><th>Recorder</th><th>Recording</th><th>Records</th><th>Compliance history</th><th>Last status</th></tr>
{{range .}}<tr><td>{{.Region}}</td><td>{{.Recorder}}</td><td>{{.Recording}}</td><td>{{.Records}}</td><td>{{.ComplianceHistory}}</td><td>{{.LastStatus}}</td></tr>
{{end}}</table>{{end}}
{{with gaps .}}<ul>
{{range .}}<li class="gap">{{.}}</li>
{{end}}</ul>{{else}}<p>AWS Config recorded every resource of this report, and its compliance history, throughout the period.</p>{{end}}
{{with .Malformed}}<h2>Archive lines that could not be read</h2>
<ul>
{{range .}}<li>{{.String}}</li>
{{end}}</ul>{{end}}
<h2>Resources</h2>
{{range .Resources}}<h3>{{.Key.Type}} <code>{{.Key.ID}}</code></h3>
<p>Account {{.Key.Account}}, region {{.Key.Region}}. Rules: {{orNone (join .Rules ", ")}}. Exposed: {{duration .Exposure}}{{if .Open}} <span class="open">(still open)</span>{{end}}.</p>
{{with .Notes}}<ul>
{{range .}}<li class="gap">{{.}}</li>
{{end}}</ul>{{end}}
{{if .Episodes}}<table>
<tr><th>Rule</th><th>Non-compliant from</th><th>To</th><th class="n">Exposure</th><th>Changed by</th><th>Detected by</th><th>Fixed by</th><th>Verified</th></tr>
{{range .Episodes}}<tr><td>{{.Rule}}</td><td>{{.StartText}}</td><td{{if .Open}} class="open"{{end}}>{{.EndText}}</td><td class="n">{{.ExposureText}}</td><td>{{.ChangedBy}}</td><td>{{.DetectedBy}}</td><td>{{.FixedText}}</td><td>{{.VerifiedText}}</td></tr>
{{end}}</table>{{else}}<p>Never non-compliant in the period.</p>{{end}}
<table>
<tr><th>Time (UTC)</th><th>Source</th><th>Rule</th><th>Event</th><th>Actor</th><th>Detail</th></tr>
{{range .Entries}}<tr><td>{{stamp .Time}}</td><td>{{.Source}}</td><td>{{.Rule}}</td><td>{{.Event}}</td><td>{{.Actor}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
{{else}}<p>No resource in the period.</p>
{{end}}<h2>How the numbers are computed</h2>
<p class="note">{{method}}</p>
</body>
</html>
`))

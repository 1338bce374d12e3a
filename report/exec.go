package report

import (
	"bytes"
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/remediation"
)

// Risk is one line of the executive summary's top risks: a failing
// control, or a group of findings without a control (by product and
// title), in plain words.
type Risk struct {
	Severity string
	// Title says what is wrong or expected ("S3 general purpose buckets
	// should block public access").
	Title string
	// ControlID is the security control; "" for product findings.
	ControlID string
	// Source is the product for findings without a control ("GuardDuty").
	Source    string
	Resources int
	Accounts  int
	// Action is what to do, one sentence.
	Action string
}

// Sentence is the risk in plain words, without its severity.
func (k Risk) Sentence() string {
	what := k.Title
	switch {
	case k.ControlID != "":
		what += " (" + k.ControlID + ")"
	case k.Source != "":
		what += " (" + k.Source + ")"
	}
	s := fmt.Sprintf("%s: %s in %s.", what, plural(k.Resources, "resource", "resources"), plural(k.Accounts, "account", "accounts"))
	if k.Action != "" {
		s += " " + k.Action
	}
	return s
}

// maxRisks is how many risks the executive summary lists.
const maxRisks = 5

// TopRisks returns the n most severe risks: every failing control, the
// findings without a control grouped by product and title, and
// OtherRisks (threats and vulnerabilities), ordered by severity, then
// resources concerned, then title.
func (r *Report) TopRisks(n int) []Risk {
	type group struct {
		risk      Risk
		resources map[string]bool
		accounts  map[string]bool
	}
	groups := map[string]*group{}
	var order []string
	for _, f := range r.Findings {
		key := "control|" + f.ControlID
		if f.ControlID == "" {
			key = "product|" + f.ProductName + "|" + f.Title
		}
		g := groups[key]
		if g == nil {
			g = &group{risk: Risk{Title: f.Title, ControlID: f.ControlID, Source: f.ProductName}, resources: map[string]bool{}, accounts: map[string]bool{}}
			if row, ok := r.mapping.Lookup(f.ControlID); ok {
				g.risk.Title = row.Title
			}
			g.risk.Action = firstSentence(r.RecommendationOf(f))
			groups[key] = g
			order = append(order, key)
		}
		if severityRank(f.Severity) > severityRank(g.risk.Severity) {
			g.risk.Severity = f.Severity
		}
		g.resources[f.Account+"|"+f.Region+"|"+f.ResourceID] = true
		g.accounts[f.Account] = true
	}
	risks := make([]Risk, 0, len(order)+len(r.OtherRisks))
	for _, k := range order {
		g := groups[k]
		g.risk.Resources, g.risk.Accounts = len(g.resources), len(g.accounts)
		risks = append(risks, g.risk)
	}
	risks = append(risks, r.OtherRisks...)
	sort.SliceStable(risks, func(i, j int) bool {
		a, b := risks[i], risks[j]
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.Resources != b.Resources {
			return a.Resources > b.Resources
		}
		if a.Title != b.Title {
			return a.Title < b.Title
		}
		return a.ControlID < b.ControlID
	})
	if len(risks) > n {
		risks = risks[:n]
	}
	return risks
}

// firstSentence is the text up to its first full stop followed by a space.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// FixedSentence says what the pipeline fixed automatically over the
// period and how fast, from the Remediations and TimeToRemediate metrics.
func (r *Report) FixedSentence() string {
	a := r.Activity
	if a.Err != "" {
		return "What was fixed automatically could not be read: " + a.Err + "."
	}
	fixed := a.Total(remediation.ActionRemediated)
	var s string
	if fixed == 0 {
		s = fmt.Sprintf("Nothing was fixed automatically between %s and %s.", day(a.Start), day(a.End))
	} else {
		s = fmt.Sprintf("%s fixed and verified automatically between %s and %s", pluralVerb(fixed, "misconfiguration was", "misconfigurations were"), day(a.Start), day(a.End))
		// The metric's averages are per remediator: weigh each by its fixes.
		var sum time.Duration
		weight := 0
		// Medians cannot be combined: each remediator's is named.
		var medians []string
		for _, ra := range a.Remediators {
			n := ra.Counts[remediation.ActionRemediated]
			if ra.HasAverage && n > 0 {
				sum += ra.AvgTTR * time.Duration(n)
				weight += n
			}
			if ra.HasP50 && n > 0 {
				medians = append(medians, ra.Remediator+" "+ttr(ra.P50TTR, true))
			}
		}
		if weight > 0 {
			s += ", " + ttr(sum/time.Duration(weight), true) + " after detection on average"
		}
		if len(medians) > 0 {
			s += " (median " + joinAnd(medians) + ")"
		}
		s += "."
		if p := r.Trend.Previous; p != nil && p.Remediated != nil {
			s += fmt.Sprintf(" The previous report counted %d.", *p.Remediated)
		}
	}
	failed, manual := a.Total(remediation.ActionFailed), a.Total(remediation.ActionNeedsManual)
	if failed+manual > 0 {
		s += fmt.Sprintf(" %s and %s manual work.", pluralVerb(failed, "fix failed", "fixes failed"), pluralVerb(manual, "resource needs", "resources need"))
	}
	return s
}

// execMarkdown writes the summary for executives at the top of report.md.
func (r *Report) execMarkdown(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Summary for executives\n\n**Overall status: %s.** %s\n\n", r.Status(), r.TrendSentence())
	if rows := r.ScoreRows(); len(rows) > 0 {
		p("| Standard | Score | Since last run |\n|---|---:|---:|\n")
		for _, s := range rows {
			p("| %s | %s | %s |\n", mdCell(s.Name), s.PercentText(), s.Arrow())
		}
		p("\n")
	} else {
		p("No control findings to compute a compliance score from (no standard enabled, or no check run yet).\n\n")
	}
	if risks := r.TopRisks(maxRisks); len(risks) > 0 {
		p("Top risks:\n\n")
		for i, k := range risks {
			p("%d. **%s** %s\n", i+1, k.Severity, mdText(k.Sentence()))
		}
		p("\n")
	}
	p("Fixed automatically: %s\n\n", r.FixedSentence())
}

// trendsMarkdown writes the trends over the previous runs.
func (r *Report) trendsMarkdown(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Trends\n\n%s\n\n", r.TrendSentence())
	for _, n := range r.Trend.Notes {
		p("- Note: %s\n", mdText(n))
	}
	if len(r.Trend.Notes) > 0 {
		p("\n")
	}
	rows := r.ScoreRows()
	if len(rows) > 0 {
		p("| Standard | Score | Previous | Change | Controls passed | Failed | Unknown |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range rows {
			prev := "-"
			if s.HasPrevious {
				prev = percentText(s.Previous)
			}
			p("| %s | %s | %s | %s | %d | %d | %d |\n", mdCell(s.Name), s.PercentText(), prev, s.Arrow(), s.Passed, s.Failed, s.Unknown)
		}
		p("\n")
	}
	runs := r.TrendRuns()
	p("| Run | Findings |")
	for _, sev := range Severities() {
		p(" %s |", SeverityTitle(sev))
	}
	for _, s := range rows {
		p(" %s |", mdCell(s.Name))
	}
	p(" Fixed automatically |\n|---|---:|%s%s---:|\n", strings.Repeat("---:|", len(Severities())), strings.Repeat("---:|", len(rows)))
	for _, run := range runs {
		p("| %s | %d |", day(run.GeneratedAt), run.Findings)
		for _, sev := range Severities() {
			p(" %d |", run.BySeverity[sev])
		}
		for _, s := range rows {
			p(" %s |", runScore(run, s.Standard))
		}
		p(" %s |\n", remediatedText(run))
	}
	p("\n")
	if r.Trend.Previous == nil {
		return
	}
	list := func(title string, items []string) {
		p("### %s (%d)\n\n", title, len(items))
		if len(items) == 0 {
			p("None.\n\n")
			return
		}
		for i, it := range items {
			if i == maxTrendList {
				p("- and %d more (findings.csv and summary.json have them all)\n", len(items)-i)
				break
			}
			p("- %s\n", mdText(it))
		}
		p("\n")
	}
	list("New since the last run", findingLabels(r.Trend.New))
	list("Resolved since the last run", keyLabels(r.Trend.Resolved))
	list("Recurring: failing again after being resolved", findingLabels(r.Trend.Recurring))
	list("Still open since the last run", findingLabels(r.Trend.StillOpen))
}

// remediatedText is a run's count of automatic fixes, "-" when unknown.
func remediatedText(run Summary) string {
	if run.Remediated == nil {
		return "-"
	}
	return fmt.Sprint(*run.Remediated)
}

// runScore is a run's score of a standard ("" for the summary score).
func runScore(run Summary, standard string) string {
	if standard == "" {
		if run.Overall.Controls() == 0 {
			return "-"
		}
		return percentText(run.Overall.Percent())
	}
	for _, s := range run.Scores {
		if s.Standard == standard {
			return percentText(s.Percent())
		}
	}
	return "-"
}

func findingLabels(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = FindingLabel(f)
	}
	return out
}

func keyLabels(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = KeyLabel(k)
	}
	return out
}

// trendList is one list of the trends section in HTML.
type trendList struct {
	Title string
	Items []string
	More  int
}

func trendLists(r *Report) []trendList {
	mk := func(title string, items []string) trendList {
		l := trendList{Title: title, Items: items}
		if len(items) > maxTrendList {
			l.Items, l.More = items[:maxTrendList], len(items)-maxTrendList
		}
		return l
	}
	return []trendList{
		mk("New since the last run", findingLabels(r.Trend.New)),
		mk("Resolved since the last run", keyLabels(r.Trend.Resolved)),
		mk("Recurring: failing again after being resolved", findingLabels(r.Trend.Recurring)),
		mk("Still open since the last run", findingLabels(r.Trend.StillOpen)),
	}
}

var execTemplate = template.Must(template.New("exec").Funcs(template.FuncMap{
	"sevColor":   func(s string) string { return severityColors[s] },
	"trendClass": trendClass,
	"day":        day,
	"sevTitle":   SeverityTitle,
	"severities": Severities,
	"runScore":   runScore,
	"lists":      trendLists,
	"count":      func(m map[string]int, k string) int { return m[k] },
	"remediated": remediatedText,
}).Parse(`{{define "exec"}}<section class="exec">
<h2>Summary for executives</h2>
<p class="status">Overall status: {{.Status}}.</p>
<p>{{.TrendSentence}}</p>
{{with .ScoreRows}}<table class="narrow">
<tr><th>Standard</th><th class="n">Score</th><th class="n">Since last run</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td class="n"><strong>{{.PercentText}}</strong></td><td class="n {{trendClass .Delta .HasPrevious}}">{{.Arrow}}</td></tr>
{{end}}</table>
{{$.ScoreChart}}{{else}}<p>No control findings to compute a compliance score from (no standard enabled, or no check run yet).</p>{{end}}
{{with .TopRisks 5}}<h3>Top risks</h3>
<ol>
{{range .}}<li><span class="sev" style="background:{{sevColor .Severity}}">{{.Severity}}</span> {{.Sentence}}</li>
{{end}}</ol>{{end}}
<h3>Fixed automatically</h3>
<p>{{.FixedSentence}}</p>
</section>
{{end}}{{define "trends"}}<h2>Trends</h2>
<p>{{.TrendSentence}}</p>
{{range .Trend.Notes}}<p class="note">Note: {{.}}</p>
{{end}}{{$rows := .ScoreRows}}{{with $rows}}<table>
<tr><th>Standard</th><th class="n">Score</th><th class="n">Previous</th><th class="n">Change</th><th class="n">Controls passed</th><th class="n">Failed</th><th class="n">Unknown</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td class="n">{{.PercentText}}</td><td class="n">{{if .HasPrevious}}{{if lt .Previous 0}}no data{{else}}{{.Previous}}%{{end}}{{else}}-{{end}}</td><td class="n {{trendClass .Delta .HasPrevious}}">{{.Arrow}}</td><td class="n">{{.Passed}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Unknown}}</td></tr>
{{end}}</table>{{end}}
{{.FindingsChart}}
<table>
<tr><th>Run</th><th class="n">Findings</th>{{range severities}}<th class="n">{{sevTitle .}}</th>{{end}}{{range $rows}}<th class="n">{{.Name}}</th>{{end}}<th class="n">Fixed automatically</th></tr>
{{range .TrendRuns}}{{$run := .}}<tr><td>{{day .GeneratedAt}}</td><td class="n">{{.Findings}}</td>{{range severities}}<td class="n">{{count $run.BySeverity .}}</td>{{end}}{{range $rows}}<td class="n">{{runScore $run .Standard}}</td>{{end}}<td class="n">{{remediated .}}</td></tr>
{{end}}</table>
{{if .Trend.Previous}}{{range lists .}}<h3>{{.Title}} ({{len .Items}}{{if .More}} of {{.Total}}{{end}})</h3>
{{if .Items}}<ul>
{{range .Items}}<li>{{.}}</li>
{{end}}{{if .More}}<li>and {{.More}} more (findings.csv and summary.json have them all)</li>
{{end}}</ul>{{else}}<p>None.</p>{{end}}
{{end}}{{end}}{{end}}`))

// Total is the list's length before it was cut.
func (l trendList) Total() int { return len(l.Items) + l.More }

// trendClass colours a change: a higher score is better.
func trendClass(delta int, has bool) string {
	switch {
	case !has:
		return ""
	case delta > 0:
		return "better"
	case delta < 0:
		return "worse"
	}
	return ""
}

// ExecutiveHTML is the summary for executives that opens report.html.
func (r *Report) ExecutiveHTML() (template.HTML, error) {
	return r.execPart("exec")
}

// TrendsHTML is the trends section of report.html.
func (r *Report) TrendsHTML() (template.HTML, error) {
	return r.execPart("trends")
}

func (r *Report) execPart(name string) (template.HTML, error) {
	var b bytes.Buffer
	if err := execTemplate.ExecuteTemplate(&b, name, r); err != nil {
		return "", fmt.Errorf("rendering the %s section of the HTML report: %w", name, err)
	}
	return template.HTML(b.String()), nil // html/template output, escaped
}

package report

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"
)

// Trend compares this run with the previous runs' summaries.
type Trend struct {
	History
	// Previous is the last previous run; nil for the first run.
	Previous *Summary
	// The current failing findings by what they were before: New (never
	// failing in a stored earlier run), Recurring (not failing in the
	// previous run but in an earlier one: it came back) and StillOpen
	// (failing in the previous run too). Empty without a previous run.
	New, Recurring, StillOpen []Finding
	// Resolved are the keys (FindingKey) failing in the previous run and
	// not now, sorted.
	Resolved []string
}

// SetScores sets the run's compliance scores (ComputeScores).
func (r *Report) SetScores(s Scores) { r.Scores = s }

// SetHistory compares the report with the previous runs (LoadHistory):
// new, resolved, recurring and still-open findings since the last run, and
// the trends of the charts.
func (r *Report) SetHistory(h History) {
	t := Trend{History: h}
	if n := len(h.Runs); n > 0 {
		prev := h.Runs[n-1]
		t.Previous = &prev
		last := map[string]bool{}
		for _, k := range prev.Failing {
			last[k] = true
		}
		earlier := map[string]bool{}
		for _, s := range h.Runs[:n-1] {
			for _, k := range s.Failing {
				earlier[k] = true
			}
		}
		now := map[string]bool{}
		for _, f := range r.Findings {
			k := FindingKey(f)
			now[k] = true
			switch {
			case last[k]:
				t.StillOpen = append(t.StillOpen, f)
			case earlier[k]:
				t.Recurring = append(t.Recurring, f)
			default:
				t.New = append(t.New, f)
			}
		}
		for _, k := range prev.Failing {
			if !now[k] {
				t.Resolved = append(t.Resolved, k)
			}
		}
		sort.Strings(t.Resolved)
	}
	r.Trend = t
}

// ScoreRow is a standard's score with its change since the last run.
type ScoreRow struct {
	StandardScore
	// Previous is the score of the last run that scored the standard;
	// HasPrevious is false when none did.
	Previous    int
	HasPrevious bool
}

// Delta is the change in points since the previous run (0 without one).
func (s ScoreRow) Delta() int {
	if !s.HasPrevious || s.Percent() < 0 || s.Previous < 0 {
		return 0
	}
	return s.Percent() - s.Previous
}

// Arrow is "▲ +4", "▼ -3" or "= 0"; "new" when there is nothing to
// compare with.
func (s ScoreRow) Arrow() string {
	if !s.HasPrevious || s.Percent() < 0 || s.Previous < 0 {
		return "new"
	}
	return arrow(s.Delta())
}

// PercentText is "88%", or "no data".
func (s ScoreRow) PercentText() string { return percentText(s.Percent()) }

func percentText(p int) string {
	if p < 0 {
		return "no data"
	}
	return fmt.Sprintf("%d%%", p)
}

func arrow(delta int) string {
	switch {
	case delta > 0:
		return fmt.Sprintf("▲ +%d", delta)
	case delta < 0:
		return fmt.Sprintf("▼ %d", delta)
	}
	return "= 0"
}

// ScoreRows are the standards' scores, then the summary across all of
// them when there is more than one standard (or none is named).
func (r *Report) ScoreRows() []ScoreRow {
	var rows []ScoreRow
	for _, s := range r.Scores.Standards {
		row := ScoreRow{StandardScore: s}
		row.Previous, row.HasPrevious = r.previousScore(s.Standard)
		rows = append(rows, row)
	}
	if o := r.Scores.Overall; o.Controls() > 0 && len(r.Scores.Standards) != 1 {
		row := ScoreRow{StandardScore: o}
		if p := r.Trend.Previous; p != nil && p.Overall.Controls() > 0 {
			row.Previous, row.HasPrevious = p.Overall.Percent(), true
		}
		rows = append(rows, row)
	}
	return rows
}

// previousScore is the standard's score in the last previous run that
// scored it.
func (r *Report) previousScore(standard string) (int, bool) {
	runs := r.Trend.Runs
	for i := len(runs) - 1; i >= 0; i-- {
		for _, s := range runs[i].Scores {
			if s.Standard == standard {
				return s.Percent(), true
			}
		}
	}
	return 0, false
}

// TrendRuns are the previous runs and this one, oldest first.
func (r *Report) TrendRuns() []Summary {
	return append(append([]Summary(nil), r.Trend.Runs...), r.Summary())
}

// FindingsDelta is the change in failing findings since the previous run.
func (r *Report) FindingsDelta() (int, bool) {
	if r.Trend.Previous == nil {
		return 0, false
	}
	return r.Total() - r.Trend.Previous.Findings, true
}

// TrendSentence says what changed since the last run, or that this is
// the first one with a summary.
func (r *Report) TrendSentence() string {
	p := r.Trend.Previous
	if p == nil {
		if !r.Trend.Read {
			return "Trends are not available: previous runs were not read."
		}
		return "This is the first run with a stored summary: the next report will show what changed since this one."
	}
	d, _ := r.FindingsDelta()
	change := "no change"
	if d != 0 {
		change = fmt.Sprintf("%s %d", map[bool]string{true: "up", false: "down"}[d > 0], abs(d))
	}
	return fmt.Sprintf("Since the last run (%s): %s failing (%s); %d new, %d resolved, %d recurring, %d still open.",
		day(p.GeneratedAt), plural(r.Total(), "finding", "findings"), change,
		len(r.Trend.New), len(r.Trend.Resolved), len(r.Trend.Recurring), len(r.Trend.StillOpen))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// KeyLabel describes a finding key in words: "S3.8 on
// arn:aws:s3:::bucket (111111111111, us-east-1)".
func KeyLabel(key string) string {
	account, region, check, resource := KeyParts(key)
	if id, ok := strings.CutPrefix(check, "finding:"); ok {
		check = "finding " + id
	}
	if resource == "" {
		resource = "(no resource)"
	}
	return fmt.Sprintf("%s on %s (%s, %s)", check, resource, account, region)
}

// FindingLabel is KeyLabel for a current finding, with its severity; a
// finding without a control is named by its title and product.
func FindingLabel(f Finding) string {
	if f.ControlID == "" {
		what := f.Title
		if f.ProductName != "" {
			what += " (" + f.ProductName + ")"
		}
		resource := f.ResourceID
		if resource == "" {
			resource = "(no resource)"
		}
		return fmt.Sprintf("%s %s on %s (%s, %s)", f.Severity, what, resource, f.Account, f.Region)
	}
	return f.Severity + " " + KeyLabel(FindingKey(f))
}

// maxTrendList bounds each list of new, recurring, resolved and still-open
// findings in the report; findings.csv and summary.json have them all.
const maxTrendList = 25

// chartColors colour the lines of the trend charts.
var chartColors = []string{"#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#4e342e", "#455a64"}

type chartSeries struct {
	Name   string
	Color  string
	Dashed bool      // told apart from a line it may cover
	Values []float64 // NaN where the run has no value
}

// lineChart draws series over the runs as an inline SVG: no script, no
// external resource, so it prints as drawn. yMax is the top of the axis
// (100 for scores).
func lineChart(label string, runs []time.Time, series []chartSeries, yMax float64, unit string) template.HTML {
	const (
		left, right, top, bottom = 48, 270, 12, 30
		plotW, plotH             = 460, 180
	)
	w, h := left+plotW+right, top+plotH+bottom
	if yMax <= 0 {
		yMax = 1
	}
	x := func(i int) float64 {
		if len(runs) < 2 {
			return left + plotW/2
		}
		return left + float64(i)*plotW/float64(len(runs)-1)
	}
	y := func(v float64) float64 { return top + plotH - v*plotH/yMax }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="%s" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`,
		template.HTMLEscapeString(label), w, h, w, h)
	for i := 0; i <= 4; i++ {
		v := yMax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, left, y(v), left+plotW, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s%s</text>`, left-6, y(v)+4, trimFloat(v), template.HTMLEscapeString(unit))
	}
	for i, t := range runs {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(i), top+plotH+18, t.UTC().Format("01-02"))
	}
	for si, s := range series {
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				dash := ""
				if s.Dashed {
					dash = ` stroke-dasharray="6 4"`
				}
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, s.Color, dash, strings.Join(pts, " "))
			}
			pts = nil
		}
		for i, v := range s.Values {
			if math.IsNaN(v) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(i), y(v), s.Color)
		}
		flush()
		ly := top + 10 + si*16
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`, left+plotW+12, ly-4, left+plotW+28, ly-4, s.Color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, left+plotW+33, ly, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped labels only
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%d", int(v))
	}
	return fmt.Sprintf("%.1f", v)
}

func runTimes(runs []Summary) []time.Time {
	out := make([]time.Time, len(runs))
	for i, s := range runs {
		out[i] = s.GeneratedAt
	}
	return out
}

// ScoreChart draws each standard's score over the runs (and the summary
// across standards when there are several).
func (r *Report) ScoreChart() template.HTML {
	runs := r.TrendRuns()
	var series []chartSeries
	for i, row := range r.ScoreRows() {
		s := chartSeries{Name: row.Name, Color: chartColors[i%len(chartColors)], Dashed: row.Standard == ""}
		for _, run := range runs {
			v := math.NaN()
			if row.Standard == "" {
				if run.Overall.Controls() > 0 {
					v = float64(run.Overall.Percent())
				}
			} else {
				for _, sc := range run.Scores {
					if sc.Standard == row.Standard && sc.Controls() > 0 {
						v = float64(sc.Percent())
					}
				}
			}
			s.Values = append(s.Values, v)
		}
		series = append(series, s)
	}
	return lineChart("Compliance score per standard over the runs", runTimes(runs), series, 100, "%")
}

// FindingsChart draws the failing findings over the runs: all, and each
// severity that had findings in one of them.
func (r *Report) FindingsChart() template.HTML {
	runs := r.TrendRuns()
	total := chartSeries{Name: "All findings", Color: "#232f3e", Dashed: true}
	maxV := 0
	for _, run := range runs {
		total.Values = append(total.Values, float64(run.Findings))
		maxV = max(maxV, run.Findings)
	}
	series := []chartSeries{total}
	for _, sev := range Severities() {
		s := chartSeries{Name: SeverityTitle(sev), Color: severityColors[sev]}
		any := false
		for _, run := range runs {
			n := run.BySeverity[sev]
			any = any || n > 0
			s.Values = append(s.Values, float64(n))
		}
		if any {
			series = append(series, s)
		}
	}
	return lineChart("Failing findings over the runs", runTimes(runs), series, niceMax(maxV), "")
}

// niceMax is the top of an axis of four steps over 0..n, each step 1, 2,
// 3 or 5 times a power of ten, so the grid lines fall on round numbers.
func niceMax(n int) float64 {
	step := float64(n) / 4
	if step <= 1 {
		return 4
	}
	p := math.Pow(10, math.Floor(math.Log10(step)))
	for _, m := range []float64{1, 2, 3, 5, 10} {
		if step <= m*p {
			return 4 * m * p
		}
	}
	return 40 * p
}

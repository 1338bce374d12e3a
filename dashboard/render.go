package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/publish"
)

// Options control rendering.
type Options struct {
	Title string
	// Start and End bound the data; by default the dashboard's own start
	// (e.g. -PT24H) until now.
	Start, End time.Time
	// NoPercentiles is for endpoints that cannot compute percentile
	// statistics (moto_server): p50 is drawn as Average and higher
	// percentiles as Maximum, and the legend says so.
	NoPercentiles bool
	// Notes are shown under the widgets with these titles: what a number
	// counts, when its label alone could mislead (see DefaultNotes).
	Notes map[string]string
	Now   func() time.Time
}

// DefaultNotes explains the production dashboard's outcome counts: the
// metric Remediations counts outcomes, one per delivery of an event, so an
// event that fails and is retried counts once per attempt, while a person
// (and the demo's summary) counts the resources; and what the by-account
// widget calls not compliant (publish.NotCompliantActions).
func DefaultNotes() map[string]string {
	const retries = "Counts outcomes, one per delivery: an event that fails and is retried counts once per attempt."
	return map[string]string{
		"Outcomes in the period (all remediators)": retries,
		"Failed remediations":                      retries,
		"Failed, escalated and not compliant by account": "Per account and action over the period. Not compliant: " + notCompliant() +
			" outcomes (found not compliant and left so). " + retries,
	}
}

// notCompliant lists publish.NotCompliantActions in words: "a, b and c".
func notCompliant() string {
	var names []string
	for _, a := range publish.NotCompliantActions() {
		names = append(names, string(a))
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Rendered is one widget with its data.
type Rendered struct {
	Widget Widget
	Series []Series
	Err    string // why the widget's data could not be fetched
}

// HasData reports whether a metric widget got at least one data point (a
// text widget always has its content).
func (r Rendered) HasData() bool {
	if r.Widget.Type == "text" {
		return r.Widget.Properties.Markdown != ""
	}
	for _, s := range r.Series {
		if len(s.Values) > 0 {
			return true
		}
	}
	return false
}

// Render fetches every widget's data and returns the HTML page.
func Render(ctx context.Context, api MetricsAPI, body []byte, opts Options) ([]byte, []Rendered, error) {
	widgets, start, end, err := Fetch(ctx, api, body, opts)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, widgets, start, end, opts); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), widgets, nil
}

// Fetch parses the dashboard body and runs each metric widget's queries.
// A widget whose queries fail carries the error; the others still render.
// When the endpoint does not answer at all (connection refused, no route,
// DNS, timeout) or ctx ends, Fetch stops at the first widget and returns
// that error: every other widget would only wait for the same failure.
func Fetch(ctx context.Context, api MetricsAPI, body []byte, opts Options) ([]Rendered, time.Time, time.Time, error) {
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, time.Time{}, time.Time{}, fmt.Errorf("reading dashboard body: %w", err)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	end, start := opts.End, opts.Start
	if end.IsZero() {
		end = now()
	}
	if start.IsZero() {
		d, err := parseISODuration(b.Start)
		if err != nil {
			d = -24 * time.Hour
		}
		start = end.Add(d)
	}
	end = end.Truncate(time.Minute).Add(time.Minute)
	start = start.Truncate(time.Minute)
	sort.SliceStable(b.Widgets, func(i, j int) bool {
		if b.Widgets[i].Y != b.Widgets[j].Y {
			return b.Widgets[i].Y < b.Widgets[j].Y
		}
		return b.Widgets[i].X < b.Widgets[j].X
	})
	var out []Rendered
	for _, w := range b.Widgets {
		r := Rendered{Widget: w}
		if w.Type == "metric" {
			series, err := fetchWidget(ctx, api, w.Properties, start, end, opts)
			if err != nil && unanswered(err) {
				return nil, start, end, fmt.Errorf("CloudWatch did not answer: %w", err)
			}
			if err != nil {
				r.Err = err.Error()
			}
			r.Series = series
		}
		out = append(out, r)
	}
	return out, start, end, nil
}

// unanswered reports whether err means the request got no answer, rather
// than an error response: the SDK marks transport failures with
// ConnectionError (smithy-go's RequestSendError), after its retries.
func unanswered(err error) bool {
	var conn interface{ ConnectionError() bool }
	if (errors.As(err, &conn) && conn.ConnectionError()) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// Something answered, but not CloudWatch: AWS puts a request ID on
	// every answer, errors included; another HTTP server's 404 page has
	// none (and does not deserialize).
	var resp *awshttp.ResponseError
	var de *smithy.DeserializationError
	return (errors.As(err, &resp) && resp.RequestID == "") || errors.As(err, &de)
}

type pending struct {
	query  cwtypes.MetricDataQuery
	series int // index into the widget's series
}

func fetchWidget(ctx context.Context, api MetricsAPI, p Properties, start, end time.Time, opts Options) ([]Series, error) {
	qs, err := parseMetrics(p)
	if err != nil {
		return nil, err
	}
	var series []Series
	var reqs []pending
	n := 0
	add := func(m cwtypes.Metric, stat string, period int32, seriesIdx int) {
		if p.SetPeriodToTimeRange {
			period = int32(math.Ceil(end.Sub(start).Seconds()/60) * 60)
		}
		n++
		reqs = append(reqs, pending{series: seriesIdx, query: cwtypes.MetricDataQuery{Id: aws.String(fmt.Sprintf("q%d", n)),
			MetricStat: &cwtypes.MetricStat{Metric: &m, Stat: aws.String(stat), Period: aws.Int32(period)}}})
	}
	for _, q := range qs {
		stat, approx := q.stat, ""
		if opts.NoPercentiles && strings.HasPrefix(stat, "p") {
			if stat == "p50" {
				stat, approx = "Average", "Average in place of p50: the endpoint computes no percentiles"
			} else {
				stat, approx = "Maximum", "Maximum in place of "+q.stat+": the endpoint computes no percentiles"
			}
		}
		if q.metric != nil {
			series = append(series, Series{Label: q.label, Approximation: approx})
			add(*q.metric, stat, q.period, len(series)-1)
			continue
		}
		metrics, err := q.search.expand(ctx, api)
		if err != nil {
			return series, err
		}
		if q.sum {
			series = append(series, Series{Label: q.label, Approximation: approx})
			for _, m := range metrics {
				add(m, stat, q.period, len(series)-1)
			}
			continue
		}
		for _, m := range metrics {
			label := q.search.label(m)
			if q.label != "" {
				label = q.label + " " + label
			}
			series = append(series, Series{Label: label, Approximation: approx})
			add(m, stat, q.period, len(series)-1)
		}
	}
	// Summed searches add their members point by point.
	sums := make([]map[time.Time]float64, len(series))
	for i := 0; i < len(reqs); i += 500 { // GetMetricData's limit per call
		batch := reqs[i:min(i+500, len(reqs))]
		in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end), ScanBy: cwtypes.ScanByTimestampAscending}
		byID := map[string]int{}
		for _, r := range batch {
			in.MetricDataQueries = append(in.MetricDataQueries, r.query)
			byID[aws.ToString(r.query.Id)] = r.series
		}
		pages := cloudwatch.NewGetMetricDataPaginator(api, in)
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return series, fmt.Errorf("getting metric data for widget %q: %w", p.Title, err)
			}
			for _, res := range out.MetricDataResults {
				idx, ok := byID[aws.ToString(res.Id)]
				if !ok {
					continue
				}
				if sums[idx] == nil {
					sums[idx] = map[time.Time]float64{}
				}
				for k, t := range res.Timestamps {
					if k < len(res.Values) {
						sums[idx][t.UTC()] += res.Values[k]
					}
				}
			}
		}
	}
	for i, m := range sums {
		var ts []time.Time
		for t := range m {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(a, b int) bool { return ts[a].Before(ts[b]) })
		for _, t := range ts {
			series[i].Times = append(series[i].Times, t)
			series[i].Values = append(series[i].Values, m[t])
		}
	}
	return series, nil
}

var isoDuration = regexp.MustCompile(`^(-?)P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseISODuration reads the relative start of a dashboard, e.g. -PT24H.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+2] != "" {
			n, _ := strconv.Atoi(m[i+2])
			d += time.Duration(n) * unit
		}
	}
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

// palette has 20 colours (Tableau 20, dark and light of each hue): the
// remediations widget has a series per remediator and action, more than
// ten in the demo, and a repeated colour would make two series one.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
	"#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"}

// WriteHTML writes the page: a 24-column grid like CloudWatch's, each
// widget placed at its x, y, width and height.
func WriteHTML(w io.Writer, widgets []Rendered, start, end time.Time, opts Options) error {
	title := opts.Title
	if title == "" {
		title = "Auto-remediation compliance dashboard"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;background:#f2f3f3;color:#16191f;max-width:%.0fpx}
h1{font-size:20px;margin:0 0 4px}.range{color:#545b64;font-size:13px;margin-bottom:12px}
.grid{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:44px;gap:8px}
.widget{background:#fff;border:1px solid #d5dbdb;border-radius:4px;padding:8px 10px;overflow:hidden;display:flex;flex-direction:column}
.widget h2{font-size:14px;margin:0 0 6px;font-weight:600}
.widget svg{flex:0 1 auto;min-height:0;max-width:100%%;height:auto}
.widget svg .val{font-weight:600}
.legend{font-size:11px;color:#545b64;display:flex;flex-wrap:wrap;gap:4px 12px;margin-top:4px}
.legend b{color:#16191f}.legend span i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.nodata{color:#879596;font-size:13px;margin:auto}.err{color:#d13212;font-size:12px}
.values{display:flex;flex-wrap:wrap;gap:16px;margin:auto 0}.value b{display:block;font-size:32px;font-weight:400}.value{font-size:12px;color:#545b64}
.md{font-size:13px;line-height:1.45}.md h2{font-size:15px}.md code{background:#f2f3f3;padding:0 3px}
.approx{font-size:11px;color:#8d6605}.note{font-size:11px;color:#545b64;font-style:italic}
@media (max-width:1100px){.grid{display:flex;flex-direction:column}.widget svg{align-self:flex-start}}
</style></head>
<body>
<h1>%s</h1>
<div class="range">%s to %s (UTC), from CloudWatch GetMetricData</div>
<div class="grid">
`, html.EscapeString(title), pageWidth, html.EscapeString(title), start.UTC().Format("2006-01-02 15:04"), end.UTC().Format("2006-01-02 15:04"))
	for i, r := range widgets {
		wd := r.Widget
		points := 0
		for _, s := range r.Series {
			points += len(s.Values)
		}
		fmt.Fprintf(&b, `<section class="widget" id="widget-%d" data-type="%s" data-title="%s" data-series="%d" data-points="%d" data-has-data="%t" style="grid-column:%d / span %d;grid-row:%d / span %d">`,
			i+1, html.EscapeString(wd.Type), html.EscapeString(wd.Properties.Title), len(r.Series), points, r.HasData(),
			wd.X+1, max(wd.Width, 1), wd.Y+1, max(wd.Height, 1))
		switch {
		case wd.Type == "text":
			b.WriteString(`<div class="md">` + markdown(wd.Properties.Markdown) + `</div>`)
		default:
			b.WriteString("<h2>" + html.EscapeString(wd.Properties.Title) + "</h2>")
			if r.Err != "" {
				b.WriteString(`<div class="err">` + html.EscapeString(r.Err) + `</div>`)
			}
			var notes []string
			approx := map[string]bool{}
			for _, s := range r.Series {
				if s.Approximation != "" && !approx[s.Approximation] {
					approx[s.Approximation] = true
					notes = append(notes, s.Approximation)
				}
			}
			note := opts.Notes[wd.Properties.Title]
			switch {
			case !r.HasData():
				b.WriteString(`<div class="nodata">No data in this period</div>`)
			case wd.Properties.View == "singleValue":
				singleValues(&b, r.Series, wd.Properties.Stat)
			default:
				chart(&b, r.Series, wd, start, end, append(notes, note))
			}
			for _, n := range notes {
				b.WriteString(`<div class="approx">` + html.EscapeString(n) + `</div>`)
			}
			if note != "" {
				b.WriteString(`<div class="note">` + html.EscapeString(note) + `</div>`)
			}
		}
		b.WriteString("</section>\n")
	}
	b.WriteString(`</div>
<script>
// Marks the page as rendered: the headless-browser test reads this back.
(function () {
  var ws = document.querySelectorAll("section.widget");
  var withData = 0;
  ws.forEach(function (w) { if (w.dataset.hasData === "true") withData++; });
  document.body.dataset.widgets = String(ws.length);
  document.body.dataset.widgetsWithData = String(withData);
})();
</script>
</body></html>
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func singleValues(b *strings.Builder, series []Series, stat string) {
	b.WriteString(`<div class="values">`)
	for _, s := range series {
		total := 0.0
		for _, v := range s.Values {
			if stat == "Maximum" {
				total = math.Max(total, v)
			} else {
				total += v
			}
		}
		fmt.Fprintf(b, `<div class="value"><b>%s</b>%s</div>`, formatNumber(total), html.EscapeString(s.Label))
	}
	b.WriteString(`</div>`)
}

func formatNumber(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) < 1:
		return strings.TrimRight(strconv.FormatFloat(v, 'f', 3, 64), "0")
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

var (
	mdBold = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	mdItal = regexp.MustCompile(`\*([^*\s][^*]*)\*`)
	mdCode = regexp.MustCompile("`([^`]+)`")
)

// markdown renders the small subset of Markdown text widgets use:
// headings, bullet lists, bold, italics and code.
func markdown(src string) string {
	var b strings.Builder
	inList := false
	for _, line := range strings.Split(src, "\n") {
		esc := html.EscapeString(line)
		esc = mdCode.ReplaceAllString(esc, "<code>$1</code>")
		esc = mdBold.ReplaceAllString(esc, "<b>$1</b>")
		esc = mdItal.ReplaceAllString(esc, "<i>$1</i>")
		isItem := strings.HasPrefix(line, "* ") || strings.HasPrefix(line, "- ")
		if isItem && !inList {
			b.WriteString("<ul>")
			inList = true
		}
		if !isItem && inList {
			b.WriteString("</ul>")
			inList = false
		}
		switch {
		case isItem:
			b.WriteString("<li>" + strings.TrimSpace(esc[2:]) + "</li>")
		case strings.HasPrefix(line, "## "):
			b.WriteString("<h2>" + esc[3:] + "</h2>")
		case strings.HasPrefix(line, "# "):
			b.WriteString("<h2>" + esc[2:] + "</h2>")
		case strings.TrimSpace(line) != "":
			b.WriteString("<p>" + esc + "</p>")
		}
	}
	if inList {
		b.WriteString("</ul>")
	}
	return b.String()
}

// Vars are the dashboard template's variables (terraform/ fills them from
// the deployment).
type Vars struct {
	Namespace, Region, FunctionName, DLQName string
}

// Map returns the variables as terraform.RenderDashboard takes them.
func (v Vars) Map() map[string]string {
	return map[string]string{"namespace": v.Namespace, "region": v.Region, "function_name": v.FunctionName, "dlq_name": v.DLQName}
}

package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/terraform"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// page renders one metric widget of span columns with the series.
func page(t *testing.T, span int, stacked bool, series ...Series) string {
	t.Helper()
	w := Widget{Type: "metric", Width: span, Height: 6, Properties: Properties{Title: "widget", View: "timeSeries", Stacked: stacked}}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, []Rendered{{Widget: w, Series: series}}, t0, t0.Add(time.Hour), Options{}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// points is a series with a value every 5 minutes from t0.
func points(label string, values ...float64) Series {
	s := Series{Label: label}
	for i, v := range values {
		s.Times = append(s.Times, t0.Add(time.Duration(i)*5*time.Minute))
		s.Values = append(s.Values, v)
	}
	return s
}

var tooltips = regexp.MustCompile(`<title>([^<]*)</title>`)

// Hovering a stacked series shows its own value, not the running total it
// is drawn at.
func TestStackedTooltipsShowEachSeriesOwnValue(t *testing.T) {
	for name, n := range map[string]int{"lines": 6, "columns": 1} {
		t.Run(name, func(t *testing.T) {
			a := make([]float64, n)
			b := make([]float64, n)
			for i := range a {
				a[i], b[i] = 1, 2
			}
			html := page(t, 12, true, points("deferred", a...), points("needs-manual", b...))
			var got []string
			for _, m := range tooltips.FindAllStringSubmatch(html, -1) {
				if strings.HasPrefix(m[1], "needs-manual 12:00") {
					got = append(got, m[1])
				}
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], "needs-manual 12:00: 2") || !strings.Contains(got[0], "total 3") {
				t.Errorf("tooltips of the upper series at 12:00: %q, want its own value 2 (and the total 3)", got)
			}
		})
	}
}

// One or two points are drawn as labelled columns, not as dots on the edge
// of a time axis.
func TestSparseSeriesAreLabelledColumns(t *testing.T) {
	html := page(t, 6, false, points("failed s3-encryption", 2), points("failed ec2-imdsv2", 7))
	if strings.Contains(html, "<circle") || strings.Count(html, "<rect") != 2 {
		t.Errorf("want two columns and no dots:\n%s", html)
	}
	for _, want := range []string{`>2</text>`, `>7</text>`, `failed ec2-imdsv2 <b>7</b>`} {
		if !strings.Contains(html, want) {
			t.Errorf("the values are not written on the chart or legend (%q):\n%s", want, html)
		}
	}
	// Dense series stay lines.
	dense := page(t, 6, false, points("invocations", 1, 4, 2, 8, 5))
	if !strings.Contains(dense, "<polyline") || strings.Contains(dense, "<rect") {
		t.Errorf("five points are not drawn as a line:\n%s", dense)
	}
}

var svgSize = regexp.MustCompile(`<svg viewBox="0 0 ([0-9.]+) ([0-9.]+)" width="([0-9.]+)"[^>]* font-size="([0-9.]+)"`)

// Text is drawn at its size in narrow widgets too: the SVG is shown at
// the size of its coordinates (no scaling down) as long as it fits the
// widget on a 1400 px page, whose 24 columns are separated by 8 px gaps
// and whose widgets have 22 px of padding and border.
func TestNarrowWidgetsKeepTheirTextSize(t *testing.T) {
	for _, span := range []int{6, 8, 12, 24} {
		html := page(t, span, false, points("a", 1, 2, 3, 4, 5))
		m := svgSize.FindStringSubmatch(html)
		if m == nil {
			t.Fatalf("span %d: no sized SVG in\n%s", span, html)
		}
		vw, _ := strconv.ParseFloat(m[1], 64)
		shown, _ := strconv.ParseFloat(m[3], 64)
		font, _ := strconv.ParseFloat(m[4], 64)
		room := float64(span)*(1400+8)/24 - 8 - 22
		if shown != vw || shown > room+1 {
			t.Errorf("span %d: drawn %v wide, shown %v wide in %v px: text scaled by %.2f", span, vw, shown, room, room/vw)
		}
		if font < 11 {
			t.Errorf("span %d: font size %v", span, font)
		}
	}
}

// The production dashboard's outcome counts say what they count.
func TestDefaultNotesNameProductionWidgets(t *testing.T) {
	body, err := terraform.RenderDashboard(Vars{"AutoRemediation", "us-east-1", "fn", "dlq"}.Map())
	if err != nil {
		t.Fatal(err)
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	for _, w := range b.Widgets {
		titles[w.Properties.Title] = true
	}
	notes := DefaultNotes()
	if len(notes) == 0 {
		t.Fatal("no notes")
	}
	for title, note := range notes {
		if !titles[title] {
			t.Errorf("note for %q: no such widget in the template", title)
		}
		var buf bytes.Buffer
		w := Rendered{Widget: Widget{Type: "metric", Width: 6, Height: 6, Properties: Properties{Title: title, View: "singleValue"}}, Series: []Series{points("failed", 2)}}
		if err := WriteHTML(&buf, []Rendered{w}, t0, t0.Add(time.Hour), Options{Notes: notes}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), `<div class="note">`+note) {
			t.Errorf("note for %q not on the page", title)
		}
	}
}

func TestNiceScale(t *testing.T) {
	for _, tc := range []struct {
		max, top float64
		ticks    int
	}{{14, 15, 4}, {2, 2, 3}, {1, 1, 2}, {2151, 2500, 6}, {0, 1, 3}, {0.3, 0.3, 4}, {7.5, 8, 5}} {
		top, ticks := niceScale(tc.max)
		if top != tc.top || len(ticks) != tc.ticks || ticks[0] != 0 || ticks[len(ticks)-1] != top {
			t.Errorf("niceScale(%v) = %v %v, want top %v with %d ticks", tc.max, top, ticks, tc.top, tc.ticks)
		}
	}
}

// Labels too wide for their column are shortened, or left to the legend,
// rather than run into each other.
func TestColumnLabelsFit(t *testing.T) {
	for _, tc := range []struct {
		v     float64
		width float64
		want  string
		ok    bool
	}{
		{7, 30, "7", true}, {165.5, 30, "166", true}, {15671.3, 40, "15671", true}, {156710, 30, "157k", true},
		{15671.3, 25, "16k", true}, {15000, 25, "15k", true}, {15671.3, 10, "", false}, {2.5e6, 30, "2.5M", true},
	} {
		got, ok := fitNumber(tc.v, tc.width)
		if got != tc.want || ok != tc.ok {
			t.Errorf("fitNumber(%v, %v) = %q, %t; want %q, %t", tc.v, tc.width, got, ok, tc.want, tc.ok)
		}
	}
	var series []Series
	for i := range 12 {
		series = append(series, points(fmt.Sprintf("p99 remediator-%d", i), 15000+float64(i)*100))
	}
	html := page(t, 8, false, series...)
	var colours []string
	for _, m := range regexp.MustCompile(`<rect [^>]*fill="(#[0-9a-f]+)"`).FindAllStringSubmatch(html, -1) {
		colours = append(colours, m[1])
	}
	if len(colours) != 12 {
		t.Fatalf("%d columns, want 12", len(colours))
	}
	seen := map[string]bool{}
	for _, c := range colours {
		if seen[c] {
			t.Errorf("colour %s used twice among 12 series", c)
		}
		seen[c] = true
	}
	labels := regexp.MustCompile(`<text class="val"[^>]*>([^<]*)</text>`).FindAllStringSubmatch(html, -1)
	for _, l := range labels {
		if len(l[1]) > 4 {
			t.Errorf("label %q is wider than its column", l[1])
		}
	}
}

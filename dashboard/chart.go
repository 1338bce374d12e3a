package dashboard

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Page geometry, in CSS pixels: the grid is at most pageWidth wide, with
// CloudWatch's 24 columns and rows of rowHeight. Charts are drawn in the
// widget's own pixel size (a viewBox of the size the SVG is shown at), so
// that text is as large in a narrow widget as in a wide one instead of
// being scaled down with the drawing.
const (
	pageWidth  = 1400.0
	gridGap    = 8.0
	rowHeight  = 44.0
	colWidth   = (pageWidth - 23*gridGap) / 24
	padX, padY = 22.0, 18.0 // a widget's padding and border, both sides
	fontSize   = 11.0       // axis and value labels
	charWidth  = 6.3        // average width of a character at fontSize
	// sparseTimes is the most distinct timestamps a widget may have to be
	// drawn as columns: one or two points on a time axis are a column of
	// dots at its edge, unreadable without hovering.
	sparseTimes = 3
)

// chartArea is the size of a metric widget's drawing once its title, legend
// and notes are placed: an estimate of the browser's layout, so that the
// SVG is shown at (about) its own size.
func chartArea(wd Widget, legend []string, noteLines []string) (w, h float64) {
	cols, rows := float64(max(wd.Width, 1)), float64(max(wd.Height, 1))
	w = cols*colWidth + (cols-1)*gridGap - padX
	h = rows*rowHeight + (rows-1)*gridGap - padY
	h -= 6 + 18*textLines(wd.Properties.Title, w, 7.8) // the title (14px, bold)
	if len(legend) > 0 {
		lines, x := 1.0, 0.0
		for _, l := range legend {
			iw := 14 + charWidth*float64(len(l))
			if x > 0 && x+12+iw > w {
				lines, x = lines+1, 0
			}
			if x > 0 {
				x += 12
			}
			x += iw
		}
		h -= 4 + 17*lines
	}
	for _, n := range noteLines {
		h -= 15 * textLines(n, w, charWidth)
	}
	return w, math.Max(h, 80)
}

// textLines estimates how many lines text wraps to in width w.
func textLines(text string, w, charW float64) float64 {
	if text == "" {
		return 0
	}
	return math.Max(1, math.Ceil(charW*float64(len(text))/w))
}

// plot is the drawing of one chart: its size, margins and value scale.
type plot struct {
	b                       *strings.Builder
	w, h, left, top, bottom float64
	maxV                    float64
	ticks                   []float64
	start, end              time.Time
}

func newPlot(b *strings.Builder, w, h, maxV float64, start, end time.Time) *plot {
	p := &plot{b: b, w: w, h: h, top: fontSize, bottom: fontSize + 8, start: start, end: end}
	p.maxV, p.ticks = niceScale(maxV)
	widest := 0
	for _, t := range p.ticks {
		widest = max(widest, len(formatNumber(t)))
	}
	p.left = 8 + charWidth*float64(widest)
	return p
}

func (p *plot) y(v float64) float64 { return p.top + (p.h-p.top-p.bottom)*(1-v/p.maxV) }

func (p *plot) x(t time.Time) float64 {
	return p.left + (p.w-p.left-4)*t.Sub(p.start).Seconds()/p.end.Sub(p.start).Seconds()
}

// axes draws the horizontal grid lines with their values.
func (p *plot) axes() {
	fmt.Fprintf(p.b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" preserveAspectRatio="xMidYMid meet" role="img" font-size="%.0f">`, p.w, p.h, p.w, p.h, fontSize)
	for _, t := range p.ticks {
		fmt.Fprintf(p.b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e9ebed"/><text class="tick" x="%.1f" y="%.1f" text-anchor="end" fill="#545b64">%s</text>`,
			p.left, p.w-4, p.y(t), p.y(t), p.left-4, p.y(t)+4, formatNumber(t))
	}
}

// niceScale rounds the top of the value axis up to a multiple of a step of
// 1, 2, 2.5 or 5 times a power of ten (whole steps from 1 up), with at most
// five steps, and returns it with the grid values from 0 to it.
func niceScale(maxV float64) (float64, []float64) {
	if maxV <= 0 || math.IsNaN(maxV) || math.IsInf(maxV, 0) {
		return 1, []float64{0, 0.5, 1}
	}
	raw := maxV / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if maxV >= 1 && step < 1 { // counts have whole steps
		step = 1
	}
	round := func(v float64) float64 { return math.Round(v*1e9) / 1e9 }
	n := math.Ceil(round(maxV / step))
	var ticks []float64
	for i := 0.0; i <= n; i++ {
		ticks = append(ticks, round(i*step))
	}
	return round(n * step), ticks
}

// timeLabel formats an axis time: the hour for ranges within a day, the
// date too beyond.
func timeLabel(t time.Time, span time.Duration) string {
	if span >= 24*time.Hour {
		return t.UTC().Format("Jan 2 15:04")
	}
	return t.UTC().Format("15:04")
}

// chart draws a time series widget, sized for the widget (wd) with its
// notes. Each series' own value is what its tooltips and labels show, also
// when stacked (where the drawing shows the running total). Sparse data is
// drawn as columns, and the legend then gives each series' values.
func chart(b *strings.Builder, series []Series, wd Widget, start, end time.Time, notes []string) {
	stacked := wd.Properties.Stacked
	var times []time.Time
	seen := map[time.Time]bool{}
	for _, s := range series {
		for _, t := range s.Times {
			if !seen[t] {
				seen[t] = true
				times = append(times, t)
			}
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	own := make([]map[time.Time]float64, len(series))
	for i, s := range series {
		own[i] = map[time.Time]float64{}
		for k, t := range s.Times {
			own[i][t] = s.Values[k]
		}
	}
	// top[i][t] is where series i ends at t: its value, or the stack up to
	// and including it.
	top := make([]map[time.Time]float64, len(series))
	total := map[time.Time]float64{}
	maxV := 0.0
	for i := range series {
		top[i] = map[time.Time]float64{}
		for _, t := range times {
			v, ok := own[i][t]
			if stacked {
				total[t] += v
				top[i][t] = total[t]
			} else if ok {
				top[i][t] = v
			}
			maxV = math.Max(maxV, top[i][t])
		}
	}
	sparse := len(times) <= sparseTimes
	legend := make([]string, len(series))
	values := make([]string, len(series))
	for i, s := range series {
		legend[i] = s.Label
		if sparse {
			var vs []string
			for _, t := range times {
				v, ok := own[i][t]
				if !ok {
					vs = append(vs, "-")
					continue
				}
				vs = append(vs, formatNumber(v))
			}
			values[i] = strings.Join(vs, " / ")
			legend[i] += " " + values[i]
		}
	}
	w, h := chartArea(wd, legend, notes)
	p := newPlot(b, w, h, maxV, start, end)
	p.axes()
	if sparse {
		columns(p, series, times, own, top, total, stacked)
	} else {
		lines(p, series, times, own, top, total, stacked)
	}
	b.WriteString(`</svg><div class="legend">`)
	for i, s := range series {
		fmt.Fprintf(b, `<span><i style="background:%s"></i>%s`, palette[i%len(palette)], html.EscapeString(s.Label))
		if values[i] != "" {
			fmt.Fprintf(b, ` <b>%s</b>`, html.EscapeString(values[i]))
		}
		b.WriteString(`</span>`)
	}
	b.WriteString(`</div>`)
}

func tooltip(label string, t time.Time, v float64, stacked bool, total float64) string {
	s := fmt.Sprintf("%s %s: %s", label, t.UTC().Format("15:04"), formatNumber(v))
	if stacked {
		s += fmt.Sprintf(" (stacked total %s)", formatNumber(total))
	}
	return html.EscapeString(s)
}

// lines draws each series as a line through its points, with the time axis
// from start to end.
func lines(p *plot, series []Series, times []time.Time, own, top []map[time.Time]float64, total map[time.Time]float64, stacked bool) {
	span := p.end.Sub(p.start)
	// Time labels at the ends and, where they fit, in between.
	n := max(1, min(4, int((p.w-p.left)/(charWidth*float64(len(timeLabel(p.start, span)))+40))))
	for k := 0; k <= n; k++ {
		t := p.start.Add(span * time.Duration(k) / time.Duration(n))
		anchor := map[int]string{0: "start", n: "end"}[k]
		if anchor == "" {
			anchor = "middle"
		}
		fmt.Fprintf(p.b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="%s" fill="#545b64">%s</text>`, math.Min(p.x(t), p.w-4), p.h-4, anchor, timeLabel(t, span))
	}
	// Many points are hover targets only: dots would hide the lines.
	r, opacity := 2.5, 1.0
	if len(times) > 40 {
		r, opacity = 3, 0
	}
	for i, s := range series {
		color := palette[i%len(palette)]
		ts := s.Times
		if stacked { // a series missing at a time carries the stack below it
			ts = times
		}
		var pts []string
		for _, t := range ts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", p.x(t), p.y(top[i][t])))
		}
		if len(pts) > 1 {
			fmt.Fprintf(p.b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, color, strings.Join(pts, " "))
		}
		for _, t := range s.Times {
			fmt.Fprintf(p.b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="%s" fill-opacity="%g"><title>%s</title></circle>`, p.x(t), p.y(top[i][t]), r, color, opacity,
				tooltip(s.Label, t, own[i][t], stacked, total[t]))
		}
	}
}

// columns draws sparse data as columns, one group per timestamp, each
// labelled with its value: side by side, or stacked with each segment's
// own value inside it and the total on top.
func columns(p *plot, series []Series, times []time.Time, own, top []map[time.Time]float64, total map[time.Time]float64, stacked bool) {
	groupW := (p.w - p.left - 4) / float64(len(times))
	for g, t := range times {
		x0 := p.left + groupW*float64(g)
		fmt.Fprintf(p.b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle" fill="#545b64">%s</text>`,
			x0+groupW/2, p.h-4, timeLabel(t, p.end.Sub(p.start)))
		if stacked {
			barW := math.Min(groupW*0.5, 72)
			bx := x0 + (groupW-barW)/2
			for i, s := range series {
				v, ok := own[i][t]
				if !ok || v == 0 {
					continue
				}
				y1, y0 := p.y(top[i][t]), p.y(top[i][t]-v)
				fmt.Fprintf(p.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#fff" stroke-width="0.5"><title>%s</title></rect>`,
					bx, y1, barW, y0-y1, palette[i%len(palette)], tooltip(s.Label, t, v, true, total[t]))
				if label := formatNumber(v); y0-y1 >= fontSize+2 && charWidth*float64(len(label)) < barW {
					fmt.Fprintf(p.b, `<text class="val" x="%.1f" y="%.1f" text-anchor="middle" fill="#fff">%s</text>`, bx+barW/2, (y0+y1)/2+4, label)
				}
			}
			fmt.Fprintf(p.b, `<text class="val" x="%.1f" y="%.1f" text-anchor="middle" fill="#16191f">%s</text>`, bx+barW/2, p.y(total[t])-3, formatNumber(total[t]))
			continue
		}
		n := 0
		for i := range series {
			if _, ok := own[i][t]; ok {
				n++
			}
		}
		barW := math.Min(groupW*0.8/float64(max(n, 1)), 48)
		bx := x0 + (groupW-barW*float64(n))/2
		for i, s := range series {
			v, ok := own[i][t]
			if !ok {
				continue
			}
			y1 := p.y(v)
			fmt.Fprintf(p.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
				bx+1, y1, barW-2, math.Max(p.y(0)-y1, 1), palette[i%len(palette)], tooltip(s.Label, t, v, false, 0))
			if label, ok := fitNumber(v, barW); ok {
				fmt.Fprintf(p.b, `<text class="val" x="%.1f" y="%.1f" text-anchor="middle" fill="#16191f">%s</text>`, bx+barW/2, y1-3, label)
			}
			bx += barW
		}
	}
}

// fitNumber is a value label at most w wide: the value, whole from 100
// up, else in thousands or millions ("15.7k"); ok is false when even that
// does not fit (the legend gives the value then).
func fitNumber(v float64, w float64) (string, bool) {
	const boldCharWidth = 7.0 // the labels are bold
	fits := func(s string) bool { return boldCharWidth*float64(len(s)) <= w-2 }
	label := formatNumber(v)
	if math.Abs(v) >= 100 {
		label = strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	if fits(label) {
		return label, true
	}
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) < u.div {
			continue
		}
		for _, prec := range []int{1, 0} {
			s := strings.TrimSuffix(strconv.FormatFloat(v/u.div, 'f', prec, 64), ".0") + u.suffix
			if fits(s) {
				return s, true
			}
		}
		break
	}
	return "", false
}

// Package dashboard renders the CloudWatch compliance dashboard that
// terraform/ deploys as one self-contained HTML page: the same widgets, the
// same metric queries, fetched with GetMetricData and drawn as inline SVG
// (no scripts or styles from anywhere else).
package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// MetricsAPI is the part of the CloudWatch client the renderer uses.
type MetricsAPI interface {
	GetMetricData(ctx context.Context, params *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
	ListMetrics(ctx context.Context, params *cloudwatch.ListMetricsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error)
}

// Permissions lists the IAM actions rendering calls.
func Permissions() []string { return []string{"cloudwatch:GetMetricData", "cloudwatch:ListMetrics"} }

// Body is a CloudWatch dashboard body (the subset of its schema the
// compliance dashboard uses).
type Body struct {
	Start   string   `json:"start"`
	Widgets []Widget `json:"widgets"`
}

// Widget is one dashboard widget.
type Widget struct {
	Type       string     `json:"type"`
	X          int        `json:"x"`
	Y          int        `json:"y"`
	Width      int        `json:"width"`
	Height     int        `json:"height"`
	Properties Properties `json:"properties"`
}

// Properties of a text or metric widget.
type Properties struct {
	Markdown             string              `json:"markdown"`
	Title                string              `json:"title"`
	Region               string              `json:"region"`
	View                 string              `json:"view"`
	Stacked              bool                `json:"stacked"`
	Period               int32               `json:"period"`
	Stat                 string              `json:"stat"`
	SetPeriodToTimeRange bool                `json:"setPeriodToTimeRange"`
	Metrics              [][]json.RawMessage `json:"metrics"`
}

// Series is one line of a widget.
type Series struct {
	Label  string
	Times  []time.Time
	Values []float64
	// Approximation says how the series differs from what CloudWatch
	// would draw ("" when it does not).
	Approximation string
}

// query is one metric entry of a widget, before expansion.
type query struct {
	id, label string
	// Either a metric...
	metric *cwtypes.Metric
	stat   string
	period int32
	// ...or a SEARCH, possibly summed.
	search *search
	sum    bool
}

// parseMetrics reads a widget's metrics array: expression objects
// ({"expression": ..., "id": ..., "label": ...}) and metric arrays
// (namespace, name, dimension name/value pairs, optional options object).
func parseMetrics(p Properties) ([]query, error) {
	var qs []query
	for i, entry := range p.Metrics {
		q := query{stat: p.Stat, period: p.Period}
		if q.period == 0 {
			q.period = 300
		}
		var strs []string
		for _, raw := range entry {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				strs = append(strs, s)
				continue
			}
			var opts struct {
				Expression string `json:"expression"`
				ID         string `json:"id"`
				Label      string `json:"label"`
				Stat       string `json:"stat"`
				Period     int32  `json:"period"`
			}
			if err := json.Unmarshal(raw, &opts); err != nil {
				return nil, fmt.Errorf("metric %d of widget %q: %w", i+1, p.Title, err)
			}
			q.id, q.label = opts.ID, opts.Label
			if opts.Stat != "" {
				q.stat = opts.Stat
			}
			if opts.Period != 0 {
				q.period = opts.Period
			}
			if opts.Expression != "" {
				s, sum, err := parseExpression(opts.Expression)
				if err != nil {
					return nil, fmt.Errorf("metric %d of widget %q: %w", i+1, p.Title, err)
				}
				q.search, q.sum = s, sum
				q.stat, q.period = s.stat, s.period
			}
		}
		if q.search == nil {
			if len(strs) < 2 || len(strs)%2 != 0 {
				return nil, fmt.Errorf("metric %d of widget %q: want namespace, name and dimension pairs, got %q", i+1, p.Title, strs)
			}
			m := &cwtypes.Metric{Namespace: aws.String(strs[0]), MetricName: aws.String(strs[1])}
			for j := 2; j < len(strs); j += 2 {
				m.Dimensions = append(m.Dimensions, cwtypes.Dimension{Name: aws.String(strs[j]), Value: aws.String(strs[j+1])})
			}
			q.metric = m
			if q.label == "" {
				q.label = strs[1]
			}
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// search is a parsed SEARCH('{ns,dims} terms', 'stat', period).
type search struct {
	namespace  string
	dimensions []string
	metricName string
	// all terms must match; each term is a set of alternatives (OR).
	terms  [][]term
	stat   string
	period int32
}

type term struct{ key, value string }

// parseExpression accepts SEARCH(...) and SUM(SEARCH(...)), the forms the
// dashboard template uses; other metric math is refused by name.
func parseExpression(expr string) (*search, bool, error) {
	e := strings.TrimSpace(expr)
	sum := false
	if strings.HasPrefix(e, "SUM(") && strings.HasSuffix(e, ")") {
		sum, e = true, strings.TrimSpace(e[4:len(e)-1])
	}
	if !strings.HasPrefix(e, "SEARCH(") || !strings.HasSuffix(e, ")") {
		return nil, false, fmt.Errorf("expression %q: only SEARCH(...) and SUM(SEARCH(...)) are supported", expr)
	}
	args, err := splitArgs(e[len("SEARCH(") : len(e)-1])
	if err != nil || len(args) != 3 {
		return nil, false, fmt.Errorf("expression %q: SEARCH takes a query, a statistic and a period", expr)
	}
	s := &search{stat: unquote(args[1])}
	var period int
	if _, err := fmt.Sscan(args[2], &period); err != nil || period <= 0 {
		return nil, false, fmt.Errorf("expression %q: bad period %q", expr, args[2])
	}
	s.period = int32(period)
	q := unquote(args[0])
	open, closing := strings.IndexByte(q, '{'), strings.IndexByte(q, '}')
	if open != 0 || closing < 0 {
		return nil, false, fmt.Errorf("expression %q: the query must start with a {namespace,dimensions} schema", expr)
	}
	for i, part := range strings.Split(q[1:closing], ",") {
		part = strings.Trim(strings.TrimSpace(part), `"`)
		if i == 0 {
			s.namespace = part
		} else {
			s.dimensions = append(s.dimensions, part)
		}
	}
	toks := tokenize(q[closing+1:])
	var group []term
	inGroup := false
	for _, t := range toks {
		switch {
		case t == "(":
			inGroup, group = true, nil
		case t == ")":
			inGroup = false
			s.terms = append(s.terms, group)
		case t == "OR" || t == "AND":
			if t == "AND" && inGroup {
				return nil, false, fmt.Errorf("expression %q: AND inside parentheses is not supported", expr)
			}
		default:
			k, v, ok := strings.Cut(t, "=")
			if !ok {
				return nil, false, fmt.Errorf("expression %q: search term %q is not key=\"value\"", expr, t)
			}
			tm := term{key: k, value: strings.Trim(v, `"`)}
			if tm.key == "MetricName" && !inGroup {
				s.metricName = tm.value
				continue
			}
			if inGroup {
				group = append(group, tm)
			} else {
				s.terms = append(s.terms, []term{tm})
			}
		}
	}
	return s, sum, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return s[1 : len(s)-1]
	}
	return s
}

// splitArgs splits on commas outside single quotes.
func splitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ',' && !quoted:
			args = append(args, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	return append(args, cur.String()), nil
}

// tokenize splits search terms into key="value", parentheses and OR/AND.
func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	quoted := false
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case quoted:
			cur.WriteRune(r)
		case r == '(' || r == ')':
			flush()
			toks = append(toks, string(r))
		case r == ' ' || r == '\t' || r == '\n':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

// matches reports whether a metric is in the search's schema (exactly its
// dimensions) and satisfies every term, as CloudWatch's SEARCH does.
func (s *search) matches(m cwtypes.Metric) bool {
	if aws.ToString(m.Namespace) != s.namespace || (s.metricName != "" && aws.ToString(m.MetricName) != s.metricName) {
		return false
	}
	if len(m.Dimensions) != len(s.dimensions) {
		return false
	}
	dims := map[string]string{}
	for _, d := range m.Dimensions {
		dims[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	for _, name := range s.dimensions {
		if _, ok := dims[name]; !ok {
			return false
		}
	}
	for _, alts := range s.terms {
		ok := false
		for _, t := range alts {
			if dims[t.key] == t.value {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// label names a search result by its dimension values, in schema order.
func (s *search) label(m cwtypes.Metric) string {
	dims := map[string]string{}
	for _, d := range m.Dimensions {
		dims[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	var parts []string
	for _, name := range s.dimensions {
		parts = append(parts, dims[name])
	}
	return strings.Join(parts, " ")
}

// expand runs the search with ListMetrics (CloudWatch's SEARCH evaluated on
// the client, so the page renders the same from AWS and from emulators
// that have no SEARCH).
func (s *search) expand(ctx context.Context, api MetricsAPI) ([]cwtypes.Metric, error) {
	in := &cloudwatch.ListMetricsInput{Namespace: aws.String(s.namespace)}
	if s.metricName != "" {
		in.MetricName = aws.String(s.metricName)
	}
	var out []cwtypes.Metric
	seen := map[string]bool{}
	pages := cloudwatch.NewListMetricsPaginator(api, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing metrics %s/%s: %w", s.namespace, s.metricName, err)
		}
		for _, m := range page.Metrics {
			// Some endpoints list a metric once per data point.
			if k := s.label(m); s.matches(m) && !seen[k] {
				seen[k] = true
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return s.label(out[i]) < s.label(out[j]) })
	return out, nil
}

package terraform

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
)

var testDashboardVars = map[string]string{
	"namespace":     "Test/Remediation",
	"region":        "eu-west-1",
	"function_name": "test-remediate",
	"dlq_name":      "test-dead-letters",
}

// shownMetric is one metric a dashboard widget plots.
type shownMetric struct {
	namespace, name string
	dims            []string          // dimension names, sorted
	filters         map[string]string // dimension values fixed by the widget
	stat            string
	widget          string
}

func (m shownMetric) key() string {
	return m.namespace + " " + m.name + " {" + strings.Join(m.dims, ",") + "}"
}

// awsMetrics are the AWS service metrics the dashboard may show, with the
// dimension they must be shown by.
var awsMetrics = map[string]map[string]string{
	"AWS/Lambda": {"Errors": "FunctionName", "Throttles": "FunctionName", "Duration": "FunctionName", "Invocations": "FunctionName", "ConcurrentExecutions": "FunctionName"},
	"AWS/SQS":    {"ApproximateNumberOfMessagesVisible": "QueueName"},
}

// searchRE matches SEARCH('{schema} terms', 'stat', period).
var searchRE = regexp.MustCompile(`SEARCH\(\s*'\{([^}]*)\}([^']*)'\s*,\s*'([^']+)'`)
var termRE = regexp.MustCompile(`([A-Za-z]+)\s*=\s*"([^"]*)"`)

// dashboardMetrics lists every metric the rendered dashboard body shows:
// metric rows and the SEARCH expressions of expression rows.
func dashboardMetrics(t *testing.T, body []byte) (shown []shownMetric, widgets []map[string]any) {
	t.Helper()
	var d struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Title    string  `json:"title"`
				Markdown string  `json:"markdown"`
				Metrics  [][]any `json:"metrics"`
				Stat     string  `json:"stat"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("dashboard body: %v", err)
	}
	for _, w := range d.Widgets {
		widgets = append(widgets, map[string]any{"type": w.Type, "title": w.Properties.Title, "markdown": w.Properties.Markdown})
		var prev []any
		for _, row := range w.Properties.Metrics {
			if len(row) == 0 {
				t.Fatalf("widget %q: empty metrics row", w.Properties.Title)
			}
			if opts, ok := row[0].(map[string]any); ok {
				expr, _ := opts["expression"].(string)
				if expr == "" {
					t.Fatalf("widget %q: row %v is neither a metric nor an expression", w.Properties.Title, row)
				}
				found := searchRE.FindAllStringSubmatch(expr, -1)
				if strings.Contains(expr, "SEARCH") && len(found) != strings.Count(expr, "SEARCH(") {
					t.Fatalf("widget %q: cannot read SEARCH in %q", w.Properties.Title, expr)
				}
				for _, f := range found {
					shown = append(shown, parseSearch(t, w.Properties.Title, f))
				}
				continue
			}
			// [namespace, name, dim, value, ..., {options}], "." repeating
			// the row above.
			var parts []string
			stat := w.Properties.Stat
			for i, c := range row {
				switch v := c.(type) {
				case string:
					if v == "." && i < len(prev) {
						v, _ = prev[i].(string)
					}
					parts = append(parts, v)
				case map[string]any:
					if s, ok := v["stat"].(string); ok {
						stat = s
					}
				}
			}
			prev = row
			if len(parts) < 2 || len(parts)%2 != 0 {
				t.Fatalf("widget %q: metric row %v is malformed", w.Properties.Title, row)
			}
			m := shownMetric{namespace: parts[0], name: parts[1], filters: map[string]string{}, stat: stat, widget: w.Properties.Title}
			for i := 2; i < len(parts); i += 2 {
				m.dims = append(m.dims, parts[i])
				m.filters[parts[i]] = parts[i+1]
			}
			sort.Strings(m.dims)
			shown = append(shown, m)
		}
	}
	return shown, widgets
}

func parseSearch(t *testing.T, widget string, f []string) shownMetric {
	t.Helper()
	schema := strings.Split(f[1], ",")
	m := shownMetric{namespace: strings.Trim(strings.TrimSpace(schema[0]), `"`), filters: map[string]string{}, stat: f[3], widget: widget}
	for _, d := range schema[1:] {
		m.dims = append(m.dims, strings.Trim(strings.TrimSpace(d), `"`))
	}
	sort.Strings(m.dims)
	for _, term := range termRE.FindAllStringSubmatch(f[2], -1) {
		if term[1] == "MetricName" {
			m.name = term[2]
			continue
		}
		if !slices.Contains(m.dims, term[1]) {
			t.Errorf("widget %q: SEARCH filters on dimension %s outside its schema %v", widget, term[1], m.dims)
		}
		// Several values (OR) of one dimension: keep them all.
		if prev, ok := m.filters[term[1]]; ok {
			m.filters[term[1]] = prev + "|" + term[2]
		} else {
			m.filters[term[1]] = term[2]
		}
	}
	if m.name == "" {
		t.Errorf("widget %q: SEARCH without MetricName=\"...\": it would show any metric of the namespace", widget)
	}
	return m
}

// checkDashboard compares the metrics a rendered dashboard shows with the
// ones the code publishes; it returns every disagreement.
func checkDashboard(t *testing.T, body []byte, vars map[string]string) []string {
	shown, widgets := dashboardMetrics(t, body)
	var problems []string
	published := publishedByName()
	actions := map[string]bool{}
	for _, a := range remediation.Actions() {
		actions[string(a)] = true
	}
	seen := map[string]bool{}
	for _, m := range shown {
		seen[m.key()] = true
		switch m.namespace {
		case vars["namespace"]:
			sets, ok := published[m.name]
			if !ok {
				problems = append(problems, fmt.Sprintf("widget %q shows %s, which the code does not publish", m.widget, m.key()))
				continue
			}
			if !slices.ContainsFunc(sets, func(want []string) bool { return slices.Equal(m.dims, want) }) {
				problems = append(problems, fmt.Sprintf("widget %q shows %s by %v; the code publishes it by %v", m.widget, m.name, m.dims, sets))
			}
			for _, v := range strings.Split(m.filters[publish.DimensionAction], "|") {
				if v != "" && !actions[v] {
					problems = append(problems, fmt.Sprintf("widget %q filters Action=%q, which is no outcome action", m.widget, v))
				}
			}
		default:
			byName, ok := awsMetrics[m.namespace]
			dim, known := byName[m.name]
			if !ok || !known {
				problems = append(problems, fmt.Sprintf("widget %q shows %s, which is not an expected metric", m.widget, m.key()))
				continue
			}
			want := map[string]string{"FunctionName": vars["function_name"], "QueueName": vars["dlq_name"]}[dim]
			if len(m.dims) != 1 || m.dims[0] != dim || m.filters[dim] != want {
				problems = append(problems, fmt.Sprintf("widget %q shows %s %v, want it by %s=%s", m.widget, m.name, m.filters, dim, want))
			}
		}
	}
	// The reverse: every published metric is on the dashboard, by its
	// dimensions.
	for _, p := range publish.PublishedMetrics() {
		dims := append([]string(nil), p.Dimensions...)
		sort.Strings(dims)
		k := shownMetric{namespace: vars["namespace"], name: p.Name, dims: dims}.key()
		if !seen[k] {
			problems = append(problems, fmt.Sprintf("the code publishes %s but the dashboard does not show it", k))
		}
	}
	// What the issue asks the dashboard to show.
	has := func(pred func(shownMetric) bool) bool { return slices.ContainsFunc(shown, pred) }
	// By account: failed, escalated and not compliant, and nothing else, in
	// one widget.
	attention := []string{string(remediation.ActionFailed), string(remediation.ActionEscalated)}
	for _, a := range publish.NotCompliantActions() {
		attention = append(attention, string(a))
	}
	sort.Strings(attention)
	byAccount := func(m shownMetric) bool {
		actions := strings.Split(m.filters[publish.DimensionAction], "|")
		sort.Strings(actions)
		_, byAcc := m.filters[publish.DimensionAccount]
		return m.name == publish.MetricRemediations && slices.Contains(m.dims, publish.DimensionAccount) && !byAcc &&
			slices.Equal(actions, attention)
	}
	for what, ok := range map[string]bool{
		"remediations by remediator and action": has(func(m shownMetric) bool {
			return m.name == publish.MetricRemediations && len(m.filters) == 0
		}),
		"failures": has(func(m shownMetric) bool { return m.filters[publish.DimensionAction] == "failed" }),
		"deferred": has(func(m shownMetric) bool {
			return strings.Contains("|"+m.filters[publish.DimensionAction]+"|", "|deferred|")
		}),
		"needs-manual": has(func(m shownMetric) bool {
			return strings.Contains("|"+m.filters[publish.DimensionAction]+"|", "|needs-manual|")
		}),
		"failed, escalated and not compliant (" + strings.Join(attention, ", ") + ") by account, in one widget": has(byAccount),
		"duration p50":    has(func(m shownMetric) bool { return m.name == publish.MetricDuration && m.stat == "p50" }),
		"duration p99":    has(func(m shownMetric) bool { return m.name == publish.MetricDuration && m.stat == "p99" }),
		"function errors": has(func(m shownMetric) bool { return m.namespace == "AWS/Lambda" && m.name == "Errors" }),
		"function throttles": has(func(m shownMetric) bool {
			return m.namespace == "AWS/Lambda" && m.name == "Throttles"
		}),
		"function duration":       has(func(m shownMetric) bool { return m.namespace == "AWS/Lambda" && m.name == "Duration" }),
		"dead-letter queue depth": has(func(m shownMetric) bool { return m.namespace == "AWS/SQS" }),
		"a text widget explaining it": slices.ContainsFunc(widgets, func(w map[string]any) bool {
			return w["type"] == "text" && strings.Contains(w["markdown"].(string), "how to read")
		}),
	} {
		if !ok {
			problems = append(problems, "the dashboard does not show "+what)
		}
	}
	sort.Strings(problems)
	return problems
}

// publishedByName returns the dimension sets (each sorted) each published
// metric name is put with.
func publishedByName() map[string][][]string {
	out := map[string][][]string{}
	for _, p := range publish.PublishedMetrics() {
		dims := append([]string(nil), p.Dimensions...)
		sort.Strings(dims)
		out[p.Name] = append(out[p.Name], dims)
	}
	return out
}

// TestDashboardShowsPublishedMetrics: every metric the dashboard shows is
// one the code publishes (namespace, name, dimensions) or an expected AWS
// metric of the function or the queue, and every published metric is shown.
func TestDashboardShowsPublishedMetrics(t *testing.T) {
	body, err := RenderDashboard(testDashboardVars)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkDashboard(t, body, testDashboardVars) {
		t.Error(p)
	}
}

// TestDashboardCheckCatchesMismatches proves the check above can fail: a
// dashboard showing an unpublished metric, a wrong dimension set or missing
// a published metric is reported.
func TestDashboardCheckCatchesMismatches(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"renamed metric", `MetricName=\"RemediationDuration\"', 'p50'`, `MetricName=\"RemediationTime\"', 'p50'`, "does not publish"},
		{"extra dimension", `{\"${namespace}\",Remediator} MetricName=\"TimeToRemediate\"', 'p50'`, `{\"${namespace}\",Remediator,Rule} MetricName=\"TimeToRemediate\"', 'p50'`, "by [Remediator Rule]"},
		{"unknown action", `Action=\"failed\"', 'Sum', 300)", "id": "failed"`, `Action=\"failure\"', 'Sum', 300)", "id": "failed"`, "no outcome action"},
		{"account widget without not compliant", `OR Action=\"dry-run\" OR Action=\"deferred\" OR Action=\"needs-manual\")', 'Sum', 300)", "id": "byaccount"`, `)', 'Sum', 300)", "id": "byaccount"`, "not compliant"},
		{"account widget by remediator", `{\"${namespace}\",Account,Action} MetricName=\"Remediations\" (Action=\"failed\"`, `{\"${namespace}\",Account,Action,Remediator} MetricName=\"Remediations\" (Action=\"failed\"`, "by [Account Action Remediator]"},
		{"wrong function", `"FunctionName", "${function_name}", { "stat": "Sum", "label": "errors" }`, `"FunctionName", "other", { "stat": "Sum", "label": "errors" }`, "want it by FunctionName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(DashboardTemplate, tc.from) {
				t.Fatalf("the template no longer contains %s: update the mutation", tc.from)
			}
			tpl := strings.Replace(DashboardTemplate, tc.from, tc.to, 1)
			body, err := renderWith(tpl, testDashboardVars)
			if err != nil {
				t.Fatal(err)
			}
			problems := checkDashboard(t, body, testDashboardVars)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("mutation %s: want a problem containing %q, got %q", tc.name, tc.want, problems)
			}
		})
	}
}

func renderWith(tpl string, vars map[string]string) ([]byte, error) {
	esc := map[string]string{}
	for k, v := range vars {
		b, _ := json.Marshal(v)
		esc[k] = string(b[1 : len(b)-1])
	}
	return Render(tpl, esc)
}

// TestDashboardTemplateVariables: the template takes exactly the variables
// RenderDashboard documents, and monitoring.tf passes exactly those.
func TestDashboardTemplateVariables(t *testing.T) {
	if d := sameSet(TemplateVariables(DashboardTemplate), DashboardVariables()); d != "" {
		t.Errorf("dashboard template variables: %s", d)
	}
	if strings.Contains(DashboardTemplate, "%{") {
		t.Error("the dashboard template uses a %{ directive: Go renders ${name} only")
	}
	m := loadModule(t, moduleDir(t))
	dash := m.block(t, "resource", "aws_cloudwatch_dashboard", "compliance")
	call, ok := dash.Body.Attributes["dashboard_body"].Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "templatefile" || len(call.Args) != 2 {
		t.Fatal("aws_cloudwatch_dashboard.compliance: dashboard_body must be templatefile(<template>, { ... })")
	}
	path, diags := call.Args[0].(*hclsyntax.TemplateExpr).Parts[1].Value(nil)
	if diags.HasErrors() || path.AsString() != "/templates/dashboard.json.tftpl" {
		t.Errorf("dashboard_body renders %v, want ${path.module}/templates/dashboard.json.tftpl", path)
	}
	if d := sameSet(sortedKeys(objectItems(t, "templatefile variables", call.Args[1])), DashboardVariables()); d != "" {
		t.Errorf("templatefile variables: %s", d)
	}
}

func TestRenderDashboardErrors(t *testing.T) {
	missing := map[string]string{"namespace": "N", "region": "r", "function_name": "f"}
	if _, err := RenderDashboard(missing); err == nil || !strings.Contains(err.Error(), "dlq_name") {
		t.Errorf("missing dlq_name: err = %v", err)
	}
	extra := map[string]string{"namespace": "N", "region": "r", "function_name": "f", "dlq_name": "q", "colour": "blue"}
	if _, err := RenderDashboard(extra); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown colour: err = %v", err)
	}
	if _, err := Render("a %{ if x }b%{ endif }", nil); err == nil {
		t.Error("a directive rendered without error")
	}
	out, err := Render(`$${literal} ${ x }`, map[string]string{"x": "1"})
	if err != nil || string(out) != "${literal} 1" {
		t.Errorf("Render = %q, %v", out, err)
	}
	// Values are JSON-escaped: a quote cannot break the body.
	body, err := RenderDashboard(map[string]string{"namespace": `N"x`, "region": "r", "function_name": "f", "dlq_name": "q"})
	if err != nil || !json.Valid(body) {
		t.Errorf("escaped render: %v", err)
	}
}

// TestAlarmsUsePublishedMetrics: the alarms on the outcome metrics use a
// published metric name with its full dimension set.
func TestAlarmsUsePublishedMetrics(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	published := publishedByName()
	n := 0
	for _, alarm := range m.blocks("resource", "aws_cloudwatch_metric_alarm") {
		var walk func(b *hclsyntax.Body)
		walk = func(b *hclsyntax.Body) {
			for _, blk := range b.Blocks {
				if blk.Type == "metric" {
					ns := blk.Body.Attributes["namespace"]
					if ns == nil || !referencesVar(ns.Expr, "metrics_namespace") {
						continue
					}
					n++
					name, diags := blk.Body.Attributes["metric_name"].Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatalf("alarm %s: metric_name is not a literal", alarm.Labels[1])
					}
					sets, ok := published[name.AsString()]
					if !ok {
						t.Errorf("alarm %s uses %s, which the code does not publish", alarm.Labels[1], name.AsString())
						continue
					}
					dims := sortedKeys(objectItems(t, "alarm dimensions", blk.Body.Attributes["dimensions"].Expr))
					if !slices.ContainsFunc(sets, func(want []string) bool { return sameSet(dims, want) == "" }) {
						t.Errorf("alarm %s dimensions of %s: %v, the code publishes it by %v", alarm.Labels[1], name.AsString(), dims, sets)
					}
				}
				walk(blk.Body)
			}
		}
		walk(alarm.Body)
	}
	if n == 0 {
		t.Error("no alarm on the outcome metrics (Remediations, Action=failed)")
	}
}

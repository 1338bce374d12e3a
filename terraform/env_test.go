package terraform

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediators"
)

// TestEnvironmentMatchesSettings: the remediate, sweep and sweepworker
// functions get exactly the settings app.Settings() lists (the sweep also
// app.SweepSettings()) and the report function exactly those
// app.ReportSettings() lists: every variable Terraform sets is one the code
// reads, and every one the code reads is set.
func TestEnvironmentMatchesSettings(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	var known []string
	for _, s := range app.Settings() {
		known = append(known, s.Name)
	}
	env := sortedKeys(objectItems(t, "local.remediation_environment", m.local(t, "remediation_environment")))
	if d := sameSet(env, known); d != "" {
		t.Errorf("local.remediation_environment vs app.Settings(): %s", d)
	}

	settings := objectItems(t, "local.function_settings", m.local(t, "function_settings"))
	for _, fn := range []string{"remediate", "sweep", "sweepworker", "report"} {
		e, ok := settings[fn]
		if !ok {
			t.Errorf("local.function_settings has no %s", fn)
			continue
		}
		envExpr, ok := objectItems(t, "local.function_settings."+fn, e)["environment"]
		if !ok {
			t.Errorf("local.function_settings.%s has no environment", fn)
			continue
		}
		if fn == "sweep" {
			// The planner's settings come on top (sweep_worker.tf).
			if refs := referencedLocals(envExpr); !slices.Equal(refs, []string{"remediation_environment", "sweep_environment"}) {
				t.Errorf("sweep: environment is %v, want local.remediation_environment merged with local.sweep_environment", refs)
			}
			var sweepKnown []string
			for _, s := range app.SweepSettings() {
				sweepKnown = append(sweepKnown, s.Name)
				if slices.Contains(known, s.Name) {
					t.Errorf("%s is in app.Settings() and app.SweepSettings()", s.Name)
				}
			}
			names := sortedKeys(objectItems(t, "local.sweep_environment", m.local(t, "sweep_environment")))
			if d := sameSet(names, sweepKnown); d != "" {
				t.Errorf("local.sweep_environment vs app.SweepSettings(): %s", d)
			}
			continue
		}
		if fn != "report" {
			if refs := referencedLocals(envExpr); len(refs) != 1 || refs[0] != "remediation_environment" {
				t.Errorf("%s: environment is %v, want local.remediation_environment", fn, refs)
			}
			continue
		}
		names := sortedKeys(objectItems(t, "local.function_settings.report.environment", envExpr))
		var reportKnown []string
		for _, s := range app.ReportSettings() {
			reportKnown = append(reportKnown, s.Name)
		}
		if d := sameSet(names, reportKnown); d != "" {
			t.Errorf("report environment vs app.ReportSettings(): %s", d)
		}
	}
}

// TestBlockedPortsAgree: sg_blocked_ports sets both SG_BLOCKED_PORTS and
// the blockedPort parameters of the Config rule that takes them, so that
// Config flags exactly the ports the remediator closes; unset, both keep
// their defaults, which agree too.
func TestBlockedPortsAgree(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	var def string
	for _, s := range app.Settings() {
		if s.Name == "SG_BLOCKED_PORTS" {
			def = s.Default
		}
	}
	for _, ports := range [][]int64{nil, {22, 8080}, {1, 2, 3, 4, 5}} {
		vars := map[string]cty.Value{}
		if ports != nil {
			var vs []cty.Value
			for _, p := range ports {
				vs = append(vs, cty.NumberIntVal(p))
			}
			vars["sg_blocked_ports"] = cty.ListVal(vs)
		}
		env := newEval(t, m, vars).local("remediation_environment").GetAttr("SG_BLOCKED_PORTS").AsString()
		if env == "" {
			env = def
		}
		want, err := remediators.ParsePorts(env)
		if err != nil {
			t.Fatalf("SG_BLOCKED_PORTS=%q: %v", env, err)
		}
		rules := 0
		for name, r := range planConfigRules(t, m, vars) {
			var params map[string]string
			if r.params == "" || json.Unmarshal([]byte(r.params), &params) != nil || params["blockedPort1"] == "" {
				continue
			}
			rules++
			var got []int
			for k, v := range params {
				p, err := strconv.Atoi(v)
				if !strings.HasPrefix(k, "blockedPort") || err != nil {
					t.Errorf("rule %s: parameter %s=%q", name, k, v)
				}
				got = append(got, p)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(slices.Compact(got), want) {
				t.Errorf("sg_blocked_ports %v: rule %s blocks %v, SG_BLOCKED_PORTS=%q", ports, name, got, env)
			}
			if len(params) != 5 {
				t.Errorf("sg_blocked_ports %v: rule %s has %d blockedPort parameters; a missing one takes its default port", ports, name, len(params))
			}
		}
		if rules != 1 {
			t.Errorf("%d rules take blockedPort parameters, want 1", rules)
		}
	}
}

package terraform

import (
	"testing"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/report"
)

// TestEnvironmentMatchesSettings: the remediate and sweep functions get
// exactly the settings app.Settings() lists and the report function exactly
// those report.Settings() lists: every variable Terraform sets is one the
// code reads, and every one the code reads is set.
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
	for _, fn := range []string{"remediate", "sweep", "report"} {
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
		if fn != "report" {
			if refs := referencedLocals(envExpr); len(refs) != 1 || refs[0] != "remediation_environment" {
				t.Errorf("%s: environment is %v, want local.remediation_environment", fn, refs)
			}
			continue
		}
		names := sortedKeys(objectItems(t, "local.function_settings.report.environment", envExpr))
		var reportKnown []string
		for _, s := range report.Settings() {
			reportKnown = append(reportKnown, s[0])
		}
		if d := sameSet(names, reportKnown); d != "" {
			t.Errorf("report environment vs report.Settings(): %s", d)
		}
	}
}

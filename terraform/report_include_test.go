package terraform

import (
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/report"
)

// With report_include = "credentials" the report function may also read
// the IAM credential report (report.CredentialPermissions()), on "*" as
// IAM requires, in one statement tfsec is told about; without it, not.
func TestReportIncludeCredentialsGrantsTheAudit(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, map[string]cty.Value{"report_include": cty.StringVal("credentials")})
	ss, _ := docStatements(t, e, "report_permissions")
	if d := sameSet(allActions(ss), append(report.Permissions(), report.CredentialPermissions()...)); d != "" {
		t.Errorf("report_permissions with the credential audit: %s", d)
	}
	var others []statement
	for _, s := range ss {
		if s.sid != "ReportCredentialAudit" {
			others = append(others, s)
			continue
		}
		if d := sameSet(s.actions, report.CredentialPermissions()); d != "" || !slices.Equal(s.resources, []string{"*"}) || !s.ignored {
			t.Errorf("ReportCredentialAudit: %s; resources %v; tfsec ignore %v", d, s.resources, s.ignored)
		}
	}
	checkScoped(t, "report_permissions", others)

	ss, _ = docStatements(t, newEval(t, m, nil), "report_permissions")
	for _, s := range ss {
		for _, a := range report.CredentialPermissions() {
			if slices.Contains(s.actions, a) {
				t.Errorf("report_permissions grants %s without report_include", a)
			}
		}
	}
}

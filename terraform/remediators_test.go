package terraform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRemediatorsJSONIsCurrent: terraform/remediators.json is what the
// remediator definitions and the state store's schema generate.
func TestRemediatorsJSONIsCurrent(t *testing.T) {
	want, err := ModuleInputs(remediators.Definitions())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(moduleDir(t), "remediators.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("terraform/remediators.json is not what the remediator definitions generate: run `go generate ./terraform` and commit the result")
	}
}

// TestModuleReadsRemediatorsJSON: the module reads what it knows about
// the remediators from remediators.json, and no .tf file names a
// remediator, a managed rule or a permission of the definitions.
func TestModuleReadsRemediatorsJSON(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, nil)
	want, err := ModuleInputs(remediators.Definitions())
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(want, &doc); err != nil {
		t.Fatal(err)
	}
	catalog := e.local("catalog")
	if got := ctyJSON(t, catalog); got != mustJSON(t, doc) {
		t.Errorf("local.catalog is not remediators.json decoded:\n%s", got)
	}

	// Names, not actions: an action may also be granted to another
	// function for its own calls (cloudwatch:GetMetricData to the report).
	var named []string
	for _, d := range remediators.Definitions() {
		named = append(named, d.Name)
		named = append(named, d.Aliases...)
		for _, r := range d.Rules {
			named = append(named, r.Name, r.Identifier)
		}
		for _, p := range d.Permissions {
			named = append(named, p.Sid)
		}
	}
	for file, body := range m.files {
		// Descriptions may give examples.
		var descriptions []hcl.Range
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if a, ok := n.(*hclsyntax.Attribute); ok && a.Name == "description" {
				descriptions = append(descriptions, a.SrcRange)
			}
			return nil
		})
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			lit, ok := n.(*hclsyntax.LiteralValueExpr)
			if !ok || lit.Val.Type() != cty.String {
				return nil
			}
			for _, r := range descriptions {
				if r.ContainsOffset(lit.SrcRange.Start.Byte) {
					return nil
				}
			}
			for _, s := range named {
				if strings.Contains(lit.Val.AsString(), s) {
					t.Errorf("%s:%d: %q repeats %q of the remediator definitions: read it from local.catalog", file, lit.SrcRange.Start.Line, lit.Val.AsString(), s)
				}
			}
			return nil
		})
	}
}

func ctyJSON(t testing.TB, v cty.Value) string {
	t.Helper()
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// preconditions evaluates the lifecycle preconditions of a block (once per
// instance of a resource with for_each) and returns the error messages of
// the failed ones.
func preconditions(t *testing.T, e *tfEval, b *hclsyntax.Block) []string {
	t.Helper()
	instances := []map[string]cty.Value{nil}
	if _, ok := b.Body.Attributes["for_each"]; ok {
		instances = e.forEach(b)
	}
	var failed []string
	for _, each := range instances {
		for _, lc := range b.Body.Blocks {
			if lc.Type != "lifecycle" {
				continue
			}
			for _, pc := range lc.Body.Blocks {
				if pc.Type != "precondition" {
					continue
				}
				ok, _ := e.attr(pc.Body, "condition", each)
				if ok.True() {
					continue
				}
				msg, _ := e.attr(pc.Body, "error_message", each)
				failed = append(failed, msg.AsString())
			}
		}
	}
	return failed
}

// TestPreconditionsCheckNames: the checks variable validations cannot make
// before Terraform 1.9 (they cannot read remediators.json) reject unknown
// remediator and rule names, an input that leaves nothing to match and a
// pattern over EventBridge's size quota, and accept the defaults and the
// names of the definitions.
func TestPreconditionsCheckNames(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	defs := remediators.Definitions()
	known := defs[len(defs)-1].Name
	var rule string
	for _, r := range defs[0].Rules {
		rule = r.Name
	}
	long := map[string]cty.Value{}
	for i := range 20 {
		long[fmt.Sprintf("corp-%03d-%s", i, strings.Repeat("x", 100))] = cty.StringVal(known)
	}
	allOff := map[string]cty.Value{}
	for _, d := range defs {
		for _, r := range d.Rules {
			allOff[r.Name] = cty.False
		}
	}
	for _, tc := range []struct {
		name string
		vars map[string]cty.Value
		want string // in the one failed precondition's message; "" for none
	}{
		{"defaults", nil, ""},
		{"known names", map[string]cty.Value{
			"enabled_remediators": strs(known), "remediator_modes": cty.MapVal(map[string]cty.Value{known: cty.StringVal("dry-run")}),
			"rule_map": cty.MapVal(map[string]cty.Value{"corp-rule": cty.StringVal(known)}), "config_rules": cty.MapVal(map[string]cty.Value{rule: cty.False}),
		}, ""},
		{"unknown enabled remediator", map[string]cty.Value{"enabled_remediators": strs(known, "zz-test-only-remediator")}, "enabled_remediators: unknown remediator zz-test-only-remediator"},
		{"unknown mode key", map[string]cty.Value{"remediator_modes": cty.MapVal(map[string]cty.Value{"imdsv3": cty.StringVal("dry-run")})}, "remediator_modes: unknown remediator imdsv3"},
		{"unknown rule_map value", map[string]cty.Value{"rule_map": cty.MapVal(map[string]cty.Value{"corp": cty.StringVal("nope")})}, "rule_map: unknown remediator nope"},
		{"unknown config rule", map[string]cty.Value{"config_rules": cty.MapVal(map[string]cty.Value{"zz-test-only-rule": cty.False})}, "config_rules: zz-test-only-rule is not a managed rule"},
		{"nothing to match", map[string]cty.Value{"config_rules": cty.MapVal(allOff), "match_generated_rule_names": cty.False}, "No Config rule name to remediate"},
		{"pattern too long", map[string]cty.Value{"rule_map": cty.MapVal(long)}, "more than EventBridge's default quota of 2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEval(t, m, tc.vars)
			failed := preconditions(t, e, m.block(t, "data", "aws_iam_policy_document", "remediators"))
			failed = append(failed, preconditions(t, e, m.block(t, "resource", "aws_cloudwatch_event_rule", "compliance_change"))...)
			switch {
			case tc.want == "" && len(failed) > 0:
				t.Errorf("failed preconditions: %q", failed)
			case tc.want != "" && (len(failed) != 1 || !strings.Contains(failed[0], tc.want)):
				t.Errorf("failed preconditions: %q, want one saying %q", failed, tc.want)
			}
		})
	}
}

// TestThrowawayRemediatorNeedsNoTerraformChange: a remediator added to the
// definitions reaches the Config rules, the event patterns and the IAM
// statements through remediators.json alone. Its names are ones no real
// remediator or managed rule will take (CONTRIBUTING's s3-versioning may be
// added one day).
func TestThrowawayRemediatorNeedsNoTerraformChange(t *testing.T) {
	rule := remediation.ManagedRule{Name: "zz-test-only-rule", Identifier: "ZZ_TEST_ONLY_RULE",
		ResourceTypes: []string{"AWS::S3::Bucket"}, InputParameters: map[string]string{"isMfaDeleteEnabled": "false"}}
	extra := remediators.Definition{Spec: remediation.Spec{
		Name: "zz-test-only-remediator", ResourceTypes: []string{"AWS::S3::Bucket"}, Rules: []remediation.ManagedRule{rule},
		Permissions: []remediation.Permission{
			{Sid: "ZzTestOnly", Actions: []string{"s3:GetBucketVersioning", "s3:PutBucketVersioning"}, Resources: []string{"arn:{partition}:s3:::*"}},
		},
	}, Sweep: []remediators.SweepCheck{{Rule: rule.Name, Lister: remediators.BucketLister()}}}
	defs := append(remediators.Definitions(), extra)
	b, err := ModuleInputs(defs)
	if err != nil {
		t.Fatal(err)
	}
	dir := copyModule(t)
	if err := os.WriteFile(filepath.Join(dir, "remediators.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	m := loadModule(t, dir)
	e := newEval(t, m, map[string]cty.Value{"enabled_remediators": strs(extra.Name)})

	rules := planConfigRules(t, m, map[string]cty.Value{"enabled_remediators": strs(extra.Name)})
	if r, ok := rules[rule.Name]; len(rules) != 1 || !ok || r.identifier != rule.Identifier || r.params != `{"isMfaDeleteEnabled":"false"}` {
		t.Errorf("Config rules with only the new remediator: %+v", rules)
	}
	patterns := map[string]string{}
	for kind, v := range e.local("event_patterns").AsValueMap() {
		patterns[kind] = v.AsString()
	}
	want, err := EventPatterns([]string{rule.Name}, []remediation.ManagedRule{rule})
	if err != nil {
		t.Fatal(err)
	}
	for kind, p := range want {
		if patterns[kind] != string(p) {
			t.Errorf("%s pattern: Terraform %s, want %s", kind, patterns[kind], p)
		}
	}
	ss, _ := docStatements(t, e, "remediators")
	if got, want := statementStrings(ss), expanded(extra.Permissions); !slices.Equal(got, want) {
		t.Errorf("remediators policy with only the new remediator: %v, want %v", got, want)
	}
	for _, s := range ss {
		if !s.ignored {
			t.Errorf("statement %s on %v comes through a statement that tfsec checks: its wildcard needs the patterns statement", s.sid, s.resources)
		}
	}
	if failed := preconditions(t, e, m.block(t, "data", "aws_iam_policy_document", "remediators")); len(failed) > 0 {
		t.Errorf("preconditions reject the new remediator: %q", failed)
	}
}

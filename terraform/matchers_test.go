package terraform

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// evalMatchers evaluates local.rule_name_matchers of the module as
// Terraform would, with the variables' defaults overridden by vars.
func evalMatchers(t *testing.T, m *module, vars map[string]cty.Value) []byte {
	t.Helper()
	varVals := map[string]cty.Value{}
	for _, b := range m.blocks("variable") {
		if d, ok := b.Body.Attributes["default"]; ok {
			v, diags := d.Expr.Value(nil)
			if diags.HasErrors() {
				continue // defaults that are not literals are not needed here
			}
			varVals[b.Labels[0]] = v
		}
	}
	for k, v := range vars {
		varVals[k] = v
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(varVals)},
		Functions: map[string]function.Function{
			"concat": stdlib.ConcatFunc, "sort": stdlib.SortFunc, "distinct": stdlib.DistinctFunc,
			"keys": stdlib.KeysFunc, "lookup": stdlib.LookupFunc, "contains": stdlib.ContainsFunc,
		},
	}
	locals := map[string]cty.Value{}
	for _, name := range []string{"managed_rules", "handled_rules", "config_rules", "rule_name_matchers"} {
		ctx.Variables["local"] = cty.ObjectVal(locals)
		v, diags := m.local(t, name).Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("evaluating local.%s: %s", name, diags.Error())
		}
		locals[name] = v
	}
	b, err := ctyjson.Marshal(locals["rule_name_matchers"], locals["rule_name_matchers"].Type())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patternMatchers returns the configRuleName matchers of a pattern Go
// renders.
func patternMatchers(t *testing.T, ruleNames, securityHub []string) []byte {
	t.Helper()
	p, err := EventPatternFor(ruleNames, securityHub)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Detail struct {
			ConfigRuleName json.RawMessage `json:"configRuleName"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(p, &v); err != nil {
		t.Fatal(err)
	}
	return v.Detail.ConfigRuleName
}

// TestTerraformMatchersEqualGo evaluates the module's rule name matchers
// for several variable settings and compares them with the ones Go puts in
// the pattern (which the emulator test sends the fixtures through).
func TestTerraformMatchersEqualGo(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	strs := func(ss ...string) cty.Value {
		var vs []cty.Value
		for _, s := range ss {
			vs = append(vs, cty.StringVal(s))
		}
		return cty.TupleVal(vs)
	}
	all := DefaultRuleNames()
	for _, tc := range []struct {
		name               string
		vars               map[string]cty.Value
		rules, securityHub []string
	}{
		{"defaults", nil, all, all},
		{"without Security Hub", map[string]cty.Value{"match_security_hub_rules": cty.False}, all, nil},
		{"one rule off, one extra rule, one remediator", map[string]cty.Value{
			"enabled_remediators": strs("ec2-imdsv2", "s3-encryption"),
			"config_rules":        cty.ObjectVal(map[string]cty.Value{"ec2-imdsv2-check": cty.False}),
			"rule_map":            cty.ObjectVal(map[string]cty.Value{"corp-s3-sse": cty.StringVal("s3-encryption"), "corp-ebs": cty.StringVal("ebs-encryption")}),
		}, []string{"corp-s3-sse", "s3-bucket-server-side-encryption-enabled", "s3-default-encryption-kms"},
			[]string{"ec2-imdsv2-check", "s3-bucket-server-side-encryption-enabled", "s3-default-encryption-kms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf := evalMatchers(t, m, tc.vars)
			goes := patternMatchers(t, tc.rules, tc.securityHub)
			if string(tf) != string(goes) {
				t.Errorf("Terraform matchers %s\nGo matchers        %s", tf, goes)
			}
		})
	}
}

package terraform

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// rulesOf returns the managed rules of the named remediators' definitions.
func rulesOf(names ...string) []remediation.ManagedRule {
	var out []remediation.ManagedRule
	for _, d := range remediators.Definitions() {
		if slices.Contains(names, d.Name) {
			out = append(out, d.Rules...)
		}
	}
	return out
}

func ruleNames(rules []remediation.ManagedRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Name)
	}
	return out
}

// TestTerraformPatternsEqualGo evaluates the module's event patterns for
// several variable settings and compares them, byte for byte, with the ones
// Go renders (which the emulator test sends the fixtures through).
func TestTerraformPatternsEqualGo(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	all := remediators.Catalog(remediators.Definitions()).Names()
	imds, sse := remediators.EC2IMDSv2Definition(), remediators.S3EncryptionDefinition()
	sseRules := ruleNames(rulesOf(sse.Name))
	off := map[string]cty.Value{}
	for _, r := range sseRules {
		off[r] = cty.False
	}
	for _, tc := range []struct {
		name      string
		vars      map[string]cty.Value
		deployed  []string
		generated []remediation.ManagedRule
	}{
		{"defaults", nil, DefaultRuleNames(), rulesOf(all...)},
		{"without generated names", map[string]cty.Value{"match_generated_rule_names": cty.False}, DefaultRuleNames(), nil},
		{"one rule off, one extra rule, two remediators", map[string]cty.Value{
			"enabled_remediators": strs(imds.Name, sse.Name),
			"config_rules":        cty.MapVal(map[string]cty.Value{imds.Rules[0].Name: cty.False}),
			"rule_map":            cty.MapVal(map[string]cty.Value{"corp-s3-sse": cty.StringVal(sse.Name), "corp-ebs": cty.StringVal(remediators.EBSEncryptionDefinition().Name)}),
		}, append([]string{"corp-s3-sse"}, sseRules...), rulesOf(imds.Name, sse.Name)},
		{"only rule_map, no generated names", map[string]cty.Value{
			"config_rules":               cty.MapVal(off),
			"enabled_remediators":        strs(sse.Name),
			"rule_map":                   cty.MapVal(map[string]cty.Value{"corp-s3-sse": cty.StringVal(sse.Name)}),
			"match_generated_rule_names": cty.False,
		}, []string{"corp-s3-sse"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEval(t, m, tc.vars)
			tf := map[string]string{}
			for kind, v := range e.local("event_patterns").AsValueMap() {
				tf[kind] = v.AsString()
			}
			goes, err := EventPatterns(tc.deployed, tc.generated)
			if err != nil {
				t.Fatal(err)
			}
			if d := sameSet(sortedKeys(tf), sortedKeys(goes)); d != "" {
				t.Errorf("EventBridge rules (kinds): %s", d)
			}
			for kind, p := range goes {
				if tf[kind] != string(p) {
					t.Errorf("%s pattern:\nTerraform %s\nGo        %s", kind, tf[kind], p)
				}
			}
		})
	}
}

// TestDefaultPatternsFitEventBridge: each pattern of a default deployment
// stays within EventBridge's event pattern size quota, and EventPatterns
// refuses one that would not.
func TestDefaultPatternsFitEventBridge(t *testing.T) {
	ps, err := DefaultEventPatterns()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for kind, p := range ps {
		t.Logf("%s: %d characters", kind, len(p))
		total += len(p)
	}
	one, err := EventPattern(DefaultRuleNames(), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all in one pattern: %d characters (quota %d)", len(one), MaxEventPatternSize)

	var many []string
	for i := 0; len(strings.Join(many, `","`)) <= MaxEventPatternSize; i++ {
		many = append(many, strings.Repeat("x", 60)+string(rune('a'+i%26))+strings.Repeat("y", i/26))
	}
	if _, err := EventPatterns(many, nil); err == nil || !strings.Contains(err.Error(), "2048") {
		t.Errorf("a %d-name pattern: err = %v, want one naming the quota", len(many), err)
	}
}

// TestMatchersShape: the matchers of each kind, from the issue's
// description of the names rather than from the code.
func TestMatchersShape(t *testing.T) {
	r := remediation.ManagedRule{Name: "restricted-ssh", Identifier: "INCOMING_SSH_DISABLED"}
	got := mustJSON(t, Matchers([]string{"b-rule", "a-rule", "b-rule"}, []remediation.ManagedRule{r}))
	want := `{"conformance-pack":[{"prefix":"restricted-ssh-conformance-pack-"}],` +
		`"control-tower":["AWSControlTower_AWS-GR_INCOMING_SSH_DISABLED","AWSControlTower_AWS-GR_RESTRICTED_SSH"],` +
		`"deployed":["a-rule","b-rule"],"organization":[{"prefix":"OrgConfigRule-restricted-ssh-"}],` +
		`"securityhub":[{"prefix":"securityhub-restricted-ssh-"}]}`
	if got != want {
		t.Errorf("Matchers:\n got %s\nwant %s", got, want)
	}
	if got := mustJSON(t, Matchers([]string{"a"}, nil)); got != `{"deployed":["a"]}` {
		t.Errorf("without generated names: %s", got)
	}
	if _, err := EventPatterns(nil, nil); err == nil {
		t.Error("no rule names rendered patterns that match nothing")
	}
}

func TestEventPatternShape(t *testing.T) {
	ps, err := EventPatterns([]string{"b-rule", "a-rule"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Source     []string `json:"source"`
		DetailType []string `json:"detail-type"`
		Detail     struct {
			MessageType    []string `json:"messageType"`
			ConfigRuleName []any    `json:"configRuleName"`
			New            struct {
				ComplianceType []string `json:"complianceType"`
			} `json:"newEvaluationResult"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(ps[KindDeployed], &v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v.Detail.ConfigRuleName)
	if string(got) != `["a-rule","b-rule"]` || len(ps) != 1 || !slices.Equal(v.Source, []string{"aws.config"}) ||
		!slices.Equal(v.Detail.New.ComplianceType, []string{"NON_COMPLIANT"}) ||
		!slices.Equal(v.Detail.MessageType, []string{"ComplianceChangeNotification"}) ||
		!slices.Equal(v.DetailType, []string{"Config Rules Compliance Change"}) {
		t.Errorf("patterns %s", ps)
	}
}

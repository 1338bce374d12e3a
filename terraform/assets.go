// Package terraform holds the files the Terraform module in this directory
// shares with Go: the CloudWatch dashboard body and the EventBridge event
// pattern. Terraform renders them with templatefile(); Go renders the very
// same files here, so tests (and the local demo) use the production
// definitions. Terraform ignores the .go files in this directory.
package terraform

//go:generate go run ../internal/tools/genremediators remediators.json

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/autoremediate/autoremediate/remediation"
)

// DashboardTemplate is the body of the CloudWatch compliance dashboard, a
// Terraform template that uses only ${name} interpolations.
//
//go:embed templates/dashboard.json.tftpl
var DashboardTemplate string

// EventPatternTemplate is the EventBridge event pattern of the rule that
// invokes the remediate function; ${config_rule_names} is the JSON array of
// configRuleName matchers.
//
//go:embed templates/event_pattern.json.tftpl
var EventPatternTemplate string

// DashboardVariables are the variables the dashboard template takes.
var dashboardVariables = []string{"namespace", "region", "function_name", "dlq_name"}

// DashboardVariables lists the variables RenderDashboard needs.
func DashboardVariables() []string { return append([]string(nil), dashboardVariables...) }

// RenderDashboard renders the dashboard body as Terraform's templatefile
// would, with vars: namespace, region, function_name and dlq_name. Values are
// JSON-escaped (they sit inside JSON strings). It fails when the template
// uses a variable vars lacks, when vars has one the template does not know,
// or when the result is not valid JSON.
func RenderDashboard(vars map[string]string) ([]byte, error) {
	for k := range vars {
		if !contains(dashboardVariables, k) {
			return nil, fmt.Errorf("rendering dashboard: unknown variable %q (known: %s)", k, strings.Join(dashboardVariables, ", "))
		}
	}
	escaped := make(map[string]string, len(vars))
	for k, v := range vars {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("rendering dashboard: variable %q: %w", k, err)
		}
		escaped[k] = string(b[1 : len(b)-1])
	}
	out, err := Render(DashboardTemplate, escaped)
	if err != nil {
		return nil, fmt.Errorf("rendering dashboard: %w", err)
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("rendering dashboard: the result is not valid JSON")
	}
	return out, nil
}

// SecurityHubPrefix is the start of the names Security Hub gives the Config
// rules it deploys for a managed rule: securityhub-<managed rule>-<suffix>.
func SecurityHubPrefix(managedRule string) string { return "securityhub-" + managedRule + "-" }

// DefaultRuleNames returns the names of the AWS Config rules the module
// deploys by default: every managed rule a remediator handles, sorted.
func DefaultRuleNames() []string {
	var names []string
	for n := range remediation.ManagedRules() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EventPattern returns the production event pattern (compact JSON) of the
// EventBridge rule that invokes the remediate function: AWS Config
// compliance change notifications turning NON_COMPLIANT for exactly
// ruleNames, plus, when securityHubPrefixes is set, the rules Security Hub
// deployed for the same managed rules (matched by the prefix
// securityhub-<name>-). EventPattern(DefaultRuleNames(), true) is the
// pattern of a default deployment.
func EventPattern(ruleNames []string, securityHubPrefixes bool) ([]byte, error) {
	var managed []string
	if securityHubPrefixes {
		managed = ruleNames
	}
	return EventPatternFor(ruleNames, managed)
}

// EventPatternFor is EventPattern with the exact rule names and the managed
// rules matched by Security Hub prefix given separately, as the module
// computes them (var.config_rules and var.match_security_hub_rules).
func EventPatternFor(ruleNames, securityHubManaged []string) ([]byte, error) {
	if len(ruleNames) == 0 && len(securityHubManaged) == 0 {
		return nil, fmt.Errorf("rendering event pattern: no rule names to match")
	}
	matchers := make([]any, 0, len(ruleNames)+len(securityHubManaged))
	for _, n := range ruleNames {
		matchers = append(matchers, n)
	}
	for _, n := range securityHubManaged {
		matchers = append(matchers, map[string]string{"prefix": SecurityHubPrefix(n)})
	}
	list, err := json.Marshal(matchers)
	if err != nil {
		return nil, fmt.Errorf("rendering event pattern: %w", err)
	}
	out, err := Render(EventPatternTemplate, map[string]string{"config_rule_names": string(list)})
	if err != nil {
		return nil, fmt.Errorf("rendering event pattern: %w", err)
	}
	// Compact, as Terraform's jsonencode(jsondecode(...)) stores it.
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("rendering event pattern: the result is not valid JSON: %w", err)
	}
	return json.Marshal(v)
}

// Render substitutes ${name} interpolations in a Terraform template the way
// templatefile() does for templates without directives. $${ and %%{ are the
// escapes for a literal ${ and %{. It fails on a variable vars lacks, on a
// %{ directive (unsupported here) and on an unterminated interpolation.
func Render(tpl string, vars map[string]string) ([]byte, error) {
	var b strings.Builder
	b.Grow(len(tpl))
	for i := 0; i < len(tpl); {
		switch {
		case strings.HasPrefix(tpl[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(tpl[i:], "%%{"):
			b.WriteString("%{")
			i += 3
		case strings.HasPrefix(tpl[i:], "%{"):
			return nil, fmt.Errorf("template directive %%{ at byte %d is not supported", i)
		case strings.HasPrefix(tpl[i:], "${"):
			end := strings.IndexByte(tpl[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated interpolation at byte %d", i)
			}
			name := strings.TrimSpace(tpl[i+2 : i+end])
			if !isIdent(name) {
				return nil, fmt.Errorf("interpolation %q at byte %d is not a plain variable", tpl[i:i+end+1], i)
			}
			v, ok := vars[name]
			if !ok {
				return nil, fmt.Errorf("template variable %q is not set", name)
			}
			b.WriteString(v)
			i += end + 1
		default:
			b.WriteByte(tpl[i])
			i++
		}
	}
	return []byte(b.String()), nil
}

// TemplateVariables returns the names a template interpolates, sorted and
// without repeats.
func TemplateVariables(tpl string) []string {
	seen := map[string]bool{}
	for i := 0; i < len(tpl); i++ {
		if strings.HasPrefix(tpl[i:], "$${") {
			i += 2
			continue
		}
		if strings.HasPrefix(tpl[i:], "${") {
			if end := strings.IndexByte(tpl[i:], '}'); end > 0 {
				seen[strings.TrimSpace(tpl[i+2:i+end])] = true
				i += end
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

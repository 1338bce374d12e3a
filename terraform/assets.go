// Package terraform holds the files the Terraform module in this directory
// shares with Go: the CloudWatch dashboard body and the EventBridge event
// patterns (AWS Config compliance changes and CloudTrail API calls), which
// Terraform renders with templatefile() and Go renders here, so tests (and
// the local demo) use the production definitions; and remediators.json, the
// remediator definitions, the state table's schema and the member check's
// permissions as Terraform reads them, which go generate writes
// (ModuleInputs). Terraform ignores the .go
// files in this directory.
package terraform

//go:generate go run ../internal/tools/genremediators remediators.json

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autoremediate/autoremediate/orgcheck"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/state"
)

// DashboardTemplate is the body of the CloudWatch compliance dashboard, a
// Terraform template that uses only ${name} interpolations.
//
//go:embed templates/dashboard.json.tftpl
var DashboardTemplate string

// EventPatternTemplate is the EventBridge event pattern of the rules that
// invoke the remediate function; ${config_rule_names} is the JSON array of
// configRuleName matchers of one rule.
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

// MaxEventPatternSize is EventBridge's default quota on the size of an
// event pattern, in characters ("Event pattern size" in the EventBridge
// quotas; adjustable up to 4096).
const MaxEventPatternSize = 2048

// The kinds of Config rule names the module matches, one EventBridge rule
// each (the keys of local.rule_name_matchers): the rules it deployed (plus
// rule_map's), and the rules AWS Security Hub, conformance packs, AWS
// Config organisation rules and AWS Control Tower deployed for the same
// managed rules.
const (
	KindDeployed        = "deployed"
	KindSecurityHub     = "securityhub"
	KindConformancePack = "conformance-pack"
	KindOrganization    = "organization"
	KindControlTower    = "control-tower"
)

// SecurityHubPrefix is the start of the names Security Hub gives the Config
// rules it deploys for a managed rule: securityhub-<managed rule>-<suffix>
// (the form remediation.RuleResolver recognises: one spelling for both).
func SecurityHubPrefix(managedRule string) string {
	return remediation.SecurityHubPrefix + managedRule + "-"
}

// ConformancePackPrefix is the start of the names a conformance pack gives
// the Config rules it deploys for a managed rule:
// <managed rule>-conformance-pack-<suffix>.
func ConformancePackPrefix(managedRule string) string {
	return managedRule + remediation.ConformancePackInfix
}

// OrgConfigRulePrefix is the start of the name AWS Config gives, in each
// member account, the rule of an organisation rule
// (PutOrganizationConfigRule) named after a managed rule:
// OrgConfigRule-<managed rule>-<suffix>.
func OrgConfigRulePrefix(managedRule string) string {
	return remediation.OrgConfigRulePrefix + managedRule + "-"
}

// ControlTowerNames are the names AWS Control Tower may give the Config rule
// it deploys for a managed rule (AWSControlTower_AWS-GR_<SUFFIX>).
func ControlTowerNames(r remediation.ManagedRule) []string {
	var names []string
	for _, s := range remediation.ControlTowerSuffixes(r) {
		names = append(names, remediation.ControlTowerPrefix+s)
	}
	return names
}

// DefaultRuleNames returns the names of the AWS Config rules the module
// deploys by default: every managed rule a remediator handles, sorted.
func DefaultRuleNames() []string {
	var names []string
	for n := range remediators.Catalog(remediators.Definitions()).ManagedRules() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// managedRules returns the definitions of the named managed rules; names
// no remediator handles are skipped.
func managedRules(names []string) []remediation.ManagedRule {
	byName := map[string]remediation.ManagedRule{}
	for _, s := range remediators.Catalog(remediators.Definitions()) {
		for _, r := range s.Rules {
			byName[r.Name] = r
		}
	}
	var out []remediation.ManagedRule
	for _, n := range names {
		if r, ok := byName[n]; ok {
			out = append(out, r)
		}
	}
	return out
}

// Matchers returns the configRuleName matchers of each of the module's
// EventBridge rules by kind, as the module computes them
// (local.rule_name_matchers): deployed are the exact rule names (the Config
// rules it deployed and rule_map's), generated the managed rules whose
// generated names are matched too (none when match_generated_rule_names is
// false). Kinds without a matcher are left out.
func Matchers(deployed []string, generated []remediation.ManagedRule) map[string][]any {
	out := map[string][]any{}
	names := slices.Clone(deployed)
	sort.Strings(names)
	for _, n := range slices.Compact(names) {
		out[KindDeployed] = append(out[KindDeployed], n)
	}
	rules := slices.Clone(generated)
	sort.Slice(rules, func(i, j int) bool { return rules[i].Name < rules[j].Name })
	var controlTower []string
	for _, r := range rules {
		out[KindSecurityHub] = append(out[KindSecurityHub], map[string]string{"prefix": SecurityHubPrefix(r.Name)})
		out[KindConformancePack] = append(out[KindConformancePack], map[string]string{"prefix": ConformancePackPrefix(r.Name)})
		out[KindOrganization] = append(out[KindOrganization], map[string]string{"prefix": OrgConfigRulePrefix(r.Name)})
		controlTower = append(controlTower, ControlTowerNames(r)...)
	}
	sort.Strings(controlTower)
	for _, n := range controlTower {
		out[KindControlTower] = append(out[KindControlTower], n)
	}
	return out
}

// EventPatterns returns the production event pattern (compact JSON, as
// Terraform stores it) of each of the module's EventBridge rules by kind
// (see Matchers): AWS Config compliance change notifications turning
// NON_COMPLIANT for a rule name the kind matches. It fails when there is
// no rule name to match or when a pattern exceeds MaxEventPatternSize.
func EventPatterns(deployed []string, generated []remediation.ManagedRule) (map[string][]byte, error) {
	matchers := Matchers(deployed, generated)
	if len(matchers) == 0 {
		return nil, fmt.Errorf("rendering event patterns: no rule names to match")
	}
	out := map[string][]byte{}
	for kind, m := range matchers {
		p, err := renderPattern(m)
		if err != nil {
			return nil, fmt.Errorf("rendering the event pattern of the %s rules: %w", kind, err)
		}
		if len(p) > MaxEventPatternSize {
			return nil, fmt.Errorf("rendering the event pattern of the %s rules: %d characters, more than EventBridge's %d", kind, len(p), MaxEventPatternSize)
		}
		out[kind] = p
	}
	return out, nil
}

// DefaultEventPatterns returns the event patterns of a default deployment:
// every managed rule deployed, and their generated names matched.
func DefaultEventPatterns() (map[string][]byte, error) {
	names := DefaultRuleNames()
	return EventPatterns(names, managedRules(names))
}

// EventPattern returns one pattern that matches what the patterns of
// EventPatterns(ruleNames, the managed rules among ruleNames when
// generated is set) match together, for emulators without EventBridge's
// size quota (the local demo); it may exceed MaxEventPatternSize.
// EventPattern(DefaultRuleNames(), true) delivers what a default
// deployment delivers.
func EventPattern(ruleNames []string, generated bool) ([]byte, error) {
	var rules []remediation.ManagedRule
	if generated {
		rules = managedRules(ruleNames)
	}
	byKind := Matchers(ruleNames, rules)
	var all []any
	for _, kind := range []string{KindDeployed, KindSecurityHub, KindConformancePack, KindOrganization, KindControlTower} {
		all = append(all, byKind[kind]...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("rendering event pattern: no rule names to match")
	}
	p, err := renderPattern(all)
	if err != nil {
		return nil, fmt.Errorf("rendering event pattern: %w", err)
	}
	return p, nil
}

// renderPattern fills the pattern template with the matchers and compacts
// it, as Terraform's jsonencode(jsondecode(templatefile(...))) does.
func renderPattern(matchers []any) ([]byte, error) {
	list, err := json.Marshal(matchers)
	if err != nil {
		return nil, err
	}
	out, err := Render(EventPatternTemplate, map[string]string{"config_rule_names": string(list)})
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("the result is not valid JSON: %w", err)
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

// inputsComment is the "//" entry of remediators.json.
const inputsComment = "Generated by go generate ./terraform from the remediator definitions (remediators.Definitions()), the state store's schema (package state) and the member check's permissions (orgcheck.Permissions()); do not edit."

// ModuleInputs renders remediators.json, what the modules read about the
// code: remediators.TerraformInputs(defs) (names, managed rules, triggers,
// permissions) plus a "state" section, the DynamoDB state table as the
// store uses it: its partition key attribute and type, its TTL attribute and
// the actions the store calls on it; and "org_check_permissions", the
// statements `remediate org check` needs in a member account
// (orgcheck.Permissions(), which the member role grants), in the form of
// sweep_permissions.
func ModuleInputs(defs []remediators.Definition) ([]byte, error) {
	base, err := remediators.TerraformInputs(defs)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("reading the remediators' Terraform inputs: %w", err)
	}
	for _, k := range []string{"state", "org_check_permissions"} {
		if _, dup := doc[k]; dup {
			return nil, fmt.Errorf("the remediators' Terraform inputs already have a %s section", k)
		}
	}
	section := struct {
		KeyAttribute string   `json:"key_attribute"`
		KeyType      string   `json:"key_type"`
		TTLAttribute string   `json:"ttl_attribute"`
		Actions      []string `json:"actions"`
	}{
		KeyAttribute: state.KeyAttribute,
		// state.Init creates the key as a string (S) attribute.
		KeyType:      string(dbtypes.ScalarAttributeTypeS),
		TTLAttribute: state.TTLAttribute,
		Actions:      state.Actions(),
	}
	orgCheck := remediators.TerraformPermissions(orgcheck.Permissions())
	sort.SliceStable(orgCheck, func(i, j int) bool { return orgCheck[i].Sid < orgCheck[j].Sid })
	for name, v := range map[string]any{"//": inputsComment, "state": section, "org_check_permissions": orgCheck} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		doc[name] = b
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CloudTrailPatternTemplate is the EventBridge event pattern of the rules
// that invoke the remediate function on "AWS API Call via CloudTrail"
// events, one rule per AWS service; ${sources}, ${event_sources},
// ${event_names} and ${ignore_actor_arns} are JSON arrays of strings.
//
//go:embed templates/cloudtrail_pattern.json.tftpl
var CloudTrailPatternTemplate string

// TriggerCalls returns the API calls the named remediators declare as
// their triggers (every remediator's when names is empty), without repeats,
// sorted by event source and name: what the CloudTrail rules match, as the
// module computes it (local.trigger_calls).
func TriggerCalls(names []string) []remediation.APICall {
	var out []remediation.APICall
	for _, s := range remediators.Catalog(remediators.Definitions()) {
		if len(names) == 0 || slices.Contains(names, s.Name) {
			out = append(out, s.Triggers...)
		}
	}
	slices.SortFunc(out, func(a, b remediation.APICall) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return slices.Compact(out)
}

// CloudTrailService is the key of an event source's CloudTrail rule (and
// the end of its EventBridge source, aws.<service>): the first label of
// the eventSource, "s3" for "s3.amazonaws.com".
func CloudTrailService(eventSource string) (string, error) {
	svc, rest, ok := strings.Cut(eventSource, ".")
	if !ok || svc == "" || rest != "amazonaws.com" {
		return "", fmt.Errorf("event source %q is not <service>.amazonaws.com", eventSource)
	}
	return svc, nil
}

// CloudTrailPatterns returns the production event pattern (compact JSON, as
// Terraform stores it) of each of the module's CloudTrail rules, by service
// (see CloudTrailService): the "AWS API Call via CloudTrail" events of the
// calls that succeeded (no errorCode) and that no principal of ignoreActors
// made. The principal is sessionContext.sessionIssuer.arn when the record
// has one (an assumed role), else userIdentity.arn; an event with neither
// (an AWS service's call) is delivered. It fails without calls or actors to
// ignore (the pipeline's own roles at least), and when a pattern exceeds
// MaxEventPatternSize.
func CloudTrailPatterns(calls []remediation.APICall, ignoreActors []string) (map[string][]byte, error) {
	if len(calls) == 0 {
		return nil, fmt.Errorf("rendering CloudTrail event patterns: no API call to match")
	}
	byService := map[string][]remediation.APICall{}
	for _, c := range calls {
		svc, err := CloudTrailService(c.Source)
		if err != nil {
			return nil, fmt.Errorf("rendering CloudTrail event patterns: %w", err)
		}
		byService[svc] = append(byService[svc], c)
	}
	out := map[string][]byte{}
	for svc, cs := range byService {
		p, err := renderCloudTrailPattern(cs, ignoreActors)
		if err != nil {
			return nil, fmt.Errorf("rendering the CloudTrail event pattern of %s: %w", svc, err)
		}
		if len(p) > MaxEventPatternSize {
			return nil, fmt.Errorf("rendering the CloudTrail event pattern of %s: %d characters, more than EventBridge's %d (ignore_actor_arns lists %d ARNs; each appears twice in the pattern)", svc, len(p), MaxEventPatternSize, len(ignoreActors))
		}
		out[svc] = p
	}
	return out, nil
}

// CloudTrailPattern returns one pattern that matches what the patterns of
// CloudTrailPatterns(calls, ignoreActors) match together, for emulators
// without EventBridge's size quota (the local demo); it may exceed
// MaxEventPatternSize. It matches any of the sources with any of the
// names, which is the same since no two services share an API name here.
func CloudTrailPattern(calls []remediation.APICall, ignoreActors []string) ([]byte, error) {
	if len(calls) == 0 {
		return nil, fmt.Errorf("rendering CloudTrail event pattern: no API call to match")
	}
	for _, c := range calls {
		if _, err := CloudTrailService(c.Source); err != nil {
			return nil, fmt.Errorf("rendering CloudTrail event pattern: %w", err)
		}
	}
	p, err := renderCloudTrailPattern(calls, ignoreActors)
	if err != nil {
		return nil, fmt.Errorf("rendering CloudTrail event pattern: %w", err)
	}
	return p, nil
}

// renderCloudTrailPattern fills the CloudTrail template with the calls'
// sources, event sources and names (sorted, without repeats) and the
// actors, and compacts it as Terraform's jsonencode(jsondecode(...)) does.
func renderCloudTrailPattern(calls []remediation.APICall, ignoreActors []string) ([]byte, error) {
	return renderCloudTrailTemplate(CloudTrailPatternTemplate, calls, ignoreActors)
}

// renderCloudTrailTemplate is renderCloudTrailPattern with another
// template (tests render mutations of the production one).
func renderCloudTrailTemplate(tpl string, calls []remediation.APICall, ignoreActors []string) ([]byte, error) {
	if len(ignoreActors) == 0 {
		// EventBridge rejects an empty anything-but list; and a pipeline
		// that does not know its own roles would react to its own fixes.
		return nil, fmt.Errorf("no actor to ignore: the pipeline's own roles at least")
	}
	var sources, eventSources, names []string
	for _, c := range calls {
		svc, _ := CloudTrailService(c.Source)
		sources = append(sources, "aws."+svc)
		eventSources = append(eventSources, c.Source)
		names = append(names, c.Name)
	}
	vars := map[string]string{}
	for k, v := range map[string][]string{"sources": sources, "event_sources": eventSources, "event_names": names} {
		sort.Strings(v)
		b, err := json.Marshal(slices.Compact(v))
		if err != nil {
			return nil, err
		}
		vars[k] = string(b)
	}
	b, err := json.Marshal(ignoreActors)
	if err != nil {
		return nil, err
	}
	vars["ignore_actor_arns"] = string(b)
	out, err := Render(tpl, vars)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("the result is not valid JSON: %w", err)
	}
	return json.Marshal(v)
}

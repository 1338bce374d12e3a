package terraform

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/orgcheck"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/sweep"
)

// The organisation the member tests deploy to: the central deployment is
// in testAccount and testRegion (eval_test.go).
const (
	testOrg         = "o-a1b2c3d4e5"
	testMember      = "222233334444"
	testOtherRegion = "us-east-1"
	testExternalID  = "autoremediate-ext-7f3c"
	testMemberRole  = "autoremediate-member"
)

func memberDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(moduleDir(t), "modules", "member")
}

// centralRoles are the central functions' roles a member trusts, as the
// central deployment names them by default.
var centralRoles = []string{
	"arn:aws:iam::" + testAccount + ":role/autoremediate-remediate",
	"arn:aws:iam::" + testAccount + ":role/autoremediate-sweep",
}

// memberVars are the member module's inputs for the test organisation.
func memberVars(extra map[string]cty.Value) map[string]cty.Value {
	vars := map[string]cty.Value{
		"central_account_id": cty.StringVal(testAccount),
		"central_region":     cty.StringVal(testRegion),
		"central_role_arns":  strs(centralRoles...),
	}
	for k, v := range extra {
		vars[k] = v
	}
	return vars
}

// memberEval evaluates the member module as deployed in account and
// region.
func memberEval(t testing.TB, m *module, account, region string, vars map[string]cty.Value) *tfEval {
	t.Helper()
	e := newEval(t, m, vars)
	e.locals["account"] = cty.StringVal(account)
	e.locals["region"] = cty.StringVal(region)
	return e
}

// refersToAddr reports whether an expression refers to addr
// (data.type.name.attr or type.name.attr, with any index).
func refersToAddr(e hcl.Expression, addr string) bool {
	for _, tr := range e.Variables() {
		var parts []string
		for _, step := range tr {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
		}
		if strings.HasPrefix(strings.Join(parts, ".")+".", addr+".") {
			return true
		}
	}
	return false
}

// expandedIn returns the permissions as granted in account, every region.
func expandedIn(ps []remediation.Permission, account string) []string {
	var out []string
	for _, p := range ps {
		s := statement{sid: p.Sid, actions: p.Actions, conditions: remediation.ExpandConditions(p.Conditions, testPartition, "*", account)}
		for _, r := range p.Resources {
			s.resources = append(s.resources, remediation.ExpandResource(r, testPartition, "*", account))
		}
		out = append(out, s.String())
	}
	sort.Strings(out)
	return out
}

// wantMemberPermissions is what the member role must grant with these
// remediators enabled (nil: all), from the Go definitions: their
// permissions and the sweep's, as the central functions get them, and the
// policy simulation of `remediate org check`.
func wantMemberPermissions(enabled []string) []remediation.Permission {
	defs := remediators.Definitions()
	perms := remediators.Permissions(defs)
	var want []remediation.Permission
	for _, d := range defs {
		if enabled == nil || slices.Contains(enabled, d.Name) {
			want = append(want, perms[d.Name]...)
		}
	}
	want = append(want, sweep.Permissions(defs)...)
	return append(want, orgcheck.Permissions()...)
}

// TestMemberRoleGrantsTheDefinitions: the member role's policy is exactly
// the enabled remediators' permissions plus the sweep's and the org
// check's, in the member's
// account and every region; the statements with a wildcard inside an ARN,
// and only those, pass through the statement tfsec's wildcard check
// ignores, and no action AWS can scope is granted on "*".
func TestMemberRoleGrantsTheDefinitions(t *testing.T) {
	m := loadModule(t, memberDir(t))
	for name, enabled := range enabledCases() {
		t.Run(name, func(t *testing.T) {
			vars := map[string]cty.Value{}
			if enabled != nil {
				vars["enabled_remediators"] = strs(enabled...)
			}
			ss, sources := docStatements(t, memberEval(t, m, testMember, testRegion, memberVars(vars)), "member")
			if len(sources) > 0 {
				t.Errorf("data.aws_iam_policy_document.member merges %v: everything it grants must be in it", sources)
			}
			if got, want := statementStrings(ss), expandedIn(wantMemberPermissions(enabled), testMember); !slices.Equal(got, want) {
				t.Errorf("the member role grants\n  %s\nthe definitions say\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			for _, s := range ss {
				pattern := remediators.PermissionScope(remediation.Permission{Resources: s.resources}) == "patterns"
				switch {
				case pattern && !s.ignored:
					t.Errorf("statement %s (%v) has a wildcard inside an ARN but comes through %s, which tfsec checks", s.sid, s.resources, s.where)
				case !pattern && s.ignored:
					t.Errorf("statement %s (%v) comes through %s, whose tfsec ignore hides it from the wildcard check", s.sid, s.resources, s.where)
				}
			}
			checkScoped(t, "member", ss)
		})
	}
	rp := m.block(t, "resource", "aws_iam_role_policy", "member")
	if !refersToAddr(rp.Body.Attributes["policy"].Expr, "data.aws_iam_policy_document.member.json") ||
		!refersToAddr(rp.Body.Attributes["role"].Expr, "aws_iam_role.member.id") {
		t.Error("aws_iam_role_policy.member must put data.aws_iam_policy_document.member on aws_iam_role.member")
	}
}

// iamStatement is one statement of an IAM policy in a canonical form:
// single values as lists, lists sorted.
type iamStatement struct {
	Sid       string                         `json:"Sid,omitempty"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource,omitempty"`
	Principal map[string][]string            `json:"Principal,omitempty"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// stringList reads a JSON string or list of strings.
func stringList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	sort.Strings(many)
	return many, nil
}

// canonicalPolicy reads an IAM policy document as IAM (or CloudFormation,
// or moto) returns it and writes its statements canonically.
func canonicalPolicy(t testing.TB, doc string) string {
	t.Helper()
	var raw struct {
		Statement []struct {
			Sid       string
			Effect    string
			Action    json.RawMessage
			Resource  json.RawMessage
			Principal json.RawMessage
			Condition map[string]map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		t.Fatalf("reading policy %s: %v", doc, err)
	}
	var out []iamStatement
	for _, s := range raw.Statement {
		c := iamStatement{Sid: s.Sid, Effect: s.Effect}
		var err error
		if c.Action, err = stringList(s.Action); err != nil {
			t.Fatalf("policy %s: Action: %v", doc, err)
		}
		if c.Resource, err = stringList(s.Resource); err != nil {
			t.Fatalf("policy %s: Resource: %v", doc, err)
		}
		if len(s.Principal) > 0 {
			c.Principal = map[string][]string{}
			var star string
			if json.Unmarshal(s.Principal, &star) == nil {
				c.Principal["*"] = []string{star}
			} else {
				var p map[string]json.RawMessage
				if err := json.Unmarshal(s.Principal, &p); err != nil {
					t.Fatalf("policy %s: Principal: %v", doc, err)
				}
				for k, v := range p {
					if c.Principal[k], err = stringList(v); err != nil {
						t.Fatalf("policy %s: Principal: %v", doc, err)
					}
				}
			}
		}
		for test, kv := range s.Condition {
			if c.Condition == nil {
				c.Condition = map[string]map[string][]string{}
			}
			c.Condition[test] = map[string][]string{}
			for k, v := range kv {
				if c.Condition[test][k], err = stringList(v); err != nil {
					t.Fatalf("policy %s: Condition: %v", doc, err)
				}
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sid < out[j].Sid })
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// policyDocument renders data.aws_iam_policy_document.<name> of e's module
// as the provider writes it (statement blocks, static or dynamic, with
// their principals and conditions, static or dynamic), in canonical form.
func policyDocument(t testing.TB, e *tfEval, name string) string {
	t.Helper()
	doc := e.m.block(t, "data", "aws_iam_policy_document", name)
	var statements []map[string]any
	render := func(body *hclsyntax.Body, it map[string]cty.Value) {
		s := map[string]any{"Effect": "Allow"}
		if v, ok := e.attr(body, "effect", it); ok {
			s["Effect"] = v.AsString()
		}
		if v, ok := e.attr(body, "sid", it); ok {
			s["Sid"] = v.AsString()
		}
		for attr, key := range map[string]string{"actions": "Action", "resources": "Resource"} {
			if v, ok := e.attr(body, attr, it); ok {
				s[key] = ctyStrings(t, name+" "+attr, v)
			}
		}
		blocks := func(typ string, each func(*hclsyntax.Body, map[string]cty.Value)) {
			for _, b := range body.Blocks {
				switch {
				case b.Type == typ:
					each(b.Body, it)
				case b.Type == "dynamic" && b.Labels[0] == typ:
					for _, inner := range e.dynamicIterations(b, it) {
						each(findBlock(b.Body, "content").Body, inner)
					}
				}
			}
		}
		principals := map[string]any{}
		blocks("principals", func(b *hclsyntax.Body, it map[string]cty.Value) {
			typ, _ := e.attr(b, "type", it)
			ids, _ := e.attr(b, "identifiers", it)
			principals[typ.AsString()] = ctyStrings(t, name+" principals", ids)
		})
		if len(principals) > 0 {
			s["Principal"] = principals
			if p, ok := principals["*"]; ok && len(principals) == 1 && slices.Equal(p.([]string), []string{"*"}) {
				s["Principal"] = "*"
			}
		}
		conditions := map[string]map[string][]string{}
		blocks("condition", func(b *hclsyntax.Body, it map[string]cty.Value) {
			test, _ := e.attr(b, "test", it)
			variable, _ := e.attr(b, "variable", it)
			values, _ := e.attr(b, "values", it)
			if conditions[test.AsString()] == nil {
				conditions[test.AsString()] = map[string][]string{}
			}
			conditions[test.AsString()][variable.AsString()] = ctyStrings(t, name+" condition values", values)
		})
		if len(conditions) > 0 {
			s["Condition"] = conditions
		}
		statements = append(statements, s)
	}
	for _, b := range doc.Body.Blocks {
		switch {
		case b.Type == "statement":
			render(b.Body, nil)
		case b.Type == "dynamic" && b.Labels[0] == "statement":
			for _, it := range e.dynamicIterations(b, nil) {
				render(findBlock(b.Body, "content").Body, it)
			}
		}
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	if err != nil {
		t.Fatal(err)
	}
	return canonicalPolicy(t, string(b))
}

// wantTrust is the member role's trust policy the issue asks for: the
// central account as the principal, the central functions' roles by
// aws:PrincipalArn (not as principals: IAM would store their unique IDs),
// and the external ID when there is one.
func wantTrust(t testing.TB, externalID string) string {
	t.Helper()
	cond := map[string]map[string][]string{"ArnEquals": {"aws:PrincipalArn": centralRoles}}
	if externalID != "" {
		cond["StringEquals"] = map[string][]string{"sts:ExternalId": {externalID}}
	}
	b, err := json.Marshal(map[string]any{"Statement": []any{map[string]any{
		"Sid": "CentralFunctions", "Effect": "Allow", "Action": "sts:AssumeRole",
		"Principal": map[string]any{"AWS": "arn:aws:iam::" + testAccount + ":root"},
		"Condition": cond,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return canonicalPolicy(t, string(b))
}

// TestMemberRoleTrustsTheCentralRolesByARN: the member role trusts the
// central account's root with the central roles as aws:PrincipalArn
// values, plus the external ID when one is given.
func TestMemberRoleTrustsTheCentralRolesByARN(t *testing.T) {
	m := loadModule(t, memberDir(t))
	for _, ext := range []string{"", testExternalID} {
		e := memberEval(t, m, testMember, testRegion, memberVars(map[string]cty.Value{"external_id": cty.StringVal(ext)}))
		if got, want := policyDocument(t, e, "trust"), wantTrust(t, ext); got != want {
			t.Errorf("external_id %q: the member role's trust policy is\n%s\nwant\n%s", ext, got, want)
		}
	}
	role := m.block(t, "resource", "aws_iam_role", "member")
	if !refersToAddr(role.Body.Attributes["assume_role_policy"].Expr, "data.aws_iam_policy_document.trust.json") {
		t.Error("aws_iam_role.member must trust with data.aws_iam_policy_document.trust")
	}
	if !referencesVar(role.Body.Attributes["name"].Expr, "role_name") {
		t.Error("aws_iam_role.member must be named var.role_name (the central functions assume it by that name)")
	}
}

// TestMemberCreatesWhatEachAccountAndRegionNeeds: the role once per
// account, never in the central account; forwarding everywhere but the
// central account's own region.
func TestMemberCreatesWhatEachAccountAndRegionNeeds(t *testing.T) {
	m := loadModule(t, memberDir(t))
	count := func(e *tfEval, typ, name string) int {
		t.Helper()
		b := m.block(t, "resource", typ, name)
		if _, ok := b.Body.Attributes["for_each"]; ok {
			return len(e.forEach(b))
		}
		v, _ := e.attr(b.Body, "count", nil)
		n, _ := v.AsBigFloat().Int64()
		return int(n)
	}
	for _, tc := range []struct {
		account, region string
		createRole      bool
		role, forward   bool
	}{
		{testMember, testRegion, true, true, true},
		{testMember, testOtherRegion, false, false, true},
		{testMember, testOtherRegion, true, true, true}, // a second account-wide instance is the caller's mistake, IAM refuses it
		{testAccount, testRegion, true, false, false},
		{testAccount, testOtherRegion, true, false, true},
	} {
		e := memberEval(t, m, tc.account, tc.region, memberVars(map[string]cty.Value{"create_role": cty.BoolVal(tc.createRole)}))
		for _, r := range []struct {
			typ, name string
			want      bool
		}{
			{"aws_iam_role", "member", tc.role}, {"aws_iam_role_policy", "member", tc.role},
			{"aws_iam_role", "forward", tc.forward}, {"aws_iam_role_policy", "forward", tc.forward},
		} {
			if got := count(e, r.typ, r.name); got != map[bool]int{true: 1, false: 0}[r.want] {
				t.Errorf("account %s, region %s, create_role %t: %d %s.%s, want %t", tc.account, tc.region, tc.createRole, got, r.typ, r.name, r.want)
			}
		}
		rules := count(e, "aws_cloudwatch_event_rule", "forward")
		if (rules > 0) != tc.forward {
			t.Errorf("account %s, region %s: %d forwarding rules, want them %t", tc.account, tc.region, rules, tc.forward)
		}
	}
}

// decodeJSON decodes a JSON document for comparisons.
func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

// withoutActors returns a decoded pattern with its lists of actors to
// ignore (anything-but) emptied, and those lists.
func withoutActors(v any) (any, [][]any) {
	var lists [][]any
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, el := range x {
				if l, ok := el.([]any); ok && k == "anything-but" {
					lists = append(lists, l)
					out[k] = []any{}
					continue
				}
				out[k] = walk(el)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, el := range x {
				out[i] = walk(el)
			}
			return out
		}
		return v
	}
	return walk(v), lists
}

// TestMemberForwardsWhatTheCentralRulesMatch: given the central
// deployment's member_settings, the member module's patterns are the
// central module's: the Config patterns byte for byte, the CloudTrail
// patterns the same but for the actors they ignore, which add the member
// role to the central roles and the central ignore_actor_arns. Both equal
// what Go renders.
func TestMemberForwardsWhatTheCentralRulesMatch(t *testing.T) {
	root := loadModule(t, moduleDir(t))
	member := loadModule(t, memberDir(t))
	defs := remediators.Definitions()
	for _, tc := range []struct {
		name string
		vars map[string]cty.Value
	}{
		{"defaults", nil},
		{"subset, rule_map, a rule off, no generated names", map[string]cty.Value{
			"enabled_remediators":        strs(defs[0].Name, defs[2].Name),
			"rule_map":                   cty.MapVal(map[string]cty.Value{"corp-rule": cty.StringVal(defs[0].Name)}),
			"config_rules":               cty.MapVal(map[string]cty.Value{defs[0].Rules[0].Name: cty.False}),
			"match_generated_rule_names": cty.False,
			"ignore_actor_arns":          strs(ctAutomationRole),
		}},
		{"CloudTrail path off", map[string]cty.Value{"enable_cloudtrail_path": cty.False}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]cty.Value{"organization_id": cty.StringVal(testOrg)}
			for k, v := range tc.vars {
				vars[k] = v
			}
			re := newEval(t, root, vars)
			out := root.block(t, "output", "member_settings")
			settings, _ := re.attr(out.Body, "value", nil)
			mvars := map[string]cty.Value{}
			for k, v := range settings.AsValueMap() {
				mvars[k] = v
			}
			me := memberEval(t, member, testMember, testRegion, mvars)

			rootConfig, memberConfig := re.local("event_patterns"), me.local("event_patterns")
			if got, want := ctyJSON(t, memberConfig), ctyJSON(t, rootConfig); got != want {
				t.Errorf("Config patterns: the member forwards\n%s\nthe central rules match\n%s", got, want)
			}
			rootCT, memberCT := re.local("cloudtrail_patterns").AsValueMap(), me.local("cloudtrail_patterns").AsValueMap()
			if d := sameSet(sortedKeys(memberCT), sortedKeys(rootCT)); d != "" {
				t.Errorf("CloudTrail rules (member vs central): %s", d)
			}
			ignore := ctyStrings(t, "member local.ignore_actor_arns", me.local("ignore_actor_arns"))
			wantIgnore := append([]string{"arn:aws:iam::" + testMember + ":role/" + testMemberRole}, ctyStrings(t, "central_role_arns", mvars["central_role_arns"])...)
			wantIgnore = append(wantIgnore, ctyStrings(t, "ignore_actor_arns", mvars["ignore_actor_arns"])...)
			if !slices.Equal(ignore, wantIgnore) {
				t.Errorf("the member ignores %q, want the member role, the central roles and ignore_actor_arns: %q", ignore, wantIgnore)
			}
			enabled := ctyStrings(t, "enabled_remediators", mvars["enabled_remediators"])
			goCT := map[string][]byte{}
			if mvars["enable_cloudtrail_path"].True() {
				var err error
				if goCT, err = CloudTrailPatterns(TriggerCalls(enabled), ignore); err != nil {
					t.Fatal(err)
				}
			}
			if d := sameSet(sortedKeys(memberCT), sortedKeys(goCT)); d != "" {
				t.Errorf("CloudTrail rules (member vs Go): %s", d)
			}
			for svc, p := range memberCT {
				if string(goCT[svc]) != p.AsString() {
					t.Errorf("CloudTrail %s: the member forwards\n%s\nGo renders\n%s", svc, p.AsString(), goCT[svc])
				}
				got, _ := withoutActors(decodeJSON(t, p.AsString()))
				want, lists := withoutActors(decodeJSON(t, rootCT[svc].AsString()))
				if mustJSON(t, got) != mustJSON(t, want) || len(lists) == 0 {
					t.Errorf("CloudTrail %s: the member's pattern matches other calls than the central one's:\n%s\n%s", svc, p.AsString(), rootCT[svc].AsString())
				}
			}
			// Every pattern has its rule, and every rule sends to the
			// central bus with the forwarding role.
			rule := member.block(t, "resource", "aws_cloudwatch_event_rule", "forward")
			var keys []string
			for _, each := range me.forEach(rule) {
				keys = append(keys, each["each"].GetAttr("key").AsString())
				if p, _ := me.attr(rule.Body, "event_pattern", each); !p.RawEquals(each["each"].GetAttr("value")) {
					t.Errorf("rule %s: event_pattern is not the pattern of its key", keys[len(keys)-1])
				}
			}
			var want []string
			for k := range rootConfig.AsValueMap() {
				want = append(want, "config-"+k)
			}
			for k := range memberCT {
				want = append(want, "cloudtrail-"+k)
			}
			if d := sameSet(keys, want); d != "" {
				t.Errorf("forwarding rules: %s", d)
			}
		})
	}
	target := member.block(t, "resource", "aws_cloudwatch_event_target", "forward")
	e := memberEval(t, member, testMember, testOtherRegion, memberVars(nil))
	if v, _ := e.attr(target.Body, "arn", nil); v.AsString() != "arn:aws:events:"+testRegion+":"+testAccount+":event-bus/default" {
		t.Errorf("the forwarding target is %s, want the central account's default bus in the central region", v.AsString())
	}
	if !refersToAddr(target.Body.Attributes["role_arn"].Expr, "aws_iam_role.forward.arn") {
		t.Error("the forwarding target must send with aws_iam_role.forward (EventBridge requires a role for another account's bus)")
	}
	if got, want := policyDocument(t, e, "forward"), canonicalPolicy(t, `{"Statement":[{"Sid":"ForwardToCentralBus","Effect":"Allow","Action":"events:PutEvents","Resource":"arn:aws:events:`+testRegion+`:`+testAccount+`:event-bus/default"}]}`); got != want {
		t.Errorf("the forwarding role may\n%s\nwant PutEvents on the central bus only:\n%s", got, want)
	}
}

// TestCentralBusAdmitsTheOrganisation: with organization_id, the default
// bus's policy admits events:PutEvents from the organisation's principals
// only, and the remediate and sweep functions may assume the member role in
// the organisation's accounts; without it, neither exists.
func TestCentralBusAdmitsTheOrganisation(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	bus := "arn:aws:events:" + testRegion + ":" + testAccount + ":event-bus/default"
	for _, org := range []string{"", testOrg} {
		e := newEval(t, m, map[string]cty.Value{"organization_id": cty.StringVal(org), "member_role_name": cty.StringVal("ar-member")})
		for _, addr := range [][2]string{{"data", "aws_iam_policy_document"}, {"resource", "aws_cloudwatch_event_bus_policy"}} {
			name := map[string]string{"data": "event_bus", "resource": "organization"}[addr[0]]
			v, _ := e.attr(m.block(t, addr[0], addr[1], name).Body, "count", nil)
			if n, _ := v.AsBigFloat().Int64(); (n == 1) != (org != "") || n > 1 {
				t.Errorf("organization_id %q: %d %s.%s", org, n, addr[1], name)
			}
		}
		access := policyDocument(t, e, "member_access")
		if org == "" {
			if access != canonicalPolicy(t, `{"Statement":[]}`) {
				t.Errorf("without organization_id the functions may\n%s", access)
			}
			continue
		}
		want := canonicalPolicy(t, `{"Statement":[{"Sid":"OrganizationPutEvents","Effect":"Allow","Principal":"*","Action":"events:PutEvents","Resource":"`+bus+`",
			"Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+testOrg+`"}}}]}`)
		if got := policyDocument(t, e, "event_bus"); got != want {
			t.Errorf("the bus policy is\n%s\nwant\n%s", got, want)
		}
		want = canonicalPolicy(t, `{"Statement":[{"Sid":"AssumeMemberRoles","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/ar-member",
			"Condition":{"StringEquals":{"aws:ResourceOrgID":"`+testOrg+`"}}}]}`)
		if access != want {
			t.Errorf("the functions may\n%s\nwant\n%s", access, want)
		}
	}
	p := m.block(t, "resource", "aws_cloudwatch_event_bus_policy", "organization")
	if !refersToAddr(p.Body.Attributes["policy"].Expr, "data.aws_iam_policy_document.event_bus.json") {
		t.Error("aws_cloudwatch_event_bus_policy.organization must put data.aws_iam_policy_document.event_bus")
	}
	// The roles a member trusts are the functions that assume the member
	// role: those whose policy merges member_access.
	e := newEval(t, m, map[string]cty.Value{"organization_id": cty.StringVal(testOrg)})
	var assuming []string
	for _, fn := range ctyStrings(t, "functions", e.local("functions")) {
		if _, sources := docStatements(t, e, fn); slices.Contains(sources, "member_access") {
			assuming = append(assuming, fmt.Sprintf("arn:aws:iam::%s:role/autoremediate-%s", testAccount, fn))
		}
	}
	if got := ctyStrings(t, "local.member_trust_role_arns", e.local("member_trust_role_arns")); !slices.Equal(got, assuming) || len(got) == 0 {
		t.Errorf("member_trust_role_arns = %q, want the roles of the functions that assume the member role: %q", got, assuming)
	}
}

// TestCentralRulesMatchMemberEvents: a forwarded event keeps its account,
// so no central pattern may name an account (or the region).
func TestCentralRulesMatchMemberEvents(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, map[string]cty.Value{"organization_id": cty.StringVal(testOrg)})
	for _, l := range []string{"event_patterns", "cloudtrail_patterns"} {
		for k, p := range e.local(l).AsValueMap() {
			var v map[string]any
			if err := json.Unmarshal([]byte(p.AsString()), &v); err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{"account", "region"} {
				if _, ok := v[field]; ok {
					t.Errorf("local.%s[%s] matches on %s: events forwarded from members would not reach the function", l, k, field)
				}
			}
		}
	}
}

// TestMemberModuleMatchesProviderSchema checks the member module against
// the provider schema subset, like the root module.
func TestMemberModuleMatchesProviderSchema(t *testing.T) {
	s := loadSchemas(t, filepath.Join(moduleDir(t), "testdata", "aws-schema"))
	m := loadModule(t, memberDir(t))
	if n := len(m.blocks("resource")); n < 6 {
		t.Fatalf("only %d resources found: is this the member module?", n)
	}
	problems, err := checkSchemas(s, m.files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestMemberModuleReadsTheRootsFiles: the member module reads the root
// module's remediators.json and pattern templates, not copies of them.
func TestMemberModuleReadsTheRootsFiles(t *testing.T) {
	m := loadModule(t, memberDir(t))
	e := memberEval(t, m, testMember, testRegion, memberVars(nil))
	root, err := filepath.Abs(e.local("root").AsString())
	if err != nil || root != moduleDir(t) {
		t.Errorf("local.root is %s (%v), want the root module %s", root, err, moduleDir(t))
	}
	entries, err := os.ReadDir(memberDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en.IsDir() || strings.HasSuffix(en.Name(), ".json") || strings.HasSuffix(en.Name(), ".tftpl") {
			t.Errorf("modules/member/%s: the member module must read the root's files, not its own copies", en.Name())
		}
	}
	var readsCatalog bool
	for _, tr := range m.local(t, "catalog").Variables() {
		readsCatalog = readsCatalog || tr.RootName() == "local" && len(tr) > 1 && tr[1].(hcl.TraverseAttr).Name == "root"
	}
	if !readsCatalog {
		t.Error("local.catalog does not read local.root's remediators.json")
	}
}

// TestOrganisationInputsAreValidated: the organisation's inputs take what
// AWS takes (Organizations IDs, STS external IDs up to 1224 characters,
// account IDs, region names, role names) in both modules, and refuse the
// rest at plan time.
func TestOrganisationInputsAreValidated(t *testing.T) {
	root, member := loadModule(t, moduleDir(t)), loadModule(t, memberDir(t))
	long := strings.Repeat("x", 1224)
	for _, tc := range []struct {
		m        *module
		name     string
		accepted []cty.Value
		rejected []cty.Value
	}{
		{root, "organization_id", []cty.Value{cty.StringVal(""), cty.StringVal("o-a1b2c3d4e5"), cty.StringVal("o-" + strings.Repeat("a", 32))},
			[]cty.Value{cty.StringVal("o-123"), cty.StringVal("O-A1B2C3D4E5"), cty.StringVal("r-a1b2"), cty.StringVal("a1b2c3d4e5")}},
		{root, "member_role_external_id", []cty.Value{cty.StringVal(""), cty.StringVal("ab"), cty.StringVal("ext-1"), cty.StringVal("a+b=c,d.e@f:g/h_i-j"), cty.StringVal(long)},
			[]cty.Value{cty.StringVal("a"), cty.StringVal(long + "x"), cty.StringVal("has space"), cty.StringVal("semi;colon")}},
		{member, "external_id", []cty.Value{cty.StringVal(""), cty.StringVal("ext-1"), cty.StringVal(long)},
			[]cty.Value{cty.StringVal("a"), cty.StringVal(long + "x"), cty.StringVal("has space")}},
		{root, "member_role_name", []cty.Value{cty.StringVal("autoremediate-member"), cty.StringVal("a"), cty.StringVal(strings.Repeat("r", 64))},
			[]cty.Value{cty.StringVal(""), cty.StringVal("path/name"), cty.StringVal(strings.Repeat("r", 65))}},
		{member, "role_name", []cty.Value{cty.StringVal("autoremediate-member")}, []cty.Value{cty.StringVal("path/name")}},
		{root, "excluded_accounts", []cty.Value{strs(), strs("111122223333", "444455556666")},
			[]cty.Value{strs("11112222333"), strs("111122223333", "abc")}},
		{root, "regions", []cty.Value{strs(), strs("eu-west-1", "us-gov-west-1", "ap-southeast-3")},
			[]cty.Value{strs("eu-west"), strs("EU-WEST-1"), strs("all")}},
		{member, "central_account_id", []cty.Value{cty.StringVal("111122223333")}, []cty.Value{cty.StringVal(""), cty.StringVal("1111-2222-3333")}},
		{member, "central_region", []cty.Value{cty.StringVal("eu-central-2")}, []cty.Value{cty.StringVal("europe")}},
		{member, "central_role_arns", []cty.Value{strs(centralRoles...)},
			[]cty.Value{strs(), strs("arn:aws:sts::111122223333:assumed-role/x/y"), strs("arn:aws:iam::111122223333:user/u")}},
	} {
		for _, v := range tc.accepted {
			if !validation(t, tc.m, tc.name, v) {
				t.Errorf("%s = %s is refused", tc.name, v.GoString())
			}
		}
		for _, v := range tc.rejected {
			if validation(t, tc.m, tc.name, v) {
				t.Errorf("%s = %s is accepted", tc.name, v.GoString())
			}
		}
	}
}

package terraform

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/report"
	"github.com/autoremediate/autoremediate/sweep"
)

// statement is one IAM statement of a policy document in iam.tf as
// Terraform generates it: a static statement block, or one element of a
// dynamic "statement".
type statement struct {
	sid        string
	actions    []string
	resources  []string // "?" for a value known only at apply (an ARN)
	conditions []remediation.Condition
	// ignored: the block carries a tfsec ignore of the wildcard check.
	ignored bool
	where   string
}

// String is the statement as the tests compare it: with its conditions,
// sorted.
func (s statement) String() string {
	out := fmt.Sprintf("%s: %s on %s", s.sid, strings.Join(s.actions, ","), strings.Join(s.resources, ","))
	var cs []string
	for _, c := range s.conditions {
		cs = append(cs, fmt.Sprintf("%s %s=%s", c.Test, c.Variable, strings.Join(c.Values, "|")))
	}
	sort.Strings(cs)
	if len(cs) > 0 {
		out += " if " + strings.Join(cs, " and ")
	}
	return out
}

const wildcardIgnore = "tfsec:ignore:aws-iam-no-policy-wildcards"

// docStatements evaluates the statements of
// data.aws_iam_policy_document.<name> and lists the documents it merges.
func docStatements(t testing.TB, e *tfEval, name string) (ss []statement, sources []string) {
	t.Helper()
	doc := e.m.block(t, "data", "aws_iam_policy_document", name)
	if a, ok := doc.Body.Attributes["source_policy_documents"]; ok {
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() == "data" && len(tr) >= 3 {
				typ, _ := tr[1].(hcl.TraverseAttr)
				n, _ := tr[2].(hcl.TraverseAttr)
				if typ.Name == "aws_iam_policy_document" {
					sources = append(sources, n.Name)
				}
			}
		}
	}
	prevEnd := doc.OpenBraceRange.End
	for _, b := range doc.Body.Blocks {
		// A tfsec ignore sits on the line above the block or inside it.
		text := e.m.source(t, hcl.Range{Filename: b.Range().Filename, Start: prevEnd, End: b.Range().End})
		prevEnd = b.Range().End
		ignored := strings.Contains(text, wildcardIgnore)
		switch {
		case b.Type == "statement":
			ss = append(ss, evalStatement(t, e, name, b.Body, nil, ignored))
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "statement":
			content := findBlock(b.Body, "content")
			if content == nil {
				t.Fatalf("data.aws_iam_policy_document.%s: dynamic statement at %s without content", name, b.Range())
			}
			for _, it := range e.dynamicIterations(b, nil) {
				ss = append(ss, evalStatement(t, e, name, content.Body, it, ignored))
			}
		case b.Type == "lifecycle":
		default:
			t.Fatalf("data.aws_iam_policy_document.%s: unexpected block %s at %s", name, b.Type, b.Range())
		}
	}
	sort.Strings(sources)
	return ss, sources
}

func evalStatement(t testing.TB, e *tfEval, doc string, body *hclsyntax.Body, it map[string]cty.Value, ignored bool) statement {
	t.Helper()
	where := fmt.Sprintf("data.aws_iam_policy_document.%s at %s", doc, body.Range())
	s := statement{ignored: ignored, where: where}
	if v, ok := e.attr(body, "sid", it); ok {
		s.sid = v.AsString()
	}
	v, ok := e.attr(body, "actions", it)
	if !ok {
		t.Fatalf("%s: statement without actions (not_actions is not allowed)", where)
	}
	s.actions = ctyStrings(t, where+" actions", v)
	v, ok = e.attr(body, "resources", it)
	if !ok {
		t.Fatalf("%s: statement %s has no resources", where, s.sid)
	}
	s.resources = ctyStrings(t, where+" resources", v)
	if v, ok := e.attr(body, "effect", it); ok && v.AsString() != "Allow" {
		t.Errorf("%s: statement %s is not an Allow", where, s.sid)
	}
	condition := func(c *hclsyntax.Body, it map[string]cty.Value) {
		var cond remediation.Condition
		if v, ok := e.attr(c, "test", it); ok {
			cond.Test = v.AsString()
		}
		if v, ok := e.attr(c, "variable", it); ok {
			cond.Variable = v.AsString()
		}
		if v, ok := e.attr(c, "values", it); ok {
			cond.Values = ctyStrings(t, where+" condition values", v)
		}
		s.conditions = append(s.conditions, cond)
	}
	for _, c := range body.Blocks {
		switch {
		case c.Type == "condition":
			condition(c.Body, it)
		case c.Type == "dynamic" && len(c.Labels) == 1 && c.Labels[0] == "condition":
			content := findBlock(c.Body, "content")
			if content == nil {
				t.Fatalf("%s: dynamic condition at %s without content", where, c.Range())
			}
			for _, inner := range e.dynamicIterations(c, it) {
				condition(content.Body, inner)
			}
		}
	}
	return s
}

func allActions(ss []statement) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.actions...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// wildcardOnly are the actions AWS grants only on "*" (no resource type in
// the Service Authorization Reference), besides EC2's Describe* actions,
// none of which supports resource-level permissions. Any other action
// granted on "*" fails the tests: it must be scoped to resource ARNs.
var wildcardOnly = map[string]bool{
	"ec2:GetEbsEncryptionByDefault":     true,
	"ec2:EnableEbsEncryptionByDefault":  true,
	"ec2:GetEbsDefaultKmsKeyId":         true,
	"ec2:ModifyEbsDefaultKmsKeyId":      true,
	"ec2:DisableEbsEncryptionByDefault": true,
	"ec2:ResetEbsDefaultKmsKeyId":       true,
	"cloudwatch:GetMetricData":          true,
	"cloudwatch:ListMetrics":            true,
	"cloudwatch:PutMetricData":          true, // limited by the cloudwatch:namespace condition instead
	"organizations:ListAccounts":        true,
	"s3:ListAllMyBuckets":               true,
	"sts:GetCallerIdentity":             true,
	"xray:PutTraceSegments":             true,
	"xray:PutTelemetryRecords":          true,
}

func needsNoResource(action string) bool {
	return wildcardOnly[action] || strings.HasPrefix(action, "ec2:Describe")
}

// checkScoped fails for an action granted on "*" that AWS can scope to
// resources.
func checkScoped(t *testing.T, what string, ss []statement) {
	t.Helper()
	for _, s := range ss {
		if !slices.Contains(s.resources, "*") {
			continue
		}
		for _, a := range s.actions {
			if !needsNoResource(a) {
				t.Errorf("%s: statement %s at %s grants %s on \"*\": AWS supports resource-level permissions for it, scope it", what, s.sid, s.where, a)
			}
		}
	}
}

// expanded returns the permissions as Terraform grants them in the test
// account.
func expanded(ps []remediation.Permission) []string {
	var out []string
	for _, p := range ps {
		s := statement{sid: p.Sid, actions: p.Actions, conditions: remediation.ExpandConditions(p.Conditions, testPartition, testRegion, testAccount)}
		for _, r := range p.Resources {
			s.resources = append(s.resources, remediation.ExpandResource(r, testPartition, testRegion, testAccount))
		}
		out = append(out, s.String())
	}
	sort.Strings(out)
	return out
}

func statementStrings(ss []statement) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.String())
	}
	sort.Strings(out)
	return out
}

func strs(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	var vs []cty.Value
	for _, s := range ss {
		vs = append(vs, cty.StringVal(s))
	}
	return cty.ListVal(vs)
}

// enabledCases are the enabled_remediators a policy test plans with: the
// default (all), each remediator alone, and two out of registry order.
func enabledCases() map[string][]string {
	defs := remediators.Definitions()
	cases := map[string][]string{"default (all)": nil}
	for _, d := range defs {
		cases[d.Name] = []string{d.Name}
	}
	cases["two"] = []string{defs[len(defs)-1].Name, defs[0].Name}
	return cases
}

// TestRemediatorPolicyMatchesDefinitions: the statements Terraform grants
// for the enabled remediators are exactly their definitions' permissions
// (the JSON read through the module's HCL), with the placeholders filled;
// only the statements with a wildcard inside an ARN pass through the
// statement that tfsec's wildcard check ignores, and no action AWS can
// scope is granted on "*".
func TestRemediatorPolicyMatchesDefinitions(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	defs := remediators.Definitions()
	for name, enabled := range enabledCases() {
		t.Run(name, func(t *testing.T) {
			vars := map[string]cty.Value{}
			if enabled != nil {
				vars["enabled_remediators"] = strs(enabled...)
			}
			ss, _ := docStatements(t, newEval(t, m, vars), "remediators")
			var want []remediation.Permission
			for _, d := range defs {
				if enabled == nil || slices.Contains(enabled, d.Name) {
					want = append(want, d.Permissions...)
				}
			}
			if got, want := statementStrings(ss), expanded(want); !slices.Equal(got, want) {
				t.Errorf("data.aws_iam_policy_document.remediators grants\n  %s\nthe definitions say\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
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
			checkScoped(t, "remediators", ss)
		})
	}
}

// TestPublisherPolicyMatchesCode: the publisher statements are exactly
// publish.Permissions() when everything is on, each is granted
// only when the setting that makes the call is on, and PutMetricData
// carries the cloudwatch:namespace condition on var.metrics_namespace.
func TestPublisherPolicyMatchesCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	for _, tc := range []struct {
		notify bool
		mode   string
		want   []string
	}{
		{true, "both", publish.Permissions()},
		{true, "api", publish.Permissions()},
		{true, "emf", []string{"sns:Publish"}},
		{false, "off", nil},
		{false, "both", []string{"cloudwatch:PutMetricData"}},
	} {
		e := newEval(t, m, map[string]cty.Value{
			"notify_outcomes": cty.BoolVal(tc.notify), "metrics_mode": cty.StringVal(tc.mode), "metrics_namespace": cty.StringVal("Test/NS"),
		})
		ss, _ := docStatements(t, e, "publisher")
		if d := sameSet(allActions(ss), tc.want); d != "" {
			t.Errorf("publisher with notify_outcomes=%t, metrics_mode=%s: %s", tc.notify, tc.mode, d)
		}
		checkScoped(t, "publisher", ss)
		for _, s := range ss {
			if !slices.Contains(s.actions, "cloudwatch:PutMetricData") {
				continue
			}
			found := false
			for _, c := range s.conditions {
				if c.Variable == "cloudwatch:namespace" && slices.Equal(c.Values, []string{"Test/NS"}) {
					found = true
				}
			}
			if !found {
				t.Errorf("publisher statement %s at %s grants cloudwatch:PutMetricData without the cloudwatch:namespace condition on var.metrics_namespace", s.sid, s.where)
			}
		}
	}
}

// TestScheduledFunctionPoliciesMatchCode: the sweep's own statements are
// exactly sweep.Permissions() (its listings come from remediators.json),
// the report's actions exactly report.Permissions().
func TestScheduledFunctionPoliciesMatchCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, nil)
	ss, _ := docStatements(t, e, "sweep_permissions")
	if got, want := statementStrings(ss), expanded(sweep.Permissions(remediators.Definitions())); !slices.Equal(got, want) {
		t.Errorf("data.aws_iam_policy_document.sweep_permissions grants\n  %s\nsweep.Permissions() says\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	checkScoped(t, "sweep_permissions", ss)
	for _, s := range ss {
		if s.ignored {
			t.Errorf("sweep_permissions: statement %s at %s is hidden from tfsec's wildcard check", s.sid, s.where)
		}
	}
	ss, _ = docStatements(t, e, "report_permissions")
	if d := sameSet(allActions(ss), report.Permissions()); d != "" {
		t.Errorf("report_permissions: %s", d)
	}
	checkScoped(t, "report_permissions", ss)
}

// infraActions are what every function needs besides its own calls: its log
// group, X-Ray tracing and the dead-letter queue (on-failure destination).
var infraActions = []string{"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "sqs:SendMessage"}

var validSid = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// TestFunctionPolicyGrantsOnlyThese: each function's role policy is its
// document: the infrastructure basics plus exactly the permission documents
// of what it runs, with Sids IAM accepts and no Sid twice (the provider
// rejects duplicate Sids among merged documents).
func TestFunctionPolicyGrantsOnlyThese(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	// Everything on, so that every statement is there.
	e := newEval(t, m, map[string]cty.Value{"metrics_mode": cty.StringVal("both"), "notify_outcomes": cty.True, "organization_id": cty.StringVal("o-a1b2c3d4e5"),
		"sweep_accounts": cty.StringVal("all")})
	want := map[string][]string{
		"remediate":   {"member_access", "publisher", "remediators", "state"},
		"sweep":       {"member_access", "publisher", "remediators", "state", "sweep_permissions", "sweep_planner"},
		"sweepworker": {"member_access", "publisher", "remediators", "state", "sweep_permissions", "sweep_worker_queue"},
		"report":      {"report_permissions"},
	}
	for fn, sources := range want {
		ss, got := docStatements(t, e, fn)
		if !slices.Equal(got, sources) {
			t.Errorf("data.aws_iam_policy_document.%s merges %v, want %v", fn, got, sources)
		}
		for _, s := range ss {
			if extra := diff(s.actions, infraActions); len(extra) > 0 {
				t.Errorf("data.aws_iam_policy_document.%s: statement %s grants %v: only %v may be granted outside the permission documents", fn, s.sid, extra, infraActions)
			}
		}
		if d := sameSet(allActions(ss), infraActions); d != "" {
			t.Errorf("data.aws_iam_policy_document.%s basics: %s", fn, d)
		}
		checkScoped(t, fn, ss)
		sids := map[string]string{}
		all := ss
		for _, src := range got {
			more, _ := docStatements(t, e, src)
			all = append(all, more...)
		}
		for _, s := range all {
			if !validSid.MatchString(s.sid) {
				t.Errorf("%s: Sid %q of %s: IAM takes letters and digits only", fn, s.sid, s.where)
			}
			if other, dup := sids[s.sid]; dup {
				t.Errorf("%s: Sid %q is used at %s and %s", fn, s.sid, other, s.where)
			}
			sids[s.sid] = s.where
		}
		// The role policy of the function is this document.
		rp := m.block(t, "resource", "aws_iam_role_policy", fn)
		var docs []string
		for _, tr := range rp.Body.Attributes["policy"].Expr.Variables() {
			if tr.RootName() == "data" && len(tr) >= 3 {
				n, _ := tr[2].(hcl.TraverseAttr)
				docs = append(docs, n.Name)
			}
		}
		if !slices.Equal(docs, []string{fn}) {
			t.Errorf("aws_iam_role_policy.%s uses %v, want data.aws_iam_policy_document.%s", fn, docs, fn)
		}
	}
	if n := len(m.blocks("resource", "aws_iam_role_policy")); n != len(want)+4 {
		t.Errorf("%d aws_iam_role_policy resources: want one per function, the scheduler's, the Config recorder's and the outcome archive's two (Firehose's and its SNS subscription's)", n)
	}
}

// configRule is an aws_config_config_rule.managed instance as Terraform
// plans it.
type configRule struct {
	name, owner, identifier, params string
	scope                           []string
	scopes                          int // scope blocks
}

func planConfigRules(t *testing.T, m *module, vars map[string]cty.Value) map[string]configRule {
	t.Helper()
	e := newEval(t, m, vars)
	b := m.block(t, "resource", "aws_config_config_rule", "managed")
	out := map[string]configRule{}
	for _, each := range e.forEach(b) {
		key := each["each"].GetAttr("key").AsString()
		var r configRule
		name, _ := e.attr(b.Body, "name", each)
		r.name = name.AsString()
		if v, ok := e.attr(b.Body, "input_parameters", each); ok && !v.IsNull() {
			r.params = v.AsString()
		}
		for _, blk := range b.Body.Blocks {
			switch {
			case blk.Type == "source":
				owner, _ := e.attr(blk.Body, "owner", each)
				id, _ := e.attr(blk.Body, "source_identifier", each)
				r.owner, r.identifier = owner.AsString(), id.AsString()
			case blk.Type == "dynamic" && blk.Labels[0] == "scope":
				for _, it := range e.dynamicIterations(blk, each) {
					v, _ := e.attr(findBlock(blk.Body, "content").Body, "compliance_resource_types", it)
					r.scope = ctyStrings(t, "compliance_resource_types", v)
					r.scopes++
				}
			case blk.Type == "scope":
				t.Errorf("aws_config_config_rule.managed: a static scope block at %s: the scope comes from remediators.json", blk.Range())
			}
		}
		out[key] = r
	}
	return out
}

// TestConfigRulesMatchDefinitions: the Config rules Terraform deploys are
// the managed rules of the enabled remediators' definitions, minus those
// config_rules switches off, each with the definition's source identifier,
// scope and input parameters.
func TestConfigRulesMatchDefinitions(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	defs := remediators.Definitions()
	var first string
	for _, r := range defs[0].Rules {
		first = r.Name
	}
	for _, tc := range []struct {
		name    string
		vars    map[string]cty.Value
		enabled func(remediators.Definition) bool
		off     string
	}{
		{"defaults", nil, func(remediators.Definition) bool { return true }, ""},
		{"one remediator, one rule off", map[string]cty.Value{
			"enabled_remediators": strs(defs[0].Name),
			"config_rules":        cty.MapVal(map[string]cty.Value{first: cty.False}),
		}, func(d remediators.Definition) bool { return d.Name == defs[0].Name }, first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planConfigRules(t, m, tc.vars)
			want := map[string]remediation.ManagedRule{}
			for _, d := range defs {
				for _, r := range d.Rules {
					if tc.enabled(d) && r.Name != tc.off {
						want[r.Name] = r
					}
				}
			}
			if d := sameSet(sortedKeys(got), sortedKeys(want)); d != "" {
				t.Fatalf("Config rules: %s", d)
			}
			for name, r := range want {
				g := got[name]
				params := ""
				if len(r.InputParameters) > 0 {
					params = mustJSON(t, r.InputParameters)
				}
				if g.name != name || g.owner != "AWS" || g.identifier != r.Identifier || g.params != params {
					t.Errorf("rule %s: Terraform deploys %+v; the definition says identifier %s, parameters %s", name, g, r.Identifier, params)
				}
				if wantScopes := min(len(r.ResourceTypes), 1); g.scopes != wantScopes || !slices.Equal(g.scope, r.ResourceTypes) {
					t.Errorf("rule %s: scope %v (%d blocks), the definition says %v", name, g.scope, g.scopes, r.ResourceTypes)
				}
			}
		})
	}
}

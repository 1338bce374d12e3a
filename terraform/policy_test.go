package terraform

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/report"
	"github.com/autoremediate/autoremediate/sweep"
)

// statement is one IAM statement of a policy document in iam.tf: a static
// statement block or the content of a dynamic "statement".
type statement struct {
	sid        string
	actions    []string
	wildcard   bool             // resources = ["*"]
	forEach    hcl.Expression   // nil for a static statement
	conditions []hclsyntax.Body // condition blocks
	where      string
}

// docStatements reads the statements of data.aws_iam_policy_document.<name>.
func docStatements(t testing.TB, m *module, name string) (ss []statement, sources []string) {
	t.Helper()
	doc := m.block(t, "data", "aws_iam_policy_document", name)
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
	for _, b := range doc.Body.Blocks {
		body := b.Body
		var forEach hcl.Expression
		switch {
		case b.Type == "statement":
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "statement":
			fe, ok := b.Body.Attributes["for_each"]
			content := findBlock(b.Body, "content")
			if !ok || content == nil {
				t.Fatalf("data.aws_iam_policy_document.%s: dynamic statement at %s without for_each or content", name, b.Range())
			}
			forEach, body = fe.Expr, content.Body
		default:
			t.Fatalf("data.aws_iam_policy_document.%s: unexpected block %s at %s", name, b.Type, b.Range())
		}
		a, ok := body.Attributes["actions"]
		if !ok {
			t.Fatalf("data.aws_iam_policy_document.%s: statement at %s without actions (not_actions is not allowed)", name, b.Range())
		}
		s := statement{actions: literalStrings(t, name+" actions", a.Expr), forEach: forEach, where: b.Range().String()}
		if sid, ok := body.Attributes["sid"]; ok {
			if v, diags := sid.Expr.Value(nil); !diags.HasErrors() {
				s.sid = v.AsString()
			}
		}
		if r, ok := body.Attributes["resources"]; ok {
			s.wildcard = exprIsWildcard(r.Expr)
		} else {
			t.Errorf("data.aws_iam_policy_document.%s: statement %s at %s has no resources", name, s.sid, s.where)
		}
		if e, ok := body.Attributes["effect"]; ok {
			if v, _ := e.Expr.Value(nil); v.AsString() != "Allow" {
				t.Errorf("data.aws_iam_policy_document.%s: statement %s is not an Allow", name, s.sid)
			}
		}
		for _, c := range body.Blocks {
			if c.Type == "condition" {
				s.conditions = append(s.conditions, *c.Body)
			}
		}
		ss = append(ss, s)
	}
	sort.Strings(sources)
	return ss, sources
}

func allActions(ss []statement) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.actions...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// wildcardOnly are the actions AWS grants only on "*" (no resource-level
// permissions, per the Service Authorization Reference). Any other action
// granted on "*" fails the test: it must be scoped to resource ARNs.
var wildcardOnly = map[string]bool{
	"ec2:DescribeInstances":            true,
	"ec2:DescribeVolumes":              true,
	"ec2:GetEbsEncryptionByDefault":    true,
	"ec2:EnableEbsEncryptionByDefault": true,
	"ec2:GetEbsDefaultKmsKeyId":        true,
	"ec2:ModifyEbsDefaultKmsKeyId":     true,
	"cloudwatch:GetMetricData":         true,
	"cloudwatch:PutMetricData":         true, // limited by the cloudwatch:namespace condition instead
	"s3:ListAllMyBuckets":              true,
	"sts:GetCallerIdentity":            true,
	"xray:PutTraceSegments":            true,
	"xray:PutTelemetryRecords":         true,
}

func checkScoped(t *testing.T, what string, ss []statement) {
	t.Helper()
	for _, s := range ss {
		if !s.wildcard {
			continue
		}
		for _, a := range s.actions {
			if !wildcardOnly[a] {
				t.Errorf("%s: statement %s at %s grants %s on \"*\": AWS supports resource-level permissions for it, scope it", what, s.sid, s.where, a)
			}
		}
	}
}

// enabledRemediator returns the remediator a dynamic statement is granted
// for: its for_each must be contains(var.enabled_remediators, "<name>") ? [1] : [].
func enabledRemediator(t *testing.T, s statement) string {
	t.Helper()
	cond, ok := s.forEach.(*hclsyntax.ConditionalExpr)
	if !ok {
		t.Fatalf("statement %s at %s: for_each must be contains(var.enabled_remediators, \"<name>\") ? [1] : []", s.sid, s.where)
	}
	call, ok := cond.Condition.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "contains" || len(call.Args) != 2 || !referencesVar(call.Args[0], "enabled_remediators") {
		t.Fatalf("statement %s at %s: for_each must test contains(var.enabled_remediators, \"<name>\")", s.sid, s.where)
	}
	v, diags := call.Args[1].Value(nil)
	if diags.HasErrors() {
		t.Fatalf("statement %s at %s: the remediator name is not a literal", s.sid, s.where)
	}
	return v.AsString()
}

// TestRemediatorPolicyMatchesCode: the statements Terraform grants each
// enabled remediator are exactly the actions remediators.Permissions()
// lists, in both directions, scoped where AWS allows.
func TestRemediatorPolicyMatchesCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	ss, _ := docStatements(t, m, "remediators")
	byName := map[string][]statement{}
	for _, s := range ss {
		if s.forEach == nil {
			t.Errorf("data.aws_iam_policy_document.remediators: static statement %s at %s is granted whichever remediators are enabled", s.sid, s.where)
			continue
		}
		name := enabledRemediator(t, s)
		byName[name] = append(byName[name], s)
	}
	code := remediators.Permissions()
	if d := sameSet(sortedKeys(byName), sortedKeys(code)); d != "" {
		t.Errorf("remediators with permissions: %s", d)
	}
	if d := sameSet(sortedKeys(code), remediators.Names()); d != "" {
		t.Errorf("remediators.Permissions() and remediators.Names() disagree: %s", d)
	}
	for name, ss := range byName {
		if d := sameSet(allActions(ss), code[name]); d != "" {
			t.Errorf("remediator %s: %s", name, d)
		}
		checkScoped(t, "remediator "+name, ss)
	}
}

// TestPublisherPolicyMatchesCode: the publisher statements are exactly
// remediation.PublisherPermissions(), each switched by the variable that
// turns the call on, and PutMetricData carries the cloudwatch:namespace
// condition on var.metrics_namespace.
func TestPublisherPolicyMatchesCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	ss, _ := docStatements(t, m, "publisher")
	if d := sameSet(allActions(ss), remediation.PublisherPermissions()); d != "" {
		t.Errorf("publisher: %s", d)
	}
	checkScoped(t, "publisher", ss)
	switches := map[string]string{"sns:Publish": "notify_outcomes", "cloudwatch:PutMetricData": "metrics_mode"}
	for _, s := range ss {
		for _, a := range s.actions {
			if v := switches[a]; s.forEach == nil || !referencesVar(s.forEach, v) {
				t.Errorf("publisher statement %s at %s grants %s, which must depend on var.%s", s.sid, s.where, a, v)
			}
		}
		if !slices.Contains(s.actions, "cloudwatch:PutMetricData") {
			continue
		}
		found := false
		for _, c := range s.conditions {
			v, diags := c.Attributes["variable"].Expr.Value(nil)
			if !diags.HasErrors() && v.AsString() == "cloudwatch:namespace" && referencesVar(c.Attributes["values"].Expr, "metrics_namespace") {
				found = true
			}
		}
		if !found {
			t.Errorf("publisher statement %s at %s grants cloudwatch:PutMetricData without the cloudwatch:namespace condition on var.metrics_namespace", s.sid, s.where)
		}
	}
}

// TestScheduledFunctionPoliciesMatchCode: the sweep's and the report's own
// statements are exactly sweep.Permissions() and report.Permissions().
func TestScheduledFunctionPoliciesMatchCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	for doc, code := range map[string][]string{
		"sweep_permissions":  sweep.Permissions(),
		"report_permissions": report.Permissions(),
	} {
		ss, _ := docStatements(t, m, doc)
		if d := sameSet(allActions(ss), code); d != "" {
			t.Errorf("%s: %s", doc, d)
		}
		checkScoped(t, doc, ss)
	}
}

// infraActions are what every function needs besides its own calls: its log
// group, X-Ray tracing and the dead-letter queue (on-failure destination).
var infraActions = []string{"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "sqs:SendMessage"}

// TestFunctionPolicyGrantsOnlyThese: each function's role policy is its
// document: the infrastructure basics plus exactly the permission documents
// of what it runs.
func TestFunctionPolicyGrantsOnlyThese(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	want := map[string][]string{
		"remediate": {"publisher", "remediators"},
		"sweep":     {"publisher", "remediators", "sweep_permissions"},
		"report":    {"report_permissions"},
	}
	for fn, sources := range want {
		ss, got := docStatements(t, m, fn)
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
	if n := len(m.blocks("resource", "aws_iam_role_policy")); n != len(want)+2 {
		t.Errorf("%d aws_iam_role_policy resources: want one per function, the scheduler's and the Config recorder's", n)
	}
}

// TestConfigRulesMatchCode: the managed rules Terraform deploys are the
// ones remediation.ManagedRules() resolves, with the same remediator.
func TestConfigRulesMatchCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	rules := objectItems(t, "local.managed_rules", m.local(t, "managed_rules"))
	code := remediation.ManagedRules()
	if d := sameSet(sortedKeys(rules), sortedKeys(code)); d != "" {
		t.Errorf("managed rules: %s", d)
	}
	for name, e := range rules {
		items := objectItems(t, "local.managed_rules."+name, e)
		v, diags := items["remediator"].Value(nil)
		if diags.HasErrors() {
			t.Fatalf("local.managed_rules[%q].remediator is not a literal", name)
		}
		if want := code[name]; v.AsString() != want {
			t.Errorf("rule %s: Terraform says remediator %q, the code %q", name, v.AsString(), want)
		}
		id, diags := items["identifier"].Value(nil)
		if diags.HasErrors() {
			t.Fatalf("local.managed_rules[%q].identifier is not a literal", name)
		}
		// Managed rule names are their identifiers in lower case with dashes.
		if want := strings.ToUpper(strings.ReplaceAll(name, "-", "_")); id.AsString() != want {
			t.Errorf("rule %s: source identifier %q, want %q", name, id.AsString(), want)
		}
	}
}

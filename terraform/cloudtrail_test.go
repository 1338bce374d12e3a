package terraform

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/remediators"
)

// functionRoleARNs returns the ARNs of the functions' roles as
// aws_iam_role.function names them with vars (one per deployed function;
// the roles have no path, which the test checks).
func functionRoleARNs(t *testing.T, m *module, vars map[string]cty.Value) []string {
	t.Helper()
	e := newEval(t, m, vars)
	b := m.block(t, "resource", "aws_iam_role", "function")
	if _, ok := b.Body.Attributes["path"]; ok {
		t.Fatal("aws_iam_role.function sets a path: the roles' ARNs are no longer arn:aws:iam::ACCOUNT:role/NAME")
	}
	var out []string
	for _, each := range e.forEach(b) {
		name, _ := e.attr(b.Body, "name", each)
		out = append(out, fmt.Sprintf("arn:%s:iam::%s:role/%s", testPartition, testAccount, name.AsString()))
	}
	return out
}

// TestIgnoredActorsAreThePipelinesRoles: the actors the CloudTrail rules
// and the function ignore are the roles of every function the module
// deploys and the user's ignore_actor_arns, nothing else, and the function
// gets the same list (IGNORE_ACTOR_ARNS).
func TestIgnoredActorsAreThePipelinesRoles(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	for _, tc := range []struct {
		name string
		vars map[string]cty.Value
		user []string
	}{
		{"defaults", nil, nil},
		{"without scheduled functions, with other automation", map[string]cty.Value{
			"enable_sweep": cty.False, "enable_report": cty.False, "name": cty.StringVal("ar"),
			"ignore_actor_arns": strs(ctAutomationRole, ctAutomationUser),
		}, []string{ctAutomationRole, ctAutomationUser}},
		{"path off, other automation", map[string]cty.Value{
			"enable_cloudtrail_path": cty.False, "ignore_actor_arns": strs(ctAutomationUser),
		}, []string{ctAutomationUser}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roles := functionRoleARNs(t, m, tc.vars)
			want := append(slices.Clone(roles), tc.user...)
			got := ignoreList(t, m, tc.vars)
			if d := sameSet(got, want); d != "" || len(got) != len(want) {
				t.Errorf("local.ignore_actor_arns = %q: %s", got, d)
			}
			env := newEval(t, m, tc.vars).local("remediation_environment").GetAttr("IGNORE_ACTOR_ARNS")
			if !env.IsKnown() || env.AsString() != strings.Join(got, ",") {
				t.Errorf("IGNORE_ACTOR_ARNS = %#v, want %q", env, strings.Join(got, ","))
			}
		})
	}
}

// TestTerraformCloudTrailPatternsEqualGo evaluates the module's CloudTrail
// patterns for several settings and compares them, byte for byte, with the
// ones Go renders for the enabled remediators' triggers and the pipeline's
// roles (which the emulator test sends the fixtures through).
func TestTerraformCloudTrailPatternsEqualGo(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	imds, sse := remediators.EC2IMDSv2Definition().Name, remediators.S3EncryptionDefinition().Name
	for _, tc := range []struct {
		name    string
		vars    map[string]cty.Value
		enabled []string
		none    bool
	}{
		{"defaults", nil, nil, false},
		{"two remediators, other automation", map[string]cty.Value{
			"enabled_remediators": strs(imds, sse), "ignore_actor_arns": strs(ctAutomationUser),
		}, []string{imds, sse}, false},
		{"one service, no sweep", map[string]cty.Value{"enabled_remediators": strs(sse), "enable_sweep": cty.False}, []string{sse}, false},
		{"path off", map[string]cty.Value{"enable_cloudtrail_path": cty.False}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf := map[string]string{}
			for svc, v := range newEval(t, m, tc.vars).local("cloudtrail_patterns").AsValueMap() {
				tf[svc] = v.AsString()
			}
			if tc.none {
				if len(tf) > 0 {
					t.Errorf("enable_cloudtrail_path = false still renders CloudTrail patterns: %v", tf)
				}
				return
			}
			var user []string
			if v, ok := tc.vars["ignore_actor_arns"]; ok {
				user = ctyStrings(t, "ignore_actor_arns", v)
			}
			goes, err := CloudTrailPatterns(TriggerCalls(tc.enabled), append(functionRoleARNs(t, m, tc.vars), user...))
			if err != nil {
				t.Fatal(err)
			}
			if d := sameSet(sortedKeys(tf), sortedKeys(goes)); d != "" {
				t.Errorf("CloudTrail rules (services): %s", d)
			}
			for svc, p := range goes {
				if tf[svc] != string(p) {
					t.Errorf("%s pattern:\nTerraform %s\nGo        %s", svc, tf[svc], p)
				}
			}
		})
	}
}

// TestCloudTrailRulesUseThePatternFile: the CloudTrail rules are one per
// local.cloudtrail_patterns, each the template Go renders.
func TestCloudTrailRulesUseThePatternFile(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	rule := m.block(t, "resource", "aws_cloudwatch_event_rule", "cloudtrail")
	if refs := referencedLocals(rule.Body.Attributes["for_each"].Expr); !slices.Equal(refs, []string{"cloudtrail_patterns"}) {
		t.Errorf("aws_cloudwatch_event_rule.cloudtrail has one instance per %v, want local.cloudtrail_patterns", refs)
	}
	if got := rule.Body.Attributes["event_pattern"].Expr.Variables(); len(got) != 1 || got[0].RootName() != "each" {
		t.Errorf("aws_cloudwatch_event_rule.cloudtrail.event_pattern is not each.value")
	}
	var calls []*hclsyntax.FunctionCallExpr
	hclsyntax.VisitAll(m.local(t, "cloudtrail_patterns"), func(n hclsyntax.Node) hcl.Diagnostics {
		if c, ok := n.(*hclsyntax.FunctionCallExpr); ok && c.Name == "templatefile" {
			calls = append(calls, c)
		}
		return nil
	})
	if len(calls) != 1 {
		t.Fatalf("local.cloudtrail_patterns calls templatefile %d times, want once", len(calls))
	}
	path, diags := calls[0].Args[0].(*hclsyntax.TemplateExpr).Parts[1].Value(nil)
	if diags.HasErrors() || path.AsString() != "/templates/cloudtrail_pattern.json.tftpl" {
		t.Errorf("local.cloudtrail_patterns renders %v, want ${path.module}/templates/cloudtrail_pattern.json.tftpl", path)
	}
	vars := objectItems(t, "templatefile variables", calls[0].Args[1])
	if d := sameSet(sortedKeys(vars), TemplateVariables(CloudTrailPatternTemplate)); d != "" {
		t.Errorf("CloudTrail pattern template variables: %s", d)
	}
}

// TestCloudTrailPatternsFitEventBridge: a default deployment's CloudTrail
// patterns fit EventBridge's quota with room for the user's ARNs; past the
// quota Go refuses to render and the rule's precondition fails the plan.
func TestCloudTrailPatternsFitEventBridge(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	roles := functionRoleARNs(t, m, nil)
	ps, err := CloudTrailPatterns(TriggerCalls(nil), roles)
	if err != nil {
		t.Fatal(err)
	}
	for svc, p := range ps {
		t.Logf("%s: %d characters (quota %d)", svc, len(p), MaxEventPatternSize)
	}
	one, err := CloudTrailPattern(TriggerCalls(nil), roles)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all in one pattern: %d characters", len(one))

	// ARNs of a typical length (a role named like this module's).
	var extra []string
	for i := 0; ; i++ {
		arn := fmt.Sprintf("arn:aws:iam::%s:role/ci-deployer-%02d", testAccount, i)
		if _, err := CloudTrailPatterns(TriggerCalls(nil), append(slices.Clone(roles), append(extra, arn)...)); err != nil {
			if !strings.Contains(err.Error(), "2048") {
				t.Fatalf("with %d extra ARNs: %v, want the quota named", len(extra)+1, err)
			}
			break
		}
		extra = append(extra, arn)
	}
	t.Logf("room for %d ARNs of %d characters in ignore_actor_arns", len(extra), len(extra[0]))
	if len(extra) < 8 {
		t.Errorf("only %d ARNs fit besides the pipeline's roles: the variable's description promises about ten", len(extra))
	}

	e := newEval(t, m, map[string]cty.Value{"ignore_actor_arns": strs(append(extra, "arn:aws:iam::123456789012:role/one-too-many")...)})
	failed := preconditions(t, e, m.block(t, "resource", "aws_cloudwatch_event_rule", "cloudtrail"))
	if len(failed) == 0 || !strings.Contains(failed[0], "2048") || !strings.Contains(failed[0], "ignore_actor_arns") {
		t.Errorf("one ARN too many: failed preconditions %q, want one naming the quota and ignore_actor_arns", failed)
	}
	e = newEval(t, m, map[string]cty.Value{"ignore_actor_arns": strs(extra...)})
	if failed := preconditions(t, e, m.block(t, "resource", "aws_cloudwatch_event_rule", "cloudtrail")); len(failed) > 0 {
		t.Errorf("the ARNs that fit: failed preconditions %q", failed)
	}
}

// policyStatements evaluates the statement blocks (static and dynamic) of
// a policy document with vars, for one instance (each) when it has
// for_each: sid => the statement's body and its iteration variables.
func policyStatements(t *testing.T, e *tfEval, doc *hclsyntax.Block, each map[string]cty.Value) map[string]map[string]cty.Value {
	t.Helper()
	out := map[string]map[string]cty.Value{}
	add := func(body *hclsyntax.Body, vars map[string]cty.Value) {
		sid, _ := e.attr(body, "sid", vars)
		st := map[string]cty.Value{}
		for _, a := range []string{"actions", "resources"} {
			v, _ := e.attr(body, a, vars)
			st[a] = v
		}
		for _, b := range body.Blocks {
			switch b.Type {
			case "principals":
				v, _ := e.attr(b.Body, "identifiers", vars)
				st["principals"] = v
			case "condition":
				name, _ := e.attr(b.Body, "variable", vars)
				v, _ := e.attr(b.Body, "values", vars)
				st[name.AsString()] = v
			}
		}
		out[sid.AsString()] = st
	}
	for _, b := range doc.Body.Blocks {
		switch {
		case b.Type == "statement":
			add(b.Body, each)
		case b.Type == "dynamic" && b.Labels[0] == "statement":
			for _, it := range e.dynamicIterations(b, each) {
				add(findBlock(b.Body, "content").Body, it)
			}
		}
	}
	return out
}

// TestTrailDeliversToItsBucketAndKey: with create_trail, a multi-region
// trail of write management events with log file validation, encrypted
// with the module's key, in the module's trail bucket; the bucket policy
// lets CloudTrail write and the key policy lets it encrypt for that trail's
// ARN only (aws:SourceArn); without it, none of these.
func TestTrailDeliversToItsBucketAndKey(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	trail := m.block(t, "resource", "aws_cloudtrail", "this")
	for _, create := range []bool{true, false} {
		e := newEval(t, m, map[string]cty.Value{"create_trail": cty.BoolVal(create), "name": cty.StringVal("ar")})
		count, _ := e.attr(trail.Body, "count", nil)
		if n, _ := count.AsBigFloat().Int64(); (n == 1) != create {
			t.Errorf("create_trail = %v: %d trails", create, n)
		}
		name, _ := e.attr(trail.Body, "name", nil)
		arn := fmt.Sprintf("arn:%s:cloudtrail:%s:%s:trail/%s", testPartition, testRegion, testAccount, name.AsString())
		for attr, want := range map[string]bool{"is_multi_region_trail": true, "enable_log_file_validation": true, "include_global_service_events": true, "enable_logging": true} {
			if v, ok := e.attr(trail.Body, attr, nil); !ok || v.True() != want {
				t.Errorf("aws_cloudtrail.this.%s = %#v, want %v", attr, v, want)
			}
		}
		sel := findBlock(trail.Body, "event_selector")
		rw, _ := e.attr(sel.Body, "read_write_type", nil)
		mgmt, _ := e.attr(sel.Body, "include_management_events", nil)
		if sel == nil || rw.AsString() != "WriteOnly" || !mgmt.True() || len(sel.Body.Blocks) > 0 {
			t.Errorf("the trail's event selector: %s with management events %v, want write-only management events and no data events", rw.AsString(), mgmt)
		}
		if !refersTo(trail.Body.Attributes["kms_key_id"].Expr, "aws_kms_key", "main", "arn") {
			t.Error("the trail's logs are not encrypted with the module's key")
		}

		keySts := policyStatements(t, e, m.block(t, "data", "aws_iam_policy_document", "kms"), nil)
		for _, sid := range []string{"CloudTrailEncryptsLogs", "CloudTrailDescribesKey"} {
			st, ok := keySts[sid]
			if ok != create {
				t.Errorf("create_trail = %v: key policy statement %s present = %v", create, sid, ok)
				continue
			}
			principals, source := ctyStrings(t, "principals", st["principals"]), ctyStrings(t, "aws:SourceArn", st["aws:SourceArn"])
			if ok && (!slices.Equal(principals, []string{"cloudtrail.amazonaws.com"}) || !slices.Equal(source, []string{arn})) {
				t.Errorf("key policy statement %s: for %v with aws:SourceArn %v, want for cloudtrail.amazonaws.com with aws:SourceArn %s", sid, principals, source, arn)
			}
		}

		doc := m.block(t, "data", "aws_iam_policy_document", "data_bucket")
		var trailBucket map[string]cty.Value
		for _, each := range e.forEach(doc) {
			sts := policyStatements(t, e, doc, each)
			key := each["each"].GetAttr("key").AsString()
			if key == "trail" {
				trailBucket = each
			}
			for _, sid := range []string{"CloudTrailAclCheck", "CloudTrailWrite"} {
				st, ok := sts[sid]
				if ok != (key == "trail") {
					t.Errorf("bucket %s: statement %s present = %v", key, sid, ok)
					continue
				}
				if source := ctyStrings(t, "aws:SourceArn", st["aws:SourceArn"]); ok && !slices.Equal(source, []string{arn}) {
					t.Errorf("bucket %s: statement %s for aws:SourceArn %v, want %s", key, sid, source, arn)
				}
			}
		}
		if (trailBucket != nil) != create {
			t.Errorf("create_trail = %v: trail bucket present = %v", create, trailBucket != nil)
		}
	}
}

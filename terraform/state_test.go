package terraform

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/state"
)

// refersTo reports whether an expression refers to addr (type.name.attr,
// with any index).
func refersTo(e hcl.Expression, typ, name, attr string) bool {
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
		if len(parts) >= 3 && parts[0] == typ && parts[1] == name && parts[2] == attr {
			return true
		}
	}
	return false
}

// TestStateTableIsTheStoresSchema: the table Terraform creates has the
// store's key (state.KeyAttribute, a string) and TTL attribute
// (state.TTLAttribute), on-demand billing, point-in-time recovery and the
// module's key, and the remediating functions get its name.
func TestStateTableIsTheStoresSchema(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, nil)
	b := m.block(t, "resource", "aws_dynamodb_table", "state")
	str := func(body *hclsyntax.Body, name string) string {
		t.Helper()
		v, ok := e.attr(body, name, nil)
		if !ok || !v.IsKnown() || v.Type() != cty.String {
			t.Fatalf("aws_dynamodb_table.state: %s is not a known string (%#v)", name, v)
		}
		return v.AsString()
	}
	boolean := func(body *hclsyntax.Body, name string) bool {
		t.Helper()
		v, ok := e.attr(body, name, nil)
		return ok && v.IsKnown() && v.True()
	}
	block := func(typ string) *hclsyntax.Body {
		t.Helper()
		var found []*hclsyntax.Block
		for _, blk := range b.Body.Blocks {
			if blk.Type == typ {
				found = append(found, blk)
			}
		}
		if len(found) != 1 {
			t.Fatalf("aws_dynamodb_table.state has %d %s blocks, want 1", len(found), typ)
		}
		return found[0].Body
	}
	if got := str(b.Body, "hash_key"); got != state.KeyAttribute {
		t.Errorf("hash key %q, want state.KeyAttribute %q", got, state.KeyAttribute)
	}
	if _, ok := b.Body.Attributes["range_key"]; ok {
		t.Error("the table has a sort key; the store's items have a partition key only")
	}
	attr := block("attribute")
	if name, typ := str(attr, "name"), str(attr, "type"); name != state.KeyAttribute || typ != "S" {
		t.Errorf("attribute %s of type %s, want %s of type S (the store's keys are strings)", name, typ, state.KeyAttribute)
	}
	ttl := block("ttl")
	if got := str(ttl, "attribute_name"); got != state.TTLAttribute || !boolean(ttl, "enabled") {
		t.Errorf("TTL on %q (enabled %v), want on state.TTLAttribute %q", got, boolean(ttl, "enabled"), state.TTLAttribute)
	}
	if got := str(b.Body, "billing_mode"); got != "PAY_PER_REQUEST" {
		t.Errorf("billing mode %s, want on-demand (PAY_PER_REQUEST)", got)
	}
	if !boolean(block("point_in_time_recovery"), "enabled") {
		t.Error("point-in-time recovery is off")
	}
	sse := block("server_side_encryption")
	if !boolean(sse, "enabled") || !refersTo(sse.Attributes["kms_key_arn"].Expr, "aws_kms_key", "main", "arn") {
		t.Error("the table is not encrypted with the module's key (server_side_encryption with aws_kms_key.main.arn)")
	}
	env := objectItems(t, "local.remediation_environment", m.local(t, "remediation_environment"))
	if !refersTo(env["STATE_TABLE"], "aws_dynamodb_table", "state", "name") {
		t.Error("STATE_TABLE is not aws_dynamodb_table.state.name")
	}
}

// TestStatePolicyIsTheStoresActions: the functions may call exactly
// state.Actions() on exactly the state table, and no other statement of
// the module grants a DynamoDB action.
func TestStatePolicyIsTheStoresActions(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, nil)
	ss, _ := docStatements(t, e, "state")
	if len(ss) != 1 {
		t.Fatalf("data.aws_iam_policy_document.state has %d statements, want 1", len(ss))
	}
	if d := sameSet(ss[0].actions, state.Actions()); d != "" || len(ss[0].actions) != len(state.Actions()) {
		t.Errorf("the state statement grants %v: %s", ss[0].actions, d)
	}
	doc := m.block(t, "data", "aws_iam_policy_document", "state")
	stmt := findBlock(doc.Body, "statement")
	if res := stmt.Body.Attributes["resources"].Expr; len(ss[0].resources) != 1 || !refersTo(res, "aws_dynamodb_table", "state", "arn") {
		t.Errorf("the state statement is on %s, want [aws_dynamodb_table.state.arn]", m.source(t, res.Range()))
	}
	// Everything on, so that every statement is there.
	e = newEval(t, m, map[string]cty.Value{"metrics_mode": cty.StringVal("both"), "notify_outcomes": cty.True, "sweep_accounts": cty.StringVal("all")})
	for _, fn := range []string{"remediate", "sweep", "sweepworker", "report"} {
		own, sources := docStatements(t, e, fn)
		for _, src := range append(sources, fn) {
			ss := own
			if src != fn {
				ss, _ = docStatements(t, e, src)
			}
			for _, s := range ss {
				for _, a := range s.actions {
					if strings.HasPrefix(a, "dynamodb:") && src != "state" {
						t.Errorf("the %s function's policy grants %s through %s: only the state document may grant DynamoDB actions", fn, a, s.where)
					}
				}
			}
		}
	}
}

// TestStateFunctionsAreThoseWithTheTable: local.state_functions, whose
// roles get the state statement and may use the key through DynamoDB, are
// exactly the deployed functions whose environment names the table.
func TestStateFunctionsAreThoseWithTheTable(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	settings := objectItems(t, "local.function_settings", m.local(t, "function_settings"))
	var withTable []string
	for fn, s := range settings {
		if env := objectItems(t, "local.function_settings."+fn, s)["environment"]; slices.Contains(referencedLocals(env), "remediation_environment") {
			withTable = append(withTable, fn)
		}
	}
	for _, tc := range []map[string]cty.Value{nil, {"enable_sweep": cty.False}, {"enable_report": cty.False}, {"sweep_accounts": cty.StringVal("all")}} {
		e := newEval(t, m, tc)
		deployed := ctyStrings(t, "local.functions", e.local("functions"))
		var want []string
		for _, fn := range withTable {
			if slices.Contains(deployed, fn) {
				want = append(want, fn)
			}
		}
		if got := ctyStrings(t, "local.state_functions", e.local("state_functions")); sameSet(got, want) != "" {
			t.Errorf("%v: local.state_functions = %v, want the deployed functions with the table in their environment %v", tc, got, want)
		}
		for _, fn := range want {
			_, sources := docStatements(t, e, fn)
			if !slices.Contains(sources, "state") {
				t.Errorf("%v: the %s function's policy does not merge the state document", tc, fn)
			}
		}
	}
	found := false
	for _, s := range m.block(t, "data", "aws_iam_policy_document", "kms").Body.Blocks {
		if sid, _ := newEval(t, m, nil).attr(s.Body, "sid", nil); s.Type != "statement" || sid.AsString() != "StateTableUsesKey" {
			continue
		}
		found = true
		p := findBlock(s.Body, "principals")
		if !slices.Contains(referencedLocals(p.Body.Attributes["identifiers"].Expr), "state_functions") {
			t.Error("the key policy's StateTableUsesKey statement is not for the roles of local.state_functions")
		}
		c := findBlock(s.Body, "condition")
		v, _ := newEval(t, m, nil).attr(c.Body, "values", nil)
		if got := ctyStrings(t, "kms:ViaService", v); !slices.Equal(got, []string{"dynamodb." + testRegion + ".amazonaws.com"}) {
			t.Errorf("StateTableUsesKey through %v, want DynamoDB only", got)
		}
	}
	if !found {
		t.Error("the key policy has no StateTableUsesKey statement: the functions cannot read the encrypted table")
	}
}

// validation evaluates the validation blocks of variable name with value
// and reports whether all hold.
func validation(t *testing.T, m *module, name string, value cty.Value) bool {
	t.Helper()
	e := newEval(t, m, map[string]cty.Value{name: value})
	b := m.block(t, "variable", name)
	n := 0
	for _, v := range b.Body.Blocks {
		if v.Type != "validation" {
			continue
		}
		n++
		got, diags := e.eval(v.Body.Attributes["condition"].Expr, nil)
		if diags.HasErrors() {
			t.Fatalf("variable %s = %#v: evaluating the validation: %s", name, value, diags.Error())
		}
		if !got.True() {
			return false
		}
	}
	if n == 0 {
		t.Fatalf("variable %s has no validation", name)
	}
	return true
}

// TestFlapWindowIsAGoDuration: flap_window accepts what the function
// accepts (time.ParseDuration) from a minute up (the function itself takes
// from a second, for tests) and nothing
// else; flap_limit whole numbers from 1.
func TestFlapWindowIsAGoDuration(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	accepted := []string{"1h", "30m", "2h30m", "90s", "1.5h", "1m", "60s", "1h0m0s", "45m30s", "60000ms", "1h1ms", "24h"}
	rejected := []string{"", "1", "60", "1d", "1 h", "h", "-1h", "30s", "59.9s", "0", "0m", "1hour", "1H", "1h30", "1h 30m", "P1H"}
	for _, v := range append(slices.Clone(accepted), rejected...) {
		ok := validation(t, m, "flap_window", cty.StringVal(v))
		d, err := time.ParseDuration(v)
		goOK := err == nil && d >= time.Minute
		if ok && !goOK {
			t.Errorf("flap_window = %q is accepted, but the function would refuse it (%v, %v)", v, d, err)
		}
		if slices.Contains(accepted, v) != ok {
			t.Errorf("flap_window = %q: accepted = %v", v, ok)
		}
	}
	for v, want := range map[float64]bool{1: true, 3: true, 100: true, 0: false, -1: false, 2.5: false} {
		if got := validation(t, m, "flap_limit", cty.NumberFloatVal(v)); got != want {
			t.Errorf("flap_limit = %v: accepted = %v, want %v", v, got, want)
		}
	}
	env := newEval(t, m, map[string]cty.Value{"flap_limit": cty.NumberIntVal(5), "flap_window": cty.StringVal("2h30m")}).local("remediation_environment")
	if l, w := env.GetAttr("FLAP_LIMIT"), env.GetAttr("FLAP_WINDOW"); l.AsString() != "5" || w.AsString() != "2h30m" {
		t.Errorf("FLAP_LIMIT = %#v, FLAP_WINDOW = %#v; want 5 and 2h30m", l, w)
	}
}

// TestIgnoreActorARNsAreIAMPrincipals: ignore_actor_arns takes the ARNs
// CloudTrail puts in sessionIssuer.arn or userIdentity.arn for roles and
// users, and refuses session ARNs, which change with every session.
func TestIgnoreActorARNsAreIAMPrincipals(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	for v, want := range map[string]bool{
		"arn:aws:iam::123456789012:role/deploy":                       true,
		"arn:aws:iam::123456789012:role/ci/deploy":                    true,
		"arn:aws:iam::123456789012:role/service-role/my_role+x=y,z@a": true,
		"arn:aws:iam::123456789012:user/ci-bot":                       true,
		"arn:aws-us-gov:iam::123456789012:role/deploy":                true,
		"arn:aws:sts::123456789012:assumed-role/deploy/session":       false,
		"arn:aws:iam::123456789012:root":                              false,
		"arn:aws:iam::12345678901:role/deploy":                        false,
		"arn:aws:iam::123456789012:role/":                             false,
		"arn:aws:iam::123456789012:policy/deploy":                     false,
		"deploy":                                 false,
		"arn:aws:iam::123456789012:role/deploy ": false,
	} {
		if got := validation(t, m, "ignore_actor_arns", strs(v)); got != want {
			t.Errorf("ignore_actor_arns = [%q]: accepted = %v, want %v", v, got, want)
		}
	}
	if !validation(t, m, "ignore_actor_arns", cty.ListValEmpty(cty.String)) {
		t.Error("the default, no ARN, is refused")
	}
}

package terraform

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Found by deploying the module (make e2e): what the provider does not
// check at plan time.

// The recorder's role is created before its policies are attached; the
// recorder must not start recording until they are.
func TestConfigRecorderStartsAfterItsRolesPermissions(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	recorder := m.block(t, "resource", "aws_config_configuration_recorder")
	status := m.block(t, "resource", "aws_config_configuration_recorder_status")
	roleArn, ok := recorder.Body.Attributes["role_arn"]
	if !ok {
		t.Fatal("the recorder has no role_arn")
	}
	roles := resourceRefs(roleArn.Expr)
	var policies []string
	for _, typ := range []string{"aws_iam_role_policy_attachment", "aws_iam_role_policy", "aws_iam_role_policies_exclusive", "aws_iam_role_policy_attachments_exclusive"} {
		for _, b := range m.blocks("resource", typ) {
			role, ok := b.Body.Attributes["role"]
			if ok && slices.ContainsFunc(resourceRefs(role.Expr), func(r string) bool { return slices.Contains(roles, r) }) {
				policies = append(policies, typ+"."+b.Labels[1])
			}
		}
	}
	if len(policies) == 0 {
		t.Fatalf("no policy is attached to the recorder's role %v", roles)
	}
	deps := m.dependencies("aws_config_configuration_recorder_status."+status.Labels[1], status.Body)
	for _, p := range policies {
		if !deps[p] {
			t.Errorf("aws_config_configuration_recorder_status.%s does not wait for %s: recording can start before the role may describe the resources", status.Labels[1], p)
		}
	}
}

// resourceRefs returns the resources (type.name) an expression refers to.
func resourceRefs(e hcl.Expression) []string {
	var out []string
	for _, tr := range e.Variables() {
		if len(tr) >= 2 && strings.HasPrefix(tr.RootName(), "aws_") {
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				out = append(out, tr.RootName()+"."+a.Name)
			}
		}
	}
	return out
}

// dependencies returns everything a block depends on, directly or through
// other resources, data sources and locals: the objects its expressions
// and depends_on name (type.name, data.type.name).
func (m *module) dependencies(self string, body *hclsyntax.Body) map[string]bool {
	deps := map[string]bool{}
	seenLocals := map[string]bool{}
	var visit func(hclsyntax.Node)
	visit = func(n hclsyntax.Node) {
		hclsyntax.VisitAll(n, func(n hclsyntax.Node) hcl.Diagnostics {
			e, ok := n.(*hclsyntax.ScopeTraversalExpr)
			if !ok || len(e.Traversal) < 2 {
				return nil
			}
			tr := e.Traversal
			second, ok := tr[1].(hcl.TraverseAttr)
			if !ok {
				return nil
			}
			var addr string
			switch root := tr.RootName(); {
			case root == "local":
				if !seenLocals[second.Name] {
					seenLocals[second.Name] = true
					if a, ok := m.locals[second.Name]; ok {
						visit(a.Expr)
					}
				}
				return nil
			case root == "data" && len(tr) >= 3:
				if third, ok := tr[2].(hcl.TraverseAttr); ok {
					addr = "data." + second.Name + "." + third.Name
				}
			case strings.HasPrefix(root, "aws_"):
				addr = root + "." + second.Name
			}
			if addr == "" || addr == self || deps[addr] {
				return nil
			}
			deps[addr] = true
			if b := m.objectBlock(addr); b != nil {
				visit(b.Body)
			}
			return nil
		})
	}
	visit(body)
	return deps
}

// objectBlock returns the resource or data block of an address.
func (m *module) objectBlock(addr string) *hclsyntax.Block {
	kind, rest := "resource", addr
	if r, ok := strings.CutPrefix(addr, "data."); ok {
		kind, rest = "data", r
	}
	typ, name, _ := strings.Cut(rest, ".")
	if bs := m.blocks(kind, typ, name); len(bs) == 1 {
		return bs[0]
	}
	return nil
}

// The access-log bucket receives the logs of the other buckets, so it is
// never empty: bucket_force_destroy's description must say it applies to
// it too (every bucket the module names).
func TestBucketForceDestroyNamesEveryBucket(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	desc := strings.ToLower(literalString(t, "bucket_force_destroy's description", m.block(t, "variable", "bucket_force_destroy").Body.Attributes["description"].Expr))
	var buckets []string
	for name := range m.locals {
		if stem, ok := strings.CutSuffix(name, "_bucket"); ok {
			buckets = append(buckets, strings.TrimSuffix(stem, "s"))
		}
	}
	if len(buckets) < 2 {
		t.Fatalf("bucket name locals (<what>_bucket) %q: is this the module?", buckets)
	}
	for _, b := range buckets {
		if !strings.Contains(desc, strings.ReplaceAll(b, "_", " ")) {
			t.Errorf("bucket_force_destroy's description does not name the %s bucket: %q", b, desc)
		}
	}
}

func literalString(t *testing.T, what string, e hcl.Expression) string {
	t.Helper()
	v, diags := e.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String {
		t.Fatalf("%s is not a literal string", what)
	}
	return v.AsString()
}

// One architecture variable drives the functions, takes the names `make
// build` maps GOARCH to, and refuses zips built for the other one.
func TestArchitectureVariableDrivesTheFunctions(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	makefile, err := os.ReadFile(filepath.Join(moduleDir(t), "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var archs []string
	for _, mm := range regexp.MustCompile(`(?m)^LAMBDA_ARCH_\w+\s*:=\s*(\S+)`).FindAllSubmatch(makefile, -1) {
		archs = append(archs, string(mm[1]))
	}
	if len(archs) < 2 {
		t.Fatalf("the Makefile maps GOARCH to %q: want LAMBDA_ARCH_<goarch> := <Lambda architecture> lines", archs)
	}
	v := m.block(t, "variable", "architecture")
	for _, vb := range v.Body.Blocks {
		if vb.Type != "validation" {
			continue
		}
		cond := vb.Body.Attributes["condition"].Expr
		for _, a := range archs {
			if !archEval(t, m, cond, a, "").True() {
				t.Errorf("architecture = %q (what make build writes) is rejected", a)
			}
		}
		for _, bad := range []string{"amd64", "aarch64", "x86"} {
			if archEval(t, m, cond, bad, "").True() {
				t.Errorf("architecture = %q is accepted: Lambda would reject it", bad)
			}
		}
	}

	fn := m.block(t, "resource", "aws_lambda_function", "function")
	a, ok := fn.Body.Attributes["architectures"]
	if !ok {
		t.Fatal("aws_lambda_function.function sets no architectures (Lambda's default is x86_64)")
	}
	var pre *hclsyntax.Body
	for _, b := range fn.Body.Blocks {
		for _, p := range b.Body.Blocks {
			if b.Type == "lifecycle" && p.Type == "precondition" && slices.Contains(referencedLocals(p.Body.Attributes["condition"].Expr), "built_architecture") {
				pre = p.Body
			}
		}
	}
	if pre == nil {
		t.Fatal("aws_lambda_function.function has no precondition on the architecture the zips were built for (local.built_architecture)")
	}
	for _, arch := range archs {
		if got := archEval(t, m, a.Expr, arch, ""); !got.RawEquals(cty.TupleVal([]cty.Value{cty.StringVal(arch)})) && !got.RawEquals(cty.ListVal([]cty.Value{cty.StringVal(arch)})) {
			t.Errorf("architecture = %q deploys architectures %#v", arch, got)
		}
		for _, built := range append([]string{""}, archs...) {
			ok := archEval(t, m, pre.Attributes["condition"].Expr, arch, built).True()
			if want := built == "" || built == arch; ok != want {
				t.Errorf("architecture %q, zips built for %q (\"\": no dist/architecture): precondition holds = %v, want %v", arch, built, ok, want)
			}
			if !ok {
				msg := archEval(t, m, pre.Attributes["error_message"].Expr, arch, built).AsString()
				if !strings.Contains(msg, built) || !strings.Contains(msg, "make build") {
					t.Errorf("the error does not say what the zips were built for and how to rebuild: %s", msg)
				}
			}
		}
	}
}

// archEval evaluates an expression of the module with var.architecture =
// arch and the zips in a directory whose dist/architecture says built (none
// when empty). The locals it needs are evaluated the same way; references
// to resources fail the test.
func archEval(t *testing.T, m *module, e hcl.Expression, arch, built string) cty.Value {
	t.Helper()
	dist := t.TempDir()
	if built != "" {
		if err := os.WriteFile(filepath.Join(dist, "architecture"), []byte(built+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	readFile := func(exists bool) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "path", Type: cty.String}},
			Type:   function.StaticReturnType(map[bool]cty.Type{true: cty.Bool, false: cty.String}[exists]),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				b, err := os.ReadFile(args[0].AsString())
				if exists {
					return cty.BoolVal(err == nil), nil
				}
				if err != nil {
					return cty.NilVal, err
				}
				return cty.StringVal(string(b)), nil
			},
		})
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(map[string]cty.Value{"architecture": cty.StringVal(arch), "dist_dir": cty.StringVal(dist)}),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(moduleDir(t))}),
		},
		Functions: map[string]function.Function{
			"fileexists": readFile(true), "file": readFile(false),
			"trimspace": stdlib.TrimSpaceFunc, "coalesce": stdlib.CoalesceFunc, "contains": stdlib.ContainsFunc,
		},
	}
	locals := map[string]cty.Value{}
	var eval func(e hcl.Expression) cty.Value
	eval = func(e hcl.Expression) cty.Value {
		for _, name := range referencedLocals(e) {
			if _, done := locals[name]; !done {
				a, ok := m.locals[name]
				if !ok {
					t.Fatalf("local.%s is not defined", name)
				}
				locals[name] = eval(a.Expr)
			}
		}
		ctx.Variables["local"] = cty.ObjectVal(locals)
		v, diags := e.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("evaluating %s: %s", e.Range(), diags.Error())
		}
		return v
	}
	return eval(e)
}

package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Where the tests deploy: the values of the locals Terraform takes from
// data sources (main.tf).
const (
	testPartition = "aws"
	testRegion    = "eu-west-1"
	testAccount   = "123456789012"
)

// tfEval evaluates the module's expressions as Terraform would, for what
// depends on variables, locals and files: variables take their defaults
// (converted to their declared types) unless overridden, locals are
// evaluated when first referenced, and references to resources and data
// sources are unknown. The locals built from data sources (partition,
// region, account) are given.
type tfEval struct {
	t      testing.TB
	m      *module
	dir    string
	vars   map[string]cty.Value
	locals map[string]cty.Value
	busy   map[string]bool
}

// newEval returns an evaluator of m with the variables' defaults
// overridden by vars.
func newEval(t testing.TB, m *module, vars map[string]cty.Value) *tfEval {
	t.Helper()
	e := &tfEval{t: t, m: m, dir: m.dir, vars: map[string]cty.Value{}, busy: map[string]bool{},
		locals: map[string]cty.Value{
			"partition": cty.StringVal(testPartition),
			"region":    cty.StringVal(testRegion),
			"account":   cty.StringVal(testAccount),
		}}
	for _, b := range m.blocks("variable") {
		name := b.Labels[0]
		ty := cty.DynamicPseudoType
		if a, ok := b.Body.Attributes["type"]; ok {
			var diags hcl.Diagnostics
			if ty, diags = typeexpr.TypeConstraint(a.Expr); diags.HasErrors() {
				t.Fatalf("variable %s: type: %s", name, diags.Error())
			}
		}
		v := cty.NullVal(ty)
		if a, ok := b.Body.Attributes["default"]; ok {
			d, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("variable %s: default: %s", name, diags.Error())
			}
			v = d
		}
		if o, ok := vars[name]; ok {
			v = o
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			t.Fatalf("variable %s: %v", name, err)
		}
		e.vars[name] = cv
	}
	for name := range vars {
		if _, ok := e.vars[name]; !ok {
			t.Fatalf("the module has no variable %q", name)
		}
	}
	return e
}

// ctx is the evaluation context of node's expressions, with the locals
// they reference evaluated first; extra adds variables (each, iterators).
func (e *tfEval) ctx(node hclsyntax.Node, extra map[string]cty.Value) *hcl.EvalContext {
	e.t.Helper()
	vars := map[string]cty.Value{}
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		st, ok := n.(*hclsyntax.ScopeTraversalExpr)
		if !ok {
			return nil
		}
		root := st.Traversal.RootName()
		switch root {
		case "local":
			if len(st.Traversal) > 1 {
				if a, ok := st.Traversal[1].(hcl.TraverseAttr); ok {
					e.local(a.Name)
				}
			}
		case "var", "path":
		default:
			// Resources, data sources and iterators: unknown unless
			// extra sets them.
			vars[root] = cty.DynamicVal
		}
		return nil
	})
	vars["var"] = cty.ObjectVal(e.vars)
	vars["local"] = cty.ObjectVal(e.locals)
	vars["path"] = cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(e.dir)})
	for k, v := range extra {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: e.functions()}
}

// local returns the value of local.<name>.
func (e *tfEval) local(name string) cty.Value {
	e.t.Helper()
	if v, ok := e.locals[name]; ok {
		return v
	}
	if e.busy[name] {
		e.t.Fatalf("local.%s refers to itself", name)
	}
	e.busy[name] = true
	expr := e.m.local(e.t, name)
	v, diags := expr.Value(e.ctx(expr.(hclsyntax.Node), nil))
	if diags.HasErrors() {
		e.t.Fatalf("evaluating local.%s: %s", name, diags.Error())
	}
	e.locals[name] = v
	return v
}

// eval evaluates an expression of the module.
func (e *tfEval) eval(expr hcl.Expression, extra map[string]cty.Value) (cty.Value, hcl.Diagnostics) {
	e.t.Helper()
	return expr.Value(e.ctx(expr.(hclsyntax.Node), extra))
}

// functions are Terraform's functions the module uses outside variable
// validations, with Terraform's semantics for the arguments it passes.
func (e *tfEval) functions() map[string]function.Function {
	file := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := os.ReadFile(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(string(b)), nil
		},
	})
	templatefile := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := os.ReadFile(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			vars := map[string]string{}
			for k, v := range args[1].AsValueMap() {
				s, err := convert.Convert(v, cty.String)
				if err != nil {
					return cty.NilVal, fmt.Errorf("templatefile variable %s: %w", k, err)
				}
				vars[k] = s.AsString()
			}
			out, err := Render(string(b), vars)
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(string(out)), nil
		},
	})
	// Terraform's length takes strings too.
	length := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.Number),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if args[0].Type() == cty.String {
				return stdlib.Strlen(args[0])
			}
			return args[0].Length(), nil
		},
	})
	tostring := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.String),
		Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return convert.Convert(args[0], cty.String) },
	})
	toset := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
		Type: func(args []cty.Value) (cty.Type, error) {
			ty := args[0].Type()
			switch {
			case ty.IsListType() || ty.IsSetType():
				return cty.Set(ty.ElementType()), nil
			case ty.IsTupleType() && len(ty.TupleElementTypes()) > 0:
				return cty.Set(ty.TupleElementTypes()[0]), nil
			}
			return cty.Set(cty.String), nil
		},
		Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) { return convert.Convert(args[0], ret) },
	})
	startswith := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "s", Type: cty.String}, {Name: "prefix", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(strings.HasPrefix(args[0].AsString(), args[1].AsString())), nil
		},
	})
	// Terraform's sum fails on an empty list, as here.
	sum := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Number)}},
		Type:   function.StaticReturnType(cty.Number),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if args[0].LengthInt() == 0 {
				return cty.NilVal, fmt.Errorf("cannot sum an empty list")
			}
			total := cty.Zero
			for it := args[0].ElementIterator(); it.Next(); {
				_, v := it.Element()
				total = total.Add(v)
			}
			return total, nil
		},
	})
	tonumber := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.Number),
		Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return convert.Convert(args[0], cty.Number) },
	})
	alltrue := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				if _, v := it.Element(); v.False() {
					return cty.False, nil
				}
			}
			return cty.True, nil
		},
	})
	return map[string]function.Function{
		"toset":        toset,
		"startswith":   startswith,
		"sum":          sum,
		"tonumber":     tonumber,
		"alltrue":      alltrue,
		"can":          tryfunc.CanFunc,
		"regex":        stdlib.RegexFunc,
		"split":        stdlib.SplitFunc,
		"trimprefix":   stdlib.TrimPrefixFunc,
		"floor":        stdlib.FloorFunc,
		"file":         file,
		"templatefile": templatefile,
		"length":       length,
		"tostring":     tostring,
		"try":          tryfunc.TryFunc,
		"jsondecode":   stdlib.JSONDecodeFunc,
		"jsonencode":   stdlib.JSONEncodeFunc,
		"regexall":     stdlib.RegexAllFunc,
		"replace":      stdlib.ReplaceFunc,
		"join":         stdlib.JoinFunc,
		"trim":         stdlib.TrimFunc,
		"concat":       stdlib.ConcatFunc,
		"flatten":      stdlib.FlattenFunc,
		"sort":         stdlib.SortFunc,
		"distinct":     stdlib.DistinctFunc,
		"contains":     stdlib.ContainsFunc,
		"coalesce":     stdlib.CoalesceFunc,
		"coalescelist": stdlib.CoalesceListFunc,
		"keys":         stdlib.KeysFunc,
		"values":       stdlib.ValuesFunc,
		"lookup":       stdlib.LookupFunc,
		"merge":        stdlib.MergeFunc,
		"setsubtract":  stdlib.SetSubtractFunc,
		"range":        stdlib.RangeFunc,
		"min":          stdlib.MinFunc,
	}
}

// forEach evaluates a resource's for_each (a map, an object or a set of
// strings) and returns each.key/each.value of every instance, sorted by key.
func (e *tfEval) forEach(b *hclsyntax.Block) []map[string]cty.Value {
	e.t.Helper()
	a, ok := b.Body.Attributes["for_each"]
	if !ok {
		e.t.Fatalf("%s %v has no for_each", b.Type, b.Labels)
	}
	v, diags := e.eval(a.Expr, nil)
	if diags.HasErrors() {
		e.t.Fatalf("%s %v: for_each: %s", b.Type, b.Labels, diags.Error())
	}
	if v.IsWhollyKnown() && v.Type().IsSetType() && v.Type().ElementType() == cty.String {
		// A set of strings: each.key and each.value are the element.
		m := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			_, el := it.Element()
			m[el.AsString()] = el
		}
		v = cty.MapVal(m)
		if len(m) == 0 {
			v = cty.MapValEmpty(cty.String)
		}
	}
	if !v.IsWhollyKnown() || !(v.Type().IsMapType() || v.Type().IsObjectType()) {
		e.t.Fatalf("%s %v: for_each is not a known map or set of strings: %s", b.Type, b.Labels, v.GoString())
	}
	var keys []string
	m := v.AsValueMap()
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []map[string]cty.Value
	for _, k := range keys {
		out = append(out, map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": m[k]})})
	}
	return out
}

// dynamicIterations evaluates the for_each of a dynamic block and returns
// the iterator variable of each element (the block's label, or its
// iterator attribute).
func (e *tfEval) dynamicIterations(b *hclsyntax.Block, extra map[string]cty.Value) []map[string]cty.Value {
	e.t.Helper()
	name := b.Labels[0]
	if it, ok := b.Body.Attributes["iterator"]; ok {
		name = hcl.ExprAsKeyword(it.Expr)
	}
	fe, ok := b.Body.Attributes["for_each"]
	if !ok {
		e.t.Fatalf("dynamic %q at %s has no for_each", b.Labels[0], b.Range())
	}
	v, diags := e.eval(fe.Expr, extra)
	if diags.HasErrors() {
		e.t.Fatalf("dynamic %q at %s: for_each: %s", b.Labels[0], b.Range(), diags.Error())
	}
	if !v.IsWhollyKnown() || !v.CanIterateElements() {
		e.t.Fatalf("dynamic %q at %s: for_each is not a known collection", b.Labels[0], b.Range())
	}
	var out []map[string]cty.Value
	for it := v.ElementIterator(); it.Next(); {
		k, el := it.Element()
		vars := map[string]cty.Value{}
		for n, x := range extra {
			vars[n] = x
		}
		vars[name] = cty.ObjectVal(map[string]cty.Value{"key": k, "value": el})
		out = append(out, vars)
	}
	return out
}

// attr evaluates attribute name of body; ok is false when it is absent.
func (e *tfEval) attr(body *hclsyntax.Body, name string, extra map[string]cty.Value) (cty.Value, bool) {
	e.t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := e.eval(a.Expr, extra)
	if diags.HasErrors() {
		e.t.Fatalf("evaluating %s at %s: %s", name, a.Range(), diags.Error())
	}
	return v, true
}

// strings converts a known list of strings to Go; unknown elements are "?".
func ctyStrings(t testing.TB, what string, v cty.Value) []string {
	t.Helper()
	if v.IsNull() {
		return nil
	}
	if !v.IsKnown() || !v.CanIterateElements() {
		t.Fatalf("%s: not a known list: %s", what, v.GoString())
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, el := it.Element()
		switch {
		case !el.IsKnown():
			out = append(out, "?")
		case el.Type() == cty.String:
			out = append(out, el.AsString())
		default:
			t.Fatalf("%s: element of type %s", what, el.Type().FriendlyName())
		}
	}
	return out
}

// source returns the text of a range of the module's files.
func (m *module) source(t testing.TB, r hcl.Range) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.dir, filepath.Base(r.Filename)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b[r.Start.Byte:r.End.Byte])
}

package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// module is the Terraform in this directory, parsed (not evaluated).
type module struct {
	dir    string
	files  map[string]*hclsyntax.Body
	locals map[string]*hclsyntax.Attribute
}

// loadModule parses every *.tf file of dir.
func loadModule(t testing.TB, dir string) *module {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .tf files in %s (%v)", dir, err)
	}
	m := &module{dir: dir, files: map[string]*hclsyntax.Body{}, locals: map[string]*hclsyntax.Attribute{}}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("parsing %s: %s", path, diags.Error())
		}
		body := f.Body.(*hclsyntax.Body)
		m.files[filepath.Base(path)] = body
		for _, b := range body.Blocks {
			if b.Type != "locals" {
				continue
			}
			for name, a := range b.Body.Attributes {
				if _, dup := m.locals[name]; dup {
					t.Fatalf("local %q defined twice", name)
				}
				m.locals[name] = a
			}
		}
	}
	return m
}

// blocks returns the top-level blocks of a type ("resource", "data") and,
// when labels are given, with those leading labels.
func (m *module) blocks(typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, b := range m.files[n].Blocks {
			if b.Type != typ || len(b.Labels) < len(labels) {
				continue
			}
			match := true
			for i, l := range labels {
				if b.Labels[i] != l {
					match = false
				}
			}
			if match {
				out = append(out, b)
			}
		}
	}
	return out
}

// block returns the one top-level block with these labels.
func (m *module) block(t testing.TB, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	bs := m.blocks(typ, labels...)
	if len(bs) != 1 {
		t.Fatalf("want one %s %q, found %d", typ, labels, len(bs))
	}
	return bs[0]
}

func (m *module) local(t testing.TB, name string) hclsyntax.Expression {
	t.Helper()
	a, ok := m.locals[name]
	if !ok {
		t.Fatalf("local.%s is not defined in the module", name)
	}
	return a.Expr
}

// objectItems returns the items of an object constructor expression by
// literal key.
func objectItems(t testing.TB, what string, e hclsyntax.Expression) map[string]hclsyntax.Expression {
	t.Helper()
	obj, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s: want an object { ... }, found %T at %s", what, e, e.Range())
	}
	items := map[string]hclsyntax.Expression{}
	for _, it := range obj.Items {
		k, diags := it.KeyExpr.Value(nil)
		if diags.HasErrors() || k.Type() != cty.String {
			// A bare identifier key (object attribute name).
			if name := hcl.ExprAsKeyword(it.KeyExpr); name != "" {
				items[name] = it.ValueExpr
				continue
			}
			t.Fatalf("%s: key at %s is not a literal", what, it.KeyExpr.Range())
		}
		items[k.AsString()] = it.ValueExpr
	}
	return items
}

// tupleItems returns the elements of a tuple constructor [ ... ].
func tupleItems(t testing.TB, what string, e hclsyntax.Expression) []hclsyntax.Expression {
	t.Helper()
	tup, ok := e.(*hclsyntax.TupleConsExpr)
	if !ok {
		t.Fatalf("%s: want a list [ ... ], found %T at %s", what, e, e.Range())
	}
	return tup.Exprs
}

// literalStrings evaluates an expression that must be a literal list of
// strings.
func literalStrings(t testing.TB, what string, e hcl.Expression) []string {
	t.Helper()
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: not a literal list of strings at %s: %s", what, e.Range(), diags.Error())
	}
	if !v.CanIterateElements() {
		t.Fatalf("%s: not a list at %s", what, e.Range())
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, el := it.Element()
		if el.Type() != cty.String {
			t.Fatalf("%s: element of type %s at %s", what, el.Type().FriendlyName(), e.Range())
		}
		out = append(out, el.AsString())
	}
	return out
}

// referencedLocals lists the local.<name> references of an expression.
func referencedLocals(e hcl.Expression) []string {
	seen := map[string]bool{}
	for _, tr := range e.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok {
			seen[a.Name] = true
		}
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diff returns what is in a but not in b, sorted.
func diff(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range a {
		if !in[s] && !seen[s] {
			out = append(out, s)
			seen[s] = true
		}
	}
	sort.Strings(out)
	return out
}

// sameSet reports the differences between what Terraform has and what Go
// has, in both directions, as one message ("" when equal).
func sameSet(tf, code []string) string {
	var parts []string
	if extra := diff(tf, code); len(extra) > 0 {
		parts = append(parts, fmt.Sprintf("in Terraform but not in the code: %s", strings.Join(extra, ", ")))
	}
	if missing := diff(code, tf); len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("in the code but not in Terraform: %s", strings.Join(missing, ", ")))
	}
	return strings.Join(parts, "; ")
}

// moduleDir is this package's directory (tests run in it).
func moduleDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// exprIsWildcard reports whether an expression is the literal list ["*"]
// (or contains "*").
func exprIsWildcard(e hcl.Expression) bool {
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.CanIterateElements() {
		return false
	}
	for it := v.ElementIterator(); it.Next(); {
		if _, el := it.Element(); el.Type() == cty.String && el.AsString() == "*" {
			return true
		}
	}
	return false
}

// referencesVar reports whether an expression refers to var.<name>.
func referencesVar(e hcl.Expression, name string) bool {
	for _, tr := range e.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == name {
			return true
		}
	}
	return false
}

func findBlock(body *hclsyntax.Body, typ string) *hclsyntax.Block {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}

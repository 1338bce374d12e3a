package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// inputs are the module's variables for one deployment: the example's
// values and the test's overrides over the defaults of variables.tf, as
// decoded JSON. What the deployment should look like is derived from them.
type inputs struct {
	t    *testing.T
	vals map[string]any
}

// loadInputs reads the variables' literal defaults, then the tfvars file,
// then the overrides (given as Terraform's -var takes them).
func loadInputs(t *testing.T, module, tfvars string, overrides map[string]string) *inputs {
	t.Helper()
	in := &inputs{t: t, vals: map[string]any{}}
	p := hclparse.NewParser()
	paths, err := filepath.Glob(filepath.Join(module, "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .tf files in %s", module)
	}
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("parsing %s: %s", path, diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "variable" || len(b.Labels) != 1 {
				continue
			}
			in.vals[b.Labels[0]] = nil
			if a, ok := b.Body.Attributes["default"]; ok {
				in.vals[b.Labels[0]] = literal(t, path, a.Expr)
			}
		}
	}
	f, diags := p.ParseHCLFile(tfvars)
	if diags.HasErrors() {
		t.Fatalf("parsing %s: %s", tfvars, diags.Error())
	}
	for name, a := range f.Body.(*hclsyntax.Body).Attributes {
		if _, ok := in.vals[name]; !ok {
			t.Fatalf("%s sets %q, which is not a variable of the module", tfvars, name)
		}
		in.vals[name] = literal(t, tfvars, a.Expr)
	}
	for name, v := range overrides {
		var decoded any = v
		switch in.vals[name].(type) {
		case bool:
			decoded = v == "true"
		case float64:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("override %s=%s: %v", name, v, err)
			}
			decoded = n
		}
		in.vals[name] = decoded
	}
	return in
}

func literal(t *testing.T, file string, e hclsyntax.Expression) any {
	t.Helper()
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %s is not a literal value: %s", file, e.Range(), diags.Error())
	}
	if v.IsNull() {
		return nil
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (in *inputs) get(name string) any {
	in.t.Helper()
	v, ok := in.vals[name]
	if !ok {
		in.t.Fatalf("the module has no variable %q", name)
	}
	return v
}

func (in *inputs) str(name string) string {
	in.t.Helper()
	s, ok := in.get(name).(string)
	if !ok {
		in.t.Fatalf("variable %s = %#v, want a string", name, in.get(name))
	}
	return s
}

func (in *inputs) num(name string) int {
	in.t.Helper()
	n, ok := in.get(name).(float64)
	if !ok {
		in.t.Fatalf("variable %s = %#v, want a number", name, in.get(name))
	}
	return int(n)
}

func (in *inputs) boolean(name string) bool {
	in.t.Helper()
	b, ok := in.get(name).(bool)
	if !ok {
		in.t.Fatalf("variable %s = %#v, want a bool", name, in.get(name))
	}
	return b
}

// list returns a list of strings; nil for null.
func (in *inputs) list(name string) []string {
	in.t.Helper()
	v := in.get(name)
	if v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		in.t.Fatalf("variable %s = %#v, want a list", name, v)
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprint(it)
	}
	return out
}

// mapOf returns a map variable's values as strings.
func (in *inputs) mapOf(name string) map[string]string {
	in.t.Helper()
	v := in.get(name)
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		in.t.Fatalf("variable %s = %#v, want a map", name, v)
	}
	out := map[string]string{}
	for k, x := range m {
		out[k] = fmt.Sprint(x)
	}
	return out
}

// has reports whether the module has a variable (they get renamed).
func (in *inputs) has(name string) bool { _, ok := in.vals[name]; return ok }

// catalog is terraform/remediators.json, the remediators the module reads:
// their names, managed rules and permissions.
type catalog struct {
	Names        []string `json:"names"`
	ManagedRules map[string]struct {
		Remediator      string            `json:"remediator"`
		Identifier      string            `json:"identifier"`
		ResourceTypes   []string          `json:"resource_types"`
		InputParameters map[string]string `json:"input_parameters"`
	} `json:"managed_rules"`
	Remediators map[string]struct {
		Permissions json.RawMessage `json:"permissions"`
	} `json:"remediators"`
	// OrgCheckPermissions are what `remediate org check` needs in a member
	// account (the member role grants them).
	OrgCheckPermissions []struct {
		Actions []string `json:"actions"`
	} `json:"org_check_permissions"`
}

func loadCatalog(t *testing.T, module string) *catalog {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(module, "remediators.json"))
	if err != nil {
		t.Fatalf("reading the remediators the module deploys: %v", err)
	}
	var c catalog
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("reading remediators.json: %v", err)
	}
	if len(c.Names) == 0 || len(c.ManagedRules) == 0 {
		t.Fatal("remediators.json names no remediator or no managed rule: has its format changed?")
	}
	return &c
}

// actions returns the IAM actions a remediator's permissions name, sorted:
// every "actions" list anywhere in its permissions.
func (c *catalog) actions(t *testing.T, remediator string) []string {
	t.Helper()
	r, ok := c.Remediators[remediator]
	if !ok {
		t.Fatalf("remediators.json has no remediator %q", remediator)
	}
	var doc any
	if err := json.Unmarshal(r.Permissions, &doc); err != nil {
		t.Fatalf("remediators.json: %s's permissions: %v", remediator, err)
	}
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				if list, ok := y.([]any); ok && k == "actions" {
					for _, a := range list {
						seen[fmt.Sprint(a)] = true
					}
					continue
				}
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(doc)
	out := sortedKeys(seen)
	if len(out) == 0 {
		t.Fatalf("remediators.json: %s declares no IAM action", remediator)
	}
	return out
}

// enabled returns the remediators the deployment enables: the variable's
// list, or (null or empty) every remediator of the catalog.
func (d *deployment) enabled() []string {
	if l := d.in.list("enabled_remediators"); len(l) > 0 {
		return l
	}
	return d.setup.catalog.Names
}

// expectedRules returns the Config rules the deployment should have: the
// managed rules of the enabled remediators that config_rules does not
// switch off.
func (d *deployment) expectedRules() []string {
	enabled := map[string]bool{}
	for _, r := range d.enabled() {
		enabled[r] = true
	}
	off := d.in.mapOf("config_rules")
	var out []string
	for name, r := range d.setup.catalog.ManagedRules {
		if enabled[r.Remediator] && off[name] != "false" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// pairs renders a map as the functions' environment has it: k=v,k=v sorted.
func pairs(m map[string]string) string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, ",")
}

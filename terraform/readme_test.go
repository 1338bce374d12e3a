package terraform

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestReadmeListsEveryVariable: the README's variable table has one row per
// variable of variables.tf, and no row for a variable that does not exist.
func TestReadmeListsEveryVariable(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	var vars []string
	for _, b := range m.blocks("variable") {
		vars = append(vars, b.Labels[0])
		if _, ok := b.Body.Attributes["description"]; !ok {
			t.Errorf("variable %s has no description", b.Labels[0])
		}
		if _, ok := b.Body.Attributes["type"]; !ok {
			t.Errorf("variable %s has no type", b.Labels[0])
		}
	}
	readme, err := os.ReadFile(filepath.Join(moduleDir(t), "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The table of the "Deploy to AWS" section.
	start := bytes.Index(readme, []byte("## Deploy to AWS"))
	if start < 0 {
		t.Fatal("README has no \"Deploy to AWS\" section")
	}
	section := readme[start:]
	if end := regexp.MustCompile("(?m)^## ").FindIndex(section[3:]); end != nil {
		section = section[:end[0]+3]
	}
	var rows []string
	for _, r := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\| `").FindAllSubmatch(section, -1) {
		rows = append(rows, string(r[1]))
	}
	if d := sameSet(rows, vars); d != "" {
		t.Errorf("README variable table vs variables.tf (\"in Terraform\" = in the README table): %s", d)
	}
	var outputs []string
	for _, b := range m.blocks("output") {
		outputs = append(outputs, b.Labels[0])
		if !regexp.MustCompile("`" + b.Labels[0] + "`").Match(section) {
			t.Errorf("README does not mention output %s", b.Labels[0])
		}
	}
	if len(outputs) == 0 {
		t.Error("no outputs found")
	}
}

package terraform

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestReadmeListsEveryVariable: the module's README (terraform/README.md)
// has one row per variable of variables.tf in its "Variables" table and one
// per output in its "Outputs" table, and no row for one that does not exist.
func TestReadmeListsEveryVariable(t *testing.T) {
	checkReadmeTables(t, moduleDir(t))
}

// TestMemberReadmeListsEveryVariable: the same for the member module
// (terraform/modules/member/README.md).
func TestMemberReadmeListsEveryVariable(t *testing.T) {
	checkReadmeTables(t, memberDir(t))
}

// checkReadmeTables checks the Variables and Outputs tables of the README of
// the module in dir against its variables and outputs.
func checkReadmeTables(t *testing.T, dir string) {
	t.Helper()
	m := loadModule(t, dir)
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
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// A variable row: | `name` | `type` | ...; an output row: | `name` | description |.
	rowName := regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|")
	rows := func(heading string) []string {
		t.Helper()
		var names []string
		for _, r := range rowName.FindAllSubmatch(readmeSection(t, readme, heading), -1) {
			names = append(names, string(r[1]))
		}
		return names
	}
	if d := sameSet(rows("## Variables"), vars); d != "" {
		t.Errorf("%s/README.md variable table vs variables.tf (\"in Terraform\" = in the README table): %s", dir, d)
	}
	var outputs []string
	for _, b := range m.blocks("output") {
		outputs = append(outputs, b.Labels[0])
	}
	if len(outputs) == 0 {
		t.Error("no outputs found")
	}
	if d := sameSet(rows("## Outputs"), outputs); d != "" {
		t.Errorf("%s/README.md output table vs outputs.tf (\"in Terraform\" = in the README table): %s", dir, d)
	}
}

// readmeSection returns the text under the heading line, up to the next
// heading of the same level.
func readmeSection(t *testing.T, doc []byte, heading string) []byte {
	t.Helper()
	start := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(heading) + "$").FindIndex(doc)
	if start == nil {
		t.Fatalf("the README has no %q section", heading)
	}
	section := doc[start[1]:]
	level := heading[:bytes.IndexByte([]byte(heading), ' ')+1] // "## "
	if end := regexp.MustCompile("(?m)^" + level).FindIndex(section); end != nil {
		section = section[:end[0]]
	}
	return section
}

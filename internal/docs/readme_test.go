package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// maxREADMELines keeps the README to a few screens; the details live in
// docs/.
const maxREADMELines = 260

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the text under the README heading "## name", up to the
// next "## " heading.
func section(t *testing.T, doc, name string) string {
	t.Helper()
	heading := "\n## " + name + "\n"
	start := strings.Index(doc, heading)
	if start < 0 {
		t.Fatalf("README.md has no %q section", "## "+name)
	}
	s := doc[start+len(heading):]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	return s
}

func TestREADMEIsShort(t *testing.T) {
	if n := strings.Count(readme(t), "\n"); n > maxREADMELines {
		t.Errorf("README.md has %d lines, more than %d: move the details to docs/", n, maxREADMELines)
	}
}

// tableRows returns the body rows of the section's tables by their first
// cell, a `code` name (header rows, followed by the |---| line, are not
// body rows).
func tableRows(s string) map[string]string {
	rows := map[string]string{}
	first := regexp.MustCompile("^\\| `([^`]+)` \\|")
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		m := first.FindStringSubmatch(line)
		if m == nil || (i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|---")) {
			continue
		}
		rows[m[1]] = line
	}
	return rows
}

// TestREADMEOutcomeTable: the outcome table has one row per action, with the
// severity its notifications carry, and no other.
func TestREADMEOutcomeTable(t *testing.T) {
	rows := tableRows(section(t, readme(t), "Outcomes"))
	known := map[string]bool{}
	for _, a := range remediation.Actions() {
		known[string(a)] = true
		row, ok := rows[string(a)]
		if !ok {
			t.Errorf("the README's outcome table has no row for %q", a)
			continue
		}
		if want := " | `" + a.Severity() + "` |"; !strings.HasSuffix(row, want) {
			t.Errorf("the README's outcome row for %q does not end with the severity %q: %s", a, a.Severity(), row)
		}
	}
	for name := range rows {
		if !known[name] {
			t.Errorf("the README's outcome table has a row for %q, which is not an action", name)
		}
	}
}

// TestREADMEWhatItFixes: the "What it fixes" table has one row per
// remediator, naming its managed rules, resource types and Security Hub
// controls, and no row for a remediator that does not exist.
func TestREADMEWhatItFixes(t *testing.T) {
	rows := tableRows(section(t, readme(t), "What it fixes"))
	known := map[string]bool{}
	defs := remediators.Definitions()
	if len(defs) == 0 {
		t.Fatal("no remediator definitions")
	}
	for _, d := range defs {
		known[d.Name] = true
		row, ok := rows[d.Name]
		if !ok {
			t.Errorf("the README's \"What it fixes\" table has no row for %s", d.Name)
			continue
		}
		cells := strings.Split(row, " | ")
		if len(cells) != 5 {
			t.Errorf("the README's row for %s has %d cells, want 5 (remediator, rules, resource type, Security Hub, what it does): %s", d.Name, len(cells), row)
			continue
		}
		var want []string
		for _, r := range d.Rules {
			want = append(want, "`"+r.Name+"`")
		}
		checkList(t, d.Name, "managed rules", cells[1], want)
		want = nil
		for _, rt := range d.ResourceTypes {
			want = append(want, "`"+rt+"`")
		}
		checkList(t, d.Name, "resource types", cells[2], want)
		checkList(t, d.Name, "Security Hub controls", cells[3], d.Controls)
	}
	for name := range rows {
		if !known[name] {
			t.Errorf("the README's \"What it fixes\" table has a row for %q, which remediators.Definitions() does not list", name)
		}
	}
}

// checkList checks that a table cell is exactly the comma-separated list
// want, in any order.
func checkList(t *testing.T, remediator, what, cell string, want []string) {
	t.Helper()
	got := map[string]bool{}
	for _, item := range strings.Split(cell, ",") {
		got[strings.TrimSpace(item)] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("the README's row for %s does not list %s among its %s (%q)", remediator, w, what, cell)
		}
		delete(got, w)
	}
	for extra := range got {
		t.Errorf("the README's row for %s lists %s among its %s, which its definition does not declare", remediator, extra, what)
	}
}

package report

import (
	"os"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/app"
)

// docs/reports.md documents every setting of the report Lambda with its real
// default, and its exact permissions.
func TestDocsDocumentTheReportLambda(t *testing.T) {
	b, err := os.ReadFile("../docs/reports.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// The "## The report Lambda function" section, up to the next section.
	start := strings.Index(doc, "\n## The report Lambda function\n")
	if start < 0 {
		t.Fatal(`docs/reports.md has no "## The report Lambda function" section`)
	}
	section := doc[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	for _, s := range app.ReportSettings() {
		def := "(empty)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		} else if s.Name == "REPORT_BUCKET" {
			def = "(required)"
		}
		if row := "| `" + s.Name + "` | " + def + " |"; !strings.Contains(section, row) {
			t.Errorf("docs/reports.md has no row starting %q in its report Lambda section", row)
		}
	}
	for _, p := range Permissions() {
		if !strings.Contains(section, "`"+p+"`") {
			t.Errorf("docs/reports.md's report Lambda section does not name permission %s", p)
		}
	}
}

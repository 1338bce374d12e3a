package report

import (
	"os"
	"strings"
	"testing"
)

// The README documents every setting of the report Lambda with its real
// default, and its exact permissions.
func TestREADMEDocumentsTheReportLambda(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range Settings() {
		def := "(empty)"
		if s[1] != "" {
			def = "`" + s[1] + "`"
		} else if s[0] == "REPORT_BUCKET" {
			def = "(required)"
		}
		if row := "| `" + s[0] + "` | " + def + " |"; !strings.Contains(readme, row) {
			t.Errorf("README has no row starting %q", row)
		}
	}
	for _, p := range Permissions() {
		if !strings.Contains(readme, "`"+p+"`") {
			t.Errorf("README does not name permission %s", p)
		}
	}
}

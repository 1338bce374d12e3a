package app_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/app"
)

// The settings table of docs/configuration.md must document every setting
// with its real default, and no setting that does not exist.
func TestDocsDocumentEverySetting(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// The "## Settings" section, up to the next section.
	start := strings.Index(doc, "\n## Settings\n")
	if start < 0 {
		t.Fatal(`docs/configuration.md has no "## Settings" section`)
	}
	section := doc[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	known := map[string]bool{}
	for _, s := range app.Settings() {
		known[s.Name] = true
		def := "(empty)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		row := "| `" + s.Name + "` | " + def + " |"
		if !strings.Contains(section, row) {
			t.Errorf("docs/configuration.md has no settings row starting %q", row)
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|").FindAllStringSubmatch(section, -1) {
		if !known[m[1]] {
			t.Errorf("docs/configuration.md documents %s, which app.Settings() does not list", m[1])
		}
	}
}

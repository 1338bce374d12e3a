package app_test

import (
	"os"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/app"
)

// The README's configuration table must document every setting with its
// real default.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range app.Settings() {
		def := "(empty)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		row := "| `" + s.Name + "` | " + def + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README has no configuration row starting %q", row)
		}
	}
}

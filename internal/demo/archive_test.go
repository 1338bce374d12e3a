package demo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/remediation"
)

// checkArchive: the demo's archive directory holds exactly the outcomes
// the function published, one JSON line each in the layout's date folders,
// and the narrative says where.
func checkArchive(t *testing.T, dir string, outcomes []remediation.Outcome, narrative string) {
	t.Helper()
	var want, got []string
	for _, o := range outcomes {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(b))
	}
	files, err := filepath.Glob(filepath.Join(dir, "outcomes", "*", "*", "*", "outcomes-*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no archive files under %s (%v)", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the archive holds %d outcomes, the function published %d:\n%s\nwant\n%s", len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(narrative, "outcome archive: the ") || !strings.Contains(narrative, filepath.Join(dir, "outcomes")) {
		t.Errorf("the narrative does not say where the archive is")
	}
}

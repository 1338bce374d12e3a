package remediators

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/autoremediate/autoremediate/events"
)

// TestEveryTriggerHasAFixtureTheParserReads: a trigger the parser cannot
// turn into a resource would be ignored on every delivery. Each declared
// call needs a real-shaped fixture in events/testdata/cloudtrail from which
// the parser reads a resource of a type the remediator handles.
func TestEveryTriggerHasAFixtureTheParserReads(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "events", "testdata", "cloudtrail", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CloudTrail fixtures (%v)", err)
	}
	types := map[[2]string][]string{} // source, name -> resource types read
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := events.ParseCloudTrail(raw)
		if err != nil || ev.Failed() {
			continue
		}
		k := [2]string{ev.Call.EventSource, ev.Call.EventName}
		for _, r := range ev.Resources() {
			types[k] = append(types[k], r.Type)
		}
	}
	for _, d := range Definitions() {
		for _, call := range d.Triggers {
			read := types[[2]string{call.Source, call.Name}]
			ok := false
			for _, typ := range read {
				for _, handled := range d.ResourceTypes {
					ok = ok || typ == handled
				}
			}
			if !ok {
				t.Errorf("%s: trigger %s %s: no fixture from which the parser reads a resource of %v (read %v)", d.Name, call.Source, call.Name, d.ResourceTypes, read)
			}
		}
	}
}

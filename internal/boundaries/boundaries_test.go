package boundaries

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/autoremediate/autoremediate/"

// deps lists the packages pkg imports, directly or not (tests excluded).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

func TestDependencyBoundaries(t *testing.T) {
	cases := []struct {
		pkg       string
		forbidden []string // import path prefixes
	}{
		// The core: no concrete remediator, no publisher, no SDK service,
		// no wiring.
		{"remediation", []string{module + "remediators", module + "publish", module + "app", module + "sweep", "github.com/aws/aws-sdk-go-v2/service/"}},
		// Domain packages get their dependencies passed in.
		{"sweep", []string{module + "app", module + "cmd/"}},
		{"publish", []string{module + "app", module + "remediators", module + "sweep"}},
		{"remediators", []string{module + "app", module + "publish", module + "sweep"}},
		{"report", []string{module + "app", module + "cmd/"}},
		{"orgcheck", []string{module + "app", module + "cmd/"}},
		{"archive", []string{module + "app", module + "cmd/"}},
		{"evidence", []string{module + "app", module + "cmd/"}},
		{"events", []string{module}},
	}
	for _, c := range cases {
		for _, d := range deps(t, c.pkg) {
			if d == module+c.pkg {
				continue
			}
			for _, f := range c.forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s imports %s", c.pkg, d)
				}
			}
		}
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyModule copies deploy/testdata/module (built-in resources only) into a
// fresh directory.
func copyModule(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("..", "..", "deploy", "testdata", "module", "main.tf")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "main.tf"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestDeployCommand runs deploy and destroy for real (terraform on PATH)
// on a module without providers.
func TestDeployCommand(t *testing.T) {
	dir := copyModule(t)
	ctx := context.Background()

	c, out, errOut := testCLI("yes\n", nil)
	if code := run(ctx, []string{"deploy", "--dir", dir, "-var", "name=cli", "-var", "replicas=1"}, c); code != exitOK {
		t.Fatalf("deploy: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	text := out.String()
	if !strings.Contains(text, "Plan: 2 to add, 0 to change, 0 to destroy.") ||
		!strings.Contains(text, "Outputs:\n  dashboard_url = https://console.example/dashboards/cli\n") {
		t.Errorf("deploy output:\n%s", text)
	}
	// The module is not in this repository: nothing is built.
	if !strings.Contains(errOut.String(), "not building the function zips") {
		t.Errorf("stderr lacks the build note:\n%s", errOut)
	}

	c, out, errOut = testCLI("no\n", nil)
	if code := run(ctx, []string{"destroy", "--dir", dir, "--skip-build", "-var", "name=cli", "-var", "replicas=1"}, c); code != exitFailed {
		t.Errorf("declined destroy: exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(errOut.String(), "not confirmed") {
		t.Errorf("declined destroy stderr:\n%s", errOut)
	}

	c, out, errOut = testCLI("", nil)
	if code := run(ctx, []string{"destroy", "--dir", dir, "--skip-build", "--auto-approve", "-var", "name=cli", "-var", "replicas=1"}, c); code != exitOK {
		t.Fatalf("destroy: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out.String(), "2 to destroy") || !strings.Contains(out.String(), "Destroyed.") {
		t.Errorf("destroy output:\n%s", out)
	}
}

func TestDeployCommandBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"deploy", "--dir", filepath.Join(t.TempDir(), "missing")},
		{"deploy", "-var", "novalue"},
		{"deploy", "extra"},
		{"destroy", "--no-such-flag"},
	} {
		c, _, errOut := testCLI("", nil)
		if code := run(context.Background(), args, c); code != exitBadArgs {
			t.Errorf("%v: exit %d, want %d (stderr %s)", args, code, exitBadArgs, errOut)
		}
	}
}

package main

import (
	"context"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/app"
)

// Every command that reads the pipeline's settings refuses bad ones with
// exit status 2 before doing anything, whether or not it uses the setting.
func TestEveryCommandChecksTheSettings(t *testing.T) {
	args := map[string][]string{
		"invoke":         {"invoke", "--event", "-"},
		"sweep":          {"sweep", "--dry-run"},
		"undo":           {"undo", "--outcome", "-"},
		"migrate-volume": {"migrate-volume", "vol-0123456789abcdef0", "--dry-run"},
		"demo":           {"demo", "--dashboard", ""},
		"dashboard":      {"dashboard", "--out", filepath.Join(t.TempDir(), "d.html")},
		"report":         {"report", "credentials"},
		"state":          {"state", "init", "--table", "tbl"},
		"org":            {"org", "check", "--accounts", "111111111111"},
	}
	for _, cmd := range commands() {
		if !cmd.settings {
			continue
		}
		a, ok := args[cmd.name]
		if !ok {
			t.Errorf("no arguments to test %s with", cmd.name)
			continue
		}
		c, stdout, stderr := testCLI("", map[string]string{"MODE": "bogus"})
		if code := run(context.Background(), a, c); code != exitBadArgs {
			t.Errorf("%v with MODE=bogus: exit %d, want %d", a, code, exitBadArgs)
		}
		if want := "remediate " + cmd.name + ": configuration: MODE: "; !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), `"bogus"`) || stdout.Len() > 0 {
			t.Errorf("%v with MODE=bogus: stderr %q, stdout %q; want %q", a, stderr.String(), stdout.String(), want)
		}
	}
	for _, a := range [][]string{{"report", "soc2", "--out", t.TempDir()}} {
		c, _, stderr := testCLI("", map[string]string{"LOG_LEVEL": "loud"})
		if code := run(context.Background(), a, c); code != exitBadArgs || !strings.Contains(stderr.String(), "LOG_LEVEL") {
			t.Errorf("%v with LOG_LEVEL=loud: exit %d, stderr %q", a, code, stderr.String())
		}
	}
}

// noRegion empties every place the SDK finds a region in.
func noRegion(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
}

// A missing region is a bad setting: exit status 2, as documented.
func TestMissingRegionExits2(t *testing.T) {
	noRegion(t)
	event := string(fixture(t, "s3-public-read-noncompliant.json"))
	for _, a := range [][]string{
		{"invoke", "--event", "-"},
		{"sweep"},
		{"dashboard", "--out", filepath.Join(t.TempDir(), "d.html")},
		{"report", "soc2", "--out", t.TempDir()},
		{"report", "credentials"},
		{"state", "init", "--table", "tbl"},
		{"org", "check", "--accounts", "111111111111"},
	} {
		c, _, stderr := testCLI(event, nil)
		if code := run(context.Background(), a, c); code != exitBadArgs {
			t.Errorf("%v without a region: exit %d, want %d (stderr %q)", a, code, exitBadArgs, stderr.String())
		}
		if !strings.Contains(stderr.String(), "no AWS region set") {
			t.Errorf("%v without a region: stderr %q", a, stderr.String())
		}
	}
}

func TestVersion(t *testing.T) {
	c, stdout, stderr := testCLI("", nil)
	if code := run(context.Background(), []string{"--version"}, c); code != exitOK || !strings.HasPrefix(stdout.String(), "remediate ") || stderr.Len() > 0 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-03T15:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		stamped string
		info    *debug.BuildInfo
		ok      bool
		want    []string
	}{
		{"v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, true, []string{"remediate v1.2.3 (", "go1.26.0"}},
		{"", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.4.0"}}, true, []string{"remediate v0.4.0 ("}},
		{"", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, true,
			[]string{"remediate devel (source build, no version stamped, commit 0123456789ab-dirty, 2026-12-03T15:00:00Z, go1.26.0"}},
		{"", nil, false, []string{"remediate devel (source build, no version stamped, "}},
	} {
		got := versionString(tc.stamped, tc.info, tc.ok)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("versionString(%q, %+v) = %q, want %q in it", tc.stamped, tc.info, got, w)
			}
		}
	}
}

// Every command's help says what its exit statuses mean.
func TestHelpDocumentsExitStatus(t *testing.T) {
	for _, a := range [][]string{{"invoke"}, {"sweep"}, {"demo"}, {"dashboard"}, {"deploy"}, {"destroy"}, {"report", "soc2"}, {"report", "credentials"}, {"state", "init"}, {"org", "check"}} {
		c, stdout, _ := testCLI("", nil)
		if code := run(context.Background(), append(a, "--help"), c); code != exitOK {
			t.Errorf("%v --help: exit %d", a, code)
		}
		help := strings.Join(strings.Fields(stdout.String()), " ")
		if !strings.Contains(help, "Exit status: 0 ") || !strings.Contains(help, " 1 ") || !strings.Contains(help, " 2 for bad flags") {
			t.Errorf("%v --help does not document exit statuses 0, 1 and 2:\n%s", a, help)
		}
	}
}

// invoke --help names every setting the command reads.
func TestInvokeHelpNamesEverySetting(t *testing.T) {
	c, stdout, _ := testCLI("", nil)
	if code := run(context.Background(), []string{"invoke", "--help"}, c); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, s := range app.Settings() {
		if !strings.Contains(stdout.String(), s.Name) {
			t.Errorf("invoke --help does not name %s", s.Name)
		}
	}
}

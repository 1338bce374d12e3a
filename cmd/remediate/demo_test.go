package main

import (
	"context"
	"strings"
	"testing"
)

func TestDemoFlags(t *testing.T) {
	c, _, _ := testCLI("", nil)
	opts, _, _, ok := parseDemo(c, nil)
	if !ok || opts.SimulateFailure || opts.Watch || opts.DashboardPath == "" {
		t.Errorf("default options %+v (ok %t): the failure must be off by default", opts, ok)
	}
	opts, logPath, _, ok := parseDemo(c, []string{"--simulate-failure", "--log", "out.log", "--dashboard", ""})
	if !ok || !opts.SimulateFailure || logPath != "out.log" || opts.DashboardPath != "" {
		t.Errorf("--simulate-failure --log out.log --dashboard '': options %+v, log %q (ok %t)", opts, logPath, ok)
	}
	if _, _, code, ok := parseDemo(c, []string{"extra"}); ok || code != exitBadArgs {
		t.Errorf("extra argument: ok %t, code %d", ok, code)
	}
}

func TestDemoHelpDocumentsTheSimulatedFailure(t *testing.T) {
	c, stdout, _ := testCLI("", nil)
	if code := run(context.Background(), []string{"demo", "--help"}, c); code != exitOK {
		t.Fatalf("demo --help: exit %d", code)
	}
	for _, want := range []string{"[--simulate-failure]", "\n  -simulate-failure\n", "SIMULATED", "dead-letter queue", "By default nothing fails"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("demo --help lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestDemoAccountsFlag(t *testing.T) {
	c, _, stderr := testCLI("", nil)
	opts, logPath, _, ok := parseDemo(c, []string{"--accounts", "3", "--log", "out.log"})
	if !ok || opts.Accounts != 3 || logPath != "out.log" || opts.Watch || opts.SimulateFailure || opts.DashboardPath != "" {
		t.Errorf("--accounts 3 --log out.log: options %+v, log %q (ok %t)", opts, logPath, ok)
	}
	if opts, _, _, ok := parseDemo(c, []string{"--accounts=2"}); !ok || opts.Accounts != 2 {
		t.Errorf("--accounts=2 (what make demo ARGS=--accounts=2 passes): options %+v (ok %t)", opts, ok)
	}
	for _, args := range [][]string{{"--accounts", "1"}, {"--accounts", "-3"}, {"--accounts", "51"}, {"--accounts", "3", "--watch"},
		{"--accounts", "3", "--simulate-failure"}, {"--accounts", "3", "--dashboard", "d.html"}} {
		stderr.Reset()
		if _, _, code, ok := parseDemo(c, args); ok || code != exitBadArgs || !strings.Contains(stderr.String(), "--") {
			t.Errorf("%v: ok %t, code %d, stderr %q; want refused with exit 2", args, ok, code, stderr.String())
		}
	}
}

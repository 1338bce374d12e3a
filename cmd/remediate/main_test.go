package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// testCLI returns a cli with captured output and the given environment.
func testCLI(stdin string, envs map[string]string) (*cli, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &cli{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv: func(k string) string { return envs[k] },
	}, &out, &errOut
}

func TestRunHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		c, out, errOut := testCLI("", nil)
		if code := run(context.Background(), []string{arg}, c); code != exitOK {
			t.Errorf("%s: exit %d, want 0", arg, code)
		}
		for _, cmd := range commands() {
			if !strings.Contains(out.String(), cmd.name) || !strings.Contains(out.String(), cmd.summary) {
				t.Errorf("%s: usage does not list %s", arg, cmd.name)
			}
		}
		if errOut.Len() != 0 {
			t.Errorf("%s: stderr %q", arg, errOut.String())
		}
	}
}

func TestRunNoArgs(t *testing.T) {
	c, out, _ := testCLI("", nil)
	if code := run(context.Background(), nil, c); code != exitBadArgs {
		t.Errorf("exit %d, want %d", code, exitBadArgs)
	}
	if !strings.Contains(out.String(), "Usage: remediate <command>") {
		t.Errorf("usage not shown: %q", out.String())
	}
}

func TestRunUnknownCommand(t *testing.T) {
	c, out, errOut := testCLI("", nil)
	if code := run(context.Background(), []string{"frobnicate"}, c); code != exitBadArgs {
		t.Errorf("exit %d, want %d", code, exitBadArgs)
	}
	if !strings.Contains(errOut.String(), `unknown command "frobnicate"`) || !strings.Contains(errOut.String(), "Commands:") {
		t.Errorf("stderr = %q", errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q", out.String())
	}
}

func TestCommandTable(t *testing.T) {
	seen := map[string]bool{}
	for _, cmd := range commands() {
		if cmd.name == "" || cmd.summary == "" || cmd.run == nil {
			t.Errorf("incomplete command %+v", cmd)
		}
		if seen[cmd.name] {
			t.Errorf("command %s listed twice", cmd.name)
		}
		seen[cmd.name] = true
	}
	if !seen["invoke"] {
		t.Error("invoke missing from the command table")
	}
	usage(io.Discard)
}

// A command's --help is asked-for output: it goes to stdout, exit 0.
func TestCommandHelpGoesToStdout(t *testing.T) {
	for _, cmd := range commands() {
		c, out, errOut := testCLI("", nil)
		if code := run(context.Background(), []string{cmd.name, "--help"}, c); code != exitOK {
			t.Errorf("%s --help: exit %d, want 0", cmd.name, code)
		}
		if !strings.Contains(out.String(), "Usage") {
			t.Errorf("%s --help: no usage on stdout: %q", cmd.name, out.String())
		}
		if errOut.Len() != 0 {
			t.Errorf("%s --help: stderr %q", cmd.name, errOut.String())
		}
	}
}

// Command remediate is the local CLI of the auto-remediation pipeline: it
// runs events through the same handler as the Lambda function, and hosts the
// other tools around it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/autoremediate/autoremediate/app"
)

// version is the release, stamped at build time with
// -ldflags "-X main.version=v1.2.3"; empty for a source build, which
// reports what debug.ReadBuildInfo knows instead.
var version string

// cli is what a command may touch: no globals.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, c *cli, args []string) int
	// settings says that the command reads the pipeline's settings from
	// the environment: they are checked before it runs (exit 2 when one
	// is bad), whatever part of them it uses.
	settings bool
}

// commands is the command table, one line per command.
func commands() []command {
	return []command{
		{"invoke", "run Config compliance change and CloudTrail API call events through the remediation handler", runInvoke, true},
		{"sweep", "find and fix every non-compliant resource in the account and region", runSweep, true},
		{"migrate-volume", "migrate one unencrypted EBS volume to an encrypted copy (--dry-run: the plan; --wait: until done)", runMigrateVolume, true},
		{"undo", "revert remediated outcomes: restore what each recorded as before (refuses when changed since, unless --force)", runUndo, true},
		{"demo", "the whole pipeline on a local AWS emulator, from insecure to compliant", runDemo, true},
		{"dashboard", "render the CloudWatch compliance dashboard as one HTML file", runDashboard, true},
		{"report", "compliance reports: SOC 2 from Security Hub (soc2), IAM credential audit (credentials), audit evidence pack (evidence)", runReport, true},
		{"state", "the DynamoDB state table: init creates it (STATE_TABLE) for local runs and tests", runState, true},
		{"org", "organisations: check assumes each member role and reports what works and what is missing", runOrg, true},
		{"deploy", "deploy the pipeline to AWS with Terraform (plan, confirm, apply, outputs)", runDeploy, false},
		{"destroy", "remove everything `remediate deploy` created", runDestroy, false},
	}
}

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // an outcome failed or could not be published
	exitBadArgs = 2 // bad flags, settings (a missing region too) or input that is not a valid event
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, c *cli) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(c.stdout)
		if len(args) == 0 {
			return exitBadArgs
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		info, ok := debug.ReadBuildInfo()
		fmt.Fprintln(c.stdout, versionString(version, info, ok))
		return exitOK
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] {
			if asksForHelp(args[1:]) {
				// Asked-for help is the output, not a diagnostic: the flag
				// package writes usage to the command's error stream.
				helpCLI := *c
				helpCLI.stderr = c.stdout
				c = &helpCLI
			} else if cmd.settings {
				if _, err := app.Load(c.getenv); err != nil {
					fmt.Fprintf(c.stderr, "remediate %s: configuration: %v\n", cmd.name, err)
					return exitBadArgs
				}
			}
			return cmd.run(ctx, c, args[1:])
		}
	}
	fmt.Fprintf(c.stderr, "remediate: unknown command %q\n\n", args[0])
	usage(c.stderr)
	return exitBadArgs
}

func usage(w io.Writer) {
	fmt.Fprint(w, `remediate: event-driven auto-remediation of AWS misconfigurations.

Usage: remediate <command> [flags]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Run "remediate <command> --help" for a command's flags, and
"remediate --version" for the version.

Every command but deploy and destroy reads the same settings as the Lambda
functions from the environment (MODE, RULE_MAP, SNS_TOPIC_ARN,
METRICS_MODE, ... - see docs/configuration.md) and checks them before it runs, and the
AWS SDK's own: AWS_REGION, AWS_PROFILE, credentials, and AWS_ENDPOINT_URL to
talk to a local emulator such as moto_server.

Exit status: 0 on success, 1 when something failed, 2 for bad flags or
settings (a missing region too); each command's --help says more.
`)
}

// versionString describes the build: the stamped version, else the module
// version "go install ...@v1.2.3" records, else a source build; with the
// commit when the build recorded it, and the Go version and platform.
func versionString(stamped string, info *debug.BuildInfo, ok bool) string {
	v := stamped
	var details []string
	if ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		vcs := map[string]string{}
		for _, s := range info.Settings {
			vcs[s.Key] = s.Value
		}
		if rev := vcs["vcs.revision"]; rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if vcs["vcs.modified"] == "true" {
				rev += "-dirty"
			}
			details = append(details, "commit "+rev)
		}
		if t := vcs["vcs.time"]; t != "" {
			details = append(details, t)
		}
		details = append(details, info.GoVersion)
	}
	if v == "" {
		v = "devel"
		details = append([]string{"source build, no version stamped"}, details...)
	}
	details = append(details, runtime.GOOS+"/"+runtime.GOARCH)
	return "remediate " + v + " (" + strings.Join(details, ", ") + ")"
}

// awsConfigFailed reports that the AWS configuration could not be loaded
// and returns the exit status: a missing region is a bad setting (2),
// anything else a failure (1).
func awsConfigFailed(c *cli, name string, err error) int {
	fmt.Fprintf(c.stderr, "remediate %s: %v\n", name, err)
	if errors.Is(err, app.ErrNoRegion) {
		return exitBadArgs
	}
	return exitFailed
}

// asksForHelp reports whether the arguments ask for a command's help (the
// flags stop at the first non-flag argument or "--").
func asksForHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

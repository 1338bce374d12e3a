// Command remediate is the local CLI of the auto-remediation pipeline: it
// runs events through the same handler as the Lambda function, and hosts the
// other tools around it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// cli is what a command may touch: no globals.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, c *cli, args []string) int
}

// commands is the command table, one line per command.
func commands() []command {
	return []command{
		{"invoke", "run Config compliance change events through the remediation handler", runInvoke},
		{"sweep", "find and fix every non-compliant resource in the account and region", runSweep},
		{"demo", "the whole pipeline on a local AWS emulator, from insecure to compliant", runDemo},
		{"dashboard", "render the CloudWatch compliance dashboard as one HTML file", runDashboard},
		{"report", "compliance reports: SOC 2 from Security Hub (soc2), IAM credential audit (credentials)", runReport},
		{"deploy", "deploy the pipeline to AWS with Terraform (plan, confirm, apply, outputs)", runDeploy},
		{"destroy", "remove everything `remediate deploy` created", runDestroy},
	}
}

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // an outcome failed or could not be published
	exitBadArgs = 2 // bad flags or input that is not a valid event
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
	for _, cmd := range commands() {
		if cmd.name == args[0] {
			if asksForHelp(args[1:]) {
				// Asked-for help is the output, not a diagnostic: the flag
				// package writes usage to the command's error stream.
				helpCLI := *c
				helpCLI.stderr = c.stdout
				c = &helpCLI
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
		fmt.Fprintf(w, "  %-10s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Run "remediate <command> --help" for a command's flags.

Every command reads the same settings as the Lambda functions from the
environment (MODE, RULE_MAP, SNS_TOPIC_ARN, METRICS_MODE, ... - see the
README), and the AWS SDK's own: AWS_REGION, AWS_PROFILE, credentials, and
AWS_ENDPOINT_URL to talk to a local emulator such as moto_server.
`)
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/state"
)

const stateHelp = `Usage: remediate state init [--table NAME]

  init  create the DynamoDB state table (STATE_TABLE) for local runs and
        tests; on AWS, Terraform creates it

Run "remediate state init --help" for its flags.
`

func runState(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := c.stdout
		if len(args) == 0 {
			w = c.stderr
		}
		fmt.Fprint(w, stateHelp)
		if len(args) == 0 {
			return exitBadArgs
		}
		return exitOK
	}
	if args[0] == "init" {
		return runStateInit(ctx, c, args[1:])
	}
	fmt.Fprintf(c.stderr, "remediate state: unknown subcommand %q\n\n%s", args[0], stateHelp)
	return exitBadArgs
}

const stateInitHelp = `Usage: remediate state init [--table NAME]

Creates the DynamoDB table of the pipeline's state store, in the account and
region of your AWS credentials (or AWS_ENDPOINT_URL, e.g. moto_server):
partition key "pk" (type S) and no sort key, on-demand billing, TTL on the
number attribute "expiresAt" (epoch seconds). It waits until the table is
ACTIVE. Running it again is harmless: an existing table with that key schema
is kept and its TTL switched on if it is off; a table with another key
schema, or with TTL on another attribute, is an error. On AWS, Terraform
creates the table (encrypted with KMS, with point-in-time recovery); this
command is for local runs and tests. It needs dynamodb:DescribeTable,
dynamodb:CreateTable, dynamodb:DescribeTimeToLive and
dynamodb:UpdateTimeToLive.

Exit status: 0 when the table is ready; 1 when AWS refused or could not be
reached, or the existing table does not fit; 2 for bad flags or settings
(no table named, a missing region too).

Flags:
`

// stateInitTimeout bounds the wait for the table to become ACTIVE.
const stateInitTimeout = 5 * time.Minute

func runStateInit(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("state init", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	table := fs.String("table", "", "the table's `NAME` (default: STATE_TABLE)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), stateInitHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "remediate state init: unexpected argument %q: state init takes flags only (see remediate state init --help)\n", fs.Arg(0))
		return exitBadArgs
	}
	name := strings.TrimSpace(*table)
	if name == "" {
		name = strings.TrimSpace(c.getenv("STATE_TABLE"))
	}
	if name == "" {
		fmt.Fprintln(c.stderr, "remediate state init: no table named: pass --table NAME or set STATE_TABLE (see remediate state init --help)")
		return exitBadArgs
	}
	if err := state.CheckTableName(name); err != nil {
		fmt.Fprintf(c.stderr, "remediate state init: %v\n", err)
		return exitBadArgs
	}
	awsCfg, err := app.LoadAWSConfig(ctx)
	if err != nil {
		return awsConfigFailed(c, "state init", err)
	}
	ctx, cancel := context.WithTimeout(ctx, stateInitTimeout)
	defer cancel()
	res, err := state.Init(ctx, app.NewClients(awsCfg).DynamoDB(), name)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate state init: %v\n", err)
		return exitFailed
	}
	if res.Created {
		fmt.Fprintf(c.stdout, "created DynamoDB table %q (partition key %s, type S; on-demand)\n", name, state.KeyAttribute)
	} else {
		fmt.Fprintf(c.stdout, "DynamoDB table %q exists with partition key %s (type S)\n", name, state.KeyAttribute)
	}
	if res.TTLEnabled {
		fmt.Fprintf(c.stdout, "enabled TTL on %s\n", state.TTLAttribute)
	} else {
		fmt.Fprintf(c.stdout, "TTL already enabled on %s\n", state.TTLAttribute)
	}
	return exitOK
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/autoremediate/autoremediate/deploy"
)

const deployHelp = `Usage: remediate deploy [--dir DIR] [--auto-approve] [--skip-build] [-var NAME=VALUE]... [-var-file FILE]...
       remediate destroy [same flags]

deploy brings up the whole pipeline with Terraform (the module in
./terraform unless --dir says otherwise): it builds the function zips when
they are stale (make build), runs terraform init and plan, prints what will
change, asks for confirmation (or not, with --auto-approve), applies, and
prints the outputs, the compliance dashboard's URL first.

destroy removes everything the module created, after the same summary and
confirmation. Pass the same -var/-var-file as for deploy.

It needs terraform (>= 1.5) on PATH and AWS credentials for the account and
region to deploy to (AWS_PROFILE / AWS_REGION, as for the aws CLI).

Exit status: 0 when applied (or nothing to change), 1 when terraform failed
or the plan was not confirmed, 2 for bad flags.

Flags:
`

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runDeploy(ctx context.Context, c *cli, args []string) int {
	return runTerraform(ctx, c, "deploy", args, false)
}

func runDestroy(ctx context.Context, c *cli, args []string) int {
	return runTerraform(ctx, c, "destroy", args, true)
}

func runTerraform(ctx context.Context, c *cli, name string, args []string, destroy bool) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dir := fs.String("dir", "terraform", "`DIR` of the Terraform module")
	autoApprove := fs.Bool("auto-approve", false, "apply without asking for confirmation")
	skipBuild := fs.Bool("skip-build", false, "do not run make build first")
	var vars, varFiles listFlag
	fs.Var(&vars, "var", "`NAME=VALUE` passed to terraform as -var (repeatable)")
	fs.Var(&varFiles, "var-file", "`FILE` passed to terraform as -var-file (repeatable)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), deployHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "remediate %s: unexpected argument %q\n", name, fs.Arg(0))
		return exitBadArgs
	}
	for _, v := range vars {
		if !strings.Contains(v, "=") {
			fmt.Fprintf(c.stderr, "remediate %s: -var %q: want NAME=VALUE\n", name, v)
			return exitBadArgs
		}
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		fmt.Fprintf(c.stderr, "remediate %s: no Terraform module in %q: run from the repository root or pass --dir\n", name, *dir)
		return exitBadArgs
	}
	tfPath, err := deploy.FindTerraform(exec.LookPath)
	if err != nil {
		fmt.Fprintf(c.stderr, "remediate %s: %v\n", name, err)
		return exitFailed
	}
	opts := deploy.Options{
		Dir: *dir, Terraform: tfPath, Vars: vars, VarFiles: varFiles,
		Destroy: destroy, AutoApprove: *autoApprove,
		In: c.stdin, Out: c.stdout, Log: c.stderr,
	}
	if !*skipBuild {
		opts.Build = buildZips(c, *dir)
	}
	if _, err := deploy.Run(ctx, opts); err != nil {
		fmt.Fprintf(c.stderr, "remediate %s: %v\n", name, err)
		return exitFailed
	}
	return exitOK
}

// buildZips returns the build step for a module inside this repository:
// `make build` in the repository root, which rebuilds only the stale zips.
// A module elsewhere (no Makefile with functions/ above it) is left alone.
func buildZips(c *cli, dir string) func(context.Context) error {
	return func(ctx context.Context) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		root := filepath.Dir(abs)
		_, errMake := os.Stat(filepath.Join(root, "Makefile"))
		_, errFns := os.Stat(filepath.Join(root, "functions"))
		if errMake != nil || errFns != nil {
			fmt.Fprintf(c.stderr, "remediate: %s is not in this repository: not building the function zips\n", dir)
			return nil
		}
		makePath, err := exec.LookPath("make")
		if err != nil {
			return fmt.Errorf("make not found on PATH: install make, or build the zips yourself (make build) and pass --skip-build")
		}
		cmd := exec.CommandContext(ctx, makePath, "-C", root, "build")
		cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("make -C %s build: %w", root, err)
		}
		return nil
	}
}

// Command genmember writes the CloudFormation template of the member stack
// (terraform/cloudformation/member.json, for a service-managed StackSet)
// from the remediator definitions: terraform.MemberTemplate; go generate
// ./terraform runs it with the defaults, which match the central
// deployment's defaults. For a central deployment with other settings,
// write a template that matches them:
//
//	go run ./internal/tools/genmember -enabled s3-encryption,ec2-imdsv2 member.json
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/terraform"
)

func main() {
	var (
		enabled   = flag.String("enabled", "", "enabled remediators, comma-separated (the central deployment's enabled_remediators); empty: all")
		ruleNames = flag.String("config-rule-names", "", "exact Config rule names to forward, comma-separated (the central deployment's member_settings.config_rule_names); empty: the managed rule names of the enabled remediators")
		noGen     = flag.Bool("no-generated-rule-names", false, "do not forward the rules Security Hub, conformance packs, organisation rules and Control Tower deploy (match_generated_rule_names = false)")
	)
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: genmember [flags] OUTPUT.json")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	o := terraform.MemberOptions{Enabled: split(*enabled), ConfigRuleNames: split(*ruleNames), SkipGeneratedRuleNames: *noGen}
	b, err := terraform.MemberTemplate(remediators.Definitions(), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "genmember: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(flag.Arg(0), b, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "genmember: writing the template: %v\n", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

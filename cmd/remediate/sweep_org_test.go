package main

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/orgproxy"
	"github.com/autoremediate/autoremediate/remediation"
)

// remediate sweep --accounts all --regions A,B on an organisation of the
// emulator: JSON outcomes carry their account and region, the text has a
// table per account and the organisation's, progress goes to standard
// error, and EXCLUDED_ACCOUNTS are skipped with a note. (moto grants
// AssumeRole into any role, so the members need no member role here; the
// app package's test checks the roles, the signatures and a broken
// member.)
func TestSweepOrganizationCommandOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	env := map[string]string{"IMDS_LOOKBACK_DAYS": "0", "METRICS_MODE": "off"}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
		env[k] = v
	}
	ctx := context.Background()
	members, err := orgproxy.CreateMembers(ctx, srv.AWSConfig(), "cli", 2)
	if err != nil {
		t.Fatal(err)
	}
	member, excluded := members[0], members[1]
	env["EXCLUDED_ACCOUNTS"] = excluded
	regions := []string{"eu-west-1", "us-east-1"}
	instances := map[string]string{} // instance -> account/region
	for _, acct := range []string{emulator.Account, member, excluded} {
		cfg := srv.AWSConfig()
		if acct != emulator.Account {
			if cfg, err = orgproxy.InAccount(ctx, cfg, acct); err != nil {
				t.Fatal(err)
			}
		}
		for _, region := range regions {
			out, err := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region }).RunInstances(ctx, &ec2.RunInstancesInput{
				ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
				MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional}})
			if err != nil {
				t.Fatal(err)
			}
			instances[aws.ToString(out.Instances[0].InstanceId)] = acct + "/" + region
		}
	}

	c, stdout, stderr := testCLI("", env)
	args := []string{"sweep", "--dry-run", "--only", "ec2-imdsv2", "--accounts", "all", "--regions", strings.Join(regions, ","), "--output", "json"}
	if code := run(ctx, args, c); code != exitOK {
		t.Fatalf("%v: exit %d\n%s", args, code, stderr.String())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var o remediation.Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		where, ok := instances[o.ResourceID]
		if !ok || where != o.Account+"/"+o.Region || o.Action != remediation.ActionDryRun {
			t.Errorf("outcome for %s in %s %s (%s), the instance is in %q", o.ResourceID, o.Account, o.Region, o.Action, where)
		}
		seen[where] = true
	}
	var want []string
	for _, acct := range []string{emulator.Account, member} {
		for _, region := range regions {
			want = append(want, acct+"/"+region)
		}
	}
	if got := slices.Sorted(maps.Keys(seen)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("outcomes in %v, want %v (the central account and the member, not the excluded one)", got, want)
	}
	for _, w := range []string{"skipped: account " + excluded + " is excluded (EXCLUDED_ACCOUNTS)", "4 account-regions (2 accounts)", "sweep: 4/4 account-regions done"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("standard error lacks %q:\n%s", w, stderr.String())
		}
	}

	c, stdout, stderr = testCLI("", env)
	args = []string{"sweep", "--only", "ec2-imdsv2", "--accounts", "all", "--regions", strings.Join(regions, ","), "--parallel", "2"}
	if code := run(ctx, args, c); code != exitOK {
		t.Fatalf("%v: exit %d\n%s", args, code, stderr.String())
	}
	text := stdout.String()
	for _, w := range []string{"== account " + emulator.Account + " (eu-west-1, us-east-1)", "== account " + member + " (eu-west-1, us-east-1)",
		"== organisation: 2 accounts, 4 account-regions\n", "compliance score: 100.0% (4 of 4 checks compliant)"} {
		if !strings.Contains(text, w) {
			t.Errorf("summary lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, excluded) {
		t.Errorf("the summary names the excluded account:\n%s", text)
	}
	if !strings.Contains(stderr.String(), "2 at once") {
		t.Errorf("--parallel 2 not honoured:\n%s", stderr.String())
	}
}

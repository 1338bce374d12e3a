package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/orgproxy"
	"github.com/autoremediate/autoremediate/remediation"
)

// TestDemoOrganization runs the organisation demo with two members and
// reads the emulator back with each account's own credentials: the
// central account and the member with its role fixed in their accounts
// and regions, the member without its role untouched and reported with
// the fix.
func TestDemoOrganization(t *testing.T) {
	srv := emulator.StartT(t)
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Out: &out, Server: srv, Accounts: 2})
	if err != nil {
		t.Fatalf("organisation demo: %v\n%s", err, out.String())
	}
	ctx := context.Background()
	if len(res.Accounts) != 3 || res.Accounts[0].Account != emulator.Account {
		t.Fatalf("table %+v, want the central account and two members", res.Accounts)
	}
	withRole, without := res.Accounts[1].Account, res.Accounts[2].Account
	fixedIn := map[string]bool{emulator.Account: true, withRole: true}
	// Each account: EBS by default and an IMDSv1 instance in both regions,
	// and a bucket.
	const perAccount = 5
	seen := map[string]int{}
	for _, o := range res.Outcomes {
		seen[o.Account]++
		cfg, err := orgproxy.InAccount(ctx, srv.AWSConfig(), o.Account)
		if err != nil {
			t.Fatal(err)
		}
		var fixed bool
		switch o.ResourceType {
		case "AWS::::Account":
			got, err := ec2.NewFromConfig(cfg, func(op *ec2.Options) { op.Region = o.Region }).GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
			if err != nil {
				t.Fatal(err)
			}
			fixed = aws.ToBool(got.EbsEncryptionByDefault)
		case "AWS::EC2::Instance":
			got, err := ec2.NewFromConfig(cfg, func(op *ec2.Options) { op.Region = o.Region }).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{o.ResourceID}})
			if err != nil || len(got.Reservations) != 1 {
				t.Fatalf("instance %s in %s %s: %v", o.ResourceID, o.Account, o.Region, err)
			}
			fixed = got.Reservations[0].Instances[0].MetadataOptions.HttpTokens == ec2types.HttpTokensStateRequired
		case "AWS::S3::Bucket":
			_, err := s3.NewFromConfig(cfg, func(op *s3.Options) { op.UsePathStyle = true }).GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(o.ResourceID)})
			fixed = err == nil
		default:
			t.Errorf("an outcome for %s %s", o.ResourceType, o.ResourceID)
		}
		want := remediation.ActionRemediated
		if !fixedIn[o.Account] {
			want = remediation.ActionFailed
		}
		if o.Action != want || fixed != fixedIn[o.Account] {
			t.Errorf("%s %s in %s %s: %s, fixed %t; want %s", o.ResourceType, o.ResourceID, o.Account, o.Region, o.Action, fixed, want)
		}
		if o.Account == withRole && !strings.HasPrefix(o.ActedAs, "arn:aws:sts::"+withRole+":assumed-role/"+app.DefaultMemberRoleName+"/") {
			t.Errorf("%s in member %s acted as %q, want its member role", o.ResourceID, withRole, o.ActedAs)
		}
	}
	for _, a := range []string{emulator.Account, withRole, without} {
		if seen[a] != perAccount {
			t.Errorf("account %s: %d outcomes, want %d", a, seen[a], perAccount)
		}
	}
	if r := res.Accounts[1]; r.AssumeRoles != 1 || r.Writes == 0 {
		t.Errorf("member with its role: %d AssumeRole calls for %d events, %d writes; want one AssumeRole", r.AssumeRoles, r.Events, r.Writes)
	}
	if r := res.Accounts[2]; r.Denied == 0 || r.Writes != 0 || r.Compliant != 0 {
		t.Errorf("member without its role: %+v; want AssumeRole denied, nothing written or fixed", r)
	}
	text := out.String()
	for _, want := range []string{
		"ACCOUNT", "COMPLIANT", "ASSUMEROLE",
		"cannot assume the member role arn:aws:iam::" + without + ":role/" + app.DefaultMemberRoleName,
		"sts:AssumeRole denied", "deploy or update the member stack in account " + without,
		"Every fix in a member was signed with its member role's key",
		"nothing is published into member accounts",
	} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("the printout lacks %q:\n%s", want, text)
		}
	}
}

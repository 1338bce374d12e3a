package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediation"
)

// An event for another account is acted on in that account, as its member
// role, never in the function's own. Before the organisation support, a
// real organisation-bus event (the member's account in detail.awsAccountId)
// turned on EBS encryption by default in the caller's account and reported
// the member's as remediated, and an IMDSv2 event for an instance in
// another account reported the live instance gone. (moto grants AssumeRole
// into any account, with or without the role; the organisation tests check
// the role and which keys signed the writes.)
func TestEventsForOtherAccountsActInThoseAccounts(t *testing.T) {
	const member = "444455556666"
	r := newRig(t, nil)
	r.setEBSDefault(false)
	memberEC2 := ec2.NewFromConfig(r.assumed(member))
	if _, err := memberEC2.DisableEbsEncryptionByDefault(ctx(t), &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "events", "testdata", "org-bus-ebs-encryption-by-default-member-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := r.handler.Handle(ctx(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != remediation.ActionRemediated || o.Account != member || !strings.HasPrefix(o.ActedAs, "arn:aws:sts::"+member+":assumed-role/autoremediate-member/autoremediate-") {
		t.Errorf("member account event: %s %q in %s as %q, want remediated as the member role", o.Action, o.Reason, o.Account, o.ActedAs)
	}
	if r.ebsDefault() {
		t.Error("EBS encryption by default was turned on in the caller's account for another account's event")
	}
	got, err := memberEC2.GetEbsEncryptionByDefault(ctx(t), &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil || !aws.ToBool(got.EbsEncryptionByDefault) {
		t.Errorf("the member's EBS encryption by default: %v, %v; want on", got, err)
	}

	// The caller's instance, named in an event for the member account, is
	// not in the member account: gone there, and left alone here.
	id := r.launchIMDSv1()
	ev := bytes.ReplaceAll(fixtureEvent(t, fixtureIMDSv2, id), []byte(`"123456789012"`), []byte(`"`+member+`"`))
	o, err = r.handler.Handle(ctx(t), ev)
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != remediation.ActionGone || o.Account != member {
		t.Errorf("IMDSv2 event for another account: %s %q in %s, want gone in %s", o.Action, o.Reason, o.Account, member)
	}
	if got := r.metadataOptions(id).HttpTokens; got != "optional" {
		t.Errorf("the caller's instance was changed: HttpTokens %s", got)
	}
}

// assumed is the emulator's configuration with credentials of a role in
// account.
func (r *rig) assumed(account string) aws.Config {
	r.t.Helper()
	cfg := r.srv.AWSConfig()
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx(r.t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/test-reader"), RoleSessionName: aws.String("test")})
	if err != nil {
		r.t.Fatal(err)
	}
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg
}

// Inside Lambda the account comes from the invoked function's ARN, with no
// STS call (the clients here point nowhere).
func TestOwnAccountFromLambdaContext(t *testing.T) {
	c := app.NewClients(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1")})
	lc := &lambdacontext.LambdaContext{InvokedFunctionArn: "arn:aws:lambda:us-east-1:210987654321:function:autoremediate-remediate"}
	got, err := app.OwnAccount(c)(lambdacontext.NewContext(context.Background(), lc))
	if err != nil || got != "210987654321" {
		t.Errorf("OwnAccount = %q, %v", got, err)
	}
}

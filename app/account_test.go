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

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediation"
)

// An event for another account is never applied to the credentials' own
// account. Before the fix, a real organisation-bus event (the member's
// account in detail.awsAccountId) turned on EBS encryption by default in the
// caller's account and reported the member's as remediated, and an IMDSv2
// event for an instance in another account reported the live instance gone.
func TestEventsForOtherAccountsAreIgnored(t *testing.T) {
	r := newRig(t, nil)
	r.setEBSDefault(false)
	raw, err := os.ReadFile(filepath.Join("..", "events", "testdata", "org-bus-ebs-encryption-by-default-member-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := r.handler.Handle(ctx(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != remediation.ActionIgnored || !strings.Contains(o.Reason, "444455556666") || !strings.Contains(o.Reason, emulatorAccount) {
		t.Errorf("member account event: %s %q, want ignored naming both accounts", o.Action, o.Reason)
	}
	if r.ebsDefault() {
		t.Error("EBS encryption by default was turned on in the caller's account for another account's event")
	}

	id := r.launchIMDSv1()
	ev := bytes.ReplaceAll(fixtureEvent(t, fixtureIMDSv2, id), []byte(`"123456789012"`), []byte(`"444455556666"`))
	o, err = r.handler.Handle(ctx(t), ev)
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != remediation.ActionIgnored {
		t.Errorf("IMDSv2 event for another account: %s %q, want ignored", o.Action, o.Reason)
	}
	if got := r.metadataOptions(id).HttpTokens; got != "optional" {
		t.Errorf("the caller's instance was changed: HttpTokens %s", got)
	}
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

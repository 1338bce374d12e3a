package credentials

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

// On moto the credential report has no <root_account> row, keys are
// created "now" and never used, and dates cannot be backdated: the ages
// are driven by evaluating the report at a later clock instead (the fake
// clients in credentials_test.go cover root and exact ages).
func TestCredentialsOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	api := iam.NewFromConfig(srv.AWSConfig())
	mustDo := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	keysOf := map[string][]string{}
	for _, u := range []struct {
		name         string
		console, mfa bool
		keys         int
	}{{"no-mfa", true, false, 0}, {"with-mfa", true, true, 0}, {"two-keys", false, false, 2}, {"one-key", false, false, 1}} {
		_, err := api.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u.name)})
		mustDo("creating user "+u.name, err)
		if u.console {
			_, err := api.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String(u.name), Password: aws.String("Correct-Horse-Battery-9")})
			mustDo("creating login profile", err)
		}
		if u.mfa {
			dev, err := api.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String(u.name)})
			mustDo("creating MFA device", err)
			_, err = api.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String(u.name), SerialNumber: dev.VirtualMFADevice.SerialNumber,
				AuthenticationCode1: aws.String("123456"), AuthenticationCode2: aws.String("654321")})
			mustDo("enabling MFA", err)
		}
		for i := 0; i < u.keys; i++ {
			k, err := api.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u.name)})
			mustDo("creating access key", err)
			keysOf[u.name] = append(keysOf[u.name], aws.ToString(k.AccessKey.AccessKeyId))
		}
	}

	rep, err := (&Fetcher{API: api, Timeout: 30 * time.Second}).Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 4 {
		t.Fatalf("report has %d users, want 4", len(rep.Rows))
	}
	got := checksOf(Check(rep.Rows, time.Now(), DefaultThresholds()))
	want := map[string]string{"no-mfa": CheckConsoleNoMFA, "two-keys": CheckTwoActiveKeys}
	for u, c := range want {
		if len(got[u]) != 1 || got[u][0] != c {
			t.Errorf("%s: %v, want [%s]", u, got[u], c)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want only %v", got, want)
	}

	// 50 days on, every key is unused past the 45-day threshold.
	later := time.Now().Add(50 * 24 * time.Hour)
	fs := Check(rep.Rows, later, DefaultThresholds())
	outs := (&Deactivator{API: api, Thresholds: DefaultThresholds(), Apply: true, Now: func() time.Time { return later }}).Run(ctx, rep.Rows, fs)
	if len(outs) != 3 {
		t.Fatalf("%d outcomes, want one per key (3): %+v", len(outs), outs)
	}
	for _, o := range outs {
		if o.Action != remediation.ActionRemediated {
			t.Errorf("outcome %+v, want remediated", o)
		}
	}
	for user, ids := range keysOf {
		out, err := api.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		mustDo("listing keys", err)
		if len(out.AccessKeyMetadata) != len(ids) {
			t.Errorf("%s: %d keys, want %d", user, len(out.AccessKeyMetadata), len(ids))
		}
		for _, k := range out.AccessKeyMetadata {
			if k.Status != iamtypes.StatusTypeInactive {
				t.Errorf("%s key %s is %s after deactivation", user, aws.ToString(k.AccessKeyId), k.Status)
			}
		}
	}
}

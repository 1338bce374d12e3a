package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
)

const (
	centralAccount = "111111111111"
	memberAccount  = "222222222222"
)

// fakeSTS answers AssumeRole with credentials valid for lifetime, or with
// err, and records the requests.
type fakeSTS struct {
	lifetime time.Duration
	err      error

	mu    sync.Mutex
	calls []sts.AssumeRoleInput
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, *in)
	if f.err != nil {
		return nil, f.err
	}
	account := strings.Split(aws.ToString(in.RoleArn), ":")[4]
	n := len(f.calls)
	return &sts.AssumeRoleOutput{
		Credentials: &ststypes.Credentials{AccessKeyId: aws.String(fmt.Sprintf("ASIA%d", n)), SecretAccessKey: aws.String("s"),
			SessionToken: aws.String("t"), Expiration: aws.Time(time.Now().Add(f.lifetime))},
		AssumedRoleUser: &ststypes.AssumedRoleUser{Arn: aws.String("arn:aws:sts::" + account + ":assumed-role/autoremediate-member/" + aws.ToString(in.RoleSessionName))},
	}, nil
}

func (f *fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Account: aws.String(centralAccount),
		Arn: aws.String("arn:aws:sts::" + centralAccount + ":assumed-role/autoremediate-remediate/autoremediate-remediate")}, nil
}

func (f *fakeSTS) requests() []sts.AssumeRoleInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sts.AssumeRoleInput(nil), f.calls...)
}

func testScopes(t *testing.T, f *fakeSTS, externalID string) *Scopes {
	t.Helper()
	cfg, err := Load(func(k string) string {
		return map[string]string{"MEMBER_ROLE_EXTERNAL_ID": externalID}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	return newScopes(cfg, base, f, func(context.Context) (string, error) { return centralAccount, nil })
}

// The function's own account needs no role; a member's role is assumed
// once, with the external ID and a session named after the event, and its
// credentials serve every region of the account.
func TestScopesAssumeTheMemberRoleOncePerAccount(t *testing.T) {
	f := &fakeSTS{lifetime: time.Hour}
	s := testScopes(t, f, "org-ext-id")
	own, err := s.For(context.Background(), centralAccount, "eu-west-1", "e0")
	if err != nil || own.Role != "" || own.ActedAs() != "" || own.Clients.Config().Region != "eu-west-1" {
		t.Fatalf("own scope %+v, %v", own, err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d AssumeRole calls for the own account", n)
	}
	var first Scope
	for i, region := range []string{"us-east-1", "eu-west-1", "us-east-1", "eu-west-1"} {
		sc, err := s.For(context.Background(), memberAccount, region, fmt.Sprintf("3f1a0001-6c2e-4b1d-9a8e-0c5d2b7e000%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if sc.Clients.Config().Region != region || sc.Role != "arn:aws:iam::"+memberAccount+":role/autoremediate-member" {
			t.Errorf("scope %s %s: region %s, role %s", memberAccount, region, sc.Clients.Config().Region, sc.Role)
		}
		if i == 0 {
			first = sc
		}
		if i == 2 && (sc.Clients != first.Clients || sc.Registry != first.Registry) {
			t.Error("the clients of an account and region were built twice")
		}
		if _, ok := sc.Registry.Get("ec2-imdsv2"); !ok {
			t.Errorf("registry of %s has no %s", region, "ec2-imdsv2")
		}
	}
	calls := f.requests()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls for 4 events in one account, want 1", len(calls))
	}
	in := calls[0]
	if aws.ToString(in.RoleArn) != "arn:aws:iam::"+memberAccount+":role/autoremediate-member" ||
		aws.ToString(in.ExternalId) != "org-ext-id" ||
		aws.ToString(in.RoleSessionName) != "autoremediate-3f1a0001-6c2e-4b1d-9a8e-0c5d2b7e0000" ||
		aws.ToInt32(in.DurationSeconds) != 3600 {
		t.Errorf("AssumeRole %s session %s external ID %s duration %d", aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName), aws.ToString(in.ExternalId), aws.ToInt32(in.DurationSeconds))
	}
	if got := first.ActedAs(); got != "arn:aws:sts::"+memberAccount+":assumed-role/autoremediate-member/autoremediate-3f1a0001-6c2e-4b1d-9a8e-0c5d2b7e0000" {
		t.Errorf("ActedAs = %q", got)
	}
	creds, err := first.Clients.Config().Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "ASIA1" {
		t.Errorf("the member scope's clients sign with %q (%v), want the assumed role's key", creds.AccessKeyID, err)
	}
}

// Credentials are renewed shortly before they expire, not at expiry: a
// session with less than the renewal margin left is replaced at the next
// event, one with more is kept.
func TestScopesRenewCredentialsBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		lifetime time.Duration
		want     int
	}{
		{memberRenewal - time.Minute, 3}, // inside the margin at every event
		{memberRenewal + time.Minute, 1},
		{time.Hour, 1},
	} {
		f := &fakeSTS{lifetime: tc.lifetime}
		s := testScopes(t, f, "")
		for i := range 3 {
			if _, err := s.For(context.Background(), memberAccount, "us-east-1", fmt.Sprint("ev", i)); err != nil {
				t.Fatal(err)
			}
		}
		calls := f.requests()
		if len(calls) != tc.want {
			t.Errorf("lifetime %s: %d AssumeRole calls for 3 events, want %d", tc.lifetime, len(calls), tc.want)
		}
		if calls[0].ExternalId != nil {
			t.Errorf("an external ID was sent without MEMBER_ROLE_EXTERNAL_ID: %q", aws.ToString(calls[0].ExternalId))
		}
		if tc.want == 3 && aws.ToString(calls[2].RoleSessionName) != "autoremediate-ev2" {
			t.Errorf("the renewed session is named %q, want after the event that renewed it", aws.ToString(calls[2].RoleSessionName))
		}
	}
}

func apiError(code, msg string) error {
	return &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole",
		Err: &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}}
}

// A member role that is missing, does not trust the central role or wants
// another external ID gives AccessDenied (STS does not say which); the
// error names the account, the role, the action and the fix.
func TestScopesExplainADeniedAssumeRole(t *testing.T) {
	role := "arn:aws:iam::" + memberAccount + ":role/autoremediate-member"
	denied := apiError("AccessDenied", "User: arn:aws:sts::"+centralAccount+":assumed-role/autoremediate-remediate/x is not authorized to perform: sts:AssumeRole on resource: "+role)
	for _, tc := range []struct {
		name, externalID string
		err              error
		want             []string
	}{
		{"role missing or untrusting", "", denied, []string{
			"cannot assume the member role " + role + " in account " + memberAccount + " (sts:AssumeRole denied)",
			"the role is missing, does not trust arn:aws:iam::" + centralAccount + ":role/autoremediate-remediate",
			"or expects another external ID (this function sends none: MEMBER_ROLE_EXTERNAL_ID is empty)",
			"deploy or update the member stack in account " + memberAccount + " (terraform/modules/member, or the StackSet template)",
			"`remediate org check --accounts " + memberAccount + "`",
			"AccessDenied",
		}},
		{"external ID", "ext-1", denied, []string{"(this function sends the one in MEMBER_ROLE_EXTERNAL_ID)"}},
		{"STS off in the region", "", apiError("RegionDisabledException", "STS is not activated in this region"), []string{
			"STS is not activated in region us-east-1 of the central account",
		}},
		{"throttled", "", apiError("Throttling", "Rate exceeded"), []string{
			"assuming the member role " + role + " in account " + memberAccount + ": ",
			"Rate exceeded",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testScopes(t, &fakeSTS{err: tc.err}, tc.externalID)
			_, err := s.For(context.Background(), memberAccount, "us-east-1", "e1")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if !errors.Is(err, tc.err) {
				t.Error("the STS error is not wrapped")
			}
		})
	}
	// An account that is not one is refused before any call.
	f := &fakeSTS{lifetime: time.Hour}
	if _, err := testScopes(t, f, "").For(context.Background(), "2222", "us-east-1", "e"); err == nil || len(f.requests()) != 0 {
		t.Errorf("account 2222: %v, %d calls", err, len(f.requests()))
	}
}

// deniedRemediator fails as a remediator does when AWS denies its write.
type deniedRemediator struct{ err error }

func (deniedRemediator) Name() string            { return "ec2-imdsv2" }
func (deniedRemediator) ResourceTypes() []string { return []string{"AWS::EC2::Instance"} }
func (d deniedRemediator) Remediate(context.Context, remediation.Request) remediation.Result {
	return remediation.Failed(map[string]any{"httpTokens": "optional"}, fmt.Errorf("requiring IMDSv2 on instance %q: %w", "i-0abc", d.err))
}

// A member role that lacks a permission: the outcome names the account,
// the role, the IAM action and the fix, whether AWS's message names the
// action (EC2 does) or not (S3's AccessDenied does not).
func TestMemberPermissionMissingIsExplained(t *testing.T) {
	role := "arn:aws:iam::" + memberAccount + ":role/autoremediate-member"
	ec2Denied := &smithy.OperationError{ServiceID: "EC2", OperationName: "ModifyInstanceMetadataOptions", Err: &smithy.GenericAPIError{
		Code:    "UnauthorizedOperation",
		Message: "You are not authorized to perform this operation. User: arn:aws:sts::" + memberAccount + ":assumed-role/autoremediate-member/autoremediate-e1 is not authorized to perform: ec2:ModifyInstanceMetadataOptions on resource: arn:aws:ec2:us-east-1:" + memberAccount + ":instance/i-0abc because no identity-based policy allows the ec2:ModifyInstanceMetadataOptions action. Encoded authorization failure message: abc"}}
	s3Denied := &smithy.OperationError{ServiceID: "S3", OperationName: "PutPublicAccessBlock", Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}}
	for _, tc := range []struct {
		err    error
		action string
	}{{ec2Denied, "ec2:ModifyInstanceMetadataOptions"}, {s3Denied, "s3:PutBucketPublicAccessBlock"}} {
		d := deniedInMember{Remediator: deniedRemediator{tc.err}, account: memberAccount, role: role}
		res := d.Remediate(context.Background(), remediation.Request{ResourceID: "i-0abc"})
		want := "the member role " + role + " in account " + memberAccount + " is not allowed " + tc.action + " (needed by ec2-imdsv2): update the member stack in account " + memberAccount
		if res.Action != remediation.ActionFailed || !strings.HasPrefix(res.Reason, want) || !errors.Is(res.Err, tc.err) || res.Before["httpTokens"] != "optional" {
			t.Errorf("result %s %q\nwant reason starting %q, the error wrapped and Before kept", res.Action, res.Reason, want)
		}
	}
	// Other failures pass unchanged.
	other := apiError("InvalidInstanceID.Malformed", "bad")
	res := deniedInMember{Remediator: deniedRemediator{other}, account: memberAccount, role: role}.Remediate(context.Background(), remediation.Request{})
	if strings.Contains(res.Reason, "member role") {
		t.Errorf("a failure that is not a denial was explained as one: %q", res.Reason)
	}
}

func TestSessionNames(t *testing.T) {
	for id, want := range map[string]string{
		"":                                     "autoremediate",
		"3f1a0001-6c2e-4b1d-9a8e-0c5d2b7e0001": "autoremediate-3f1a0001-6c2e-4b1d-9a8e-0c5d2b7e0001",
		"sweep-1733256000":                     "autoremediate-sweep-1733256000",
		"a b/c:d":                              "autoremediate-a-b-c-d",
		strings.Repeat("x", 80):                "autoremediate-" + strings.Repeat("x", 50),
	} {
		if got := sessionFrom(withSession(context.Background(), id)); got != want || len(got) > 64 {
			t.Errorf("session for %q = %q, want %q", id, got, want)
		}
	}
}

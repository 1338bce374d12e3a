package remediation

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/events"
)

// scopeFakes gives each account and region its own fake remediators, and
// records which scopes were asked for.
type scopeFakes struct {
	asked []string
	regs  map[string]*fakes
	err   map[string]error
}

func (s *scopeFakes) scope(t *testing.T) func(ctx context.Context, account, region, eventID string) (Scope, error) {
	return func(_ context.Context, account, region, eventID string) (Scope, error) {
		key := account + "/" + region
		s.asked = append(s.asked, key+" "+eventID)
		if err := s.err[key]; err != nil {
			return Scope{}, err
		}
		if s.regs[key] == nil {
			s.regs[key] = newFakes(t, nil)
		}
		return Scope{Registry: s.regs[key].h.Registry, ActedAs: "arn:aws:sts::" + account + ":assumed-role/member/autoremediate-" + eventID}, nil
	}
}

// With Scopes, a job runs on the remediator of the event's account and
// region, never on the function's own (the handler's Registry only names
// what is enabled), and the outcome says which session acted.
func TestScopesActInTheEventsAccount(t *testing.T) {
	f := newFakes(t, nil)
	sf := &scopeFakes{regs: map[string]*fakes{}}
	f.h.Scopes = sf.scope(t)
	o, err := f.h.Handle(context.Background(), fixture(t, "org-bus-ebs-encryption-by-default-member-account.json"))
	if err != nil || o.Action != ActionRemediated {
		t.Fatalf("outcome %s %q, %v", o.Action, o.Reason, err)
	}
	if o.Account != "444455556666" || !strings.HasPrefix(o.ActedAs, "arn:aws:sts::444455556666:assumed-role/") {
		t.Errorf("account %s, actedAs %q", o.Account, o.ActedAs)
	}
	member := sf.regs["444455556666/us-east-1"]
	if member == nil || len(member.ebs.requests()) != 1 {
		t.Fatalf("scopes asked: %v; want the member's remediator run once", sf.asked)
	}
	if got := member.ebs.requests()[0]; got.Account != "444455556666" || got.Region != "us-east-1" {
		t.Errorf("request %+v", got)
	}
	for _, r := range all(f) {
		if n := len(r.requests()); n != 0 {
			t.Errorf("the handler's own %s ran %d times", r.name, n)
		}
	}
	if len(sf.asked) != 1 || !strings.HasSuffix(sf.asked[0], " "+o.EventID) {
		t.Errorf("scopes asked: %v, want one naming the event %s", sf.asked, o.EventID)
	}
}

// A scope that cannot be had (the member role is broken) is the job's
// failed outcome with the scope's explanation, published and returned as
// the invocation's error so that it is retried.
func TestScopeFailureIsAFailedOutcome(t *testing.T) {
	f := newFakes(t, nil)
	sf := &scopeFakes{regs: map[string]*fakes{}, err: map[string]error{
		"444455556666/us-east-1": errors.New("cannot assume the member role arn:aws:iam::444455556666:role/autoremediate-member"),
	}}
	f.h.Scopes = sf.scope(t)
	o, err := f.h.Handle(context.Background(), fixture(t, "org-bus-ebs-encryption-by-default-member-account.json"))
	var oe *OutcomeError
	if !errors.As(err, &oe) || o.Action != ActionFailed || !strings.Contains(o.Error, "cannot assume the member role") || o.Reason != o.Error {
		t.Fatalf("outcome %s %q (error %q), %v", o.Action, o.Reason, o.Error, err)
	}
	if len(f.pub.outcomes) != 1 || f.pub.outcomes[0].Action != ActionFailed {
		t.Errorf("published %+v", f.pub.outcomes)
	}
}

// EXCLUDED_ACCOUNTS and REGIONS refuse before any scope is asked for: no
// role is assumed for an account or region the deployment leaves alone.
func TestExcludedAccountsAndRegions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		excluded  []string
		regions   []string
		want      Action
		reasonHas string
	}{
		{"excluded account", []string{"444455556666"}, nil, ActionIgnored, "account 444455556666 is excluded (EXCLUDED_ACCOUNTS)"},
		{"another account excluded", []string{"999999999999"}, nil, ActionRemediated, ""},
		{"region not listed", nil, []string{"eu-west-1", "eu-central-1"}, ActionIgnored, "region us-east-1 is not one this deployment acts in (REGIONS: eu-west-1, eu-central-1)"},
		{"region listed", nil, []string{"eu-west-1", "us-east-1"}, ActionRemediated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t, nil)
			sf := &scopeFakes{regs: map[string]*fakes{}}
			f.h.Scopes = sf.scope(t)
			f.h.ExcludedAccounts, f.h.Regions = tc.excluded, tc.regions
			o, err := f.h.Handle(context.Background(), fixture(t, "org-bus-ebs-encryption-by-default-member-account.json"))
			if err != nil || o.Action != tc.want || !strings.Contains(o.Reason, tc.reasonHas) {
				t.Fatalf("outcome %s %q, %v; want %s with %q", o.Action, o.Reason, err, tc.want, tc.reasonHas)
			}
			if tc.want == ActionIgnored && len(sf.asked) != 0 {
				t.Errorf("scopes asked for %v", sf.asked)
			}
			if o.Remediator != EBSEncryption {
				t.Errorf("remediator %q, want the rule's", o.Remediator)
			}
		})
	}
}

// The member role's CloudTrail calls are the pipeline's own fixes, in
// whichever account they are made.
func TestMemberRoleCallsAreIgnored(t *testing.T) {
	raw := cloudTrailFixture(t, "s3-put-bucket-policy.json")
	f := newFakes(t, nil)
	f.h.MemberRoleName = "autoremediate-member"
	ev := withPrincipal(t, raw, "arn:aws:iam::444455556666:role/autoremediate-member")
	outs, err := invokeCloudTrail(t, f.h, ev)
	if err != nil || len(outs) != 1 || outs[0].Action != ActionIgnored || !strings.Contains(outs[0].Reason, "member role autoremediate-member (MEMBER_ROLE_NAME)") {
		t.Fatalf("outcomes = %+v, %v", outs, err)
	}
	// Another role whose name ends alike is not the member role.
	ev = withPrincipal(t, raw, "arn:aws:iam::444455556666:role/not-autoremediate-member")
	if outs, err := invokeCloudTrail(t, f.h, ev); err != nil || outs[0].Action == ActionIgnored {
		t.Fatalf("outcomes = %+v, %v; want acted on", outs, err)
	}
}

func TestIsRole(t *testing.T) {
	for principal, want := range map[string]bool{
		"arn:aws:iam::444455556666:role/autoremediate-member":           true,
		"arn:aws:iam::444455556666:role/security/autoremediate-member":  true,
		"arn:aws-cn:iam::444455556666:role/autoremediate-member":        true,
		"arn:aws:iam::444455556666:role/autoremediate-member-2":         false,
		"arn:aws:iam::444455556666:role/xautoremediate-member":          false,
		"arn:aws:iam::444455556666:user/autoremediate-member":           false,
		"arn:aws:sts::444455556666:assumed-role/autoremediate-member/s": false,
		"": false,
	} {
		if got := isRole(principal, "autoremediate-member"); got != want {
			t.Errorf("isRole(%q) = %v, want %v", principal, got, want)
		}
	}
	if isRole("arn:aws:iam::444455556666:role/x", "") {
		t.Error("an empty role name matched")
	}
}

// withPrincipal returns the CloudTrail event raw with its session issuer
// replaced by roleARN.
func withPrincipal(t *testing.T, raw []byte, roleARN string) []byte {
	t.Helper()
	ev, err := events.ParseCloudTrail(raw)
	if err != nil {
		t.Fatal(err)
	}
	old := ev.Principal()
	if old == "" || !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("fixture's principal %q not found in it", old)
	}
	return bytes.ReplaceAll(raw, []byte(`"arn": "`+old+`"`), []byte(`"arn": "`+roleARN+`"`))
}

// A CloudTrail call in an excluded account is one ignored outcome, however
// many resources it touched.
func TestCloudTrailInAnExcludedAccountIsOneOutcome(t *testing.T) {
	raw := cloudTrailFixture(t, "ec2-run-instances.json")
	ev, err := events.ParseCloudTrail(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Resources()) < 2 {
		t.Fatalf("fixture touches %d resources, want several", len(ev.Resources()))
	}
	f := newFakes(t, nil)
	sf := &scopeFakes{regs: map[string]*fakes{}}
	f.h.Scopes = sf.scope(t)
	f.h.ExcludedAccounts = []string{ev.Account()}
	outs, err := invokeCloudTrail(t, f.h, raw)
	if err != nil || len(outs) != 1 || outs[0].Action != ActionIgnored || outs[0].Reason != "account "+ev.Account()+" is excluded (EXCLUDED_ACCOUNTS)" {
		t.Fatalf("outcomes %+v, %v; want one ignored", outs, err)
	}
	if len(sf.asked) != 0 {
		t.Errorf("scopes asked for %v", sf.asked)
	}
}

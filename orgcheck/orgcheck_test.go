package orgcheck

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

const (
	central = "111111111111"
	good    = "222222222222"
	noRole  = "333333333333"
	partial = "444444444444"
)

type fakeScopes struct{ err map[string]error }

func (f fakeScopes) For(_ context.Context, account, region, sessionID string) (Scope, error) {
	if err := f.err[account]; err != nil {
		return Scope{}, err
	}
	sc := Scope{Account: account, Region: region}
	if account != central {
		sc.Role = "arn:aws:iam::" + account + ":role/autoremediate-member"
	}
	return sc, nil
}

// fakeSimulator allows every action but the denied ones, and records the
// requests.
type fakeSimulator struct {
	denied map[string]bool
	err    error

	mu   sync.Mutex
	reqs []iam.SimulatePrincipalPolicyInput
}

func (f *fakeSimulator) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, *in)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		d := iamtypes.PolicyEvaluationDecisionTypeAllowed
		if f.denied[a] {
			d = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
		}
		out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: d})
	}
	return out, nil
}

func denied(service, op, action string) error {
	return &smithy.OperationError{ServiceID: service, OperationName: op, Err: &smithy.GenericAPIError{Code: "AccessDenied",
		Message: "User: x is not authorized to perform: " + action + " on resource: *"}}
}

// testDefinitions are two remediators with a listing each; the listing of
// the partial account is denied.
func testDefinitions() []remediators.Definition {
	list := func(ids ...string) func(context.Context, remediators.Clients, string, string) ([]string, error) {
		return func(_ context.Context, _ remediators.Clients, account, _ string) ([]string, error) {
			if account == partial {
				return nil, denied("EC2", "DescribeInstances", "ec2:DescribeInstances")
			}
			return ids, nil
		}
	}
	return []remediators.Definition{
		{Spec: remediation.Spec{Name: "a", Permissions: []remediation.Permission{{Sid: "A", Actions: []string{"ec2:ModifyInstanceMetadataOptions"}, Resources: []string{"arn:{partition}:ec2:{region}:{account}:instance/*"}}}},
			Sweep: []remediators.SweepCheck{{Rule: "r", Lister: remediators.Lister{Key: "instances", Description: "EC2 instances in the region", List: list("i-1", "i-2")}}}},
		{Spec: remediation.Spec{Name: "b", Permissions: []remediation.Permission{{Sid: "B", Actions: []string{"ec2:GetEbsEncryptionByDefault", "ec2:EnableEbsEncryptionByDefault"}, Resources: []string{"*"}}}},
			Sweep: []remediators.SweepCheck{{Rule: "r2", Lister: remediators.Lister{Key: "instances", Description: "EC2 instances in the region", List: list("i-1", "i-2")}}}},
	}
}

func TestCheckReportsPerAccountAndRegion(t *testing.T) {
	sim := &fakeSimulator{denied: map[string]bool{}}
	partialSim := &fakeSimulator{denied: map[string]bool{"ec2:EnableEbsEncryptionByDefault": true}}
	c := &Checker{
		Scopes:      fakeScopes{err: map[string]error{noRole: errors.New("cannot assume the member role arn:aws:iam::333333333333:role/autoremediate-member in account 333333333333 (sts:AssumeRole denied)")}}.For,
		Definitions: testDefinitions(), RunID: "1",
		Simulator: func(sc Scope) SimulateAPI {
			if sc.Account == partial {
				return partialSim
			}
			return sim
		},
	}
	fs := c.Run(context.Background(), []string{central, good, noRole, partial}, []string{"us-east-1", "eu-west-1"})
	got := map[string]string{}
	for _, f := range fs {
		got[f.Account+" "+f.Region+" "+f.Check] = f.Status + ": " + f.Detail
	}
	want := map[string]string{
		central + " us-east-1 member role":                         "ok: the central account itself",
		central + " us-east-1 listing EC2 instances in the region": "ok: 2 found",
		good + " eu-west-1 member role":                            "ok: assumed arn:aws:iam::222222222222:role/autoremediate-member",
		good + " eu-west-1 permissions":                            "ok: all 5 simulated action-resource pairs allowed", // a, b (2), the sweep's sts:GetCallerIdentity, the check's simulator
		noRole + " us-east-1 member role":                          "missing: cannot assume the member role arn:aws:iam::333333333333:role/autoremediate-member",
		partial + " eu-west-1 listing EC2 instances in the region": "missing: the member role arn:aws:iam::444444444444:role/autoremediate-member is not allowed ec2:DescribeInstances",
		partial + " eu-west-1 permissions":                         "missing: the member role arn:aws:iam::444444444444:role/autoremediate-member is not allowed ec2:EnableEbsEncryptionByDefault (implicitDeny): update the member stack in account 444444444444",
	}
	for k, w := range want {
		if !strings.HasPrefix(got[k], w) {
			t.Errorf("%s: %q\nwant prefix %q", k, got[k], w)
		}
	}
	// One finding per listing key, no permissions check for the central
	// account, nothing more for an account without its role.
	if _, ok := got[central+" us-east-1 permissions"]; ok {
		t.Error("the central account's permissions were simulated against a member role")
	}
	if n := len(fs); n != 2*2+2*3+2*1+2*3 {
		t.Errorf("%d findings: %v", n, got)
	}
	if !Failed(fs) {
		t.Error("Failed = false with missing findings")
	}
	// Findings come in the order of the accounts and regions asked for.
	if fs[0].Account != central || fs[0].Region != "us-east-1" || fs[len(fs)-1].Account != partial || fs[len(fs)-1].Region != "eu-west-1" {
		t.Errorf("order: first %s/%s, last %s/%s", fs[0].Account, fs[0].Region, fs[len(fs)-1].Account, fs[len(fs)-1].Region)
	}
	// The simulator is asked as the member role, about the resources of the
	// region and account.
	for _, in := range sim.reqs {
		if aws.ToString(in.PolicySourceArn) != "arn:aws:iam::"+good+":role/autoremediate-member" {
			t.Errorf("simulated %s", aws.ToString(in.PolicySourceArn))
		}
		for _, r := range in.ResourceArns {
			if strings.Contains(r, "{") || !strings.Contains(r, ":"+good+":") {
				t.Errorf("resource %q", r)
			}
		}
	}
}

func TestCheckSimulatorUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status string
		has    string
	}{
		{&smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}, StatusMissing, "may not use IAM's policy simulator on itself (iam:SimulatePrincipalPolicy)"},
		{errors.New("connection refused"), StatusUnchecked, "IAM's policy simulator did not answer about arn:aws:iam::222222222222:role/autoremediate-member (no AWS error code), so its permissions are not checked: connection refused"},
	} {
		c := &Checker{Scopes: fakeScopes{}.For, Definitions: testDefinitions(), Simulator: func(Scope) SimulateAPI { return &fakeSimulator{err: tc.err} }}
		fs := c.Run(context.Background(), []string{good}, []string{"us-east-1"})
		last := fs[len(fs)-1]
		if last.Check != "permissions" || last.Status != tc.status || !strings.Contains(last.Detail, tc.has) {
			t.Errorf("%v: %+v", tc.err, last)
		}
	}
}

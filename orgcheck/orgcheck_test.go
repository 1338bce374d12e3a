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

// conditionSimulator allows an action only when the request carries the
// context keys its statement in the member role's policy asks for, as
// IAM's simulator does: the KMS actions of the EBS migration need
// kms:ViaService (string) naming the region's EC2 endpoint, and
// kms:CreateGrant also kms:GrantIsForAWSResource (boolean) true.
type conditionSimulator struct {
	region string
	mu     sync.Mutex
	reqs   []iam.SimulatePrincipalPolicyInput
}

func (f *conditionSimulator) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, *in)
	f.mu.Unlock()
	has := func(key string, typ iamtypes.ContextKeyTypeEnum, value string) bool {
		for _, e := range in.ContextEntries {
			if aws.ToString(e.ContextKeyName) == key && e.ContextKeyType == typ && len(e.ContextKeyValues) == 1 && e.ContextKeyValues[0] == value {
				return true
			}
		}
		return false
	}
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		d := iamtypes.PolicyEvaluationDecisionTypeAllowed
		switch a {
		case "kms:CreateGrant":
			if !has("kms:GrantIsForAWSResource", iamtypes.ContextKeyTypeEnumBoolean, "true") || !has("kms:ViaService", iamtypes.ContextKeyTypeEnumString, "ec2."+f.region+".amazonaws.com") {
				d = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
			}
		case "kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo":
			if !has("kms:ViaService", iamtypes.ContextKeyTypeEnumString, "ec2."+f.region+".amazonaws.com") {
				d = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
			}
		}
		out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: d})
	}
	return out, nil
}

// TestCheckSimulatesConditionsWithTheirContext: the EBS remediator's KMS
// statements are conditioned; the check passes the context keys they ask
// for, in the region checked, says so, and passes none for the
// unconditioned statements.
func TestCheckSimulatesConditionsWithTheirContext(t *testing.T) {
	var ebs []remediators.Definition
	for _, d := range remediators.Definitions() {
		if d.Name == remediators.EBSEncryptionName {
			d.Sweep = nil // its listings need real clients
			ebs = append(ebs, d)
		}
	}
	sim := &conditionSimulator{region: "eu-west-1"}
	c := &Checker{Scopes: fakeScopes{}.For, Definitions: ebs, Simulator: func(Scope) SimulateAPI { return sim }}
	fs := c.Run(context.Background(), []string{good}, []string{"eu-west-1"})
	last := fs[len(fs)-1]
	if last.Check != "permissions" || last.Status != StatusOK {
		t.Fatalf("permissions: %+v", last)
	}
	for _, want := range []string{"kms:CreateGrant with kms:GrantIsForAWSResource=true, kms:ViaService=ec2.eu-west-1.amazonaws.com", "kms:Decrypt"} {
		if !strings.Contains(last.Detail, want) {
			t.Errorf("detail %q does not say %q", last.Detail, want)
		}
	}
	conditioned := 0
	for _, in := range sim.reqs {
		if len(in.ContextEntries) > 0 {
			conditioned++
			continue
		}
		for _, a := range in.ActionNames {
			if a == "kms:Decrypt" || a == "kms:CreateGrant" {
				t.Errorf("%s simulated without context", a)
			}
		}
	}
	want := 0
	for _, p := range ebs[0].Permissions {
		if len(p.Conditions) > 0 {
			want++
		}
	}
	if conditioned != want || want < 2 {
		t.Errorf("%d requests with context entries, want one per conditioned statement (%d)", conditioned, want)
	}
}

func TestContextEntries(t *testing.T) {
	entries, said := ContextEntries([]remediation.Condition{
		{Test: "StringLike", Variable: "kms:ViaService", Values: []string{"ec2.*.amazonaws.com"}},
		{Test: "Bool", Variable: "kms:GrantIsForAWSResource", Values: []string{"true"}},
		{Test: "StringEquals", Variable: "ec2:ResourceTag/autoremediate:stop-allowed", Values: []string{"true"}},
		{Test: "Null", Variable: "ec2:ResourceTag/autoremediate:migrated-to", Values: []string{"false"}},
		{Test: "Null", Variable: "aws:TagKeys", Values: []string{"true"}},
		{Test: "StringNotEquals", Variable: "aws:SourceVpc", Values: []string{"vpc-1"}},
		{Test: "NumericLessThanIfExists", Variable: "ec2:VolumeSize", Values: []string{"100"}},
	})
	var got []string
	for _, e := range entries {
		got = append(got, aws.ToString(e.ContextKeyName)+" "+string(e.ContextKeyType)+" "+strings.Join(e.ContextKeyValues, ","))
	}
	want := []string{
		"kms:ViaService string ec2.x.amazonaws.com",
		"kms:GrantIsForAWSResource boolean true",
		"ec2:ResourceTag/autoremediate:stop-allowed string true",
		"ec2:ResourceTag/autoremediate:migrated-to string present",
		"ec2:VolumeSize numeric 100",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if len(said) != len(want) || said[0] != "kms:ViaService=ec2.x.amazonaws.com" {
		t.Errorf("said %v", said)
	}
}

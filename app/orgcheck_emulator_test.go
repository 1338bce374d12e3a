package app_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/orgproxy"
	"github.com/autoremediate/autoremediate/orgcheck"
)

// `remediate org check` on the emulator: the central account checked with
// its own credentials, a member through its role (every listing signed by
// that role's key), a member without its role reported missing with the
// fix. moto has no IAM policy simulator (SimulatePrincipalPolicy answers
// 500), so the permissions are unchecked here; the fakes in orgcheck cover
// allowed and denied actions.
func TestOrgCheckOnTheEmulator(t *testing.T) {
	srv := emu(t)
	members, err := orgproxy.CreateMembers(ctx(t), srv.AWSConfig(), uniqueName("orgcheck"), 2)
	if err != nil {
		t.Fatal(err)
	}
	good, broken := members[0], members[1]
	r := newOrgRig(t, map[string]string{"MEMBER_ROLE_EXTERNAL_ID": orgExternalID, "METRICS_MODE": "off"}, members)
	trust := orgproxy.MemberTrustPolicy(centralAcct, []string{pipelineRole}, orgExternalID)
	if err := orgproxy.CreateRole(ctx(t), r.in[good], app.DefaultMemberRoleName, trust); err != nil {
		t.Fatal(err)
	}
	r.launchIMDSv1(good, otherRegion)

	chk := &orgcheck.Checker{Scopes: app.NewScopes(r.cfg, r.clients).OrgCheck(), Definitions: r.cfg.Definitions, RunID: "t1",
		Simulator: func(sc orgcheck.Scope) orgcheck.SimulateAPI {
			return iam.NewFromConfig(sc.Config, func(o *iam.Options) { o.RetryMaxAttempts = 1 })
		}}
	fs := chk.Run(ctx(t), []string{centralAcct, good, broken}, orgRegions)
	got := map[string]orgcheck.Finding{}
	for _, f := range fs {
		got[f.Account+" "+f.Region+" "+f.Check] = f
	}
	expect := func(key, status, detail string) {
		t.Helper()
		f, ok := got[key]
		if !ok || f.Status != status || !strings.Contains(f.Detail, detail) {
			t.Errorf("%s: %+v\nwant %s with %q", key, f, status, detail)
		}
	}
	expect(centralAcct+" "+otherRegion+" member role", orgcheck.StatusOK, "the central account itself")
	expect(good+" "+otherRegion+" member role", orgcheck.StatusOK, "assumed arn:aws:iam::"+good+":role/autoremediate-member as arn:aws:sts::"+good+":assumed-role/autoremediate-member/autoremediate-org-check-t1")
	expect(good+" "+otherRegion+" listing EC2 instances that are not terminated", orgcheck.StatusOK, "1 found")
	expect(good+" "+otherRegion+" permissions", orgcheck.StatusUnchecked, "SimulatePrincipalPolicy")
	expect(broken+" "+otherRegion+" member role", orgcheck.StatusMissing, "cannot assume the member role arn:aws:iam::"+broken+":role/autoremediate-member in account "+broken+" (sts:AssumeRole denied)")
	if _, ok := got[centralAcct+" "+otherRegion+" permissions"]; ok {
		t.Error("the central account's permissions were simulated against a member role")
	}
	if !orgcheck.Failed(fs) {
		t.Error("a member without its role is not a failure")
	}
	// Every call made in the member account was signed by its member role,
	// and nothing was written anywhere.
	n := 0
	for _, c := range r.proxy.Calls() {
		if c.Write() {
			t.Errorf("org check wrote: %s %s in %s", c.Service, c.Operation, c.Account)
		}
		if c.Account == good && c.Service != "sts" {
			n++
			if c.Role != "arn:aws:iam::"+good+":role/autoremediate-member" {
				t.Errorf("%s %s in %s signed as %s", c.Service, c.Operation, good, c.Role)
			}
		}
	}
	if n == 0 {
		t.Error("no call was made in the member account")
	}
}

package remediators

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

func runSG(t *testing.T, f *fakeSG, opts Options, managedRule string, mode remediation.Mode) remediation.Result {
	t.Helper()
	req := request(managedRule, ResourceTypeSecurityGroup, testGroup, mode)
	return NewEC2SecurityGroupIngress(f, opts).Remediate(context.Background(), req)
}

// revokedIDs lists the rule IDs of every revoke request, sorted.
func revokedIDs(f *fakeSG) []string {
	var ids []string
	for _, in := range f.revokes {
		ids = append(ids, in.SecurityGroupRuleIds...)
	}
	sort.Strings(ids)
	return ids
}

// openRuleIDs reads the rule IDs an outcome's state lists as open.
func openRuleIDs(t *testing.T, state map[string]any) []string {
	t.Helper()
	rules, ok := state["openIngressRules"].([]map[string]any)
	if !ok {
		t.Fatalf("state has no openIngressRules list: %#v", state)
	}
	var ids []string
	for _, r := range rules {
		ids = append(ids, r["ruleId"].(string))
	}
	sort.Strings(ids)
	return ids
}

// A group with a mix of rules: restricted-ssh revokes exactly the two that
// open TCP 22 to the internet.
func TestSGRevokesOnlyTheRulesOpeningThePortToTheInternet(t *testing.T) {
	f := newFakeSG(t,
		sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"),
		sgRule("sgr-ssh6", "tcp", 22, 22, "::/0"),
		sgRule("sgr-corp", "tcp", 22, 22, "10.0.0.0/8"),
		sgRule("sgr-host", "tcp", 22, 22, "203.0.113.7/32"),
		sgRule("sgr-v6net", "tcp", 22, 22, "2001:db8::/32"),
		sgRef("sgr-bastion", 22, "sg-0bastion0000000001"),
		sgPrefixList("sgr-pl", 22, "pl-0123456789abcdef0"),
		sgRule("sgr-https", "tcp", 443, 443, "0.0.0.0/0"),
		sgRule("sgr-rdp", "tcp", 3389, 3389, "0.0.0.0/0"), // not restricted-ssh's port
		sgRule("sgr-udp", "udp", 22, 22, "0.0.0.0/0"),     // not TCP
		sgRule("sgr-icmp", "icmp", -1, -1, "0.0.0.0/0"),
		sgEgress("sgr-out", "-1", -1, -1, "0.0.0.0/0"),
	)
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	if got := revokedIDs(f); !slices.Equal(got, []string{"sgr-ssh4", "sgr-ssh6"}) {
		t.Errorf("revoked %v, want sgr-ssh4 and sgr-ssh6 only", got)
	}
	if len(f.revokes) != 1 {
		t.Errorf("%d revoke calls, want 1", len(f.revokes))
	}
	want := []string{"sgr-corp", "sgr-host", "sgr-v6net", "sgr-bastion", "sgr-pl", "sgr-https", "sgr-rdp", "sgr-udp", "sgr-icmp", "sgr-out"}
	if got := f.ruleIDs(); !slices.Equal(got, want) {
		t.Errorf("rules left %v, want %v", got, want)
	}
	wantCalls := []string{"DescribeSecurityGroups", "DescribeSecurityGroupRules", "RevokeSecurityGroupIngress", "DescribeSecurityGroupRules"}
	if got := f.names(); !slices.Equal(got, wantCalls) {
		t.Errorf("calls %v, want %v (write then verify read)", got, wantCalls)
	}
	if got := openRuleIDs(t, res.Before); !slices.Equal(got, []string{"sgr-ssh4", "sgr-ssh6"}) {
		t.Errorf("Before lists %v", got)
	}
	if got := openRuleIDs(t, res.After); len(got) != 0 {
		t.Errorf("After lists %v as open", got)
	}
	// before holds what it takes to authorize the rules again
	rules := res.Before["openIngressRules"].([]map[string]any)
	wantRule := map[string]any{"ruleId": "sgr-ssh4", "ipProtocol": "tcp", "fromPort": int32(22), "toPort": int32(22), "cidrIpv4": "0.0.0.0/0", "description": "rule sgr-ssh4"}
	if !reflect.DeepEqual(rules[0], wantRule) {
		t.Errorf("Before rule %v, want %v", rules[0], wantRule)
	}
	if rules[1]["cidrIpv6"] != "::/0" || rules[1]["cidrIpv4"] != nil {
		t.Errorf("Before IPv6 rule %v", rules[1])
	}
	if res.Before["groupId"] != testGroup || res.Before["groupName"] != "web" || !reflect.DeepEqual(res.Before["checkedPorts"], []int{22}) {
		t.Errorf("Before %v", res.Before)
	}
	for _, s := range []string{"revoked 2 ingress rules opening TCP port 22", "sgr-ssh4 (tcp 22 from 0.0.0.0/0)", "sgr-ssh6 (tcp 22 from ::/0)"} {
		if !strings.Contains(res.Reason, s) {
			t.Errorf("Reason %q lacks %q", res.Reason, s)
		}
	}
	if strings.Contains(res.Reason, "other ports") {
		t.Errorf("Reason %q claims more was closed", res.Reason)
	}
}

// Which ports each rule checks: restricted-ssh 22, restricted-common-ports
// the blocked ports, a rule mapped by configuration both.
func TestSGPortsFollowTheRule(t *testing.T) {
	rules := func() []ec2types.SecurityGroupRule {
		var rs []ec2types.SecurityGroupRule
		for _, p := range []int32{20, 21, 22, 3306, 3389, 4333, 5432} {
			rs = append(rs, sgRule("sgr-"+strconv.Itoa(int(p)), "tcp", p, p, "0.0.0.0/0"))
		}
		return rs
	}
	custom := testOptions()
	custom.BlockedPorts = []int{5432, 22}
	for _, c := range []struct {
		name, rule string
		opts       Options
		want       []string
	}{
		{"restricted-ssh", RuleRestrictedSSH, testOptions(), []string{"sgr-22"}},
		{"restricted-common-ports defaults", RuleRestrictedCommonPorts, testOptions(), []string{"sgr-20", "sgr-21", "sgr-3306", "sgr-3389", "sgr-4333"}},
		{"restricted-common-ports configured", RuleRestrictedCommonPorts, custom, []string{"sgr-22", "sgr-5432"}},
		{"zero options use the defaults", RuleRestrictedCommonPorts, Options{}, []string{"sgr-20", "sgr-21", "sgr-3306", "sgr-3389", "sgr-4333"}},
		{"mapped by RULE_MAP", "", testOptions(), []string{"sgr-20", "sgr-21", "sgr-22", "sgr-3306", "sgr-3389", "sgr-4333"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSG(t, rules()...)
			res := runSG(t, f, c.opts, c.rule, remediation.ModeEnforce)
			if res.Action != remediation.ActionRemediated {
				t.Fatalf("result = %+v", res)
			}
			if got := revokedIDs(f); !slices.Equal(got, c.want) {
				t.Errorf("revoked %v, want %v", got, c.want)
			}
		})
	}
}

// All-traffic rules and ranges that cover a blocked port are revoked whole,
// and the reason says that they closed more than the port.
func TestSGAllTrafficAndRanges(t *testing.T) {
	f := newFakeSG(t,
		sgRule("sgr-all4", "-1", -1, -1, "0.0.0.0/0"),
		sgRule("sgr-all6", "-1", -1, -1, "::/0"),
		sgRule("sgr-range", "tcp", 3380, 3400, "0.0.0.0/0"),
		sgRule("sgr-exact", "tcp", 3389, 3389, "::/0"),
		sgRule("sgr-proto6", "6", 3389, 3389, "0.0.0.0/0"),
		sgRule("sgr-miss", "tcp", 1000, 2000, "0.0.0.0/0"),
		sgRule("sgr-allcorp", "-1", -1, -1, "10.0.0.0/8"),
		sgRule("sgr-rangecorp", "tcp", 0, 65535, "172.16.0.0/12"),
		sgRule("sgr-udprange", "udp", 0, 65535, "0.0.0.0/0"),
	)
	res := runSG(t, f, testOptions(), RuleRestrictedCommonPorts, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	want := []string{"sgr-all4", "sgr-all6", "sgr-exact", "sgr-proto6", "sgr-range"}
	if got := revokedIDs(f); !slices.Equal(got, want) {
		t.Errorf("revoked %v, want %v", got, want)
	}
	if got := f.ruleIDs(); !slices.Equal(got, []string{"sgr-miss", "sgr-allcorp", "sgr-rangecorp", "sgr-udprange"}) {
		t.Errorf("rules left %v", got)
	}
	for _, s := range []string{"sgr-all4 (all traffic from 0.0.0.0/0)", "sgr-range (tcp 3380-3400 from 0.0.0.0/0)",
		"sgr-all4, sgr-all6, sgr-range also opened other ports or protocols"} {
		if !strings.Contains(res.Reason, s) {
			t.Errorf("Reason %q lacks %q", res.Reason, s)
		}
	}
	if strings.Contains(res.Reason, "sgr-exact also") || strings.Contains(res.Reason, "sgr-proto6 also") {
		t.Errorf("Reason %q says a single-port rule closed more", res.Reason)
	}
	// a range of exactly the blocked ports closes nothing else
	f = newFakeSG(t, sgRule("sgr-ftp", "tcp", 20, 21, "0.0.0.0/0"))
	res = runSG(t, f, testOptions(), RuleRestrictedCommonPorts, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || strings.Contains(res.Reason, "other ports") || !strings.Contains(res.Reason, "TCP ports 20, 21") {
		t.Errorf("result = %+v", res)
	}
}

func TestSGCompliantWritesNothing(t *testing.T) {
	f := newFakeSG(t, sgRule("sgr-corp", "tcp", 22, 22, "10.0.0.0/8"), sgRule("sgr-https", "tcp", 443, 443, "0.0.0.0/0"))
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || len(f.revokes) != 0 {
		t.Fatalf("result = %+v, %d revokes", res, len(f.revokes))
	}
	if !reflect.DeepEqual(res.Before, res.After) || len(openRuleIDs(t, res.Before)) != 0 {
		t.Errorf("Before %v After %v", res.Before, res.After)
	}
	if res.Reason != "no ingress rule opens TCP port 22 to 0.0.0.0/0 or ::/0" {
		t.Errorf("Reason = %q", res.Reason)
	}
}

// A repeated event is harmless: the second run finds nothing and writes
// nothing.
func TestSGSecondRunIsCompliant(t *testing.T) {
	f := newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"), sgRule("sgr-corp", "tcp", 22, 22, "10.0.0.0/8"))
	if res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce); res.Action != remediation.ActionRemediated {
		t.Fatalf("first run: %+v", res)
	}
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || len(f.revokes) != 1 {
		t.Errorf("second run: %+v, %d revokes in all", res, len(f.revokes))
	}
}

func TestSGDryRun(t *testing.T) {
	f := newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"), sgRule("sgr-corp", "tcp", 22, 22, "10.0.0.0/8"))
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeDryRun)
	if res.Action != remediation.ActionDryRun || len(f.revokes) != 0 {
		t.Fatalf("result = %+v, %d revokes", res, len(f.revokes))
	}
	if !slices.Equal(openRuleIDs(t, res.Before), []string{"sgr-ssh4"}) || len(openRuleIDs(t, res.After)) != 0 {
		t.Errorf("Before %v After %v", res.Before, res.After)
	}
	if !strings.HasPrefix(res.Reason, "would revoke 1 ingress rule opening TCP port 22") {
		t.Errorf("Reason = %q", res.Reason)
	}
	if len(f.ruleIDs()) != 2 {
		t.Errorf("dry-run changed the rules: %v", f.ruleIDs())
	}
}

func TestSGExempt(t *testing.T) {
	f := newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"))
	f.tags = []ec2types.Tag{ec2Tagged("Name", "legacy"), ec2Tagged("auto-remediation", "off")}
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionExempt || len(f.revokes) != 0 {
		t.Fatalf("result = %+v, %d revokes", res, len(f.revokes))
	}
	if !strings.Contains(res.Reason, "auto-remediation=off") || !slices.Equal(openRuleIDs(t, res.Before), []string{"sgr-ssh4"}) {
		t.Errorf("result = %+v", res)
	}
	// another key, as configured
	opts := testOptions()
	opts.ExemptTagKey = "security-exception"
	f = newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"))
	f.tags = []ec2types.Tag{ec2Tagged("security-exception", "False")}
	if res := runSG(t, f, opts, RuleRestrictedSSH, remediation.ModeEnforce); res.Action != remediation.ActionExempt {
		t.Errorf("configured key: %+v", res)
	}
	// a tag with another value does not exempt
	f = newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"))
	f.tags = []ec2types.Tag{ec2Tagged("auto-remediation", "on")}
	if res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce); res.Action != remediation.ActionRemediated {
		t.Errorf("auto-remediation=on: %+v", res)
	}
}

func TestSGGone(t *testing.T) {
	f := newFakeSG(t)
	f.gone = true
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionGone || !strings.Contains(res.Reason, testGroup) {
		t.Errorf("result = %+v", res)
	}
	if got := f.names(); !slices.Equal(got, []string{"DescribeSecurityGroups"}) {
		t.Errorf("calls %v", got)
	}
	// deleted between the read and the revoke
	f = newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"))
	f.errs["RevokeSecurityGroupIngress"] = apiErr("InvalidGroup.NotFound")
	if res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce); res.Action != remediation.ActionGone {
		t.Errorf("deleted before the revoke: %+v", res)
	}
}

// A malformed ID is an input error: failed, not gone, and no call is made
// for an ID that is not a security group ID at all.
func TestSGMalformedID(t *testing.T) {
	for _, id := range []string{"", "sg-", "sg-XYZ", "sg-0a1b2c3d4e", "sg-0A1B2C3D", "i-0abcd1234ef567890", "web-servers", "sg-0a1b 2c3d"} {
		f := newFakeSG(t)
		f.group = id
		res := NewEC2SecurityGroupIngress(f, testOptions()).Remediate(context.Background(),
			request(RuleRestrictedSSH, ResourceTypeSecurityGroup, id, remediation.ModeEnforce))
		checkFailed(t, res, "", "input error", "security group", strconv.Quote(id))
		if len(f.names()) != 0 {
			t.Errorf("%q: calls %v", id, f.names())
		}
	}
	// older groups have 8 hex digits
	f8 := newFakeSG(t)
	f8.group, f8.gone = "sg-0a1b2c3d", true
	if res := NewEC2SecurityGroupIngress(f8, testOptions()).Remediate(context.Background(),
		request(RuleRestrictedSSH, ResourceTypeSecurityGroup, "sg-0a1b2c3d", remediation.ModeEnforce)); res.Action != remediation.ActionGone {
		t.Errorf("sg-0a1b2c3d: %+v", res)
	}
	// an ID of the right shape that EC2 still rejects
	f := newFakeSG(t)
	f.errs["DescribeSecurityGroups"] = apiErr("InvalidGroupId.Malformed")
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	checkFailed(t, res, "", "input error", testGroup)
	if res.Action == remediation.ActionGone {
		t.Error("a malformed ID reported gone")
	}
}

func TestSGFailures(t *testing.T) {
	open := func() *fakeSG { return newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0")) }
	t.Run("describe group", func(t *testing.T) {
		f := open()
		f.errs["DescribeSecurityGroups"] = apiErr("UnauthorizedOperation")
		checkFailed(t, runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce), "UnauthorizedOperation", "describing security group", testGroup)
	})
	t.Run("describe rules", func(t *testing.T) {
		f := open()
		f.errs["DescribeSecurityGroupRules"] = apiErr("RequestLimitExceeded")
		checkFailed(t, runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce), "RequestLimitExceeded", "describing the rules of security group", testGroup)
	})
	t.Run("revoke", func(t *testing.T) {
		f := open()
		f.errs["RevokeSecurityGroupIngress"] = apiErr("UnauthorizedOperation")
		res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
		checkFailed(t, res, "UnauthorizedOperation", "revoking ingress rules sgr-ssh4 of security group", testGroup)
		if !slices.Equal(openRuleIDs(t, res.Before), []string{"sgr-ssh4"}) {
			t.Errorf("Before = %v", res.Before)
		}
	})
	t.Run("verify read", func(t *testing.T) {
		f := open()
		f.errs["DescribeSecurityGroupRules#2"] = apiErr("InternalError")
		checkFailed(t, runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce), "InternalError", "verifying the rules of security group")
	})
	t.Run("still open after the revoke", func(t *testing.T) {
		f := open()
		f.dropWrites = true
		res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
		checkFailed(t, res, "", "still open to the internet after the revoke: sgr-ssh4")
	})
}

// The two rules' events for one group arrive together: the other run may
// revoke a rule between this run's read and its revoke. EC2 then revokes
// none of the request; the run reads again and revokes the rest.
func TestSGConcurrentRevoke(t *testing.T) {
	f := newFakeSG(t, sgRule("sgr-all", "-1", -1, -1, "0.0.0.0/0"), sgRule("sgr-ssh6", "tcp", 22, 22, "::/0"), sgRule("sgr-corp", "tcp", 22, 22, "10.0.0.0/8"))
	f.beforeRevoke = func(f *fakeSG) {
		f.beforeRevoke = nil
		f.remove("sgr-all") // the restricted-common-ports run got there first
	}
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	if len(f.revokes) != 2 || !slices.Equal(f.revokes[1].SecurityGroupRuleIds, []string{"sgr-ssh6"}) {
		t.Errorf("revokes %v, want the retry to revoke sgr-ssh6 only", revokedIDs(f))
	}
	if !strings.Contains(res.Reason, "revoked 1 ingress rule") || strings.Contains(res.Reason, "sgr-all") {
		t.Errorf("Reason %q should name only what this run revoked", res.Reason)
	}
	if !slices.Equal(openRuleIDs(t, res.Before), []string{"sgr-all", "sgr-ssh6"}) || !slices.Equal(f.ruleIDs(), []string{"sgr-corp"}) {
		t.Errorf("Before %v, rules left %v", res.Before, f.ruleIDs())
	}

	// the other run revoked everything: nothing left to do
	f = newFakeSG(t, sgRule("sgr-all", "-1", -1, -1, "0.0.0.0/0"))
	f.beforeRevoke = func(f *fakeSG) { f.beforeRevoke = nil; f.remove("sgr-all") }
	res = runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || !strings.Contains(res.Reason, "meanwhile") || len(f.revokes) != 1 {
		t.Errorf("result = %+v after %d revokes", res, len(f.revokes))
	}

	// a rule that keeps vanishing does not loop forever
	f = newFakeSG(t, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"))
	f.errs["RevokeSecurityGroupIngress"] = apiErr("InvalidSecurityGroupRuleId.NotFound")
	res = runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	checkFailed(t, res, "InvalidSecurityGroupRuleId.NotFound", "revoking ingress rules")
	if len(f.revokes) != 3 {
		t.Errorf("%d revoke attempts, want 3", len(f.revokes))
	}
}

// Rules come in pages; an open rule on a later page is found.
func TestSGRulesArePaginated(t *testing.T) {
	var rules []ec2types.SecurityGroupRule
	for i := range 5 {
		rules = append(rules, sgRule("sgr-corp"+strconv.Itoa(i), "tcp", 22, 22, "10."+strconv.Itoa(i)+".0.0/16"))
	}
	f := newFakeSG(t, append(rules, sgRule("sgr-ssh4", "tcp", 22, 22, "0.0.0.0/0"))...)
	f.pageSize = 2
	res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || !slices.Equal(revokedIDs(f), []string{"sgr-ssh4"}) {
		t.Errorf("result = %+v, revoked %v", res, revokedIDs(f))
	}
	if n := f.count("DescribeSecurityGroupRules"); n != 6 {
		t.Errorf("%d rule pages read, want 3 before and 3 after the revoke", n)
	}
}

// The rule pages are asked for by group; the IDs of rules of another group
// are never revoked even if EC2 returned them.
func TestSGIgnoresRulesOfOtherGroups(t *testing.T) {
	other := sgRule("sgr-other", "tcp", 22, 22, "0.0.0.0/0")
	other.GroupId = aws.String("sg-0ffffffffffffffff")
	f := newFakeSG(t, other)
	if res := runSG(t, f, testOptions(), RuleRestrictedSSH, remediation.ModeEnforce); res.Action != remediation.ActionCompliant || len(f.revokes) != 0 {
		t.Errorf("result = %+v, %d revokes", res, len(f.revokes))
	}
}

func TestSGDefinition(t *testing.T) {
	d := EC2SecurityGroupIngressDefinition()
	checkPermissionsCover(t, d, reflect.TypeFor[SecurityGroupIngressAPI]())
	// The restricted-common-ports rule Terraform deploys blocks the ports
	// the remediator closes by default.
	var params map[string]string
	for _, r := range d.Rules {
		if r.Name == RuleRestrictedCommonPorts {
			params = r.InputParameters
		}
	}
	var fromRule []int
	for i := 1; i <= len(params); i++ {
		p, err := strconv.Atoi(params["blockedPort"+strconv.Itoa(i)])
		if err != nil {
			t.Fatalf("blockedPort%d: %v (parameters %v)", i, err, params)
		}
		fromRule = append(fromRule, p)
	}
	if !slices.Equal(fromRule, DefaultOptions().BlockedPorts) || len(fromRule) == 0 {
		t.Errorf("the rule blocks %v, the remediator closes %v by default", fromRule, DefaultOptions().BlockedPorts)
	}
	if len(params) > 5 {
		t.Errorf("restricted-common-ports takes blockedPort1 to blockedPort5, got %v", params)
	}
}

func TestParsePorts(t *testing.T) {
	for in, want := range map[string][]int{
		"20,21,3389,3306,4333": {20, 21, 3389, 3306, 4333},
		" 22 , 3389,":          {22, 3389},
		"3389,3389,22":         {3389, 22},
		"65535":                {65535},
	} {
		got, err := ParsePorts(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParsePorts(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParsePorts(FormatPorts(got)); err != nil || !slices.Equal(back, got) {
			t.Errorf("FormatPorts(%v) does not read back: %v, %v", got, back, err)
		}
	}
	for _, in := range []string{"", ",", "0", "65536", "-22", "ssh", "22;3389", "3389.0"} {
		if got, err := ParsePorts(in); err == nil {
			t.Errorf("ParsePorts(%q) = %v, want an error", in, got)
		}
	}
}

// fakeSGPages answers DescribeSecurityGroups in pages, for the lister.
type fakeSGPages struct {
	t      *testing.T
	pages  [][]string
	inputs []ec2.DescribeSecurityGroupsInput
	err    error
}

func (f *fakeSGPages) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	f.inputs = append(f.inputs, *in)
	var o ec2.Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Region != testRegion || len(in.GroupIds) != 0 || len(in.Filters) != 0 {
		f.t.Errorf("DescribeSecurityGroups: region %q, %+v", o.Region, in)
	}
	if f.err != nil {
		return nil, f.err
	}
	page := len(f.inputs) - 1
	out := &ec2.DescribeSecurityGroupsOutput{}
	for _, id := range f.pages[page] {
		out.SecurityGroups = append(out.SecurityGroups, ec2types.SecurityGroup{GroupId: aws.String(id)})
	}
	if page+1 < len(f.pages) {
		out.NextToken = aws.String("page-" + strconv.Itoa(page+1))
	}
	return out, nil
}

func TestSecurityGroupLister(t *testing.T) {
	f := &fakeSGPages{t: t, pages: [][]string{{"sg-01", "sg-02"}, {"sg-03"}}}
	ids, err := listSecurityGroups(context.Background(), f, testRegion)
	if err != nil || !slices.Equal(ids, []string{"sg-01", "sg-02", "sg-03"}) {
		t.Errorf("listSecurityGroups = %v, %v", ids, err)
	}
	if len(f.inputs) != 2 || aws.ToString(f.inputs[1].NextToken) != "page-1" {
		t.Errorf("requests %+v", f.inputs)
	}
	f = &fakeSGPages{t: t, err: apiErr("UnauthorizedOperation")}
	if _, err := listSecurityGroups(context.Background(), f, testRegion); err == nil || !strings.Contains(err.Error(), "describing EC2 security groups in region "+testRegion) ||
		!errors.Is(err, f.err) {
		t.Errorf("error %v", err)
	}
	l := SecurityGroupLister()
	if l.ResourceType != ResourceTypeSecurityGroup || !slices.Equal(remediation.PermissionActions(l.Permissions), []string{"ec2:DescribeSecurityGroups"}) {
		t.Errorf("lister %+v", l)
	}
}

package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// The security group remediator on moto, driven by the golden event through
// the handler. moto 5.2 implements DescribeSecurityGroupRules (filter
// group-id) and RevokeSecurityGroupIngress by SecurityGroupRuleIds, so the
// code runs as it does on AWS. One difference: revoking an unknown rule ID
// fails with InvalidPermission.NotFound on moto and
// InvalidSecurityGroupRuleId.NotFound on AWS; the remediator treats both as
// "revoked meanwhile".

const sgFixture = "config-restricted-ssh-noncompliant.json"

// sgSpec is an ingress rule as the test sets it up and reads it back.
type sgSpec struct {
	proto    string
	from, to int32
	source   string // a CIDR, or a security group ID
}

func (s sgSpec) String() string { return fmt.Sprintf("%s %d-%d %s", s.proto, s.from, s.to, s.source) }

// newGroup creates a security group in the default VPC with the rules.
func (r *rig) newGroup(name string, tags []ec2types.Tag, rules ...sgSpec) string {
	r.t.Helper()
	in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(uniqueName(name)), Description: aws.String("autoremediate test " + name)}
	if len(tags) > 0 {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: tags}}
	}
	out, err := r.EC2.CreateSecurityGroup(ctx(r.t), in)
	if err != nil {
		r.t.Fatalf("creating security group: %v", err)
	}
	id := aws.ToString(out.GroupId)
	for _, s := range rules {
		p := ec2types.IpPermission{IpProtocol: aws.String(s.proto), FromPort: aws.Int32(s.from), ToPort: aws.Int32(s.to)}
		switch {
		case strings.HasPrefix(s.source, "sg-"):
			p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(s.source)}}
		case strings.Contains(s.source, ":"):
			p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(s.source), Description: aws.String("test " + s.String())}}
		default:
			p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(s.source), Description: aws.String("test " + s.String())}}
		}
		if _, err := r.EC2.AuthorizeSecurityGroupIngress(ctx(r.t), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id),
			IpPermissions: []ec2types.IpPermission{p}}); err != nil {
			r.t.Fatalf("authorizing %s on %s: %v", s, id, err)
		}
	}
	return id
}

// ingress reads the group's ingress rules back from the emulator.
func (r *rig) ingress(id string) []string {
	r.t.Helper()
	out, err := r.EC2.DescribeSecurityGroupRules(ctx(r.t), &ec2.DescribeSecurityGroupRulesInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{id}}}})
	if err != nil {
		r.t.Fatalf("describing the rules of %s: %v", id, err)
	}
	var got []string
	for _, sr := range out.SecurityGroupRules {
		if aws.ToBool(sr.IsEgress) {
			continue
		}
		s := sgSpec{proto: aws.ToString(sr.IpProtocol), from: aws.ToInt32(sr.FromPort), to: aws.ToInt32(sr.ToPort),
			source: aws.ToString(sr.CidrIpv4) + aws.ToString(sr.CidrIpv6)}
		if sr.ReferencedGroupInfo != nil {
			s.source = aws.ToString(sr.ReferencedGroupInfo.GroupId)
		}
		got = append(got, s.String())
	}
	sort.Strings(got)
	return got
}

func specs(ss ...sgSpec) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.String())
	}
	sort.Strings(out)
	return out
}

// commonPortsEvent is the golden event reported by restricted-common-ports.
func commonPortsEvent(t *testing.T, id string) []byte {
	return bytes.ReplaceAll(fixtureEvent(t, sgFixture, id), []byte(`"restricted-ssh"`), []byte(`"restricted-common-ports"`))
}

func TestSecurityGroupIngressOnEmulator(t *testing.T) {
	r := newRig(t, nil)
	bastion := r.newGroup("bastion", nil)
	var (
		ssh4    = sgSpec{"tcp", 22, 22, "0.0.0.0/0"}
		ssh6    = sgSpec{"tcp", 22, 22, "::/0"}
		sshCorp = sgSpec{"tcp", 22, 22, "10.0.0.0/8"}
		sshRef  = sgSpec{"tcp", 22, 22, bastion}
		https   = sgSpec{"tcp", 443, 443, "0.0.0.0/0"}
		rdpWide = sgSpec{"tcp", 3380, 3400, "0.0.0.0/0"}
		all6    = sgSpec{"-1", -1, -1, "::/0"}
		udp22   = sgSpec{"udp", 22, 22, "0.0.0.0/0"}
	)
	id := r.newGroup("web", nil, ssh4, ssh6, sshCorp, sshRef, https, rdpWide, all6, udp22)

	// restricted-ssh: the golden event through the handler
	o := r.mustRun(sgFixture, id, remediation.ActionRemediated)
	if o.Remediator != remediators.EC2SecurityGroupIngressName || o.ResourceType != "AWS::EC2::SecurityGroup" {
		t.Errorf("outcome %+v", o)
	}
	if got, want := r.ingress(id), specs(sshCorp, sshRef, https, rdpWide, udp22); !slices.Equal(got, want) {
		t.Errorf("rules left after restricted-ssh:\n  %v\nwant\n  %v", got, want)
	}
	if n := r.ops.Count("RevokeSecurityGroupIngress"); n != 1 {
		t.Errorf("%d revoke calls, want 1", n)
	}
	for _, s := range []string{"revoked 3 ingress rules opening TCP port 22", "(all traffic from ::/0)", "also opened other ports or protocols"} {
		if !strings.Contains(o.Reason, s) {
			t.Errorf("reason %q lacks %q", o.Reason, s)
		}
	}
	// before, as the outcome's JSON carries it, lists the revoked rules
	type rule struct {
		RuleID   string `json:"ruleId"`
		Protocol string `json:"ipProtocol"`
		CidrIPv6 string `json:"cidrIpv6"`
	}
	var before struct {
		Rules []rule `json:"openIngressRules"`
	}
	if b, err := json.Marshal(o.Before); err != nil || json.Unmarshal(b, &before) != nil || len(before.Rules) != 3 ||
		!slices.ContainsFunc(before.Rules, func(r rule) bool {
			return r.Protocol == "-1" && r.CidrIPv6 == "::/0" && strings.HasPrefix(r.RuleID, "sgr-")
		}) {
		t.Errorf("before %v, want the 3 revoked rules with their IDs", o.Before)
	}

	// the same event again: compliant, nothing written
	o = r.mustRun(sgFixture, id, remediation.ActionCompliant)
	if n := r.ops.Count("RevokeSecurityGroupIngress"); n != 1 {
		t.Errorf("the repeated event revoked again (%d revoke calls)", n)
	}

	// restricted-common-ports: the range covering 3389 goes, 443 stays
	o, err := r.handler.Handle(ctx(t), commonPortsEvent(t, id))
	if err != nil || o.Action != remediation.ActionRemediated || o.Rule != "restricted-common-ports" {
		t.Fatalf("restricted-common-ports: %+v, %v", o, err)
	}
	if got, want := r.ingress(id), specs(sshCorp, sshRef, https, udp22); !slices.Equal(got, want) {
		t.Errorf("rules left after restricted-common-ports:\n  %v\nwant\n  %v", got, want)
	}
}

func TestSecurityGroupIngressModesAndEdgesOnEmulator(t *testing.T) {
	open := []sgSpec{{"tcp", 22, 22, "0.0.0.0/0"}, {"tcp", 22, 22, "10.0.0.0/8"}}

	t.Run("dry-run", func(t *testing.T) {
		r := newRig(t, map[string]string{"MODE": "dry-run"})
		id := r.newGroup("dry", nil, open...)
		o := r.mustRun(sgFixture, id, remediation.ActionDryRun)
		if got := r.ingress(id); !slices.Equal(got, specs(open...)) || r.ops.Count("RevokeSecurityGroupIngress") != 0 {
			t.Errorf("dry-run changed the group: %v", got)
		}
		if !strings.HasPrefix(o.Reason, "would revoke 1 ingress rule") {
			t.Errorf("reason %q", o.Reason)
		}
	})
	t.Run("exempt", func(t *testing.T) {
		r := newRig(t, nil)
		id := r.newGroup("exempt", []ec2types.Tag{{Key: aws.String("auto-remediation"), Value: aws.String("off")}}, open...)
		r.mustRun(sgFixture, id, remediation.ActionExempt)
		if got := r.ingress(id); !slices.Equal(got, specs(open...)) || r.ops.Count("RevokeSecurityGroupIngress") != 0 {
			t.Errorf("the exempt group changed: %v", got)
		}
	})
	t.Run("gone", func(t *testing.T) {
		r := newRig(t, nil)
		id := r.newGroup("deleted", nil, open...)
		if _, err := r.EC2.DeleteSecurityGroup(ctx(t), &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		r.mustRun(sgFixture, id, remediation.ActionGone)
	})
	t.Run("malformed ID", func(t *testing.T) {
		r := newRig(t, nil)
		o, _ := r.run(sgFixture, "sg-not-hex")
		if o.Action != remediation.ActionFailed || !strings.Contains(o.Error, `"sg-not-hex"`) || r.ops.Count("DescribeSecurityGroups") != 0 {
			t.Errorf("outcome %+v", o)
		}
	})
	t.Run("SG_BLOCKED_PORTS", func(t *testing.T) {
		r := newRig(t, map[string]string{"SG_BLOCKED_PORTS": "5432"})
		pg, rdp := sgSpec{"tcp", 5432, 5432, "0.0.0.0/0"}, sgSpec{"tcp", 3389, 3389, "0.0.0.0/0"}
		id := r.newGroup("ports", nil, pg, rdp)
		o, err := r.handler.Handle(ctx(t), commonPortsEvent(t, id))
		if err != nil || o.Action != remediation.ActionRemediated {
			t.Fatalf("%+v, %v", o, err)
		}
		if got := r.ingress(id); !slices.Equal(got, specs(rdp)) {
			t.Errorf("rules left %v, want 3389 only (not a configured port)", got)
		}
	})
}

// Both rules' events for one group at once, as Config sends them when an
// all-traffic rule opens the group: whichever comes second finds the rule
// gone, at its read (compliant) or at its revoke (read again, compliant);
// neither fails. (On moto the second run has always read after the first
// revoked; the revoke race itself is TestSGConcurrentRevoke's, with a fake.)
func TestSecurityGroupIngressConcurrentEventsOnEmulator(t *testing.T) {
	r := newRig(t, nil)
	corp := sgSpec{"tcp", 22, 22, "10.0.0.0/8"}
	id := r.newGroup("race", nil, sgSpec{"-1", -1, -1, "0.0.0.0/0"}, corp)
	events := [][]byte{fixtureEvent(t, sgFixture, id), commonPortsEvent(t, id)}
	outcomes := make([]remediation.Outcome, len(events))
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	for i, ev := range events {
		wg.Add(1)
		go func() { defer wg.Done(); outcomes[i], errs[i] = r.handler.Handle(ctx(t), ev) }()
	}
	wg.Wait()
	remediated := 0
	for i, o := range outcomes {
		switch {
		case errs[i] != nil || o.Action == remediation.ActionFailed:
			t.Errorf("%s: %+v, %v", o.Rule, o, errs[i])
		case o.Action == remediation.ActionRemediated:
			remediated++
		case o.Action != remediation.ActionCompliant:
			t.Errorf("%s: action %s", o.Rule, o.Action)
		}
	}
	t.Logf("%s: %s (%s); %s: %s (%s)", outcomes[0].Rule, outcomes[0].Action, outcomes[0].Reason, outcomes[1].Rule, outcomes[1].Action, outcomes[1].Reason)
	if remediated < 1 {
		t.Errorf("no event remediated: %+v", outcomes)
	}
	if got := r.ingress(id); !slices.Equal(got, specs(corp)) {
		t.Errorf("rules left %v, want %v", got, specs(corp))
	}
}

// SG_BLOCKED_PORTS becomes the remediator's ports; its default is the
// restricted-common-ports parameters the definition deploys.
func TestSGBlockedPortsSetting(t *testing.T) {
	cfg, err := app.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var params map[string]string
	for _, r := range remediators.EC2SecurityGroupIngressDefinition().Rules {
		if r.Name == remediators.RuleRestrictedCommonPorts {
			params = r.InputParameters
		}
	}
	if got := remediators.BlockedPortParameters(cfg.Remediators.BlockedPorts); !maps.Equal(got, params) || len(params) == 0 {
		t.Errorf("default SG_BLOCKED_PORTS gives the parameters %v, the deployed rule has %v", got, params)
	}
	cfg, err = app.Load(func(k string) string { return map[string]string{"SG_BLOCKED_PORTS": " 5432, 22 ,5432"}[k] })
	if err != nil || !slices.Equal(cfg.Remediators.BlockedPorts, []int{5432, 22}) {
		t.Errorf("SG_BLOCKED_PORTS=5432,22: %v, %v", cfg.Remediators.BlockedPorts, err)
	}
	for _, bad := range []string{"ssh", "0", "70000", ","} {
		_, err := app.Load(func(k string) string { return map[string]string{"SG_BLOCKED_PORTS": bad}[k] })
		if err == nil || !strings.HasPrefix(err.Error(), "SG_BLOCKED_PORTS: ") {
			t.Errorf("SG_BLOCKED_PORTS=%q: %v", bad, err)
		}
	}
}

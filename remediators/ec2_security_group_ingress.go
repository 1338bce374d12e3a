package remediators

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// ResourceTypeSecurityGroup is AWS Config's name for security groups.
const ResourceTypeSecurityGroup = "AWS::EC2::SecurityGroup"

// The managed rules the security group ingress remediator answers for.
const (
	// RuleRestrictedSSH flags port 22 open to the internet.
	RuleRestrictedSSH = "restricted-ssh"
	// RuleRestrictedCommonPorts flags its blocked ports open to the
	// internet (Options.BlockedPorts; the rule's blockedPort parameters).
	RuleRestrictedCommonPorts = "restricted-common-ports"
)

// sshPort is what restricted-ssh checks.
const sshPort = 22

// SecurityGroupIngressAPI is the part of the EC2 client the security group
// ingress remediator uses.
type SecurityGroupIngressAPI interface {
	DescribeSecurityGroups(ctx context.Context, params *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeSecurityGroupRules(ctx context.Context, params *ec2.DescribeSecurityGroupRulesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupRulesOutput, error)
	RevokeSecurityGroupIngress(ctx context.Context, params *ec2.RevokeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
}

// EC2SecurityGroupIngress revokes the ingress rules of a security group
// that open the checked TCP ports to the whole internet (0.0.0.0/0 or ::/0),
// by rule ID, so that nothing else changes: rules from other CIDRs, from
// security groups or prefix lists, and for other ports stay. A rule that
// opens a range or all traffic is revoked whole; the reason says so.
type EC2SecurityGroupIngress struct {
	Client SecurityGroupIngressAPI
	Opts   Options
}

// NewEC2SecurityGroupIngress returns the remediator.
func NewEC2SecurityGroupIngress(client SecurityGroupIngressAPI, opts Options) *EC2SecurityGroupIngress {
	return &EC2SecurityGroupIngress{Client: client, Opts: opts}
}

// EC2SecurityGroupIngressName names the remediator in outcomes and settings.
const EC2SecurityGroupIngressName = "ec2-security-group-ingress"

// EC2SecurityGroupIngressDefinition declares the security group ingress
// remediator.
func EC2SecurityGroupIngressDefinition() Definition {
	groups := SecurityGroupLister()
	return Definition{
		Spec: remediation.Spec{
			Name:          EC2SecurityGroupIngressName,
			Summary:       "Revokes the security group's ingress rules that open TCP port 22 (restricted-ssh) or the blocked ports (restricted-common-ports, SG_BLOCKED_PORTS) to 0.0.0.0/0 or ::/0, all-traffic rules and port ranges included; every other rule stays.",
			ResourceTypes: []string{ResourceTypeSecurityGroup},
			Rules: []remediation.ManagedRule{
				{Name: RuleRestrictedSSH, Identifier: "INCOMING_SSH_DISABLED", ResourceTypes: []string{ResourceTypeSecurityGroup}},
				// The parameters are the defaults of SG_BLOCKED_PORTS: the
				// rule and the remediator must check the same ports.
				{Name: RuleRestrictedCommonPorts, Identifier: "RESTRICTED_INCOMING_TRAFFIC", ResourceTypes: []string{ResourceTypeSecurityGroup},
					InputParameters: BlockedPortParameters(DefaultBlockedPorts())},
			},
			// EC2.13 is restricted-ssh. EC2.14 (port 3389, deployed as
			// restricted-rdp) is restricted-common-ports with 3389, which
			// SG_BLOCKED_PORTS holds by default. EC2.19 (high-risk ports,
			// vpc-sg-restricted-common-ports) is not claimed: its 24 ports
			// are fixed only when SG_BLOCKED_PORTS lists them all, which the
			// Config rule's five blockedPort parameters cannot express.
			Controls: []string{"EC2.13", "EC2.14"},
			// CreateSecurityGroup cannot open ingress (a new group allows
			// none, or only its own members in the default group).
			Triggers: ec2Calls("AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules"),
			Permissions: []remediation.Permission{
				{Sid: "EC2SecurityGroupIngressRevoke", Actions: []string{"ec2:RevokeSecurityGroupIngress"},
					Resources: []string{"arn:{partition}:ec2:{region}:{account}:security-group/*"}},
				// The describe calls have no resource type.
				{Sid: "EC2SecurityGroupIngressRead", Actions: []string{"ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"}, Resources: []string{"*"}},
			},
		},
		Sweep: []SweepCheck{{Rule: RuleRestrictedSSH, Lister: groups}, {Rule: RuleRestrictedCommonPorts, Lister: groups}},
		New:   func(c Clients, o Options) remediation.Remediator { return NewEC2SecurityGroupIngress(c.EC2(), o) },
	}
}

// BlockedPortParameters renders blocked ports as restricted-common-ports'
// input parameters: blockedPort1, blockedPort2, ...
func BlockedPortParameters(ports []int) map[string]string {
	m := make(map[string]string, len(ports))
	for i, p := range ports {
		m["blockedPort"+strconv.Itoa(i+1)] = strconv.Itoa(p)
	}
	return m
}

// Name implements remediation.Remediator.
func (r *EC2SecurityGroupIngress) Name() string { return EC2SecurityGroupIngressName }

// ResourceTypes implements remediation.Remediator.
func (r *EC2SecurityGroupIngress) ResourceTypes() []string {
	return []string{ResourceTypeSecurityGroup}
}

// ports returns the TCP ports the request's rule checks: 22 for
// restricted-ssh, the blocked ports for restricted-common-ports, both when
// the rule was mapped by configuration (RULE_MAP) and its intent is
// unknown.
func (r *EC2SecurityGroupIngress) ports(managedRule string) []int {
	switch managedRule {
	case RuleRestrictedSSH:
		return []int{sshPort}
	case RuleRestrictedCommonPorts:
		return r.Opts.blockedPorts()
	}
	ports := []int{sshPort}
	for _, p := range r.Opts.blockedPorts() {
		if p != sshPort {
			ports = append(ports, p)
		}
	}
	return ports
}

// securityGroupIDPattern is the shape of a security group ID, like the
// other EC2 IDs (ids.go): sg- and 8 (older groups) or 17 hexadecimal
// digits.
var securityGroupIDPattern = regexp.MustCompile(`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`)

// ingressRule is one security group rule as DescribeSecurityGroupRules
// returns it: one protocol, one port range, one source.
type ingressRule struct {
	id, protocol         string
	from, to             int32
	cidrV4, cidrV6, desc string
	tags                 map[string]string // the rule's own tags (security group rules are taggable)
}

func newIngressRule(r ec2types.SecurityGroupRule) ingressRule {
	rule := ingressRule{id: aws.ToString(r.SecurityGroupRuleId), protocol: strings.ToLower(aws.ToString(r.IpProtocol)),
		from: aws.ToInt32(r.FromPort), to: aws.ToInt32(r.ToPort),
		cidrV4: aws.ToString(r.CidrIpv4), cidrV6: aws.ToString(r.CidrIpv6), desc: aws.ToString(r.Description)}
	for _, t := range r.Tags {
		if rule.tags == nil {
			rule.tags = map[string]string{}
		}
		rule.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return rule
}

// state is what an outcome records of the rule: enough to authorize it
// again exactly (aws ec2 authorize-security-group-ingress --ip-permissions
// ... --tag-specifications ...), which `remediate undo` does.
func (r ingressRule) state() map[string]any {
	m := map[string]any{"ruleId": r.id, "ipProtocol": r.protocol, "fromPort": r.from, "toPort": r.to, "description": r.desc}
	if r.cidrV4 != "" {
		m["cidrIpv4"] = r.cidrV4
	}
	if r.cidrV6 != "" {
		m["cidrIpv6"] = r.cidrV6
	}
	if len(r.tags) > 0 {
		m["tags"] = r.tags
	}
	return m
}

// allTraffic: IpProtocol "-1" is every protocol on every port.
func (r ingressRule) allTraffic() bool { return r.protocol == "-1" }

// tcp reports whether the rule lets TCP in. Both Config rules evaluate TCP
// only (restricted-common-ports says so; SSH is TCP), so UDP rules on the
// same ports are left alone. EC2 reports protocols by name where it has
// one; "6" is accepted too.
func (r ingressRule) tcp() bool { return r.allTraffic() || r.protocol == "tcp" || r.protocol == "6" }

// covers reports whether the rule opens the port. EC2 reports -1 for the
// ports of all-traffic rules.
func (r ingressRule) covers(port int) bool {
	if r.allTraffic() || r.from == -1 || r.to == -1 {
		return true
	}
	return int(r.from) <= port && port <= int(r.to)
}

// fromInternet reports whether the source is every address: a /0 prefix of
// either family (EC2 stores CIDRs canonically, so that is 0.0.0.0/0 or
// ::/0).
func (r ingressRule) fromInternet() bool {
	for _, c := range []string{r.cidrV4, r.cidrV6} {
		if p, err := netip.ParsePrefix(c); err == nil && p.Bits() == 0 {
			return true
		}
	}
	return false
}

// opens returns the ports of the list the rule opens to the internet (none
// for rules that are not TCP, or not from the internet: other CIDRs,
// security groups, prefix lists).
func (r ingressRule) opens(ports []int) []int {
	if !r.tcp() || !r.fromInternet() {
		return nil
	}
	var open []int
	for _, p := range ports {
		if r.covers(p) {
			open = append(open, p)
		}
	}
	return open
}

// opensMore reports whether revoking the rule closes more than the checked
// ports: every other protocol, or other ports of its range.
func (r ingressRule) opensMore(ports []int) bool {
	if r.allTraffic() || r.from == -1 || r.to == -1 {
		return true
	}
	return int(r.to-r.from)+1 > len(r.opens(ports))
}

func (r ingressRule) String() string {
	src := r.cidrV4
	if src == "" {
		src = r.cidrV6
	}
	what := "all traffic"
	switch {
	case r.allTraffic():
	case r.from == r.to:
		what = fmt.Sprintf("%s %d", r.protocol, r.from)
	default:
		what = fmt.Sprintf("%s %d-%d", r.protocol, r.from, r.to)
	}
	return fmt.Sprintf("%s (%s from %s)", r.id, what, src)
}

// groupState is a security group with the ingress rules that open the
// checked ports to the internet.
type groupState struct {
	exists      bool
	name, vpcID string
	tags        []ec2types.Tag
	open        []ingressRule
}

func (g groupState) state(id string, ports []int) map[string]any {
	rules := make([]map[string]any, 0, len(g.open))
	for _, r := range g.open {
		rules = append(rules, r.state())
	}
	return map[string]any{"groupId": id, "groupName": g.name, "vpcId": g.vpcID, "checkedPorts": ports, "openIngressRules": rules}
}

func (g groupState) ids() []string {
	ids := make([]string, len(g.open))
	for i, r := range g.open {
		ids[i] = r.id
	}
	return ids
}

// readGroup describes the group (existence, name, tags); a missing group
// reads as not existing.
func (r *EC2SecurityGroupIngress) readGroup(ctx context.Context, id, region string) (groupState, error) {
	out, err := r.Client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}}, ec2Region(region))
	if awserr.Is(err, "InvalidGroup.NotFound") {
		return groupState{}, nil
	}
	if err != nil {
		return groupState{}, err
	}
	for _, g := range out.SecurityGroups {
		if aws.ToString(g.GroupId) == id {
			return groupState{exists: true, name: aws.ToString(g.GroupName), vpcID: aws.ToString(g.VpcId), tags: g.Tags}, nil
		}
	}
	return groupState{}, nil
}

// openRules lists the group's ingress rules that open one of the ports to
// the internet.
func (r *EC2SecurityGroupIngress) openRules(ctx context.Context, id, region string, ports []int) ([]ingressRule, error) {
	var open []ingressRule
	p := ec2.NewDescribeSecurityGroupRulesPaginator(r.Client, &ec2.DescribeSecurityGroupRulesInput{
		Filters:    []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{id}}},
		MaxResults: aws.Int32(1000),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, ec2Region(region))
		if err != nil {
			return nil, err
		}
		for _, sr := range out.SecurityGroupRules {
			// The filter is the group; a rule of another group would be
			// an API surprise, not ours to revoke.
			if aws.ToBool(sr.IsEgress) || aws.ToString(sr.GroupId) != id {
				continue
			}
			if rule := newIngressRule(sr); len(rule.opens(ports)) > 0 {
				open = append(open, rule)
			}
		}
	}
	return open, nil
}

func goneGroup(id string) remediation.Result {
	return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("security group %q no longer exists", id)}
}

// Remediate implements remediation.Remediator.
func (r *EC2SecurityGroupIngress) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	id := req.ResourceID
	if !securityGroupIDPattern.MatchString(id) {
		return malformedID("security group", id)
	}
	ports := r.ports(req.ManagedRule)
	cur, err := r.readGroup(ctx, id, req.Region)
	if awserr.Is(err, "InvalidGroupId.Malformed") {
		return malformedID("security group", id)
	}
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("describing security group %q: %w", id, err))
	}
	if !cur.exists {
		return goneGroup(id)
	}
	if cur.open, err = r.openRules(ctx, id, req.Region, ports); err != nil {
		return remediation.Failed(nil, fmt.Errorf("describing the rules of security group %q: %w", id, err))
	}
	before := cur.state(id, ports)
	if len(cur.open) == 0 {
		return remediation.Result{Action: remediation.ActionCompliant, Before: before, After: before,
			Reason: fmt.Sprintf("no ingress rule opens TCP %s to 0.0.0.0/0 or ::/0", portList(ports))}
	}
	if v, ok := ec2Tag(cur.tags, r.Opts.exemptKey()); ok && exemptValue(v) {
		return remediation.Result{Action: remediation.ActionExempt, Reason: exemptReason(r.Opts.exemptKey(), v), Before: before, After: before}
	}
	want := cur
	want.open = nil
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: want.state(id, ports),
			Reason: "would revoke " + describeRevoke(cur.open, ports)}
	}
	revoked, err := r.revoke(ctx, id, req.Region, ports, cur.open)
	if awserr.Is(err, "InvalidGroup.NotFound") {
		return goneGroup(id)
	}
	if err != nil {
		return remediation.Failed(before, err)
	}
	got, err := r.openRules(ctx, id, req.Region, ports)
	if err != nil {
		return remediation.Unverified(before, fmt.Errorf("verifying the rules of security group %q: %w", id, err))
	}
	after := cur
	after.open = got
	if len(got) > 0 {
		return remediation.Unverified(before, fmt.Errorf("verifying the rules of security group %q: still open to the internet after the revoke: %s",
			id, strings.Join(after.ids(), ", ")))
	}
	if len(revoked) == 0 {
		// Another run (the other rule's event for the same group) revoked
		// them between our read and our write.
		return remediation.Result{Action: remediation.ActionCompliant, Before: before, After: after.state(id, ports),
			Reason: fmt.Sprintf("the ingress rules opening TCP %s to the internet were revoked meanwhile by another change", portList(ports))}
	}
	return remediation.Result{Action: remediation.ActionRemediated, Before: before, After: after.state(id, ports),
		Reason: "revoked " + describeRevoke(revoked, ports)}
}

// revoke revokes the rules by ID and returns those it revoked. When one of
// them is already gone (another run revoked it), EC2 revokes none of the
// request, so the rules are read again and the remainder revoked.
func (r *EC2SecurityGroupIngress) revoke(ctx context.Context, id, region string, ports []int, open []ingressRule) ([]ingressRule, error) {
	for attempt := 1; len(open) > 0; attempt++ {
		ids := make([]string, len(open))
		for i, rule := range open {
			ids[i] = rule.id
		}
		_, err := r.Client.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(id), SecurityGroupRuleIds: ids}, ec2Region(region))
		if err == nil {
			return open, nil
		}
		if !awserr.Is(err, "InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound") || attempt >= 3 {
			return nil, fmt.Errorf("revoking ingress rules %s of security group %q: %w", strings.Join(ids, ", "), id, err)
		}
		if open, err = r.openRules(ctx, id, region, ports); err != nil {
			return nil, fmt.Errorf("describing the rules of security group %q again: %w", id, err)
		}
	}
	return nil, nil
}

// describeRevoke says which rules go and what closes with them.
func describeRevoke(rules []ingressRule, ports []int) string {
	var opened []int
	var items, wider []string
	for _, r := range rules {
		for _, p := range r.opens(ports) {
			if !slices.Contains(opened, p) {
				opened = append(opened, p)
			}
		}
		items = append(items, r.String())
		if r.opensMore(ports) {
			wider = append(wider, r.id)
		}
	}
	noun := "rule"
	if len(rules) > 1 {
		noun = "rules"
	}
	s := fmt.Sprintf("%d ingress %s opening TCP %s to the internet: %s", len(rules), noun, portList(opened), strings.Join(items, ", "))
	if len(wider) > 0 {
		s += fmt.Sprintf("; %s also opened other ports or protocols to the internet, which revoking closes too (before lists the rules, to add narrower ones back if needed)",
			strings.Join(wider, ", "))
	}
	return s
}

func portList(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	if len(ports) == 1 {
		return "port " + s[0]
	}
	return "ports " + strings.Join(s, ", ")
}

// ingressAuthorizer is what Revert needs beyond the remediator's own calls:
// ec2:AuthorizeSecurityGroupIngress (and ec2:CreateTags for tagged rules),
// which the remediator's role is deliberately not granted (see
// docs/undo.md).
type ingressAuthorizer interface {
	AuthorizeSecurityGroupIngress(ctx context.Context, params *ec2.AuthorizeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
}

// ingressRuleFrom reads one rule of an outcome's openIngressRules back.
func ingressRuleFrom(m map[string]any) (ingressRule, bool) {
	var r ingressRule
	var ok bool
	if r.protocol, ok = stateString(m, "ipProtocol"); !ok || r.protocol == "" {
		return ingressRule{}, false
	}
	from, okFrom := stateInt(m, "fromPort")
	to, okTo := stateInt(m, "toPort")
	if !okFrom || !okTo || from < -1 || to < -1 || from > 65535 || to > 65535 {
		return ingressRule{}, false
	}
	r.from, r.to = int32(from), int32(to)
	r.id, _ = stateString(m, "ruleId")
	r.desc, _ = stateString(m, "description")
	r.cidrV4, _ = stateString(m, "cidrIpv4")
	r.cidrV6, _ = stateString(m, "cidrIpv6")
	if (r.cidrV4 == "") == (r.cidrV6 == "") {
		return ingressRule{}, false
	}
	switch tags := m["tags"].(type) {
	case nil:
	case map[string]string:
		r.tags = tags
	case map[string]any:
		r.tags = map[string]string{}
		for k, v := range tags {
			s, ok := v.(string)
			if !ok {
				return ingressRule{}, false
			}
			r.tags[k] = s
		}
	default:
		return ingressRule{}, false
	}
	return r, true
}

// key identifies what a rule lets in, whatever its ID: EC2 refuses a
// second rule with the same protocol, ports and source.
func (r ingressRule) key() string {
	return fmt.Sprintf("%s|%d|%d|%s|%s", r.protocol, r.from, r.to, r.cidrV4, r.cidrV6)
}

func ruleKeys(rules []ingressRule) []string {
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.key()
	}
	slices.Sort(keys)
	return keys
}

// permission is the rule as AuthorizeSecurityGroupIngress takes it.
func (r ingressRule) permission() ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String(r.protocol), FromPort: aws.Int32(r.from), ToPort: aws.Int32(r.to)}
	var desc *string
	if r.desc != "" {
		desc = aws.String(r.desc)
	}
	if r.cidrV4 != "" {
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(r.cidrV4), Description: desc}}
	} else {
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(r.cidrV6), Description: desc}}
	}
	return p
}

// Revert implements remediation.Reverter: it authorises the ingress rules
// the fix revoked again, each with its protocol, ports, source,
// description and tags (EC2 gives them new rule IDs). It refuses when a
// rule opening the checked ports to the internet has been added since
// (unless forced: a forced revert adds only the revoked rules that are not
// there again).
func (r *EC2SecurityGroupIngress) Revert(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	o := req.Outcome
	id := o.ResourceID
	if !securityGroupIDPattern.MatchString(id) {
		return malformedID("security group", id)
	}
	var ports []int
	if raw, ok := o.Before["checkedPorts"]; ok {
		switch l := raw.(type) {
		case []int:
			ports = l
		case []any:
			for _, v := range l {
				if p, ok := asInt(v); ok && p >= 0 && p <= 65535 {
					ports = append(ports, int(p))
				}
			}
		}
	}
	if len(ports) == 0 {
		return missingBefore(r.Name(), o, "checkedPorts")
	}
	recorded, ok := stateList(o.Before, "openIngressRules")
	if !ok || len(recorded) == 0 {
		return missingBefore(r.Name(), o, "openIngressRules (the revoked rules)")
	}
	var want []ingressRule
	for i, m := range recorded {
		rule, ok := ingressRuleFrom(m)
		if !ok {
			return missingBefore(r.Name(), o, fmt.Sprintf("complete rule in openIngressRules[%d] (ipProtocol, fromPort, toPort and one of cidrIpv4, cidrIpv6)", i))
		}
		want = append(want, rule)
	}
	var left []ingressRule
	if recorded, ok := stateList(o.After, "openIngressRules"); ok {
		for _, m := range recorded {
			if rule, ok := ingressRuleFrom(m); ok {
				left = append(left, rule)
			}
		}
	}

	cur, err := r.readGroup(ctx, id, o.Region)
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("describing security group %q: %w", id, err))
	}
	if !cur.exists {
		return goneGroup(id)
	}
	if cur.open, err = r.openRules(ctx, id, o.Region, ports); err != nil {
		return remediation.Failed(nil, fmt.Errorf("describing the rules of security group %q: %w", id, err))
	}
	now := cur.state(id, ports)
	if !slices.Equal(ruleKeys(cur.open), ruleKeys(left)) && !req.Force {
		var open []string
		for _, rule := range cur.open {
			open = append(open, rule.String())
		}
		what := "none"
		if len(open) > 0 {
			what = strings.Join(open, ", ")
		}
		return refuseChanged("the security group's rules", now, []string{fmt.Sprintf("the rules opening TCP %s to the internet are now: %s; the outcome left %d", portList(ports), what, len(left))})
	}
	present := map[string]bool{}
	for _, rule := range cur.open {
		present[rule.key()] = true
	}
	var add []ingressRule
	for _, rule := range want {
		if !present[rule.key()] {
			add = append(add, rule)
		}
	}
	if len(add) == 0 {
		return remediation.Result{Action: remediation.ActionReverted, Before: now, After: now,
			Reason: "the revoked rules are all there again: nothing written"}
	}
	if req.Mode == remediation.ModeDryRun {
		after := cur
		after.open = append(slices.Clone(cur.open), add...)
		return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: after.state(id, ports),
			Reason: "would authorise again " + describeRules(add)}
	}
	auth, ok := r.Client.(ingressAuthorizer)
	if !ok {
		return remediation.Failed(now, fmt.Errorf("authorising ingress rules of security group %q: the EC2 client cannot authorise them", id))
	}
	// One call per tag set: a call's tag specification applies to every
	// rule it creates.
	var done []ingressRule
	for _, batch := range byTags(add) {
		in := &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id)}
		for _, rule := range batch {
			in.IpPermissions = append(in.IpPermissions, rule.permission())
		}
		if tags := batch[0].tags; len(tags) > 0 {
			spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeSecurityGroupRule}
			for _, k := range slices.Sorted(maps.Keys(tags)) {
				spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
			}
			in.TagSpecifications = []ec2types.TagSpecification{spec}
		}
		if _, err := auth.AuthorizeSecurityGroupIngress(ctx, in, ec2Region(o.Region)); err != nil {
			if awserr.Is(err, "InvalidGroup.NotFound") {
				return goneGroup(id)
			}
			err = fmt.Errorf("authorising ingress rules %s of security group %q again: %w", describeRules(batch), id, err)
			if len(done) > 0 {
				err = fmt.Errorf("%w (already authorised again: %s)", err, describeRules(done))
				return remediation.Unverified(now, err)
			}
			return remediation.Failed(now, err)
		}
		done = append(done, batch...)
	}
	got, err := r.openRules(ctx, id, o.Region, ports)
	if err != nil {
		return remediation.Unverified(now, fmt.Errorf("verifying the rules of security group %q: %w", id, err))
	}
	after := cur
	after.open = got
	have := map[string]bool{}
	for _, rule := range got {
		have[rule.key()] = true
	}
	for _, rule := range want {
		if !have[rule.key()] {
			return remediation.Unverified(now, fmt.Errorf("verifying the rules of security group %q: %s is not there after the write", id, rule))
		}
	}
	return remediation.Result{Action: remediation.ActionReverted, Before: now, After: after.state(id, ports),
		Reason: "authorised again " + describeRules(add)}
}

// byTags groups rules by their tags, in order of first appearance.
func byTags(rules []ingressRule) [][]ingressRule {
	var groups [][]ingressRule
	index := map[string]int{}
	for _, r := range rules {
		k := show(r.tags)
		if i, ok := index[k]; ok {
			groups[i] = append(groups[i], r)
			continue
		}
		index[k] = len(groups)
		groups = append(groups, []ingressRule{r})
	}
	return groups
}

func describeRules(rules []ingressRule) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = r.String()
	}
	noun := "rule"
	if len(rules) > 1 {
		noun = "rules"
	}
	return fmt.Sprintf("%d ingress %s: %s", len(rules), noun, strings.Join(s, ", "))
}

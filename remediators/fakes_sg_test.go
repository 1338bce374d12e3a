package remediators

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const testGroup = "sg-0a1b2c3d4e5f60718"

// fakeSG is one security group and its rules, as EC2 answers for it. Every
// request is checked: the group it names, the region it is sent to, and
// that revokes go by rule ID only.
type fakeSG struct {
	t      testing.TB
	region string
	group  string
	calls

	gone  bool // DescribeSecurityGroups answers InvalidGroup.NotFound
	name  string
	tags  []ec2types.Tag
	rules []ec2types.SecurityGroupRule
	// pageSize > 0 splits DescribeSecurityGroupRules into pages.
	pageSize   int
	dropWrites bool             // revokes succeed but change nothing
	errs       map[string]error // by method; "Method#2" applies to the second call only
	// beforeRevoke runs before each revoke is applied: another actor
	// changing the group in between.
	beforeRevoke func(f *fakeSG)

	revokes    []*ec2.RevokeSecurityGroupIngressInput
	authorizes []*ec2.AuthorizeSecurityGroupIngressInput // by undo (revert_test.go)
}

func newFakeSG(t testing.TB, rules ...ec2types.SecurityGroupRule) *fakeSG {
	return &fakeSG{t: t, region: testRegion, group: testGroup, name: "web", rules: rules, errs: map[string]error{}}
}

func (f *fakeSG) begin(method string, optFns []func(*ec2.Options)) error {
	return beginEC2(f.t, &f.calls, f.region, f.errs, method, optFns)
}

func (f *fakeSG) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	if !slices.Equal(in.GroupIds, []string{f.group}) || len(in.Filters) != 0 || len(in.GroupNames) != 0 {
		f.t.Errorf("DescribeSecurityGroups: GroupIds %v, Filters %v, GroupNames %v; want exactly [%s]", in.GroupIds, in.Filters, in.GroupNames, f.group)
	}
	if err := f.begin("DescribeSecurityGroups", optFns); err != nil {
		return nil, err
	}
	if f.gone {
		return nil, apiErr("InvalidGroup.NotFound")
	}
	return &ec2.DescribeSecurityGroupsOutput{SecurityGroups: []ec2types.SecurityGroup{{
		GroupId: aws.String(f.group), GroupName: aws.String(f.name), VpcId: aws.String("vpc-0123456789abcdef0"), Tags: f.tags}}}, nil
}

func (f *fakeSG) DescribeSecurityGroupRules(_ context.Context, in *ec2.DescribeSecurityGroupRulesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupRulesOutput, error) {
	if len(in.Filters) != 1 || aws.ToString(in.Filters[0].Name) != "group-id" || !slices.Equal(in.Filters[0].Values, []string{f.group}) || len(in.SecurityGroupRuleIds) != 0 {
		f.t.Errorf("DescribeSecurityGroupRules: Filters %+v, SecurityGroupRuleIds %v; want the filter group-id=%s only", in.Filters, in.SecurityGroupRuleIds, f.group)
	}
	if err := f.begin("DescribeSecurityGroupRules", optFns); err != nil {
		return nil, err
	}
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(aws.ToString(in.NextToken))
	}
	end := len(f.rules)
	if f.pageSize > 0 {
		end = min(start+f.pageSize, len(f.rules))
	}
	out := &ec2.DescribeSecurityGroupRulesOutput{SecurityGroupRules: slices.Clone(f.rules[start:end])}
	if end < len(f.rules) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// RevokeSecurityGroupIngress is all or nothing, as EC2 is: an unknown rule
// ID fails the request and revokes none.
func (f *fakeSG) RevokeSecurityGroupIngress(_ context.Context, in *ec2.RevokeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error) {
	f.revokes = append(f.revokes, in)
	if aws.ToString(in.GroupId) != f.group || in.GroupName != nil || len(in.SecurityGroupRuleIds) == 0 || len(in.IpPermissions) != 0 ||
		in.CidrIp != nil || in.IpProtocol != nil || in.FromPort != nil || in.ToPort != nil || in.SourceSecurityGroupName != nil {
		f.t.Errorf("RevokeSecurityGroupIngress: %+v; want GroupId %s and rule IDs only", in, f.group)
	}
	if err := f.begin("RevokeSecurityGroupIngress", optFns); err != nil {
		return nil, err
	}
	if f.beforeRevoke != nil {
		f.beforeRevoke(f)
	}
	for _, id := range in.SecurityGroupRuleIds {
		if !slices.ContainsFunc(f.rules, func(r ec2types.SecurityGroupRule) bool {
			return aws.ToString(r.SecurityGroupRuleId) == id && !aws.ToBool(r.IsEgress)
		}) {
			return nil, apiErr("InvalidSecurityGroupRuleId.NotFound")
		}
	}
	if !f.dropWrites {
		f.remove(in.SecurityGroupRuleIds...)
	}
	return &ec2.RevokeSecurityGroupIngressOutput{Return: aws.Bool(true)}, nil
}

func (f *fakeSG) remove(ids ...string) {
	f.rules = slices.DeleteFunc(f.rules, func(r ec2types.SecurityGroupRule) bool {
		return slices.Contains(ids, aws.ToString(r.SecurityGroupRuleId))
	})
}

// ruleIDs lists the group's rules left.
func (f *fakeSG) ruleIDs() []string {
	var ids []string
	for _, r := range f.rules {
		ids = append(ids, aws.ToString(r.SecurityGroupRuleId))
	}
	return ids
}

// sgRule is an ingress rule of the test group from a CIDR (IPv4 or IPv6 by
// its form); protocol "-1" is all traffic, whose ports EC2 reports as -1.
func sgRule(id, protocol string, from, to int32, cidr string) ec2types.SecurityGroupRule {
	r := ec2types.SecurityGroupRule{SecurityGroupRuleId: aws.String(id), GroupId: aws.String(testGroup), IsEgress: aws.Bool(false),
		IpProtocol: aws.String(protocol), FromPort: aws.Int32(from), ToPort: aws.Int32(to), Description: aws.String("rule " + id)}
	if strings.Contains(cidr, ":") {
		r.CidrIpv6 = aws.String(cidr)
	} else {
		r.CidrIpv4 = aws.String(cidr)
	}
	return r
}

// sgRef is an ingress rule whose source is another security group.
func sgRef(id string, port int32, group string) ec2types.SecurityGroupRule {
	return ec2types.SecurityGroupRule{SecurityGroupRuleId: aws.String(id), GroupId: aws.String(testGroup), IsEgress: aws.Bool(false),
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		ReferencedGroupInfo: &ec2types.ReferencedSecurityGroup{GroupId: aws.String(group), UserId: aws.String(testAccount)}}
}

// sgPrefixList is an ingress rule whose source is a managed prefix list.
func sgPrefixList(id string, port int32, list string) ec2types.SecurityGroupRule {
	return ec2types.SecurityGroupRule{SecurityGroupRuleId: aws.String(id), GroupId: aws.String(testGroup), IsEgress: aws.Bool(false),
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port), PrefixListId: aws.String(list)}
}

// sgEgress is an egress rule to a CIDR.
func sgEgress(id, protocol string, from, to int32, cidr string) ec2types.SecurityGroupRule {
	r := sgRule(id, protocol, from, to, cidr)
	r.IsEgress = aws.Bool(true)
	return r
}

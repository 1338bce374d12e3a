package remediators

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// pagedInstances answers DescribeInstances from a list of instances, page
// per page (two when page is 0), honouring the state and instance-id filters; it refuses InstanceIds
// (neither the listing nor the batched read may use them) and records the
// requests.
type pagedInstances struct {
	t         *testing.T
	instances []ec2types.Instance
	page      int
	inputs    []ec2.DescribeInstancesInput
	err       error
}

func (p *pagedInstances) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	p.inputs = append(p.inputs, *in)
	var o ec2.Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Region != testRegion {
		p.t.Errorf("DescribeInstances sent to region %q", o.Region)
	}
	if len(in.InstanceIds) > 0 || len(in.Filters) != 1 {
		p.t.Fatalf("DescribeInstances: InstanceIds %v Filters %+v, want one filter", in.InstanceIds, in.Filters)
	}
	if p.err != nil {
		return nil, p.err
	}
	f := in.Filters[0]
	var match []ec2types.Instance
	for _, i := range p.instances {
		switch aws.ToString(f.Name) {
		case "instance-id":
			if slices.Contains(f.Values, aws.ToString(i.InstanceId)) {
				match = append(match, i)
			}
		case "instance-state-name":
			if slices.Contains(f.Values, string(i.State.Name)) {
				match = append(match, i)
			}
		default:
			p.t.Fatalf("filter %q", aws.ToString(f.Name))
		}
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(aws.ToString(in.NextToken), &start)
	}
	end := min(start+max(p.page, 2), len(match))
	out := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: match[start:end]}}}
	if end < len(match) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func testInstances(n int, state ec2types.InstanceStateName) []ec2types.Instance {
	out := make([]ec2types.Instance, n)
	for i := range out {
		out[i] = ec2types.Instance{InstanceId: aws.String(fmt.Sprintf("i-%017x", i)), State: &ec2types.InstanceState{Name: state},
			MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{HttpTokens: ec2types.HttpTokensStateOptional}}
	}
	return out
}

type sinkFunc func(region string, instances []ec2types.Instance)

func (f sinkFunc) ListedInstances(region string, instances []ec2types.Instance) { f(region, instances) }

// The listing hands every page it reads, whole descriptions, to the
// context's sink, and returns the same instances' IDs.
func TestInstanceListingFeedsTheSink(t *testing.T) {
	c := &pagedInstances{t: t, instances: append(testInstances(5, ec2types.InstanceStateNameRunning), testInstances(1, ec2types.InstanceStateNameTerminated)...)}
	var pages [][]ec2types.Instance
	ctx := WithInstanceSink(context.Background(), sinkFunc(func(region string, instances []ec2types.Instance) {
		if region != testRegion {
			t.Errorf("sink told region %q", region)
		}
		pages = append(pages, instances)
	}))
	ids, err := listInstances(ctx, c, testRegion)
	if err != nil {
		t.Fatal(err)
	}
	var sunk []string
	for _, p := range pages {
		for _, i := range p {
			if i.MetadataOptions == nil || i.State == nil {
				t.Errorf("instance %s handed without its description", aws.ToString(i.InstanceId))
			}
			sunk = append(sunk, aws.ToString(i.InstanceId))
		}
	}
	if len(pages) != 3 || len(ids) != 5 || !slices.Equal(sunk, ids) {
		t.Errorf("IDs %v, pages handed %d with %v", ids, len(pages), sunk)
	}
	// without a sink the listing is the same
	if ids2, err := listInstances(context.Background(), c, testRegion); err != nil || !slices.Equal(ids2, ids) {
		t.Errorf("without a sink: %v, %v", ids2, err)
	}
}

// DescribeInstancesByID asks by instance-id filter, at most
// DescribeInstancesByIDMax IDs a call, follows the pages, and leaves out
// what EC2 does not list.
func TestDescribeInstancesByID(t *testing.T) {
	c := &pagedInstances{t: t, instances: testInstances(450, ec2types.InstanceStateNameRunning), page: 150}
	var ids []string
	for i := range 450 {
		ids = append(ids, fmt.Sprintf("i-%017x", i))
	}
	ids = append(ids, "i-0000000000000ffff") // not in the account
	got, err := DescribeInstancesByID(context.Background(), c, testRegion, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 450 {
		t.Errorf("%d instances found, want 450", len(got))
	}
	if _, ok := got["i-0000000000000ffff"]; ok {
		t.Error("an unknown instance was found")
	}
	if inst := got[ids[7]]; aws.ToString(inst.InstanceId) != ids[7] || inst.MetadataOptions == nil {
		t.Errorf("instance %s: %+v", ids[7], inst)
	}
	asked := 0
	for _, in := range c.inputs {
		if n := len(in.Filters[0].Values); n > DescribeInstancesByIDMax {
			t.Errorf("%d IDs in one call", n)
		}
		if in.NextToken == nil {
			asked += len(in.Filters[0].Values)
		}
	}
	if asked != len(ids) {
		t.Errorf("asked for %d IDs, want %d", asked, len(ids))
	}

	c.err = apiErr("UnauthorizedOperation")
	if _, err := DescribeInstancesByID(context.Background(), c, testRegion, ids[:3]); err == nil ||
		!strings.Contains(err.Error(), "describing 3 EC2 instances in region "+testRegion) || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Errorf("error %v", err)
	}
}

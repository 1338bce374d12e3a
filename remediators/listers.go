package remediators

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/remediation"
)

// Resource types the remediators handle (AWS Config's names).
const (
	ResourceTypeBucket   = "AWS::S3::Bucket"
	ResourceTypeInstance = "AWS::EC2::Instance"
)

// AnyBucket is the resource pattern of every bucket: the buckets a
// remediator fixes are not known in advance.
const AnyBucket = "arn:{partition}:s3:::*"

func s3Calls(names ...string) []remediation.APICall  { return apiCalls("s3.amazonaws.com", names) }
func ec2Calls(names ...string) []remediation.APICall { return apiCalls("ec2.amazonaws.com", names) }

func apiCalls(source string, names []string) []remediation.APICall {
	out := make([]remediation.APICall, len(names))
	for i, n := range names {
		out[i] = remediation.APICall{Source: source, Name: n}
	}
	return out
}

// BucketLister lists the buckets of the region.
func BucketLister() Lister {
	return Lister{
		Key: "s3-buckets", ResourceType: ResourceTypeBucket,
		Description: "S3 buckets in the region",
		// ListBuckets has no resource type.
		Permissions: []remediation.Permission{{Sid: "SweepListBuckets", Actions: []string{"s3:ListAllMyBuckets"}, Resources: []string{"*"}}},
		List: func(ctx context.Context, c Clients, _, region string) ([]string, error) {
			return listBuckets(ctx, c.S3(), region)
		},
	}
}

func listBuckets(ctx context.Context, c s3.ListBucketsAPIClient, region string) ([]string, error) {
	var ids []string
	// BucketRegion filters server-side: ListBuckets otherwise returns the
	// buckets of every region.
	p := s3.NewListBucketsPaginator(c, &s3.ListBucketsInput{BucketRegion: aws.String(region), MaxBuckets: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return ids, fmt.Errorf("listing S3 buckets in region %s: %w", region, err)
		}
		for _, b := range out.Buckets {
			ids = append(ids, aws.ToString(b.Name))
		}
	}
	return ids, nil
}

// InstanceLister lists the instances of the region that are not terminated.
func InstanceLister() Lister {
	return Lister{
		Key: "ec2-instances", ResourceType: ResourceTypeInstance,
		Description: "EC2 instances that are not terminated",
		Permissions: []remediation.Permission{{Sid: "SweepListInstances", Actions: []string{"ec2:DescribeInstances"}, Resources: []string{"*"}}},
		List: func(ctx context.Context, c Clients, _, region string) ([]string, error) {
			return listInstances(ctx, c.EC2(), region)
		},
	}
}

func listInstances(ctx context.Context, c ec2.DescribeInstancesAPIClient, region string) ([]string, error) {
	var ids []string
	sink, _ := ctx.Value(instanceSinkKey{}).(InstanceSink)
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{
		// Terminated and shutting-down instances stay listed for about an
		// hour; there is nothing to fix on them.
		Filters:    []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}},
		MaxResults: aws.Int32(1000),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, ec2Region(region))
		if err != nil {
			return ids, fmt.Errorf("describing EC2 instances in region %s: %w", region, err)
		}
		var page []ec2types.Instance
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				ids = append(ids, aws.ToString(i.InstanceId))
				page = append(page, i)
			}
		}
		if sink != nil {
			sink.ListedInstances(region, page)
		}
	}
	return ids, nil
}

// InstanceSink receives what the instance listing read: DescribeInstances
// returns each instance's whole description (state, metadata options,
// tags), which the sweep keeps for the checks that follow instead of
// describing each instance again (see InstanceReads).
type InstanceSink interface {
	// ListedInstances is called with each page of instances, as read.
	ListedInstances(region string, instances []ec2types.Instance)
}

type instanceSinkKey struct{}

// WithInstanceSink returns a context in which the instance listing hands
// the instances it reads to sink.
func WithInstanceSink(ctx context.Context, sink InstanceSink) context.Context {
	return context.WithValue(ctx, instanceSinkKey{}, sink)
}

// DescribeInstancesByIDMax is how many instances DescribeInstancesByID asks
// for in one call.
const DescribeInstancesByIDMax = 200

// DescribeInstancesByID describes many instances at once, up to
// DescribeInstancesByIDMax per call, and returns them by ID; an instance EC2
// does not list is absent. It filters on instance-id instead of passing
// InstanceIds because with InstanceIds a single ID that no longer exists
// fails the whole call (InvalidInstanceID.NotFound), while a filter leaves
// it out.
func DescribeInstancesByID(ctx context.Context, c ec2.DescribeInstancesAPIClient, region string, ids []string) (map[string]ec2types.Instance, error) {
	found := make(map[string]ec2types.Instance, len(ids))
	for start := 0; start < len(ids); start += DescribeInstancesByIDMax {
		chunk := ids[start:min(start+DescribeInstancesByIDMax, len(ids))]
		p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{
			Filters:    []ec2types.Filter{{Name: aws.String("instance-id"), Values: chunk}},
			MaxResults: aws.Int32(1000),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx, ec2Region(region))
			if err != nil {
				return nil, fmt.Errorf("describing %d EC2 instances in region %s: %w", len(chunk), region, err)
			}
			for _, r := range out.Reservations {
				for _, i := range r.Instances {
					found[aws.ToString(i.InstanceId)] = i
				}
			}
		}
	}
	return found, nil
}

// AttachedUnencryptedVolumeLister lists the unencrypted volumes attached to
// an instance: the encrypted-volumes rule evaluates attached volumes only
// ("Checks if attached Amazon EBS volumes are encrypted"), so the sweep's
// results stay comparable with Config's.
func AttachedUnencryptedVolumeLister() Lister {
	return Lister{
		Key: "ebs-volumes-attached-unencrypted", ResourceType: ResourceTypeVolume,
		Description: "unencrypted EBS volumes attached to an instance",
		Permissions: []remediation.Permission{{Sid: "SweepListVolumes", Actions: []string{"ec2:DescribeVolumes"}, Resources: []string{"*"}}},
		List: func(ctx context.Context, c Clients, _, region string) ([]string, error) {
			return listAttachedUnencryptedVolumes(ctx, c.EC2(), region)
		},
	}
}

func listAttachedUnencryptedVolumes(ctx context.Context, c ec2.DescribeVolumesAPIClient, region string) ([]string, error) {
	ids, err := describeVolumeIDs(ctx, c, region, "attached unencrypted EBS volumes",
		ec2types.Filter{Name: aws.String("encrypted"), Values: []string{"false"}},
		ec2types.Filter{Name: aws.String("attachment.status"), Values: []string{"attached"}})
	if err != nil {
		return ids, err
	}
	// A migration started from the terminal (EBS_MIGRATION off) detaches
	// the original while its instance is stopped: the sweep must still find
	// it, or an interrupted swap would leave the instance stopped.
	migrating, err := describeVolumeIDs(ctx, c, region, "unencrypted EBS volumes under migration",
		ec2types.Filter{Name: aws.String("encrypted"), Values: []string{"false"}},
		ec2types.Filter{Name: aws.String("tag-key"), Values: []string{tagStep}})
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range migrating {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, err
}

// describeVolumeIDs pages through DescribeVolumes with the filters; what
// names the volumes in the error.
func describeVolumeIDs(ctx context.Context, c ec2.DescribeVolumesAPIClient, region, what string, filters ...ec2types.Filter) ([]string, error) {
	var ids []string
	p := ec2.NewDescribeVolumesPaginator(c, &ec2.DescribeVolumesInput{Filters: filters, MaxResults: aws.Int32(500)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, ec2Region(region))
		if err != nil {
			return ids, fmt.Errorf("describing %s in region %s: %w", what, region, err)
		}
		for _, v := range out.Volumes {
			ids = append(ids, aws.ToString(v.VolumeId))
		}
	}
	return ids, nil
}

// UnencryptedVolumeLister lists every unencrypted volume, attached or not:
// the sweep's listing when EBS_MIGRATION is on, since encrypted-volumes
// never reports an unattached volume, and the originals of migrations
// under way are detached.
func UnencryptedVolumeLister() Lister {
	return Lister{
		Key: "ebs-volumes-unencrypted", ResourceType: ResourceTypeVolume,
		Description: "unencrypted EBS volumes, attached or not (EBS_MIGRATION on)",
		Permissions: []remediation.Permission{{Sid: "SweepListVolumes", Actions: []string{"ec2:DescribeVolumes"}, Resources: []string{"*"}}},
		List: func(ctx context.Context, c Clients, _, region string) ([]string, error) {
			return listUnencryptedVolumes(ctx, c.EC2(), region)
		},
	}
}

func listUnencryptedVolumes(ctx context.Context, c ec2.DescribeVolumesAPIClient, region string) ([]string, error) {
	return describeVolumeIDs(ctx, c, region, "unencrypted EBS volumes",
		ec2types.Filter{Name: aws.String("encrypted"), Values: []string{"false"}})
}

// WithEBSMigration returns defs with the EBS remediator's volume listing
// widened to unattached volumes when migration (EBS_MIGRATION) is not
// off; defs itself is not changed.
func WithEBSMigration(defs []Definition, migration string) []Definition {
	if migration == "" || migration == EBSMigrationOff {
		return defs
	}
	out := slices.Clone(defs)
	for i, d := range out {
		if d.Name != EBSEncryptionName {
			continue
		}
		d.Sweep = slices.Clone(d.Sweep)
		for j, c := range d.Sweep {
			if c.Lister.Key == AttachedUnencryptedVolumeLister().Key {
				d.Sweep[j].Lister = UnencryptedVolumeLister()
			}
		}
		out[i] = d
	}
	return out
}

// AccountLister "lists" the account itself, for rules on account settings.
func AccountLister() Lister {
	return Lister{
		Key: "account", ResourceType: ResourceTypeAccount,
		Description: "the account's settings (such as its EBS encryption default)",
		List: func(_ context.Context, _ Clients, account, _ string) ([]string, error) {
			return []string{account}, nil
		},
	}
}

// SecurityGroupLister lists the security groups of the region.
func SecurityGroupLister() Lister {
	return Lister{
		Key: "ec2-security-groups", ResourceType: ResourceTypeSecurityGroup,
		Description: "security groups",
		Permissions: []remediation.Permission{{Sid: "SweepListSecurityGroups", Actions: []string{"ec2:DescribeSecurityGroups"}, Resources: []string{"*"}}},
		List: func(ctx context.Context, c Clients, _, region string) ([]string, error) {
			return listSecurityGroups(ctx, c.EC2(), region)
		},
	}
}

func listSecurityGroups(ctx context.Context, c ec2.DescribeSecurityGroupsAPIClient, region string) ([]string, error) {
	var ids []string
	p := ec2.NewDescribeSecurityGroupsPaginator(c, &ec2.DescribeSecurityGroupsInput{MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, ec2Region(region))
		if err != nil {
			return ids, fmt.Errorf("describing EC2 security groups in region %s: %w", region, err)
		}
		for _, g := range out.SecurityGroups {
			ids = append(ids, aws.ToString(g.GroupId))
		}
	}
	return ids, nil
}

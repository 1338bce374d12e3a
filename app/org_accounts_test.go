package app_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

// orgAccounts reaches the accounts of an organisation on the emulator with
// each account's own credentials, straight to moto (not through a proxy),
// for setting up and reading back what the code under test did.
type orgAccounts struct {
	t  *testing.T
	in map[string]aws.Config // each account's configuration, straight to the emulator
}

func (r *orgAccounts) ec2(account, region string) *ec2.Client {
	return ec2.NewFromConfig(r.in[account], func(o *ec2.Options) { o.Region = region })
}

func (r *orgAccounts) s3(account, region string) *s3.Client {
	return s3.NewFromConfig(r.in[account], func(o *s3.Options) { o.UsePathStyle = true; o.Region = region })
}

func (r *orgAccounts) setEBSDefault(account, region string, on bool) {
	r.t.Helper()
	var err error
	if on {
		_, err = r.ec2(account, region).EnableEbsEncryptionByDefault(ctx(r.t), &ec2.EnableEbsEncryptionByDefaultInput{})
	} else {
		_, err = r.ec2(account, region).DisableEbsEncryptionByDefault(ctx(r.t), &ec2.DisableEbsEncryptionByDefaultInput{})
	}
	if err != nil {
		r.t.Fatalf("EBS encryption by default in %s %s: %v", account, region, err)
	}
}

func (r *orgAccounts) ebsDefault(account, region string) bool {
	r.t.Helper()
	out, err := r.ec2(account, region).GetEbsEncryptionByDefault(ctx(r.t), &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		r.t.Fatal(err)
	}
	return aws.ToBool(out.EbsEncryptionByDefault)
}

// launchIMDSv1 starts an instance that accepts IMDSv1 in account and
// region.
func (r *orgAccounts) launchIMDSv1(account, region string) string {
	r.t.Helper()
	// moto launches any image ID; listing its images (over a thousand per
	// region) would cost a second per account and region.
	out, err := r.ec2(account, region).RunInstances(ctx(r.t), &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional}})
	if err != nil {
		r.t.Fatalf("launching an instance in %s %s: %v", account, region, err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

func (r *orgAccounts) httpTokens(account, region, id string) ec2types.HttpTokensState {
	r.t.Helper()
	out, err := r.ec2(account, region).DescribeInstances(ctx(r.t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) == 0 {
		r.t.Fatalf("describing %s in %s %s: %v", id, account, region, err)
	}
	return out.Reservations[0].Instances[0].MetadataOptions.HttpTokens
}

func (r *orgAccounts) bucket(account, region, name string) {
	r.t.Helper()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != emulator.Region {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := r.s3(account, region).CreateBucket(ctx(r.t), in); err != nil {
		r.t.Fatalf("creating bucket %s in %s: %v", name, account, err)
	}
}

func (r *orgAccounts) blocked(account, region, bucket string) bool {
	r.t.Helper()
	out, err := r.s3(account, region).GetPublicAccessBlock(ctx(r.t), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if err != nil {
		return false // NoSuchPublicAccessBlockConfiguration
	}
	c := out.PublicAccessBlockConfiguration
	return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

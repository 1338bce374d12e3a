package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/emulator"
)

// The insecure account's buckets.
const (
	BucketPublic  = "demo-public-assets"    // public-read ACL, no public access block, unencrypted
	BucketUploads = "demo-customer-uploads" // no public access block, unencrypted
	BucketWebsite = "demo-static-website"   // hosts a website: its public access stays (exempt)
	BucketExempt  = "demo-legacy-exports"   // tagged auto-remediation=off
	BucketSecure  = "demo-audit-logs"       // already compliant
	BucketPartner = "demo-partner-exchange" // a partner account's access in its policy, no TLS-only deny
	// BucketFlapping starts compliant; another automation keeps re-opening
	// it (step 6) until the flap limit escalates.
	BucketFlapping = "demo-shared-artifacts"
	// BucketScratch is created public by the developer once the pipeline is
	// deployed (step 5): the CloudTrail fast path fixes it.
	BucketScratch = "demo-scratch-space"
	// BucketRestricted exists only with Options.SimulateFailure: it is
	// unencrypted, and a (simulated) service control policy denies changing
	// its encryption: the failure path.
	BucketRestricted = "demo-restricted-data"
)

// Baseline is the insecure account the demo builds.
type Baseline struct {
	Buckets []string
	// Instances: Web uses IMDSv1 and nothing calls it without a token;
	// Batch uses IMDSv1 and its MetadataNoToken metric shows IMDSv1 calls
	// (deferred); API already requires IMDSv2.
	Web, Batch, API string
	DataVolume      string
	// WebSG is the web servers' security group: SSH and RDP open to the
	// internet (revoked), SSH from 10.0.0.0/8 and HTTPS from anywhere
	// (kept).
	WebSG string
	// Launched are the instances the developer starts with IMDSv1 once the
	// pipeline is deployed (step 5).
	Launched []string
}

// buildBaseline creates the insecure account; simulateFailure adds
// BucketRestricted, whose fix denyRestricted makes fail.
func buildBaseline(ctx context.Context, c *app.Clients, simulateFailure bool, printf func(string, ...any)) (*Baseline, error) {
	b := &Baseline{}
	s3c, ec2c := c.S3(), c.EC2()
	bucket := func(name string, acl s3types.BucketCannedACL, what string) error {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name), ACL: acl}); err != nil {
			return fmt.Errorf("creating bucket %q: %w", name, err)
		}
		b.Buckets = append(b.Buckets, name)
		printf("   bucket   %-22s %s\n", name, what)
		return nil
	}
	if err := bucket(BucketPublic, s3types.BucketCannedACLPublicRead, "public-read ACL, no public access block, no default encryption, no bucket policy"); err != nil {
		return nil, err
	}
	if err := bucket(BucketUploads, "", "no public access block, no default encryption, no bucket policy"); err != nil {
		return nil, err
	}
	if err := bucket(BucketWebsite, s3types.BucketCannedACLPublicRead, "static website hosting, public-read ACL, no default encryption"); err != nil {
		return nil, err
	}
	if _, err := s3c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: aws.String(BucketWebsite), WebsiteConfiguration: &s3types.WebsiteConfiguration{
		IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}}}); err != nil {
		return nil, fmt.Errorf("configuring website hosting on bucket %q: %w", BucketWebsite, err)
	}
	if err := bucket(BucketExempt, "", "tagged auto-remediation=off, no public access block, no default encryption"); err != nil {
		return nil, err
	}
	if _, err := s3c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(BucketExempt), Tagging: &s3types.Tagging{
		TagSet: []s3types.Tag{{Key: aws.String("auto-remediation"), Value: aws.String("off")}}}}); err != nil {
		return nil, fmt.Errorf("tagging bucket %q: %w", BucketExempt, err)
	}
	if err := bucket(BucketSecure, "", "public access blocked, SSE-S3, TLS-only bucket policy (compliant)"); err != nil {
		return nil, err
	}
	if err := secure(ctx, s3c, BucketSecure); err != nil {
		return nil, err
	}
	if err := bucket(BucketFlapping, "", "public access blocked, SSE-S3, TLS-only bucket policy (compliant; another automation will fight over it)"); err != nil {
		return nil, err
	}
	if err := secure(ctx, s3c, BucketFlapping); err != nil {
		return nil, err
	}
	if err := partnerBucket(ctx, s3c, bucket); err != nil {
		return nil, err
	}
	if simulateFailure {
		if err := bucket(BucketRestricted, "", "public access blocked, no default encryption, and an SCP denies s3:PutEncryptionConfiguration (simulated: --simulate-failure)"); err != nil {
			return nil, err
		}
		if _, err := s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(BucketRestricted), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
			return nil, fmt.Errorf("blocking public access on bucket %q: %w", BucketRestricted, err)
		}
	}

	zones := map[string]string{} // instance ID -> availability zone
	instance := func(name string, tokens ec2types.HttpTokensState, what string) (string, error) {
		out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			InstanceType: ec2types.InstanceTypeT3Micro,
			// Launched with an encrypted root volume, as an account with
			// encryption by default would: the unencrypted data volume is
			// the one left to migrate.
			BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sda1"),
				Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), VolumeSize: aws.Int32(8)}}},
			MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: tokens, HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled,
				HttpPutResponseHopLimit: aws.Int32(2)},
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(name)}}}}})
		if err != nil {
			return "", fmt.Errorf("running instance %s: %w", name, err)
		}
		id := aws.ToString(out.Instances[0].InstanceId)
		if out.Instances[0].Placement != nil {
			zones[id] = aws.ToString(out.Instances[0].Placement.AvailabilityZone)
		}
		printf("   instance %-22s %s (%s)\n", id, what, name)
		return id, nil
	}
	var err error
	if b.Web, err = instance("web", ec2types.HttpTokensStateOptional, "IMDSv1 allowed"); err != nil {
		return nil, err
	}
	if b.Batch, err = instance("batch", ec2types.HttpTokensStateOptional, "IMDSv1 allowed, and its MetadataNoToken metric shows IMDSv1 calls"); err != nil {
		return nil, err
	}
	// What EC2 would report for an instance whose software still calls
	// IMDSv1: enforcing IMDSv2 would break it, so it must be deferred.
	if _, err := c.CloudWatch().PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/EC2"), MetricData: []cwtypes.MetricDatum{{
		MetricName: aws.String("MetadataNoToken"), Value: aws.Float64(42), Unit: cwtypes.StandardUnitCount, Timestamp: aws.Time(time.Now().Add(-time.Hour)),
		Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(b.Batch)}}}}}); err != nil {
		return nil, fmt.Errorf("recording MetadataNoToken for instance %s: %w", b.Batch, err)
	}
	if b.API, err = instance("api", ec2types.HttpTokensStateRequired, "IMDSv2 required (compliant)"); err != nil {
		return nil, err
	}
	// Attached: AWS Config's encrypted-volumes rule evaluates attached
	// volumes only, and so does the sweep.
	zone := zones[b.API]
	if zone == "" {
		zone = emulator.Region + "a"
	}
	vol, err := ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(20), VolumeType: ec2types.VolumeTypeGp3})
	if err != nil {
		return nil, fmt.Errorf("creating volume: %w", err)
	}
	b.DataVolume = aws.ToString(vol.VolumeId)
	if _, err := ec2c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: vol.VolumeId, InstanceId: aws.String(b.API), Device: aws.String("/dev/sdf")}); err != nil {
		return nil, fmt.Errorf("attaching volume %s to instance %s: %w", b.DataVolume, b.API, err)
	}
	printf("   volume   %-22s unencrypted gp3 data volume attached to the api instance (the root volumes are encrypted)\n", b.DataVolume)
	if _, err := ec2c.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
		return nil, fmt.Errorf("turning EBS encryption by default off: %w", err)
	}
	printf("   account  %-22s EBS encryption by default off in %s\n", emulator.Account, emulator.Region)
	if b.WebSG, err = webSecurityGroup(ctx, ec2c, printf); err != nil {
		return nil, err
	}
	return b, nil
}

// secure makes a bucket compliant: public access blocked, SSE-S3 and the
// TLS-only policy.
func secure(ctx context.Context, s3c *s3.Client, name string) error {
	if _, err := s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(name), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
		return fmt.Errorf("blocking public access on bucket %q: %w", name, err)
	}
	if _, err := s3c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(name), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
		Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}}}); err != nil {
		return fmt.Errorf("encrypting bucket %q: %w", name, err)
	}
	return putPolicy(ctx, s3c, name, tlsOnlyPolicy(name))
}

// SGWebServers names the demo's security group.
const SGWebServers = "demo-web-servers"

// webSecurityGroup creates the web servers' security group in the default
// VPC: SSH and RDP open to the internet (restricted-ssh and
// restricted-common-ports), beside rules that must survive the fix: SSH
// from the corporate network and HTTPS from anywhere.
func webSecurityGroup(ctx context.Context, ec2c *ec2.Client, printf func(string, ...any)) (string, error) {
	out, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(SGWebServers), Description: aws.String("web servers")})
	if err != nil {
		return "", fmt.Errorf("creating security group %s: %w", SGWebServers, err)
	}
	id := aws.ToString(out.GroupId)
	rule := func(port int32, cidr, desc string) ec2types.IpPermission {
		return ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String(cidr), Description: aws.String(desc)}}}
	}
	if _, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: []ec2types.IpPermission{
		rule(22, "0.0.0.0/0", "ssh from anywhere"), rule(3389, "0.0.0.0/0", "rdp from anywhere"),
		rule(22, "10.0.0.0/8", "ssh from the corporate network"), rule(443, "0.0.0.0/0", "https"),
	}}); err != nil {
		return "", fmt.Errorf("authorizing ingress on security group %s: %w", id, err)
	}
	printf("   sg       %-22s SSH (22) and RDP (3389) open to 0.0.0.0/0; SSH from 10.0.0.0/8 and HTTPS from anywhere (%s)\n", id, SGWebServers)
	return id, nil
}

// partnerBucket creates BucketPartner: public access blocked and SSE-S3,
// with a bucket policy that lets a partner account exchange files but does
// not deny requests without TLS (s3-bucket-ssl-requests-only). The fix adds
// the deny and keeps the partner's statement.
func partnerBucket(ctx context.Context, s3c *s3.Client, bucket func(name string, acl s3types.BucketCannedACL, what string) error) error {
	if err := bucket(BucketPartner, "", "public access blocked, SSE-S3, bucket policy granting a partner account access, without the TLS-only deny"); err != nil {
		return err
	}
	if _, err := s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(BucketPartner), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
		return fmt.Errorf("blocking public access on bucket %q: %w", BucketPartner, err)
	}
	if _, err := s3c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(BucketPartner), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
		Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}}}); err != nil {
		return fmt.Errorf("encrypting bucket %q: %w", BucketPartner, err)
	}
	return putPolicy(ctx, s3c, BucketPartner, PartnerPolicy)
}

// PartnerPolicy is BucketPartner's policy before the demo fixes it.
const PartnerPolicy = `{"Version":"2012-10-17","Id":"PartnerExchange","Statement":[{"Sid":"PartnerExchange","Effect":"Allow",` +
	`"Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],` +
	`"Resource":["arn:aws:s3:::` + BucketPartner + `","arn:aws:s3:::` + BucketPartner + `/*"]}]}`

// tlsOnlyPolicy is AWS's example policy for s3-bucket-ssl-requests-only.
func tlsOnlyPolicy(bucket string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"AllowSSLRequestsOnly","Effect":"Deny","Principal":"*","Action":"s3:*",` +
		`"Resource":["arn:aws:s3:::` + bucket + `","arn:aws:s3:::` + bucket + `/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
}

func putPolicy(ctx context.Context, s3c *s3.Client, bucket, doc string) error {
	if _, err := s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
		return fmt.Errorf("putting bucket policy on bucket %q: %w", bucket, err)
	}
	return nil
}

// denyRestricted stands in for a service control policy the emulator does
// not have: PutBucketEncryption on BucketRestricted fails with AccessDenied,
// as it would in an account where an SCP denies it. It is installed only
// with Options.SimulateFailure.
func denyRestricted(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("demoServiceControlPolicy",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if p, ok := in.Parameters.(*s3.PutBucketEncryptionInput); ok && aws.ToString(p.Bucket) == BucketRestricted {
				return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "AccessDenied",
					Message: "User: arn:aws:sts::" + emulator.Account + ":assumed-role/autoremediate-remediate/autoremediate-remediate is not authorized to perform: s3:PutEncryptionConfiguration on resource: \"arn:aws:s3:::" + BucketRestricted + "\" with an explicit deny in a service control policy (simulated by the demo)"}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

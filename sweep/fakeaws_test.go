package sweep_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// fakeAWS answers the SDK clients' calls in the process, with no emulator
// and no HTTP: a finalize middleware placed after the retries and the
// sweep's rate limiter returns the operation's output (or AWS's error)
// from the state below, after latency. Everything above it, the clients,
// the remediators, the rate limiter, runs for real, so that a benchmark
// measures the sweep rather than an emulator. It knows the calls the
// listings and remediators make, checks their parameters, and records the
// instance calls.
type fakeAWS struct {
	t       testing.TB
	region  string
	account string
	latency time.Duration

	mu         sync.Mutex
	buckets    map[string]*fakeBucket
	instances  map[string]*ec2types.Instance
	order      []string // instance IDs in creation order
	volumes    []ec2types.Volume
	ebsDefault bool
	group      ec2types.SecurityGroup

	// noToken is the instances' MetadataNoToken sums (IMDSv1 calls);
	// dropped are the instances whose metadata writes are answered but
	// never applied.
	noToken map[string]float64
	dropped map[string]bool

	calls     map[string]int // by "Service.Operation"
	describes []ec2.DescribeInstancesInput
	modifies  []ec2.ModifyInstanceMetadataOptionsInput
}

type fakeBucket struct {
	pab    *s3types.PublicAccessBlockConfiguration
	sse    *s3types.ServerSideEncryptionConfiguration
	policy *string
	tags   []s3types.Tag
}

func newFakeAWS(t testing.TB) *fakeAWS {
	return &fakeAWS{t: t, region: "us-east-1", account: "123456789012",
		buckets: map[string]*fakeBucket{}, instances: map[string]*ec2types.Instance{}, calls: map[string]int{},
		noToken: map[string]float64{}, dropped: map[string]bool{},
		group: ec2types.SecurityGroup{GroupId: aws.String("sg-0a1b2c3d4e5f60718"), GroupName: aws.String("default"), VpcId: aws.String("vpc-0a1b2c3d")}}
}

// addBuckets adds n buckets with no configuration at all.
func (f *fakeAWS) addBuckets(n int) {
	for i := range n {
		f.buckets[fmt.Sprintf("bench-bucket-%04d", i)] = &fakeBucket{}
	}
}

// addInstance adds a running instance, with its unencrypted root volume.
func (f *fakeAWS) addInstance(tokens ec2types.HttpTokensState, endpoint ec2types.InstanceMetadataEndpointState, hops int32, tags ...ec2types.Tag) string {
	n := len(f.order)
	id := fmt.Sprintf("i-%017x", 0xa000+n)
	mo := &ec2types.InstanceMetadataOptionsResponse{HttpTokens: tokens, HttpEndpoint: endpoint, State: ec2types.InstanceMetadataOptionsStateApplied}
	if hops > 0 {
		mo.HttpPutResponseHopLimit = aws.Int32(hops)
	}
	f.instances[id] = &ec2types.Instance{InstanceId: aws.String(id), State: &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning},
		MetadataOptions: mo, Tags: tags}
	f.order = append(f.order, id)
	vol := fmt.Sprintf("vol-%017x", 0xb000+n)
	f.volumes = append(f.volumes, ec2types.Volume{VolumeId: aws.String(vol), Encrypted: aws.Bool(false), State: ec2types.VolumeStateInUse,
		AvailabilityZone: aws.String("us-east-1a"), VolumeType: ec2types.VolumeTypeGp3, Iops: aws.Int32(3000), Throughput: aws.Int32(125),
		Attachments: []ec2types.VolumeAttachment{{InstanceId: aws.String(id), Device: aws.String("/dev/xvda"), State: ec2types.VolumeAttachmentStateAttached}}})
	return id
}

// config returns an SDK configuration whose calls the fake answers; the
// options (a rate limiter) come before the fake in the finalize step.
func (f *fakeAWS) config(opts ...func(*aws.Config)) aws.Config {
	cfg := aws.Config{Region: f.region, Credentials: aws.AnonymousCredentials{}}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fakeAWSParams",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return next.HandleInitialize(middleware.WithStackValue(ctx, fakeParamsKey{}, in.Parameters), in)
			}), middleware.Before); err != nil {
			return err
		}
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("fakeAWS",
			func(ctx context.Context, _ middleware.FinalizeInput, _ middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if f.latency > 0 {
					select {
					case <-time.After(f.latency):
					case <-ctx.Done():
						return middleware.FinalizeOutput{}, middleware.Metadata{}, ctx.Err()
					}
				}
				out, err := f.serve(awsmiddleware.GetServiceID(ctx)+"."+awsmiddleware.GetOperationName(ctx), middleware.GetStackValue(ctx, fakeParamsKey{}))
				return middleware.FinalizeOutput{Result: out}, middleware.Metadata{}, err
			}), middleware.After)
	})
	return cfg
}

type fakeParamsKey struct{}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (fake)", Fault: smithy.FaultClient}
}

func (f *fakeAWS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeAWS) serve(op string, params any) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	switch in := params.(type) {
	case *sts.GetCallerIdentityInput:
		return &sts.GetCallerIdentityOutput{Account: aws.String(f.account)}, nil
	case *cloudwatch.GetMetricDataInput:
		out := &cloudwatch.GetMetricDataOutput{}
		for _, q := range in.MetricDataQueries {
			ms := q.MetricStat
			if ms == nil || aws.ToString(ms.Metric.MetricName) != "MetadataNoToken" || len(ms.Metric.Dimensions) != 1 ||
				aws.ToString(ms.Metric.Dimensions[0].Name) != "InstanceId" {
				f.t.Errorf("GetMetricData: unexpected query %+v", q)
				continue
			}
			if n := f.noToken[aws.ToString(ms.Metric.Dimensions[0].Value)]; n > 0 {
				out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{Id: q.Id, Values: []float64{n}})
			}
		}
		return out, nil
	}
	if out, err, ok := f.serveS3(params); ok {
		return out, err
	}
	if out, err, ok := f.serveEC2(params); ok {
		return out, err
	}
	f.t.Errorf("fake AWS: %s (%T) is not faked", op, params)
	return nil, apiError("NotImplemented")
}

func (f *fakeAWS) bucket(name *string) (*fakeBucket, error) {
	b, ok := f.buckets[aws.ToString(name)]
	if !ok {
		return nil, apiError("NoSuchBucket")
	}
	return b, nil
}

func (f *fakeAWS) serveS3(params any) (out any, err error, ok bool) {
	switch in := params.(type) {
	case *s3.ListBucketsInput:
		if aws.ToString(in.BucketRegion) != f.region {
			f.t.Errorf("ListBuckets: BucketRegion %q, want %q", aws.ToString(in.BucketRegion), f.region)
		}
		o := &s3.ListBucketsOutput{}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for n := range f.buckets {
				if !yield(n) {
					return
				}
			}
		}) {
			o.Buckets = append(o.Buckets, s3types.Bucket{Name: aws.String(name), BucketRegion: aws.String(f.region)})
		}
		return o, nil, true
	case *s3.GetBucketTaggingInput:
		b, err := f.bucket(in.Bucket)
		if err != nil || len(b.tags) == 0 {
			return nil, firstErr(err, apiError("NoSuchTagSet")), true
		}
		return &s3.GetBucketTaggingOutput{TagSet: b.tags}, nil, true
	case *s3.GetBucketWebsiteInput:
		if _, err := f.bucket(in.Bucket); err != nil {
			return nil, err, true
		}
		return nil, apiError("NoSuchWebsiteConfiguration"), true
	case *s3.GetPublicAccessBlockInput:
		b, err := f.bucket(in.Bucket)
		if err != nil || b.pab == nil {
			return nil, firstErr(err, apiError("NoSuchPublicAccessBlockConfiguration")), true
		}
		c := *b.pab
		return &s3.GetPublicAccessBlockOutput{PublicAccessBlockConfiguration: &c}, nil, true
	case *s3.PutPublicAccessBlockInput:
		b, err := f.bucket(in.Bucket)
		if err != nil {
			return nil, err, true
		}
		c := *in.PublicAccessBlockConfiguration
		b.pab = &c
		return &s3.PutPublicAccessBlockOutput{}, nil, true
	case *s3.GetBucketEncryptionInput:
		b, err := f.bucket(in.Bucket)
		if err != nil || b.sse == nil {
			return nil, firstErr(err, apiError("ServerSideEncryptionConfigurationNotFoundError")), true
		}
		return &s3.GetBucketEncryptionOutput{ServerSideEncryptionConfiguration: b.sse}, nil, true
	case *s3.PutBucketEncryptionInput:
		b, err := f.bucket(in.Bucket)
		if err != nil {
			return nil, err, true
		}
		b.sse = in.ServerSideEncryptionConfiguration
		return &s3.PutBucketEncryptionOutput{}, nil, true
	case *s3.GetBucketPolicyInput:
		b, err := f.bucket(in.Bucket)
		if err != nil || b.policy == nil {
			return nil, firstErr(err, apiError("NoSuchBucketPolicy")), true
		}
		return &s3.GetBucketPolicyOutput{Policy: b.policy}, nil, true
	case *s3.PutBucketPolicyInput:
		b, err := f.bucket(in.Bucket)
		if err != nil {
			return nil, err, true
		}
		b.policy = in.Policy
		return &s3.PutBucketPolicyOutput{}, nil, true
	}
	return nil, nil, false
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// instanceCopy is what a Describe call returns: a snapshot, which the
// fake's later changes do not reach.
func instanceCopy(i *ec2types.Instance) ec2types.Instance {
	c := *i
	st, mo := *i.State, *i.MetadataOptions
	c.State, c.MetadataOptions, c.Tags = &st, &mo, slices.Clone(i.Tags)
	return c
}

func (f *fakeAWS) serveEC2(params any) (out any, err error, ok bool) {
	switch in := params.(type) {
	case *ec2.DescribeInstancesInput:
		f.describes = append(f.describes, *in)
		out, err := f.describeInstances(in)
		return out, err, true
	case *ec2.ModifyInstanceMetadataOptionsInput:
		f.modifies = append(f.modifies, *in)
		inst, ok := f.instances[aws.ToString(in.InstanceId)]
		if !ok {
			return nil, apiError("InvalidInstanceID.NotFound"), true
		}
		if in.HttpTokens != ec2types.HttpTokensStateRequired || in.HttpProtocolIpv6 != "" || in.InstanceMetadataTags != "" {
			f.t.Errorf("ModifyInstanceMetadataOptions: %+v changes more than HttpTokens to required", *in)
		}
		if f.dropped[aws.ToString(in.InstanceId)] {
			return &ec2.ModifyInstanceMetadataOptionsOutput{InstanceId: in.InstanceId}, nil, true
		}
		mo := *inst.MetadataOptions
		mo.HttpTokens = in.HttpTokens
		if in.HttpEndpoint != "" {
			mo.HttpEndpoint = in.HttpEndpoint
		}
		if in.HttpPutResponseHopLimit != nil {
			mo.HttpPutResponseHopLimit = in.HttpPutResponseHopLimit
		}
		inst.MetadataOptions = &mo
		return &ec2.ModifyInstanceMetadataOptionsOutput{InstanceId: in.InstanceId}, nil, true
	case *ec2.DescribeVolumesInput:
		o := &ec2.DescribeVolumesOutput{}
		switch {
		case len(in.VolumeIds) == 1 && len(in.Filters) == 0:
			for _, v := range f.volumes {
				if aws.ToString(v.VolumeId) == in.VolumeIds[0] {
					o.Volumes = append(o.Volumes, v)
				}
			}
			if len(o.Volumes) == 0 {
				return nil, apiError("InvalidVolume.NotFound"), true
			}
		case len(in.VolumeIds) == 0 && len(in.Filters) == 2:
			o.Volumes = slices.Clone(f.volumes) // all unencrypted and attached
		default:
			f.t.Errorf("DescribeVolumes: unexpected request %+v", *in)
		}
		return o, nil, true
	case *ec2.GetEbsEncryptionByDefaultInput:
		return &ec2.GetEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(f.ebsDefault)}, nil, true
	case *ec2.EnableEbsEncryptionByDefaultInput:
		f.ebsDefault = true
		return &ec2.EnableEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(true)}, nil, true
	case *ec2.DescribeSecurityGroupsInput:
		if len(in.GroupIds) > 0 && !slices.Equal(in.GroupIds, []string{aws.ToString(f.group.GroupId)}) {
			return nil, apiError("InvalidGroup.NotFound"), true
		}
		return &ec2.DescribeSecurityGroupsOutput{SecurityGroups: []ec2types.SecurityGroup{f.group}}, nil, true
	case *ec2.DescribeSecurityGroupRulesInput:
		// The default group admits only its own members: nothing open to
		// the internet.
		return &ec2.DescribeSecurityGroupRulesOutput{}, nil, true
	}
	return nil, nil, false
}

// describeInstances answers the three kinds of DescribeInstances the code
// makes: the listing (filtered on the state), one instance by ID (the event
// path), and many by an instance-id filter (the sweep's batched reads).
func (f *fakeAWS) describeInstances(in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
	var match func(*ec2types.Instance) bool
	switch {
	case len(in.InstanceIds) > 0 && len(in.Filters) == 0:
		for _, id := range in.InstanceIds {
			// EC2 fails the whole call when one of the IDs does not exist.
			if _, ok := f.instances[id]; !ok {
				return nil, apiError("InvalidInstanceID.NotFound")
			}
		}
		match = func(i *ec2types.Instance) bool { return slices.Contains(in.InstanceIds, aws.ToString(i.InstanceId)) }
	case len(in.InstanceIds) == 0 && len(in.Filters) == 1 && aws.ToString(in.Filters[0].Name) == "instance-state-name":
		states := in.Filters[0].Values
		match = func(i *ec2types.Instance) bool { return slices.Contains(states, string(i.State.Name)) }
	case len(in.InstanceIds) == 0 && len(in.Filters) == 1 && aws.ToString(in.Filters[0].Name) == "instance-id":
		ids := in.Filters[0].Values
		if len(ids) == 0 || len(ids) > 200 {
			f.t.Errorf("DescribeInstances: %d instance-id filter values", len(ids))
		}
		match = func(i *ec2types.Instance) bool { return slices.Contains(ids, aws.ToString(i.InstanceId)) }
	default:
		f.t.Errorf("DescribeInstances: unexpected request %+v", *in)
		return nil, apiError("InvalidParameterCombination")
	}
	res := ec2types.Reservation{}
	for _, id := range f.order {
		if i := f.instances[id]; match(i) {
			res.Instances = append(res.Instances, instanceCopy(i))
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{res}}, nil
}

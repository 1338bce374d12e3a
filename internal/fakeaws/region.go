// Package fakeaws answers the AWS SDK clients' calls in the process, with
// no emulator and no HTTP, for benchmarks and tests that must measure the
// code rather than an emulator: a middleware placed after the retries, the
// signing and any rate limiter returns the operation's output (or AWS's
// error) from in-memory state, after a set latency. Everything above it,
// the clients, the remediators, the sweep's rate limiter, runs for real.
//
// A Region is one account-region's resources; on its own (New, Config) it
// answers every call. An Org serves many accounts and regions: it answers
// STS AssumeRole and GetCallerIdentity, and routes every other call to the
// Region of the account that the signing access key belongs to and the
// region of the SigV4 credential scope, as AWS does.
//
// The fake knows the calls the listings and remediators make, checks their
// parameters (a call it does not know, or a parameter it does not expect,
// is the test's error) and records the instance calls.
package fakeaws

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
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

// TB is the part of testing.TB the fake reports unexpected calls with.
type TB interface {
	Errorf(format string, args ...any)
}

// DefaultAccount and DefaultRegion are New's account and region.
const (
	DefaultAccount = "123456789012"
	DefaultRegion  = "us-east-1"
)

// Region is one account-region's resources and the calls it answered. Its
// exported fields may be read and changed by the test between calls, not
// during them.
type Region struct {
	Account string
	Region  string
	// Latency is how long each call takes when the Region answers on its
	// own (Config); an Org's calls take the Org's.
	Latency time.Duration

	Buckets    map[string]*Bucket
	Instances  map[string]*ec2types.Instance
	Order      []string // instance IDs in creation order
	Volumes    []ec2types.Volume
	EBSDefault bool
	Group      ec2types.SecurityGroup

	// NoToken is the instances' MetadataNoToken sums (IMDSv1 calls);
	// Dropped are the instances whose metadata writes are answered but
	// never applied.
	NoToken map[string]float64
	Dropped map[string]bool

	Describes []ec2.DescribeInstancesInput
	Modifies  []ec2.ModifyInstanceMetadataOptionsInput

	t          TB
	bucketName string // AddBuckets' name pattern
	idBase     int    // AddInstance's first instance and volume number

	mu      sync.Mutex
	calls   map[string]int // by "Service.Operation"
	signers map[string]int // by access key (Org only)
}

// Bucket is a bucket's configuration.
type Bucket struct {
	PublicAccessBlock *s3types.PublicAccessBlockConfiguration
	Encryption        *s3types.ServerSideEncryptionConfiguration
	Policy            *string
	Tags              []s3types.Tag
}

// New returns an empty account-region (DefaultAccount, DefaultRegion)
// with its default security group, answering on its own (Config).
func New(t TB) *Region {
	return newRegion(t, DefaultAccount, DefaultRegion, "bench-bucket-%04d", 0)
}

func newRegion(t TB, account, region, bucketName string, idBase int) *Region {
	return &Region{t: t, Account: account, Region: region, bucketName: bucketName, idBase: idBase,
		Buckets: map[string]*Bucket{}, Instances: map[string]*ec2types.Instance{}, calls: map[string]int{}, signers: map[string]int{},
		NoToken: map[string]float64{}, Dropped: map[string]bool{},
		Group: ec2types.SecurityGroup{GroupId: aws.String(fmt.Sprintf("sg-%017x", uint64(0xa1b2c3d4e5f60718)+uint64(idBase))), GroupName: aws.String("default"),
			VpcId: aws.String(fmt.Sprintf("vpc-%08x", 0x0a1b2c3d+idBase))}}
}

// AddBuckets adds n buckets with no configuration at all.
func (r *Region) AddBuckets(n int) {
	for i := range n {
		r.Buckets[fmt.Sprintf(r.bucketName, i)] = &Bucket{}
	}
}

// AddInstance adds a running instance, with its unencrypted root volume,
// and returns its ID. An Org's regions number their instances apart, so
// that an ID sent to the wrong account or region is not found there.
func (r *Region) AddInstance(tokens ec2types.HttpTokensState, endpoint ec2types.InstanceMetadataEndpointState, hops int32, tags ...ec2types.Tag) string {
	n := r.idBase + len(r.Order)
	id := fmt.Sprintf("i-%017x", 0xa000+n)
	mo := &ec2types.InstanceMetadataOptionsResponse{HttpTokens: tokens, HttpEndpoint: endpoint, State: ec2types.InstanceMetadataOptionsStateApplied}
	if hops > 0 {
		mo.HttpPutResponseHopLimit = aws.Int32(hops)
	}
	r.Instances[id] = &ec2types.Instance{InstanceId: aws.String(id), State: &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning},
		MetadataOptions: mo, Tags: tags}
	r.Order = append(r.Order, id)
	vol := fmt.Sprintf("vol-%017x", 0xb000+n)
	r.Volumes = append(r.Volumes, ec2types.Volume{VolumeId: aws.String(vol), Encrypted: aws.Bool(false), State: ec2types.VolumeStateInUse,
		AvailabilityZone: aws.String(r.Region + "a"), VolumeType: ec2types.VolumeTypeGp3, Iops: aws.Int32(3000), Throughput: aws.Int32(125),
		Attachments: []ec2types.VolumeAttachment{{InstanceId: aws.String(id), Device: aws.String("/dev/xvda"), State: ec2types.VolumeAttachmentStateAttached}}})
	return id
}

// Config returns an SDK configuration, without credentials, whose calls
// this Region answers; opts (a rate limiter) change it first.
func (r *Region) Config(opts ...func(*aws.Config)) aws.Config {
	cfg := aws.Config{Region: r.Region, Credentials: aws.AnonymousCredentials{}}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.APIOptions = append(cfg.APIOptions, answer(func(ctx context.Context, op string, params any, _ any) (any, error) {
		if err := sleep(ctx, r.Latency); err != nil {
			return nil, err
		}
		return r.serve(op, params, "")
	}))
	return cfg
}

// Count returns how many op ("Service.Operation") calls the Region
// answered.
func (r *Region) Count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[op]
}

// Calls returns how many calls the Region answered, by
// "Service.Operation".
func (r *Region) Calls() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.calls)
}

// Signers returns how many calls each access key signed (an Org's
// Regions; a Region on its own takes unsigned calls).
func (r *Region) Signers() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.signers)
}

type paramsKey struct{}

// answer is the API option that puts the fake in a client's stack: it
// keeps the operation's input in the initialize step and answers in place
// of the deserialize step, that is after every finalize middleware (the
// retries, the signing, a rate limiter added before or after it), with
// serve's output. serve gets the finalized request (*smithyhttp.Request).
func answer(serve func(ctx context.Context, op string, params, request any) (any, error)) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fakeAWSParams",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return next.HandleInitialize(middleware.WithStackValue(ctx, paramsKey{}, in.Parameters), in)
			}), middleware.Before); err != nil {
			return err
		}
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("fakeAWS",
			func(ctx context.Context, in middleware.DeserializeInput, _ middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				out, err := serve(ctx, op, middleware.GetStackValue(ctx, paramsKey{}), in.Request)
				return middleware.DeserializeOutput{Result: out}, middleware.Metadata{}, err
			}), middleware.Before)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (fake)", Fault: smithy.FaultClient}
}

// serve answers op with the Region's state; signer is the access key that
// signed it ("" unsigned).
func (r *Region) serve(op string, params any, signer string) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[op]++
	if signer != "" {
		r.signers[signer]++
	}
	switch in := params.(type) {
	case *sts.GetCallerIdentityInput:
		return &sts.GetCallerIdentityOutput{Account: aws.String(r.Account)}, nil
	case *cloudwatch.GetMetricDataInput:
		out := &cloudwatch.GetMetricDataOutput{}
		for _, q := range in.MetricDataQueries {
			ms := q.MetricStat
			if ms == nil || aws.ToString(ms.Metric.MetricName) != "MetadataNoToken" || len(ms.Metric.Dimensions) != 1 ||
				aws.ToString(ms.Metric.Dimensions[0].Name) != "InstanceId" {
				r.t.Errorf("GetMetricData: unexpected query %+v", q)
				continue
			}
			if n := r.NoToken[aws.ToString(ms.Metric.Dimensions[0].Value)]; n > 0 {
				out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{Id: q.Id, Values: []float64{n}})
			}
		}
		return out, nil
	}
	if out, err, ok := r.serveS3(params); ok {
		return out, err
	}
	if out, err, ok := r.serveEC2(params); ok {
		return out, err
	}
	r.t.Errorf("fake AWS: %s (%T) is not faked", op, params)
	return nil, apiError("NotImplemented")
}

func (r *Region) bucket(name *string) (*Bucket, error) {
	b, ok := r.Buckets[aws.ToString(name)]
	if !ok {
		return nil, apiError("NoSuchBucket")
	}
	return b, nil
}

func (r *Region) serveS3(params any) (out any, err error, ok bool) {
	switch in := params.(type) {
	case *s3.ListBucketsInput:
		if aws.ToString(in.BucketRegion) != r.Region {
			r.t.Errorf("ListBuckets: BucketRegion %q, want %q", aws.ToString(in.BucketRegion), r.Region)
		}
		o := &s3.ListBucketsOutput{}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for n := range r.Buckets {
				if !yield(n) {
					return
				}
			}
		}) {
			o.Buckets = append(o.Buckets, s3types.Bucket{Name: aws.String(name), BucketRegion: aws.String(r.Region)})
		}
		return o, nil, true
	case *s3.GetBucketTaggingInput:
		b, err := r.bucket(in.Bucket)
		if err != nil || len(b.Tags) == 0 {
			return nil, firstErr(err, apiError("NoSuchTagSet")), true
		}
		return &s3.GetBucketTaggingOutput{TagSet: b.Tags}, nil, true
	case *s3.GetBucketWebsiteInput:
		if _, err := r.bucket(in.Bucket); err != nil {
			return nil, err, true
		}
		return nil, apiError("NoSuchWebsiteConfiguration"), true
	case *s3.GetPublicAccessBlockInput:
		b, err := r.bucket(in.Bucket)
		if err != nil || b.PublicAccessBlock == nil {
			return nil, firstErr(err, apiError("NoSuchPublicAccessBlockConfiguration")), true
		}
		c := *b.PublicAccessBlock
		return &s3.GetPublicAccessBlockOutput{PublicAccessBlockConfiguration: &c}, nil, true
	case *s3.PutPublicAccessBlockInput:
		b, err := r.bucket(in.Bucket)
		if err != nil {
			return nil, err, true
		}
		c := *in.PublicAccessBlockConfiguration
		b.PublicAccessBlock = &c
		return &s3.PutPublicAccessBlockOutput{}, nil, true
	case *s3.GetBucketEncryptionInput:
		b, err := r.bucket(in.Bucket)
		if err != nil || b.Encryption == nil {
			return nil, firstErr(err, apiError("ServerSideEncryptionConfigurationNotFoundError")), true
		}
		return &s3.GetBucketEncryptionOutput{ServerSideEncryptionConfiguration: b.Encryption}, nil, true
	case *s3.PutBucketEncryptionInput:
		b, err := r.bucket(in.Bucket)
		if err != nil {
			return nil, err, true
		}
		b.Encryption = in.ServerSideEncryptionConfiguration
		return &s3.PutBucketEncryptionOutput{}, nil, true
	case *s3.GetBucketPolicyInput:
		b, err := r.bucket(in.Bucket)
		if err != nil || b.Policy == nil {
			return nil, firstErr(err, apiError("NoSuchBucketPolicy")), true
		}
		return &s3.GetBucketPolicyOutput{Policy: b.Policy}, nil, true
	case *s3.PutBucketPolicyInput:
		b, err := r.bucket(in.Bucket)
		if err != nil {
			return nil, err, true
		}
		b.Policy = in.Policy
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

func (r *Region) serveEC2(params any) (out any, err error, ok bool) {
	switch in := params.(type) {
	case *ec2.DescribeInstancesInput:
		r.Describes = append(r.Describes, *in)
		out, err := r.describeInstances(in)
		return out, err, true
	case *ec2.ModifyInstanceMetadataOptionsInput:
		r.Modifies = append(r.Modifies, *in)
		inst, ok := r.Instances[aws.ToString(in.InstanceId)]
		if !ok {
			return nil, apiError("InvalidInstanceID.NotFound"), true
		}
		if in.HttpTokens != ec2types.HttpTokensStateRequired || in.HttpProtocolIpv6 != "" || in.InstanceMetadataTags != "" {
			r.t.Errorf("ModifyInstanceMetadataOptions: %+v changes more than HttpTokens to required", *in)
		}
		if r.Dropped[aws.ToString(in.InstanceId)] {
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
			for _, v := range r.Volumes {
				if aws.ToString(v.VolumeId) == in.VolumeIds[0] {
					o.Volumes = append(o.Volumes, v)
				}
			}
			if len(o.Volumes) == 0 {
				return nil, apiError("InvalidVolume.NotFound"), true
			}
		case len(in.VolumeIds) == 0 && len(in.Filters) == 2:
			o.Volumes = slices.Clone(r.Volumes) // all unencrypted and attached
		default:
			r.t.Errorf("DescribeVolumes: unexpected request %+v", *in)
		}
		return o, nil, true
	case *ec2.GetEbsEncryptionByDefaultInput:
		return &ec2.GetEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(r.EBSDefault)}, nil, true
	case *ec2.EnableEbsEncryptionByDefaultInput:
		r.EBSDefault = true
		return &ec2.EnableEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(true)}, nil, true
	case *ec2.DescribeSecurityGroupsInput:
		if len(in.GroupIds) > 0 && !slices.Equal(in.GroupIds, []string{aws.ToString(r.Group.GroupId)}) {
			return nil, apiError("InvalidGroup.NotFound"), true
		}
		return &ec2.DescribeSecurityGroupsOutput{SecurityGroups: []ec2types.SecurityGroup{r.Group}}, nil, true
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
func (r *Region) describeInstances(in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
	var match func(*ec2types.Instance) bool
	switch {
	case len(in.InstanceIds) > 0 && len(in.Filters) == 0:
		for _, id := range in.InstanceIds {
			// EC2 fails the whole call when one of the IDs does not exist.
			if _, ok := r.Instances[id]; !ok {
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
			r.t.Errorf("DescribeInstances: %d instance-id filter values", len(ids))
		}
		match = func(i *ec2types.Instance) bool { return slices.Contains(ids, aws.ToString(i.InstanceId)) }
	default:
		r.t.Errorf("DescribeInstances: unexpected request %+v", *in)
		return nil, apiError("InvalidParameterCombination")
	}
	res := ec2types.Reservation{}
	for _, id := range r.Order {
		if i := r.Instances[id]; match(i) {
			res.Instances = append(res.Instances, instanceCopy(i))
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{res}}, nil
}

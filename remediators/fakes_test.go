package remediators

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
)

// apiErr is how the SDK reports a service error.
func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (fake)"}
}

// Shared request values.
const (
	testBucket   = "example-public-bucket"
	testRegion   = "eu-west-1"
	testAccount  = "123456789012"
	testInstance = "i-0abcd1234ef567890"
	testVolume   = "vol-0123456789abcdef0"
	testKMSKey   = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// fixedNow is the remediators' clock in tests.
var fixedNow = time.Date(2026, 11, 20, 9, 14, 30, 0, time.UTC)

// testOptions are the defaults with no waiting and a fixed clock.
func testOptions() Options {
	o := DefaultOptions()
	o.VerifyInterval = 0
	o.Now = func() time.Time { return fixedNow }
	return o
}

// calls records the API calls a fake received, in order.
type calls struct {
	mu  sync.Mutex
	log []string
}

func (c *calls) add(name string) {
	c.mu.Lock()
	c.log = append(c.log, name)
	c.mu.Unlock()
}

// names returns the calls made.
func (c *calls) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// count returns how many times name was called.
func (c *calls) count(name string) int {
	n := 0
	for _, l := range c.names() {
		if l == name {
			n++
		}
	}
	return n
}

// writes returns the calls that change something.
func (c *calls) writes() []string {
	var w []string
	for _, l := range c.names() {
		if strings.HasPrefix(l, "Put") || strings.HasPrefix(l, "Modify") || strings.HasPrefix(l, "Enable") ||
			strings.HasPrefix(l, "Delete") || strings.HasPrefix(l, "Create") {
			w = append(w, l)
		}
	}
	return w
}

// fakeS3 is one bucket. Writes change the state (unless dropWrites) so that
// the verify read sees them; every request is checked for the bucket name
// and the region it is sent to.
type fakeS3 struct {
	t      testing.TB
	bucket string
	region string
	calls

	gone       bool // every call answers NoSuchBucket
	pab        *s3types.PublicAccessBlockConfiguration
	tags       []s3types.Tag
	website    *s3.GetBucketWebsiteOutput
	encryption *s3types.ServerSideEncryptionConfiguration
	dropWrites bool             // writes succeed but change nothing
	errs       map[string]error // by method; an error for "Get...#2" applies only to the second call

	pabPuts []*s3.PutPublicAccessBlockInput
	encPuts []*s3.PutBucketEncryptionInput
}

func newFakeS3(t testing.TB) *fakeS3 {
	return &fakeS3{t: t, bucket: testBucket, region: testRegion, errs: map[string]error{}}
}

// begin records the call, checks the request's bucket and region, and
// returns the error to fail with, if any.
func (f *fakeS3) begin(method string, bucket *string, optFns []func(*s3.Options)) error {
	f.add(method)
	if got := aws.ToString(bucket); got != f.bucket {
		f.t.Errorf("%s: Bucket = %q, want %q", method, got, f.bucket)
	}
	var o s3.Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Region != f.region {
		f.t.Errorf("%s: sent to region %q, want %q", method, o.Region, f.region)
	}
	if err, ok := f.errs[fmt.Sprintf("%s#%d", method, f.count(method))]; ok {
		return err
	}
	if err, ok := f.errs[method]; ok {
		return err
	}
	if f.gone {
		return apiErr("NoSuchBucket")
	}
	return nil
}

func (f *fakeS3) GetPublicAccessBlock(_ context.Context, in *s3.GetPublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error) {
	if err := f.begin("GetPublicAccessBlock", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if f.pab == nil {
		return nil, apiErr("NoSuchPublicAccessBlockConfiguration")
	}
	c := *f.pab
	return &s3.GetPublicAccessBlockOutput{PublicAccessBlockConfiguration: &c}, nil
}

func (f *fakeS3) PutPublicAccessBlock(_ context.Context, in *s3.PutPublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error) {
	f.pabPuts = append(f.pabPuts, in)
	if err := f.begin("PutPublicAccessBlock", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites {
		c := *in.PublicAccessBlockConfiguration
		f.pab = &c
	}
	return &s3.PutPublicAccessBlockOutput{}, nil
}

func (f *fakeS3) GetBucketTagging(_ context.Context, in *s3.GetBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error) {
	if err := f.begin("GetBucketTagging", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if len(f.tags) == 0 {
		return nil, apiErr("NoSuchTagSet")
	}
	return &s3.GetBucketTaggingOutput{TagSet: f.tags}, nil
}

func (f *fakeS3) GetBucketWebsite(_ context.Context, in *s3.GetBucketWebsiteInput, optFns ...func(*s3.Options)) (*s3.GetBucketWebsiteOutput, error) {
	if err := f.begin("GetBucketWebsite", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if f.website == nil {
		return nil, apiErr("NoSuchWebsiteConfiguration")
	}
	return f.website, nil
}

func (f *fakeS3) GetBucketEncryption(_ context.Context, in *s3.GetBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error) {
	if err := f.begin("GetBucketEncryption", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if f.encryption == nil {
		return nil, apiErr("ServerSideEncryptionConfigurationNotFoundError")
	}
	return &s3.GetBucketEncryptionOutput{ServerSideEncryptionConfiguration: f.encryption}, nil
}

func (f *fakeS3) PutBucketEncryption(_ context.Context, in *s3.PutBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error) {
	f.encPuts = append(f.encPuts, in)
	if err := f.begin("PutBucketEncryption", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites {
		f.encryption = in.ServerSideEncryptionConfiguration
	}
	return &s3.PutBucketEncryptionOutput{}, nil
}

// fakeEC2 is one instance, one volume and the region's EBS defaults.
type fakeEC2 struct {
	t      testing.TB
	region string
	calls

	instance *ec2types.Instance // nil: InvalidInstanceID.NotFound
	// pendingReads is how many DescribeInstances after a modify still show
	// the old setting (EC2 applies metadata options asynchronously).
	pendingReads int
	pending      *ec2types.InstanceMetadataOptionsResponse

	volume *ec2types.Volume // nil: InvalidVolume.NotFound

	ebsDefault bool
	ebsKey     string            // what GetEbsDefaultKmsKeyId reports
	aliases    map[string]string // KMS alias -> key ARN

	dropWrites bool
	errs       map[string]error

	modifies   []*ec2.ModifyInstanceMetadataOptionsInput
	keyChanges []*ec2.ModifyEbsDefaultKmsKeyIdInput
	describes  []*ec2.DescribeInstancesInput
	volDescr   []*ec2.DescribeVolumesInput
}

func newFakeEC2(t testing.TB) *fakeEC2 {
	return &fakeEC2{t: t, region: testRegion, errs: map[string]error{}, ebsKey: "alias/aws/ebs"}
}

func (f *fakeEC2) begin(method string, optFns []func(*ec2.Options)) error {
	return beginEC2(f.t, &f.calls, f.region, f.errs, method, optFns)
}

// beginEC2 records an EC2 call, checks the region it was sent to, and
// returns the error to fail with: errs by "Method#n" (the n-th call) or by
// method.
func beginEC2(t testing.TB, c *calls, region string, errs map[string]error, method string, optFns []func(*ec2.Options)) error {
	c.add(method)
	var o ec2.Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Region != region {
		t.Errorf("%s: sent to region %q, want %q", method, o.Region, region)
	}
	if err, ok := errs[fmt.Sprintf("%s#%d", method, c.count(method))]; ok {
		return err
	}
	return errs[method]
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.describes = append(f.describes, in)
	if len(in.InstanceIds) != 1 || in.InstanceIds[0] != testInstance || len(in.Filters) != 0 {
		f.t.Errorf("DescribeInstances: InstanceIds = %v, Filters = %v; want exactly [%s]", in.InstanceIds, in.Filters, testInstance)
	}
	if err := f.begin("DescribeInstances", optFns); err != nil {
		return nil, err
	}
	if f.instance == nil {
		return nil, apiErr("InvalidInstanceID.NotFound")
	}
	inst := *f.instance
	if f.pending != nil {
		if f.pendingReads > 0 {
			f.pendingReads--
		} else {
			inst.MetadataOptions, f.instance.MetadataOptions, f.pending = f.pending, f.pending, nil
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: []ec2types.Instance{inst}}}}, nil
}

func (f *fakeEC2) ModifyInstanceMetadataOptions(_ context.Context, in *ec2.ModifyInstanceMetadataOptionsInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceMetadataOptionsOutput, error) {
	f.modifies = append(f.modifies, in)
	if aws.ToString(in.InstanceId) != testInstance {
		f.t.Errorf("ModifyInstanceMetadataOptions: InstanceId = %q", aws.ToString(in.InstanceId))
	}
	if err := f.begin("ModifyInstanceMetadataOptions", optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites && f.instance != nil {
		mo := *f.instance.MetadataOptions
		mo.HttpTokens = in.HttpTokens
		if in.HttpEndpoint != "" {
			mo.HttpEndpoint = in.HttpEndpoint
		}
		if in.HttpPutResponseHopLimit != nil {
			mo.HttpPutResponseHopLimit = in.HttpPutResponseHopLimit
		}
		f.pending = &mo
	}
	return &ec2.ModifyInstanceMetadataOptionsOutput{InstanceId: in.InstanceId}, nil
}

func (f *fakeEC2) GetEbsEncryptionByDefault(_ context.Context, _ *ec2.GetEbsEncryptionByDefaultInput, optFns ...func(*ec2.Options)) (*ec2.GetEbsEncryptionByDefaultOutput, error) {
	if err := f.begin("GetEbsEncryptionByDefault", optFns); err != nil {
		return nil, err
	}
	return &ec2.GetEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(f.ebsDefault)}, nil
}

func (f *fakeEC2) EnableEbsEncryptionByDefault(_ context.Context, _ *ec2.EnableEbsEncryptionByDefaultInput, optFns ...func(*ec2.Options)) (*ec2.EnableEbsEncryptionByDefaultOutput, error) {
	if err := f.begin("EnableEbsEncryptionByDefault", optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites {
		f.ebsDefault = true
	}
	return &ec2.EnableEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(true)}, nil
}

func (f *fakeEC2) GetEbsDefaultKmsKeyId(_ context.Context, _ *ec2.GetEbsDefaultKmsKeyIdInput, optFns ...func(*ec2.Options)) (*ec2.GetEbsDefaultKmsKeyIdOutput, error) {
	if err := f.begin("GetEbsDefaultKmsKeyId", optFns); err != nil {
		return nil, err
	}
	return &ec2.GetEbsDefaultKmsKeyIdOutput{KmsKeyId: aws.String(f.ebsKey)}, nil
}

func (f *fakeEC2) ModifyEbsDefaultKmsKeyId(_ context.Context, in *ec2.ModifyEbsDefaultKmsKeyIdInput, optFns ...func(*ec2.Options)) (*ec2.ModifyEbsDefaultKmsKeyIdOutput, error) {
	f.keyChanges = append(f.keyChanges, in)
	if err := f.begin("ModifyEbsDefaultKmsKeyId", optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites {
		f.ebsKey = f.keyARN(aws.ToString(in.KmsKeyId))
	}
	// EC2 answers, and reports the default afterwards, with the key's ARN,
	// whatever form the key was given in.
	return &ec2.ModifyEbsDefaultKmsKeyIdOutput{KmsKeyId: aws.String(f.keyARN(aws.ToString(in.KmsKeyId)))}, nil
}

// keyARN resolves a key ID, key ARN or alias (via aliases) to a key ARN.
func (f *fakeEC2) keyARN(k string) string {
	if a, ok := f.aliases[k]; ok {
		return a
	}
	if strings.HasPrefix(k, "alias/") || strings.Contains(k, ":alias/") {
		f.t.Errorf("alias %q is not known to the fake", k)
	}
	if !strings.HasPrefix(k, "arn:") {
		k = "arn:aws:kms:" + f.region + ":" + testAccount + ":key/" + k
	}
	return k
}

func (f *fakeEC2) DescribeVolumes(_ context.Context, in *ec2.DescribeVolumesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	f.volDescr = append(f.volDescr, in)
	if len(in.VolumeIds) != 1 || in.VolumeIds[0] != testVolume {
		f.t.Errorf("DescribeVolumes: VolumeIds = %v, want [%s]", in.VolumeIds, testVolume)
	}
	if err := f.begin("DescribeVolumes", optFns); err != nil {
		return nil, err
	}
	if f.volume == nil {
		return nil, apiErr("InvalidVolume.NotFound")
	}
	return &ec2.DescribeVolumesOutput{Volumes: []ec2types.Volume{*f.volume}}, nil
}

// fakeCloudWatch answers GetMetricData with the given values, one page per
// entry of pages.
type fakeCloudWatch struct {
	t      testing.TB
	region string
	calls
	pages  [][]float64
	err    error
	inputs []cloudwatch.GetMetricDataInput
}

func (f *fakeCloudWatch) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.add("GetMetricData")
	f.inputs = append(f.inputs, *in)
	var o cloudwatch.Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Region != f.region {
		f.t.Errorf("GetMetricData: sent to region %q, want %q", o.Region, f.region)
	}
	if f.err != nil {
		return nil, f.err
	}
	page := len(f.inputs) - 1
	out := &cloudwatch.GetMetricDataOutput{}
	if page < len(f.pages) {
		out.MetricDataResults = []cwtypes.MetricDataResult{{Id: aws.String("notoken"), Values: f.pages[page]}}
	}
	if page+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprintf("page-%d", page+1))
	}
	return out, nil
}

// request is a non-compliance request for the remediator's resource.
func request(rule, resourceType, id string, mode remediation.Mode) remediation.Request {
	return remediation.Request{Rule: rule, ManagedRule: rule, ResourceType: resourceType, ResourceID: id,
		Account: testAccount, Region: testRegion, Mode: mode}
}

// checkFailed asserts a failed result whose error wraps the API error with
// code and names the action and the resource.
func checkFailed(t *testing.T, res remediation.Result, code string, mustContain ...string) {
	t.Helper()
	if res.Action != remediation.ActionFailed {
		t.Fatalf("Action = %q, want failed (reason %q)", res.Action, res.Reason)
	}
	if res.Err == nil {
		t.Fatal("failed result without Err")
	}
	if code != "" {
		var ae smithy.APIError
		if !errors.As(res.Err, &ae) || ae.ErrorCode() != code {
			t.Errorf("Err %v does not wrap the API error %s", res.Err, code)
		}
	}
	for _, s := range mustContain {
		if !strings.Contains(res.Err.Error(), s) {
			t.Errorf("error %q does not contain %q", res.Err, s)
		}
	}
	// A failed verification follows a write that went through, which
	// counts toward the flap limit.
	if strings.Contains(res.Err.Error(), "verifying") && !res.Wrote {
		t.Errorf("Wrote = false for %q", res.Err)
	}
	if res.Reason == "" {
		t.Error("failed result without a reason")
	}
}

func tag(k, v string) s3types.Tag { return s3types.Tag{Key: aws.String(k), Value: aws.String(v)} }

package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/sweep"
)

var srv *emulator.Server

func TestMain(m *testing.M) {
	s, err := emulator.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the AWS emulator:", err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

func reset(t *testing.T) {
	t.Helper()
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
}

// newSweeper wires a sweeper exactly as the CLI does, against the emulator;
// apiOptions are added to the SDK configuration (fault injection).
func newSweeper(t *testing.T, env map[string]string, apiOptions ...func(*middleware.Stack) error) *sweep.Sweeper {
	t.Helper()
	cfg, err := app.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := srv.AWSConfig()
	awsCfg.APIOptions = append(awsCfg.APIOptions, apiOptions...)
	sweep.NewRateLimiter(nil).AddTo(&awsCfg)
	clients := app.NewClients(awsCfg)
	clients.PathStyleS3 = true
	h, err := app.NewHandler(cfg, clients, app.NewLogger(io.Discard, cfg.LogLevel))
	if err != nil {
		t.Fatal(err)
	}
	return app.NewSweeper(cfg, clients, h)
}

type world struct {
	s3  *s3.Client
	ec2 *ec2.Client
}

func newWorld() world {
	cfg := srv.AWSConfig()
	return world{
		s3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		ec2: ec2.NewFromConfig(cfg),
	}
}

func (w world) bucket(t *testing.T, name string, tags map[string]string, secure bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if len(tags) > 0 {
		var set []s3types.Tag
		for k, v := range tags {
			set = append(set, s3types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		if _, err := w.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(name), Tagging: &s3types.Tagging{TagSet: set}}); err != nil {
			t.Fatal(err)
		}
	}
	if secure {
		if _, err := w.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(name),
			PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true),
				IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(name),
			ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}}}); err != nil {
			t.Fatal(err)
		}
	}
}

func (w world) instance(t *testing.T, tokens ec2types.HttpTokensState, tags map[string]string) string {
	t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT3Micro, MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: tokens}}
	if len(tags) > 0 {
		spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeInstance}
		for k, v := range tags {
			spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		in.TagSpecifications = []ec2types.TagSpecification{spec}
	}
	out, err := w.ec2.RunInstances(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

func (w world) publicAccessBlocked(t *testing.T, bucket string) bool {
	t.Helper()
	out, err := w.s3.GetPublicAccessBlock(context.Background(), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchPublicAccessBlockConfiguration") {
			return false
		}
		t.Fatal(err)
	}
	c := out.PublicAccessBlockConfiguration
	return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

func (w world) encryption(t *testing.T, bucket string) string {
	t.Helper()
	out, err := w.s3.GetBucketEncryption(context.Background(), &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err != nil {
		if strings.Contains(err.Error(), "ServerSideEncryptionConfigurationNotFoundError") {
			return ""
		}
		t.Fatal(err)
	}
	return string(out.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm)
}

func (w world) tokens(t *testing.T, id string) string {
	t.Helper()
	out, err := w.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.Reservations[0].Instances[0].MetadataOptions.HttpTokens)
}

func (w world) ebsDefault(t *testing.T) bool {
	t.Helper()
	out, err := w.ec2.GetEbsEncryptionByDefault(context.Background(), &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToBool(out.EbsEncryptionByDefault)
}

// baseline is a mixed account: one open bucket, one secure bucket, one
// exempt bucket, a bucket in another region, an IMDSv1 instance, an IMDSv2
// instance, an exempt IMDSv1 instance, an unencrypted volume, and EBS
// encryption by default off (moto's default).
type baseline struct {
	v1, v2, exemptInstance, volume string
}

func (w world) baseline(t *testing.T) baseline {
	t.Helper()
	w.bucket(t, "open-bucket", nil, false)
	w.bucket(t, "secure-bucket", nil, true)
	w.bucket(t, "exempt-bucket", map[string]string{"auto-remediation": "off"}, false)
	if _, err := w.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("other-region-bucket"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest1}},
		func(o *s3.Options) { o.Region = "eu-west-1" }); err != nil {
		t.Fatal(err)
	}
	var b baseline
	b.v1 = w.instance(t, ec2types.HttpTokensStateOptional, nil)
	b.v2 = w.instance(t, ec2types.HttpTokensStateRequired, nil)
	b.exemptInstance = w.instance(t, ec2types.HttpTokensStateOptional, map[string]string{"auto-remediation": "false"})
	vol, err := w.ec2.CreateVolume(context.Background(), &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(8)})
	if err != nil {
		t.Fatal(err)
	}
	b.volume = aws.ToString(vol.VolumeId)
	return b
}

func byResource(outcomes []remediation.Outcome) map[string]remediation.Action {
	m := map[string]remediation.Action{}
	for _, o := range outcomes {
		m[o.Remediator+"/"+o.ResourceID] = o.Action
	}
	return m
}

func TestSweepMixedAccount(t *testing.T) {
	reset(t)
	w := newWorld()
	b := w.baseline(t)
	sw := newSweeper(t, nil)
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byResource(rep.Outcomes)
	want := map[string]remediation.Action{
		"s3-public-access-block/open-bucket":   remediation.ActionRemediated,
		"s3-encryption/open-bucket":            remediation.ActionRemediated,
		"s3-public-access-block/secure-bucket": remediation.ActionCompliant,
		"s3-encryption/secure-bucket":          remediation.ActionCompliant,
		"s3-public-access-block/exempt-bucket": remediation.ActionExempt,
		"s3-encryption/exempt-bucket":          remediation.ActionExempt,
		"ec2-imdsv2/" + b.v1:                   remediation.ActionRemediated,
		"ec2-imdsv2/" + b.v2:                   remediation.ActionCompliant,
		"ec2-imdsv2/" + b.exemptInstance:       remediation.ActionExempt,
		"ebs-encryption/" + emulator.Account:   remediation.ActionRemediated,
		// the baseline's buckets have no bucket policy, so no TLS-only deny
		"s3-ssl-requests-only/open-bucket":   remediation.ActionRemediated,
		"s3-ssl-requests-only/secure-bucket": remediation.ActionRemediated,
		"s3-ssl-requests-only/exempt-bucket": remediation.ActionExempt,
	}
	for k, a := range want {
		if got[k] != a {
			t.Errorf("%s: action %q, want %q", k, got[k], a)
		}
	}
	// encrypted-volumes evaluates attached volumes only: the unattached
	// volume is not a check, as in Config; the instances' root volumes
	// (unencrypted in moto) are.
	if a, ok := got["ebs-encryption/"+b.volume]; ok {
		t.Errorf("the unattached volume was checked under encrypted-volumes: %s", a)
	}
	roots := 0
	for k, a := range got {
		if strings.HasPrefix(k, "ebs-encryption/vol-") && a == remediation.ActionNeedsManual {
			roots++
		}
	}
	if roots != 3 {
		t.Errorf("%d attached root volumes reported needs-manual, want 3 (one per instance)", roots)
	}
	// moto gives the default VPC a default security group, which opens
	// nothing to the internet: compliant under both rules
	groups := sgChecks(t, rep.Outcomes)
	// The remediators this test knows are held to the table; a remediator
	// added since (its checks of these buckets, instances...) only must not
	// fail, so that adding one needs no change here.
	known := map[string]bool{"ec2-security-group-ingress": true}
	for k := range want {
		known[k[:strings.Index(k, "/")]] = true
	}
	for _, o := range rep.Outcomes {
		k := o.Remediator + "/" + o.ResourceID
		switch {
		case o.ResourceID == "other-region-bucket":
			t.Errorf("a bucket of another region was swept: %s", k)
		case !known[o.Remediator]:
			if o.Action == remediation.ActionFailed {
				t.Errorf("%s under %s failed: %s", k, o.Rule, o.Error)
			}
		case want[k] == "" && !(strings.HasPrefix(k, "ebs-encryption/vol-") && o.Action == remediation.ActionNeedsManual) &&
			!strings.HasPrefix(k, "ec2-security-group-ingress/sg-"):
			t.Errorf("unexpected check %s: %s", k, o.Action)
		}
	}
	if rep.Failed() {
		t.Errorf("report failed: %+v", rep)
	}
	// The emulator, not the report, says what changed.
	if !w.publicAccessBlocked(t, "open-bucket") || w.encryption(t, "open-bucket") != "AES256" {
		t.Error("open-bucket was not fixed in the emulator")
	}
	if w.publicAccessBlocked(t, "exempt-bucket") || w.encryption(t, "exempt-bucket") != "" {
		t.Error("exempt-bucket was changed")
	}
	if w.tokens(t, b.v1) != "required" || w.tokens(t, b.exemptInstance) != "optional" {
		t.Errorf("instances: v1 %s, exempt %s", w.tokens(t, b.v1), w.tokens(t, b.exemptInstance))
	}
	if !w.ebsDefault(t) {
		t.Error("EBS encryption by default is still off")
	}
	s := rep.Score()
	isCompliant := func(a remediation.Action) bool {
		return a == remediation.ActionCompliant || a == remediation.ActionRemediated
	}
	compliant, knownCompliant, wantKnown := 0, 0, groups // the groups are compliant (sgChecks)
	for _, o := range rep.Outcomes {
		if isCompliant(o.Action) {
			compliant++
			if known[o.Remediator] {
				knownCompliant++
			}
		}
	}
	for _, a := range want {
		if isCompliant(a) {
			wantKnown++
		}
	}
	if s.Total != len(rep.Outcomes) || s.Compliant != compliant {
		t.Errorf("score %v, want %d of %d", s, compliant, len(rep.Outcomes))
	}
	if knownCompliant != wantKnown {
		t.Errorf("%d checks of the remediators in the table compliant or remediated, want %d", knownCompliant, wantKnown)
	}
	// A second sweep finds nothing left to fix: no writes, all reads.
	rep2, err := newSweeper(t, nil).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rep2.Outcomes {
		if o.Action == remediation.ActionRemediated || o.Action == remediation.ActionFailed {
			t.Errorf("second sweep: %s %s: %s", o.Remediator, o.ResourceID, o.Action)
		}
	}
	if rep2.Score() != s {
		t.Errorf("second sweep score %v, first %v", rep2.Score(), s)
	}
}

func TestSweepDryRunChangesNothing(t *testing.T) {
	reset(t)
	w := newWorld()
	b := w.baseline(t)
	sw := newSweeper(t, nil)
	sw.DryRun = true
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byResource(rep.Outcomes)
	for _, k := range []string{"s3-public-access-block/open-bucket", "s3-encryption/open-bucket", "ec2-imdsv2/" + b.v1, "ebs-encryption/" + emulator.Account} {
		if got[k] != remediation.ActionDryRun {
			t.Errorf("%s: %q, want dry-run", k, got[k])
		}
	}
	if w.publicAccessBlocked(t, "open-bucket") || w.encryption(t, "open-bucket") != "" || w.tokens(t, b.v1) != "optional" || w.ebsDefault(t) {
		t.Error("dry-run changed the emulator")
	}
	// Of the remediators this test knows: secure-bucket twice, the IMDSv2
	// instance, the default security groups. One added since changes
	// nothing either, and fails nothing.
	known := []string{"s3-public-access-block", "s3-encryption", "ec2-imdsv2", "ebs-encryption", "s3-ssl-requests-only", "ec2-security-group-ingress"}
	compliant := 0
	for _, o := range rep.Outcomes {
		switch {
		case o.Action == remediation.ActionRemediated || o.Action == remediation.ActionFailed:
			t.Errorf("dry-run: %s %s under %s: %s %s", o.Remediator, o.ResourceID, o.Rule, o.Action, o.Error)
		case o.Action == remediation.ActionCompliant && slices.Contains(known, o.Remediator):
			compliant++
		}
	}
	if want := 3 + sgChecks(t, rep.Outcomes); compliant != want {
		t.Errorf("dry-run: %d checks of the known remediators compliant, want %d (score %v)", compliant, want, rep.Score())
	}
}

// sgChecks counts the security group checks, which must all be compliant
// (the baseline creates no security group of its own): one per rule.
func sgChecks(t *testing.T, outcomes []remediation.Outcome) int {
	t.Helper()
	n := 0
	rules := map[string]int{}
	for _, o := range outcomes {
		if o.Remediator != "ec2-security-group-ingress" {
			continue
		}
		n++
		rules[o.Rule]++
		if o.Action != remediation.ActionCompliant {
			t.Errorf("security group %s under %s: %s (%s)", o.ResourceID, o.Rule, o.Action, o.Reason)
		}
	}
	if n == 0 || rules["restricted-ssh"] != rules["restricted-common-ports"] {
		t.Errorf("security group checks by rule: %v", rules)
	}
	return n
}

func TestSweepOnly(t *testing.T) {
	reset(t)
	w := newWorld()
	b := w.baseline(t)
	sw := newSweeper(t, nil)
	sw.Only = []string{"ec2-imdsv2"}
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 3 {
		t.Fatalf("got %d outcomes, want the 3 instances: %+v", len(rep.Outcomes), rep.Outcomes)
	}
	for _, o := range rep.Outcomes {
		if o.Remediator != "ec2-imdsv2" || o.Account != emulator.Account {
			t.Errorf("outcome %+v", o)
		}
	}
	if w.publicAccessBlocked(t, "open-bucket") || w.tokens(t, b.v1) != "required" {
		t.Error("--only did not limit the sweep")
	}
	if err := sweep.ValidateOnly([]string{"nope"}, remediators.Catalog(remediators.Definitions())); err == nil {
		t.Error("unknown remediator accepted")
	}
}

// An API error on one resource fails that resource only: injected with an
// SDK middleware on PutPublicAccessBlock for one bucket.
func TestSweepAPIErrorOnOneResource(t *testing.T) {
	reset(t)
	w := newWorld()
	w.bucket(t, "broken-bucket", nil, false)
	w.bucket(t, "open-bucket-1", nil, false)
	w.bucket(t, "open-bucket-2", nil, false)
	v1 := w.instance(t, ec2types.HttpTokensStateOptional, nil)
	inject := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("injectFault",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*s3.PutPublicAccessBlockInput); ok && aws.ToString(p.Bucket) == "broken-bucket" {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected AccessDenied")
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
	sw := newSweeper(t, nil, inject)
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byResource(rep.Outcomes)
	if got["s3-public-access-block/broken-bucket"] != remediation.ActionFailed {
		t.Errorf("broken-bucket: %s", got["s3-public-access-block/broken-bucket"])
	}
	for _, k := range []string{"s3-public-access-block/open-bucket-1", "s3-public-access-block/open-bucket-2", "s3-encryption/broken-bucket", "ec2-imdsv2/" + v1} {
		if got[k] != remediation.ActionRemediated {
			t.Errorf("%s: %s, want remediated", k, got[k])
		}
	}
	if !rep.Failed() {
		t.Error("report does not say it failed")
	}
	for _, o := range rep.Outcomes {
		if o.Action == remediation.ActionFailed && !strings.Contains(o.Error, `putting public access block on bucket "broken-bucket"`) {
			t.Errorf("error does not name the action and resource: %s", o.Error)
		}
	}
	if w.publicAccessBlocked(t, "broken-bucket") || !w.publicAccessBlocked(t, "open-bucket-1") || !w.publicAccessBlocked(t, "open-bucket-2") {
		t.Error("emulator state does not match")
	}
	var out strings.Builder
	rep.WriteSummary(&out)
	if !strings.Contains(out.String(), "failed: s3-public-access-block AWS::S3::Bucket broken-bucket") {
		t.Errorf("summary does not list the failure:\n%s", out.String())
	}
}

// The limiter's keys are the SDK's service IDs and operation names: if they
// drifted, DefaultLimits would silently limit nothing.
func TestRateLimiterSeesTheSDKsOperations(t *testing.T) {
	reset(t)
	w := newWorld()
	w.instance(t, ec2types.HttpTokensStateOptional, nil)
	w.bucket(t, "limited-bucket", nil, false)
	lim := sweep.NewRateLimiter(nil)
	cfg, _ := app.Load(func(string) string { return "" })
	awsCfg := srv.AWSConfig()
	lim.AddTo(&awsCfg)
	clients := app.NewClients(awsCfg)
	clients.PathStyleS3 = true
	h, err := app.NewHandler(cfg, clients, app.NewLogger(io.Discard, cfg.LogLevel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.NewSweeper(cfg, clients, h).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := lim.Calls()
	limits := sweep.DefaultLimits()
	for _, op := range []string{"EC2.ModifyInstanceMetadataOptions", "EC2.EnableEbsEncryptionByDefault", "CloudWatch.GetMetricData"} {
		if calls[op] == 0 {
			t.Errorf("no %s call seen by the limiter (calls: %v)", op, calls)
		}
		if _, ok := limits[op]; !ok {
			t.Errorf("no limit for %s", op)
		}
	}
	// The instance is described by the listing, which the check decides
	// on, and once more in the batched read-back after its write: no read
	// of its own before deciding.
	if calls["EC2.DescribeInstances"] != 2 || calls["S3.ListBuckets"] != 1 {
		t.Errorf("calls %v, want 2 DescribeInstances (listing, batched read-back) and 1 ListBuckets", calls)
	}
}

package app_test

// End-to-end tests against moto_server: each misconfiguration is made with
// the SDK, the matching fixture event goes through the handler the Lambda
// function builds (app.Load -> app.NewClients -> app.NewHandler), and the
// state is read back from the emulator, not from the outcome.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

const (
	fixturePublicRead  = "s3-public-read-noncompliant.json"
	fixtureSSE         = "s3-sse-noncompliant.json"
	fixtureIMDSv2      = "ec2-imdsv2-noncompliant.json"
	fixtureVolume      = "ebs-encrypted-volumes-noncompliant.json"
	fixtureEBSDefault  = "ebs-encryption-by-default-noncompliant.json"
	emulatorAccount    = "123456789012"
	metricsModeAPIOnly = "api"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// createBucket makes a bucket with no public access block: moto, like S3
// before April 2023, creates buckets without one.
func (r *rig) createBucket(prefix string) string {
	r.t.Helper()
	name := uniqueName(prefix)
	if _, err := r.S3.CreateBucket(ctx(r.t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		r.t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// publicAccessBlock reads the bucket's setting back; nil when it has none.
func (r *rig) publicAccessBlock(bucket string) *s3types.PublicAccessBlockConfiguration {
	r.t.Helper()
	out, err := r.S3.GetPublicAccessBlock(ctx(r.t), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if apiCode(err) == "NoSuchPublicAccessBlockConfiguration" {
		return nil
	}
	if err != nil {
		r.t.Fatalf("reading public access block of %s: %v", bucket, err)
	}
	return out.PublicAccessBlockConfiguration
}

func allBlocked(c *s3types.PublicAccessBlockConfiguration) bool {
	return c != nil && aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) &&
		aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

// makePublic creates a bucket readable by everyone: no public access block
// and a public-read ACL.
func (r *rig) makePublic(prefix string) string {
	r.t.Helper()
	b := r.createBucket(prefix)
	if _, err := r.S3.PutBucketAcl(ctx(r.t), &s3.PutBucketAclInput{Bucket: aws.String(b), ACL: s3types.BucketCannedACLPublicRead}); err != nil {
		r.t.Fatalf("making %s public: %v", b, err)
	}
	if got := r.publicAccessBlock(b); got != nil {
		r.t.Fatalf("precondition: new bucket %s already has a public access block %+v", b, got)
	}
	return b
}

func TestS3PublicAccessBlockIsTurnedOn(t *testing.T) {
	r := newRig(t, nil)
	b := r.makePublic("public")
	o := r.mustRun(fixturePublicRead, b, remediation.ActionRemediated)
	if got := r.publicAccessBlock(b); !allBlocked(got) {
		t.Fatalf("after %q the emulator has public access block %+v, want all four on", o.Reason, got)
	}
	// The fix is idempotent: the same event again changes nothing.
	r.mustRun(fixturePublicRead, b, remediation.ActionCompliant)
	if n := r.ops.Count("PutPublicAccessBlock"); n != 1 {
		t.Errorf("PutPublicAccessBlock called %d times, want 1", n)
	}
}

func TestS3ExemptTaggedBucketStaysPublic(t *testing.T) {
	r := newRig(t, nil)
	b := r.makePublic("exempt")
	_, err := r.S3.PutBucketTagging(ctx(t), &s3.PutBucketTaggingInput{Bucket: aws.String(b),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("auto-remediation"), Value: aws.String("off")}}}})
	if err != nil {
		t.Fatal(err)
	}
	r.mustRun(fixturePublicRead, b, remediation.ActionExempt)
	if got := r.publicAccessBlock(b); got != nil {
		t.Fatalf("exempt bucket got a public access block %+v", got)
	}
	if n := r.ops.Count("PutPublicAccessBlock"); n != 0 {
		t.Errorf("PutPublicAccessBlock called %d times on an exempt bucket", n)
	}
}

func TestS3WebsiteBucketStaysPublic(t *testing.T) {
	r := newRig(t, nil)
	b := r.makePublic("website")
	_, err := r.S3.PutBucketWebsite(ctx(t), &s3.PutBucketWebsiteInput{Bucket: aws.String(b),
		WebsiteConfiguration: &s3types.WebsiteConfiguration{IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}}})
	if err != nil {
		t.Fatal(err)
	}
	o := r.mustRun(fixturePublicRead, b, remediation.ActionExempt)
	if !strings.Contains(o.Reason, "index.html") {
		t.Errorf("reason %q does not name the website's index document", o.Reason)
	}
	if got := r.publicAccessBlock(b); got != nil {
		t.Fatalf("website bucket got a public access block %+v", got)
	}

	// With the guard off, the same bucket is blocked.
	r2 := newRig(t, map[string]string{"S3_WEBSITE_GUARD": "false"})
	r2.mustRun(fixturePublicRead, b, remediation.ActionRemediated)
	if got := r.publicAccessBlock(b); !allBlocked(got) {
		t.Fatalf("with S3_WEBSITE_GUARD=false the website bucket has %+v", got)
	}
}

func TestDeletedBucketIsGone(t *testing.T) {
	r := newRig(t, nil)
	b := r.createBucket("deleted")
	if _, err := r.S3.DeleteBucket(ctx(t), &s3.DeleteBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	r.mustRun(fixturePublicRead, b, remediation.ActionGone)
	r.mustRun(fixtureSSE, b, remediation.ActionGone)
	if n := r.ops.Count("PutPublicAccessBlock") + r.ops.Count("PutBucketEncryption"); n != 0 {
		t.Errorf("%d writes to a deleted bucket", n)
	}
	if _, err := r.S3.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String(b)}); err == nil {
		t.Fatalf("bucket %s exists again", b)
	}
}

func TestS3DefaultEncryptionIsSet(t *testing.T) {
	r := newRig(t, nil)
	b := r.createBucket("unencrypted")
	// moto quirk: new buckets have no default encryption, whereas real S3
	// applies SSE-S3 to every bucket since January 2023 (there the rule
	// fires for buckets whose encryption was removed or is weaker).
	_, err := r.S3.GetBucketEncryption(ctx(t), &s3.GetBucketEncryptionInput{Bucket: aws.String(b)})
	if apiCode(err) != "ServerSideEncryptionConfigurationNotFoundError" {
		t.Fatalf("precondition: new bucket encryption read gave %v, want ServerSideEncryptionConfigurationNotFoundError", err)
	}
	r.mustRun(fixtureSSE, b, remediation.ActionRemediated)
	out, err := r.S3.GetBucketEncryption(ctx(t), &s3.GetBucketEncryptionInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatalf("reading encryption back: %v", err)
	}
	rules := out.ServerSideEncryptionConfiguration.Rules
	if len(rules) != 1 || rules[0].ApplyServerSideEncryptionByDefault == nil ||
		rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAes256 {
		t.Fatalf("bucket encryption read back %+v, want one AES256 rule", rules)
	}
	r.mustRun(fixtureSSE, b, remediation.ActionCompliant)
}

// ami returns an image moto knows (it ships a fixed list).
var amiOnce struct {
	sync.Once
	id  string
	err error
}

func (r *rig) ami() string {
	r.t.Helper()
	amiOnce.Do(func() {
		out, err := r.EC2.DescribeImages(ctx(r.t), &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
		switch {
		case err != nil:
			amiOnce.err = err
		case len(out.Images) == 0:
			amiOnce.err = fmt.Errorf("moto lists no images")
		default:
			amiOnce.id = aws.ToString(out.Images[0].ImageId)
		}
	})
	if amiOnce.err != nil {
		r.t.Fatalf("finding an AMI: %v", amiOnce.err)
	}
	return amiOnce.id
}

// launchIMDSv1 starts an instance that accepts IMDSv1 (HttpTokens optional).
func (r *rig) launchIMDSv1() string {
	r.t.Helper()
	out, err := r.EC2.RunInstances(ctx(r.t), &ec2.RunInstancesInput{
		ImageId: aws.String(r.ami()), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{
			HttpTokens: ec2types.HttpTokensStateOptional, HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled,
			HttpPutResponseHopLimit: aws.Int32(2),
		},
	})
	if err != nil {
		r.t.Fatalf("launching an instance: %v", err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	if got := r.metadataOptions(id); got.HttpTokens != ec2types.HttpTokensStateOptional {
		r.t.Fatalf("precondition: launched instance has HttpTokens %q", got.HttpTokens)
	}
	return id
}

func (r *rig) metadataOptions(id string) ec2types.InstanceMetadataOptionsResponse {
	r.t.Helper()
	out, err := r.EC2.DescribeInstances(ctx(r.t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		r.t.Fatalf("describing %s: %v", id, err)
	}
	for _, res := range out.Reservations {
		for _, in := range res.Instances {
			if aws.ToString(in.InstanceId) == id && in.MetadataOptions != nil {
				return *in.MetadataOptions
			}
		}
	}
	r.t.Fatalf("instance %s not found or without metadata options", id)
	return ec2types.InstanceMetadataOptionsResponse{}
}

func TestEC2IMDSv2IsRequired(t *testing.T) {
	r := newRig(t, nil)
	id := r.launchIMDSv1()
	r.mustRun(fixtureIMDSv2, id, remediation.ActionRemediated)
	got := r.metadataOptions(id)
	if got.HttpTokens != ec2types.HttpTokensStateRequired {
		t.Fatalf("HttpTokens read back %q, want required", got.HttpTokens)
	}
	if got.HttpEndpoint != ec2types.InstanceMetadataEndpointStateEnabled || aws.ToInt32(got.HttpPutResponseHopLimit) != 2 {
		t.Errorf("endpoint %q / hop limit %d not kept (want enabled / 2)", got.HttpEndpoint, aws.ToInt32(got.HttpPutResponseHopLimit))
	}
	r.mustRun(fixtureIMDSv2, id, remediation.ActionCompliant)
}

func TestEC2IMDSv2DeferredWhileIMDSv1IsUsed(t *testing.T) {
	r := newRig(t, nil)
	id := r.launchIMDSv1()
	// What EC2 publishes for an instance that called IMDS without a token.
	_, err := r.CW.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{
		Namespace: aws.String("AWS/EC2"),
		MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String("MetadataNoToken"), Value: aws.Float64(7), Unit: cwtypes.StandardUnitCount,
			Timestamp:  aws.Time(time.Now().Add(-2 * time.Hour)),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(id)}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := r.mustRun(fixtureIMDSv2, id, remediation.ActionDeferred)
	if !strings.Contains(o.Reason, "made 7 IMDSv1") {
		t.Errorf("reason %q does not give the 7 calls", o.Reason)
	}
	if got := r.metadataOptions(id); got.HttpTokens != ec2types.HttpTokensStateOptional {
		t.Fatalf("deferred instance has HttpTokens %q, want optional kept", got.HttpTokens)
	}
	if n := r.ops.Count("ModifyInstanceMetadataOptions"); n != 0 {
		t.Errorf("ModifyInstanceMetadataOptions called %d times on a deferred instance", n)
	}
	// Another instance without the metric is not held back by this one's.
	other := r.launchIMDSv1()
	r.mustRun(fixtureIMDSv2, other, remediation.ActionRemediated)
}

// setEBSDefault switches the region's EBS encryption by default.
func (r *rig) setEBSDefault(on bool) {
	r.t.Helper()
	var err error
	if on {
		_, err = r.EC2.EnableEbsEncryptionByDefault(ctx(r.t), &ec2.EnableEbsEncryptionByDefaultInput{})
	} else {
		_, err = r.EC2.DisableEbsEncryptionByDefault(ctx(r.t), &ec2.DisableEbsEncryptionByDefaultInput{})
	}
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) ebsDefault() bool {
	r.t.Helper()
	out, err := r.EC2.GetEbsEncryptionByDefault(ctx(r.t), &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		r.t.Fatal(err)
	}
	return aws.ToBool(out.EbsEncryptionByDefault)
}

func TestEBSEncryptionByDefaultIsTurnedOn(t *testing.T) {
	r := newRig(t, nil)
	r.setEBSDefault(false)
	r.mustRun(fixtureEBSDefault, emulatorAccount, remediation.ActionRemediated)
	if !r.ebsDefault() {
		t.Fatal("EBS encryption by default is still off in the emulator")
	}
	r.mustRun(fixtureEBSDefault, emulatorAccount, remediation.ActionCompliant)
}

func TestUnencryptedVolumeNeedsManualAndDefaultIsTurnedOn(t *testing.T) {
	r := newRig(t, nil)
	r.setEBSDefault(false)
	out, err := r.EC2.CreateVolume(ctx(t), &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(8),
		VolumeType: ec2types.VolumeTypeGp3, Encrypted: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	vol := aws.ToString(out.VolumeId)
	o := r.mustRun(fixtureVolume, vol, remediation.ActionNeedsManual)
	if !strings.Contains(o.Reason, "create-snapshot --region us-east-1 --volume-id "+vol) {
		t.Errorf("reason does not give the migration steps for %s: %q", vol, o.Reason)
	}
	if !r.ebsDefault() {
		t.Error("EBS encryption by default was not turned on")
	}
	desc, err := r.EC2.DescribeVolumes(ctx(t), &ec2.DescribeVolumesInput{VolumeIds: []string{vol}})
	if err != nil || len(desc.Volumes) != 1 {
		t.Fatalf("reading the volume back: %v", err)
	}
	if aws.ToBool(desc.Volumes[0].Encrypted) || desc.Volumes[0].State == ec2types.VolumeStateDeleting {
		t.Errorf("the volume itself was changed: %+v", desc.Volumes[0])
	}

	// A deleted volume is gone, not failed.
	if _, err := r.EC2.DeleteVolume(ctx(t), &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)}); err != nil {
		t.Fatal(err)
	}
	r.mustRun(fixtureVolume, vol, remediation.ActionGone)
}

// sumMetric adds up a statistic of one metric over the last hour. dims are
// name, value pairs in the order the publisher sends them: moto matches
// dimensions in order (CloudWatch does not care).
func sumMetric(t *testing.T, r *rig, ns, name, stat string, dims ...string) float64 {
	t.Helper()
	var cw []cwtypes.Dimension
	for i := 0; i+1 < len(dims); i += 2 {
		cw = append(cw, cwtypes.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
	}
	now := time.Now()
	out, err := r.CW.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Hour)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String(name), Dimensions: cw},
			Period: aws.Int32(3600), Stat: aws.String(stat),
		}}},
	})
	if err != nil {
		t.Fatalf("GetMetricData %s/%s: %v", ns, name, err)
	}
	var sum float64
	for _, res := range out.MetricDataResults {
		for _, v := range res.Values {
			sum += v
		}
	}
	return sum
}

func TestMetricsReachCloudWatch(t *testing.T) {
	ns := uniqueName("AutoRemediationTest")
	r := newRig(t, map[string]string{"METRICS_MODE": metricsModeAPIOnly, "METRICS_NAMESPACE": ns})
	rem := remediators.S3PublicAccessBlockName
	actions := []remediation.Action{remediation.ActionRemediated, remediation.ActionCompliant, remediation.ActionFailed}
	// moto quirk: GetMetricData ignores the namespace when the query has
	// dimensions, so other tests' data points would count too; the test
	// compares before and after instead of relying on the fresh namespace.
	read := func() (counts map[remediation.Action]float64, durations float64) {
		counts = map[remediation.Action]float64{}
		for _, a := range actions {
			counts[a] = sumMetric(t, r, ns, publish.MetricRemediations, "Sum",
				publish.DimensionRemediator, rem, publish.DimensionAction, string(a))
		}
		return counts, sumMetric(t, r, ns, publish.MetricDuration, "SampleCount", publish.DimensionRemediator, rem)
	}
	before, durBefore := read()

	b := r.makePublic("metrics")
	r.mustRun(fixturePublicRead, b, remediation.ActionRemediated)
	r.mustRun(fixturePublicRead, b, remediation.ActionCompliant)
	r.mustRun(fixturePublicRead, b, remediation.ActionCompliant)

	after, durAfter := read()
	want := map[remediation.Action]float64{remediation.ActionRemediated: 1, remediation.ActionCompliant: 2, remediation.ActionFailed: 0}
	for _, a := range actions {
		if got := after[a] - before[a]; got != want[a] {
			t.Errorf("%s{Remediator=%s,Action=%s} Sum grew by %v, want %v", publish.MetricRemediations, rem, a, got, want[a])
		}
	}
	if n := durAfter - durBefore; n != 3 {
		t.Errorf("%s{Remediator=%s} SampleCount grew by %v, want 3", publish.MetricDuration, rem, n)
	}
	// The EMF block is off in api mode: the log line carries no _aws.
	for _, l := range logLines(r.logs, "outcome") {
		if _, ok := l["_aws"]; ok {
			t.Errorf("METRICS_MODE=api still wrote EMF: %v", l)
		}
	}
	// And the metric list has exactly the documented dimensions.
	lm, err := r.CW.ListMetrics(ctx(t), &cloudwatch.ListMetricsInput{Namespace: aws.String(ns)})
	if err != nil {
		t.Fatal(err)
	}
	// A name is published under one or more dimension sets.
	specs := map[string][]string{}
	for _, s := range publish.PublishedMetrics() {
		specs[s.Name] = append(specs[s.Name], strings.Join(sorted(s.Dimensions), ","))
	}
	if len(lm.Metrics) == 0 {
		t.Fatal("ListMetrics returns nothing in the namespace")
	}
	for _, m := range lm.Metrics {
		want, ok := specs[aws.ToString(m.MetricName)]
		if !ok {
			t.Errorf("undocumented metric %s", aws.ToString(m.MetricName))
			continue
		}
		var got []string
		for _, d := range m.Dimensions {
			got = append(got, aws.ToString(d.Name))
		}
		if !slices.Contains(want, strings.Join(sorted(got), ",")) {
			t.Errorf("metric %s has dimensions %v, want one of %q", aws.ToString(m.MetricName), got, want)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// subscribeQueue creates a queue subscribed to the topic, with or without
// raw message delivery, and returns its URL.
func (r *rig) subscribeQueue(topicARN string, raw bool) *string {
	r.t.Helper()
	q, err := r.SQS.CreateQueue(ctx(r.t), &sqs.CreateQueueInput{QueueName: aws.String(uniqueName("outcomes"))})
	if err != nil {
		r.t.Fatal(err)
	}
	qa, err := r.SQS.GetQueueAttributes(ctx(r.t), &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		r.t.Fatal(err)
	}
	in := &sns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}
	if raw {
		in.Attributes = map[string]string{"RawMessageDelivery": "true"}
	}
	if _, err := r.SNS.Subscribe(ctx(r.t), in); err != nil {
		r.t.Fatal(err)
	}
	return q.QueueUrl
}

// receiveOne waits for the queue's single message.
func (r *rig) receiveOne(queueURL *string) sqstypes.Message {
	r.t.Helper()
	var msgs []sqstypes.Message
	for deadline := time.Now().Add(5 * time.Second); len(msgs) == 0 && time.Now().Before(deadline); {
		out, err := r.SQS.ReceiveMessage(ctx(r.t), &sqs.ReceiveMessageInput{QueueUrl: queueURL, MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			r.t.Fatal(err)
		}
		msgs = out.Messages
	}
	if len(msgs) != 1 {
		r.t.Fatalf("queue received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// sameJSON compares a JSON text with the JSON form of v.
func sameJSON(t *testing.T, text string, v any) {
	t.Helper()
	var got, want any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, text)
	}
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("message\n%v\nwant the outcome\n%v", got, want)
	}
}

func TestOutcomeReachesSNSSubscribers(t *testing.T) {
	setup := newRig(t, nil)
	topic, err := setup.SNS.CreateTopic(ctx(t), &sns.CreateTopicInput{Name: aws.String(uniqueName("outcomes"))})
	if err != nil {
		t.Fatal(err)
	}
	topicARN := aws.ToString(topic.TopicArn)
	enveloped, raw := setup.subscribeQueue(topicARN, false), setup.subscribeQueue(topicARN, true)

	r := newRig(t, map[string]string{"SNS_TOPIC_ARN": topicARN})
	b := r.makePublic("notified")
	o := r.mustRun(fixturePublicRead, b, remediation.ActionRemediated)
	wantAttrs := map[string]string{"action": "remediated", "remediator": "s3-public-access-block", "severity": "low"}

	// Without raw message delivery SQS receives SNS's JSON envelope, which
	// carries the subject.
	msg := r.receiveOne(enveloped)
	var env struct {
		Type, TopicArn, Subject, Message string
		MessageAttributes                map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &env); err != nil {
		t.Fatalf("SQS body is not an SNS envelope: %v\n%s", err, aws.ToString(msg.Body))
	}
	if env.Type != "Notification" || env.TopicArn != topicARN {
		t.Errorf("envelope type %q topic %q", env.Type, env.TopicArn)
	}
	if want := "[REMEDIATED] s3-public-access-block: AWS::S3::Bucket " + b; env.Subject != want {
		t.Errorf("subject %q, want %q", env.Subject, want)
	}
	sameJSON(t, env.Message, o)
	for k, v := range wantAttrs {
		if a := env.MessageAttributes[k]; a.Type != "String" || a.Value != v {
			t.Errorf("envelope message attribute %s = %+v, want String %q", k, a, v)
		}
	}

	// With raw message delivery the body is the outcome JSON itself and the
	// attributes become SQS message attributes (what filter policies and
	// consumers see).
	msg = r.receiveOne(raw)
	sameJSON(t, aws.ToString(msg.Body), o)
	for k, v := range wantAttrs {
		if a, ok := msg.MessageAttributes[k]; !ok || aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != v {
			t.Errorf("SQS message attribute %s = %+v, want String %q", k, a, v)
		}
	}
}

// The same event delivered 20 times (EventBridge delivers at least once;
// Config re-sends on re-evaluation) writes once: the first delivery fixes
// the bucket, every other one reads it back compliant.
func TestDuplicateEventsWriteOnce(t *testing.T) {
	r := newRig(t, nil)
	b := r.makePublic("duplicates")
	raw := fixtureEvent(t, fixturePublicRead, b)
	var mu sync.Mutex
	actions := map[remediation.Action]int{}
	burst := func(n int) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				o, err := r.handler.Handle(ctx(t), raw)
				if err != nil {
					t.Errorf("duplicate delivery: %v", err)
				}
				mu.Lock()
				actions[o.Action]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
	}
	burst(10)
	burst(10)
	if n := r.ops.Count("PutPublicAccessBlock"); n != 1 {
		t.Errorf("20 deliveries made %d PutPublicAccessBlock calls, want exactly 1", n)
	}
	if actions[remediation.ActionRemediated] != 1 || actions[remediation.ActionCompliant] != 19 {
		t.Errorf("outcomes %v, want 1 remediated and 19 compliant", actions)
	}
	if !allBlocked(r.publicAccessBlock(b)) {
		t.Error("bucket is not blocked after the deliveries")
	}
}

package cloudtrailproxy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/emulator"
)

// Through moto: every call the remediators' Triggers list, made through the
// proxy, changes the emulator and reaches a rule on its default bus as an
// event that parses and names the resources moto created.
func TestThroughTheEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	direct := srv.AWSConfig()
	eb := eventbridge.NewFromConfig(direct)
	q := sqs.NewFromConfig(direct)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("calls")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("calls"),
		EventPattern: aws.String(`{"source":["aws.s3","aws.ec2"],"detail-type":["AWS API Call via CloudTrail"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("calls"), Targets: []ebtypes.Target{{Id: aws.String("q"),
		Arn: aws.String("arn:aws:sqs:" + emulator.Region + ":" + emulator.Account + ":calls")}}}); err != nil {
		t.Fatal(err)
	}
	var errs []error
	var mu sync.Mutex
	p, err := Start(Options{Target: srv.URL, Account: emulator.Account, Region: emulator.Region, Sink: &EventBridge{Client: eb},
		Identities: map[string]Identity{"AKIDALICE": AssumedRole(developer, "alice")},
		OnError:    func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := aws.Config{Region: emulator.Region, Credentials: credentials.NewStaticCredentialsProvider("AKIDALICE", "testing", ""),
		BaseEndpoint: aws.String(p.URL), RetryMaxAttempts: 1}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ec2c := ec2.NewFromConfig(cfg)

	// want collects, per call, the resources moto's answers name.
	type made struct {
		call string
		res  []events.Resource
	}
	var want []made
	must := func(call string, err error, res ...events.Resource) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s through the proxy: %v", call, err)
		}
		want = append(want, made{call, res})
	}
	b := events.Resource{Type: events.ResourceTypeS3Bucket, ID: "ct-proxy"}
	_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ct-proxy")})
	must("CreateBucket", err, b)
	_, err = s3c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("ct-proxy"), ACL: s3types.BucketCannedACLPublicRead})
	must("PutBucketAcl", err, b)
	_, err = s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("ct-proxy"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::ct-proxy/*"}]}`)})
	must("PutBucketPolicy", err, b)
	_, err = s3c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("ct-proxy")})
	must("DeleteBucketPolicy", err, b)
	_, err = s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("ct-proxy"), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}})
	must("PutBucketPublicAccessBlock", err, b)
	_, err = s3c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("ct-proxy")})
	must("DeleteBucketPublicAccessBlock", err, b)
	_, err = s3c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("ct-proxy"), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
		Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}}})
	must("PutBucketEncryption", err, b)
	_, err = s3c.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: aws.String("ct-proxy")})
	must("DeleteBucketEncryption", err, b)

	run, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(3), MaxCount: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	var instances []events.Resource
	for _, in := range run.Instances {
		instances = append(instances, events.Resource{Type: events.ResourceTypeEC2Instance, ID: aws.ToString(in.InstanceId)})
	}
	must("RunInstances", nil, instances...)
	_, err = ec2c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: run.Instances[1].InstanceId, HttpTokens: ec2types.HttpTokensStateOptional})
	must("ModifyInstanceMetadataOptions", err, instances[1])
	acct := events.Resource{Type: events.ResourceTypeAccount, ID: emulator.Account}
	_, err = ec2c.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{})
	must("DisableEbsEncryptionByDefault", err, acct)
	// moto knows only keys it created.
	key, err := kms.NewFromConfig(direct).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ec2c.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: key.KeyMetadata.Arn})
	must("ModifyEbsDefaultKmsKeyId", err, acct)
	vol, err := ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(emulator.Region + "a"), Size: aws.Int32(8)})
	if err != nil {
		t.Fatal(err)
	}
	must("CreateVolume", nil, events.Resource{Type: events.ResourceTypeEC2Volume, ID: aws.ToString(vol.VolumeId)})
	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("ct-proxy"), Description: aws.String("proxy test")})
	if err != nil {
		t.Fatal(err)
	}
	sgRes := events.Resource{Type: events.ResourceTypeEC2SecurityGroup, ID: aws.ToString(sg.GroupId)}
	// By name, as in a default VPC: the group ID comes from the answer.
	auth, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupName: aws.String("ct-proxy"),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
	must("AuthorizeSecurityGroupIngress", err, sgRes)
	_, err = ec2c.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: sg.GroupId, SecurityGroupRules: []ec2types.SecurityGroupRuleUpdate{{
		SecurityGroupRuleId: auth.SecurityGroupRules[0].SecurityGroupRuleId,
		SecurityGroupRule:   &ec2types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(3389), ToPort: aws.Int32(3389), CidrIpv4: aws.String("0.0.0.0/0")}}}})
	must("ModifySecurityGroupRules", err, sgRes)

	// The calls changed the emulator: read back directly.
	if _, err := s3.NewFromConfig(direct, func(o *s3.Options) { o.UsePathStyle = true }).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("ct-proxy")}); err != nil {
		t.Errorf("the bucket created through the proxy is not in the emulator: %v", err)
	}

	// CreateSecurityGroup is recorded too (a mutating call the pipeline
	// does not read): one more event, with no resources.
	got := map[string][]events.Resource{}
	var names []string
	deadline := time.Now().Add(20 * time.Second)
	for len(names) < len(want)+1 && time.Now().Before(deadline) {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			ev, err := events.ParseCloudTrail([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatalf("an event on the bus does not parse: %v\n%s", err, aws.ToString(m.Body))
			}
			if ev.Actor() != developer+"/alice" || ev.Account() != emulator.Account || ev.Region() != emulator.Region {
				t.Errorf("%s: actor %q, account %s, region %s", ev.Call.EventName, ev.Actor(), ev.Account(), ev.Region())
			}
			names = append(names, ev.Call.EventName)
			got[ev.Call.EventName] = append(got[ev.Call.EventName], ev.Resources()...)
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantNames := []string{"CreateSecurityGroup"}
	wantRes := map[string][]events.Resource{}
	for _, m := range want {
		wantNames = append(wantNames, m.call)
		wantRes[m.call] = append(wantRes[m.call], m.res...)
	}
	sort.Strings(names)
	sort.Strings(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("events on the bus for %v, want %v", names, wantNames)
	}
	for call, res := range wantRes {
		if !slices.Equal(got[call], res) {
			t.Errorf("%s: resources %v, want %v", call, got[call], res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("the proxy reported: %v", fmt.Sprint(errs))
	}
}

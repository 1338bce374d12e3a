package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/state"
)

// The principals of the CloudTrail tests: each signs with its own access
// key, through which the recording proxy names it.
const (
	pipelineRole  = "arn:aws:iam::123456789012:role/service-role/autoremediate-remediate"
	developerRole = "arn:aws:iam::123456789012:role/developer"
	otherRole     = "arn:aws:iam::123456789012:role/other-automation"
	pipelineKey   = "AKIAPIPELINE00000001"
	developerKey  = "AKIADEVELOPER0000001"
	otherKey      = "AKIAOTHERAUTOMATION1"
)

// ctRig is the pipeline with a state table, behind which a recording proxy
// stands in for CloudTrail: the test misconfigures through the proxy as a
// principal, and the proxy's events are run through the handler.
type ctRig struct {
	*rig
	table   string
	ddb     *dynamodb.Client
	proxy   *cloudtrailproxy.Server
	mu      sync.Mutex
	pending []json.RawMessage
}

func newCTRig(t *testing.T, env map[string]string) *ctRig {
	t.Helper()
	srv := emu(t)
	table := fmt.Sprintf("state-%d", time.Now().UnixNano())
	ddb := dynamodb.NewFromConfig(srv.AWSConfig())
	if _, err := state.Init(ctx(t), ddb, table); err != nil {
		t.Fatalf("creating the state table: %v", err)
	}
	full := map[string]string{"STATE_TABLE": table, "IGNORE_ACTOR_ARNS": pipelineRole, "METRICS_MODE": "off", "IMDS_LOOKBACK_DAYS": "0"}
	for k, v := range env {
		full[k] = v
	}
	r := &ctRig{rig: newRig(t, full), table: table, ddb: ddb}
	var err error
	r.proxy, err = cloudtrailproxy.Start(cloudtrailproxy.Options{
		Target: srv.URL, Account: emulator.Account, Region: emulator.Region,
		Identities: map[string]cloudtrailproxy.Identity{
			pipelineKey:  cloudtrailproxy.AssumedRole(pipelineRole, "autoremediate-remediate"),
			developerKey: cloudtrailproxy.AssumedRole(developerRole, "alice"),
			otherKey:     cloudtrailproxy.AssumedRole(otherRole, "drift-fixer"),
		},
		Sink: cloudtrailproxy.SinkFunc(func(_ context.Context, ev cloudtrailproxy.Event) error {
			// The envelope EventBridge adds around CloudTrail's record.
			env, err := json.Marshal(map[string]any{
				"version": "0", "id": fmt.Sprintf("ct-%d", time.Now().UnixNano()), "detail-type": ev.DetailType,
				"source": ev.Source, "account": emulator.Account, "time": ev.Time.UTC().Format(time.RFC3339),
				"region": emulator.Region, "resources": []string{}, "detail": ev.Detail,
			})
			r.mu.Lock()
			r.pending = append(r.pending, env)
			r.mu.Unlock()
			return err
		}),
		OnError: func(err error) { t.Errorf("recording proxy: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.proxy.Close() })
	return r
}

// as returns S3 and EC2 clients that call through the proxy as a principal.
func (r *ctRig) as(key string) (*s3.Client, *ec2.Client) {
	cfg := r.srv.AWSConfig()
	cfg.BaseEndpoint = aws.String(r.proxy.URL)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(key, "testing", "")
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), ec2.NewFromConfig(cfg)
}

// events returns the events recorded since the last call.
func (r *ctRig) events() []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.pending
	r.pending = nil
	return evs
}

// invokeRecorded runs every recorded event through the handler, as the
// Lambda function receives them, and returns the outcomes by event name.
func (r *ctRig) invokeRecorded(t *testing.T) map[string][]remediation.Outcome {
	t.Helper()
	got := map[string][]remediation.Outcome{}
	for _, raw := range r.events() {
		ev, err := events.ParseCloudTrail(raw)
		if err != nil {
			t.Fatalf("the proxy's event does not parse: %v\n%s", err, raw)
		}
		v, err := r.handler.Invoke(ctx(t), raw)
		outs, _ := v.([]remediation.Outcome)
		if err != nil {
			t.Errorf("%s: %v", ev.Call.EventName, err)
		}
		got[ev.Call.EventName] = append(got[ev.Call.EventName], outs...)
	}
	return got
}

func newBucket(t *testing.T, c *s3.Client) string {
	t.Helper()
	name := fmt.Sprintf("ct-%d", time.Now().UnixNano())
	if _, err := c.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (r *ctRig) blocked(t *testing.T, bucket string) bool {
	t.Helper()
	out, err := r.S3.GetPublicAccessBlock(ctx(t), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if err != nil {
		return false // NoSuchPublicAccessBlockConfiguration
	}
	c := out.PublicAccessBlockConfiguration
	return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

func (r *ctRig) tlsOnly(t *testing.T, bucket string) bool {
	t.Helper()
	out, err := r.S3.GetBucketPolicy(ctx(t), &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	return err == nil && strings.Contains(aws.ToString(out.Policy), "aws:SecureTransport")
}

// actions lists the outcomes' remediators and actions, sorted by remediator.
func actions(outs []remediation.Outcome) map[string]remediation.Action {
	m := map[string]remediation.Action{}
	for _, o := range outs {
		m[o.Remediator+" "+o.ResourceID] = o.Action
	}
	return m
}

// TestCloudTrailCallsAreFixed makes each misconfiguring S3 and EC2 call the
// issue lists, as a developer, through the recording proxy; runs the
// recorded events through the handler; and reads the resources back.
func TestCloudTrailCallsAreFixed(t *testing.T) {
	r := newCTRig(t, nil)
	s3c, ec2c := r.as(developerKey)
	c := ctx(t)
	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`

	// CreateBucket: moto, unlike AWS since April 2023, creates buckets
	// without a public access block; the TLS-only deny is never default.
	created := newBucket(t, s3c)
	got := r.invokeRecorded(t)
	if a := actions(got["CreateBucket"]); a["s3-public-access-block "+created] != remediation.ActionRemediated ||
		a["s3-ssl-requests-only "+created] != remediation.ActionRemediated || len(a) != 3 {
		t.Errorf("CreateBucket: %v; want public access block and TLS-only remediated, encryption checked", a)
	}
	if !r.blocked(t, created) || !r.tlsOnly(t, created) {
		t.Errorf("bucket %s: blocked %t, TLS only %t after its CreateBucket event", created, r.blocked(t, created), r.tlsOnly(t, created))
	}

	steps := []struct {
		call  string
		do    func(bucket string) error
		want  string // the remediator that must have remediated
		fixed func(bucket string) bool
	}{
		{"DeleteBucketPublicAccessBlock", func(b string) error {
			_, err := s3c.DeletePublicAccessBlock(c, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(b)})
			return err
		}, "s3-public-access-block", func(b string) bool { return r.blocked(t, b) }},
		{"PutBucketPublicAccessBlock", func(b string) error {
			_, err := s3c.PutPublicAccessBlock(c, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b),
				PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(false),
					IgnorePublicAcls: aws.Bool(false), BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(false)}})
			return err
		}, "s3-public-access-block", func(b string) bool { return r.blocked(t, b) }},
		{"DeleteBucketPolicy", func(b string) error {
			_, err := s3c.DeleteBucketPolicy(c, &s3.DeleteBucketPolicyInput{Bucket: aws.String(b)})
			return err
		}, "s3-ssl-requests-only", func(b string) bool { return r.tlsOnly(t, b) }},
		{"DeleteBucketEncryption", func(b string) error {
			_, err := s3c.DeleteBucketEncryption(c, &s3.DeleteBucketEncryptionInput{Bucket: aws.String(b)})
			return err
		}, "s3-encryption", func(b string) bool {
			out, err := r.S3.GetBucketEncryption(c, &s3.GetBucketEncryptionInput{Bucket: aws.String(b)})
			return err == nil && len(out.ServerSideEncryptionConfiguration.Rules) > 0
		}},
	}
	for _, st := range steps {
		bucket := newBucket(t, s3c)
		r.invokeRecorded(t) // the bucket's CreateBucket
		// A public bucket first, for the calls that open it.
		if err := st.do(bucket); err != nil {
			t.Fatalf("%s: %v", st.call, err)
		}
		got := r.invokeRecorded(t)
		if a := actions(got[st.call]); a[st.want+" "+bucket] != remediation.ActionRemediated {
			t.Errorf("%s: outcomes %v; want %s remediated", st.call, a, st.want)
		}
		if !st.fixed(bucket) {
			t.Errorf("%s: bucket %s not fixed", st.call, bucket)
		}
	}

	// PutBucketAcl and PutBucketPolicy open a bucket whose block is off.
	for _, call := range []string{"PutBucketAcl", "PutBucketPolicy"} {
		bucket := newBucket(t, r.S3) // not through the proxy: no event
		var err error
		if call == "PutBucketAcl" {
			_, err = s3c.PutBucketAcl(c, &s3.PutBucketAclInput{Bucket: aws.String(bucket), ACL: s3types.BucketCannedACLPublicRead})
		} else {
			_, err = s3c.PutBucketPolicy(c, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(fmt.Sprintf(public, bucket))})
		}
		if err != nil {
			t.Fatalf("%s: %v", call, err)
		}
		outs := r.invokeRecorded(t)[call]
		if a := actions(outs); a["s3-public-access-block "+bucket] != remediation.ActionRemediated {
			t.Errorf("%s: outcomes %v; want the public access block remediated", call, a)
		}
		for _, o := range outs {
			if o.Trigger != remediation.TriggerCloudTrail || o.Actor != developerRole+"/alice" || o.DetectedAt.IsZero() {
				t.Errorf("%s: trigger %q actor %q detected %v", call, o.Trigger, o.Actor, o.DetectedAt)
			}
		}
		if !r.blocked(t, bucket) {
			t.Errorf("%s: bucket %s not blocked", call, bucket)
		}
	}

	// EC2: two instances with IMDSv1 allowed, one outcome each.
	run, err := ec2c.RunInstances(c, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional}})
	if err != nil {
		t.Fatal(err)
	}
	outs := r.invokeRecorded(t)["RunInstances"]
	if len(outs) != 2 {
		t.Fatalf("RunInstances of 2 instances: %d outcomes %v", len(outs), actions(outs))
	}
	ids := []string{aws.ToString(run.Instances[0].InstanceId), aws.ToString(run.Instances[1].InstanceId)}
	for _, id := range ids {
		if a := actions(outs)["ec2-imdsv2 "+id]; a != remediation.ActionRemediated {
			t.Errorf("instance %s: %s", id, a)
		}
	}
	if _, err := ec2c.ModifyInstanceMetadataOptions(c, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(ids[0]), HttpTokens: ec2types.HttpTokensStateOptional}); err != nil {
		t.Fatal(err)
	}
	if a := actions(r.invokeRecorded(t)["ModifyInstanceMetadataOptions"]); a["ec2-imdsv2 "+ids[0]] != remediation.ActionRemediated {
		t.Errorf("ModifyInstanceMetadataOptions: %v", a)
	}
	desc, err := r.EC2.DescribeInstances(c, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range desc.Reservations {
		for _, in := range res.Instances {
			if in.MetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired {
				t.Errorf("instance %s: HttpTokens %s", aws.ToString(in.InstanceId), in.MetadataOptions.HttpTokens)
			}
		}
	}

	// The account's EBS default encryption, turned off.
	if _, err := ec2c.DisableEbsEncryptionByDefault(c, &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
		t.Fatal(err)
	}
	if a := actions(r.invokeRecorded(t)["DisableEbsEncryptionByDefault"]); a["ebs-encryption "+emulator.Account] != remediation.ActionRemediated {
		t.Errorf("DisableEbsEncryptionByDefault: %v", a)
	}
	if out, err := r.EC2.GetEbsEncryptionByDefault(c, &ec2.GetEbsEncryptionByDefaultInput{}); err != nil || !aws.ToBool(out.EbsEncryptionByDefault) {
		t.Errorf("EBS encryption by default after the fix: %v", err)
	}
	// A new volume: on AWS the default encrypts it (compliant); moto
	// ignores the default and creates it unencrypted, which cannot be
	// fixed in place (needs-manual). The volume as read back decides.
	vol, err := ec2c.CreateVolume(c, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	wantVol := remediation.ActionNeedsManual
	if aws.ToBool(vol.Encrypted) {
		wantVol = remediation.ActionCompliant
	}
	if a := actions(r.invokeRecorded(t)["CreateVolume"]); len(a) != 1 || a["ebs-encryption "+aws.ToString(vol.VolumeId)] != wantVol {
		t.Errorf("CreateVolume: %v; want ebs-encryption %s", a, wantVol)
	}

	// A security group opened to the world on SSH.
	sg, err := r.EC2.CreateSecurityGroup(c, &ec2.CreateSecurityGroupInput{GroupName: aws.String(fmt.Sprintf("ct-%d", time.Now().UnixNano())), Description: aws.String("ct")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2c.AuthorizeSecurityGroupIngress(c, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	if a := actions(r.invokeRecorded(t)["AuthorizeSecurityGroupIngress"]); a["ec2-security-group-ingress "+aws.ToString(sg.GroupId)] != remediation.ActionRemediated {
		t.Errorf("AuthorizeSecurityGroupIngress: %v", a)
	}

	// Every acted-on outcome is recorded in the state table.
	scan, err := r.ddb.Scan(c, &dynamodb.ScanInput{TableName: aws.String(r.table)})
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, item := range scan.Items {
		if _, ok := item[state.TTLAttribute].(*ddbtypes.AttributeValueMemberN); !ok {
			t.Errorf("item %v has no TTL", item[state.KeyAttribute])
		}
		if pk, ok := item[state.KeyAttribute].(*ddbtypes.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "event#") {
			recorded++
		}
	}
	if recorded < 15 {
		t.Errorf("%d event outcomes recorded in the state table, want one per acted-on outcome", recorded)
	}
}

// TestCloudTrailOwnChangesAreIgnored: the pipeline's own calls come back as
// events; they are ignored and nothing is written.
func TestCloudTrailOwnChangesAreIgnored(t *testing.T) {
	r := newCTRig(t, nil)
	bucket := newBucket(t, r.S3)
	own, _ := r.as(pipelineKey)
	if _, err := own.DeletePublicAccessBlock(ctx(t), &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	writes := r.ops.Count("PutPublicAccessBlock")
	outs := r.invokeRecorded(t)["DeleteBucketPublicAccessBlock"]
	if len(outs) != 1 || outs[0].Action != remediation.ActionIgnored || !strings.HasPrefix(outs[0].Reason, "caused by this pipeline") {
		t.Fatalf("outcomes %+v; want one ignored, caused by this pipeline", outs)
	}
	if n := r.ops.Count("PutPublicAccessBlock") - writes; n != 0 {
		t.Errorf("%d writes for the pipeline's own call", n)
	}
}

// TestCloudTrailFlapEscalates: another automation removes the public access
// block after every fix; with FLAP_LIMIT=3, five rounds give three fixes,
// then escalated outcomes that write nothing and name the other automation.
func TestCloudTrailFlapEscalates(t *testing.T) {
	r := newCTRig(t, map[string]string{"FLAP_LIMIT": "3", "FLAP_WINDOW": "1h"})
	bucket := newBucket(t, r.S3)
	other, _ := r.as(otherKey)
	var got []remediation.Action
	var last remediation.Outcome
	for round := range 5 {
		if _, err := other.DeletePublicAccessBlock(ctx(t), &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		outs := r.invokeRecorded(t)["DeleteBucketPublicAccessBlock"]
		if len(outs) != 1 {
			t.Fatalf("round %d: %d outcomes", round, len(outs))
		}
		last = outs[0]
		got = append(got, last.Action)
	}
	want := []remediation.Action{remediation.ActionRemediated, remediation.ActionRemediated, remediation.ActionRemediated,
		remediation.ActionEscalated, remediation.ActionEscalated}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	if n := r.ops.Count("PutPublicAccessBlock"); n != 3 {
		t.Errorf("%d writes, want 3", n)
	}
	if r.blocked(t, bucket) {
		t.Error("the bucket is blocked: an escalated outcome wrote")
	}
	if !strings.Contains(last.Reason, "fixed 3 times") || !strings.Contains(last.Reason, otherRole+"/drift-fixer") {
		t.Errorf("escalated reason %q: want the count and the other automation", last.Reason)
	}
}

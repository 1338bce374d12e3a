package app_test

// `remediate undo` on moto_server, one remediator at a time: the
// misconfiguration is made with the SDK, the fixture event goes through the
// handler (a remediated outcome), the outcome goes through its JSON (as
// undo reads it from a file, SNS or the log) and back through the
// handler's Revert, and the state is read back from the emulator. Each also
// changes the resource after the fix: the revert refuses, and --force
// reverts anyway.
//
// moto 5.2 serves every call the reverts make (DeletePublicAccessBlock,
// DeleteBucketPolicy, AuthorizeSecurityGroupIngress with IpPermissions,
// ModifyInstanceMetadataOptions back to optional) as AWS does for these
// requests.

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// undo reverts an outcome read back from its JSON, as the CLI does, and
// checks the action.
func (r *rig) undo(o remediation.Outcome, force bool, want remediation.Action) remediation.Outcome {
	r.t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		r.t.Fatal(err)
	}
	var read remediation.Outcome
	if err := json.Unmarshal(b, &read); err != nil {
		r.t.Fatal(err)
	}
	got, err := r.handler.Revert(ctx(r.t), remediation.Undo{Outcome: read, Mode: remediation.ModeEnforce, Force: force, Actor: "arn:aws:iam::123456789012:user/test"})
	if got.Action != want {
		r.t.Fatalf("undo of %s on %s: %s (reason %q, error %q, %v), want %s", o.Remediator, o.ResourceID, got.Action, got.Reason, got.Error, err, want)
	}
	if got.Trigger != remediation.TriggerUndo || got.EventID != "undo-"+o.EventID || got.ResourceID != o.ResourceID || got.Remediator != o.Remediator {
		r.t.Errorf("undo outcome %+v", got)
	}
	return got
}

func TestUndoPublicAccessBlockOnEmulator(t *testing.T) {
	r := newRig(t, nil)
	// A bucket without a configuration gets none back.
	b := r.makePublic("undo-pab")
	o := r.mustRun(fixturePublicRead, b, remediation.ActionRemediated)
	r.undo(o, false, remediation.ActionReverted)
	if got := r.publicAccessBlock(b); got != nil {
		t.Fatalf("after undo bucket %s has public access block %+v, want none as before", b, got)
	}
	lines := logLines(r.logs, "outcome")
	if last := lines[len(lines)-1]; last["action"] != "reverted" || last["trigger"] != "undo" || last["actor"] != "arn:aws:iam::123456789012:user/test" {
		t.Errorf("published outcome line %v", last)
	}

	// A bucket with two of the four on gets exactly those two back, once
	// forced past a change made since the fix.
	b2 := r.makePublic("undo-pab-partial")
	partial := &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(false),
		BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(true)}
	if _, err := r.S3.PutPublicAccessBlock(ctx(t), &s3.PutPublicAccessBlockInput{Bucket: aws.String(b2), PublicAccessBlockConfiguration: partial}); err != nil {
		t.Fatal(err)
	}
	o = r.mustRun(fixturePublicRead, b2, remediation.ActionRemediated)
	changed := &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
		BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(true)}
	if _, err := r.S3.PutPublicAccessBlock(ctx(t), &s3.PutPublicAccessBlockInput{Bucket: aws.String(b2), PublicAccessBlockConfiguration: changed}); err != nil {
		t.Fatal(err)
	}
	refused := r.undo(o, false, remediation.ActionNeedsManual)
	if !strings.Contains(refused.Reason, "blockPublicPolicy is false, the outcome left true") {
		t.Errorf("refusal reason %q", refused.Reason)
	}
	if got := r.publicAccessBlock(b2); aws.ToBool(got.BlockPublicPolicy) || !aws.ToBool(got.IgnorePublicAcls) {
		t.Fatalf("refused undo changed the bucket: %+v", got)
	}
	r.undo(o, true, remediation.ActionReverted)
	got := r.publicAccessBlock(b2)
	if got == nil || !aws.ToBool(got.BlockPublicAcls) || aws.ToBool(got.IgnorePublicAcls) || aws.ToBool(got.BlockPublicPolicy) || !aws.ToBool(got.RestrictPublicBuckets) {
		t.Fatalf("after forced undo: %+v, want BlockPublicAcls and RestrictPublicBuckets only", got)
	}
}

// bucketSSE reads the bucket's default encryption rule back.
func (r *rig) bucketSSE(bucket string) s3types.ServerSideEncryptionRule {
	r.t.Helper()
	out, err := r.S3.GetBucketEncryption(ctx(r.t), &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err != nil {
		r.t.Fatalf("reading encryption of %s: %v", bucket, err)
	}
	if n := len(out.ServerSideEncryptionConfiguration.Rules); n != 1 {
		r.t.Fatalf("bucket %s has %d encryption rules", bucket, n)
	}
	return out.ServerSideEncryptionConfiguration.Rules[0]
}

func TestUndoDefaultEncryptionOnEmulator(t *testing.T) {
	r := newRig(t, map[string]string{"S3_SSE_ALGORITHM": "aws:kms"})
	b := r.createBucket("undo-sse")
	sse := func(alg s3types.ServerSideEncryption) {
		t.Helper()
		if _, err := r.S3.PutBucketEncryption(ctx(t), &s3.PutBucketEncryptionInput{Bucket: aws.String(b),
			ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: alg}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	sse(s3types.ServerSideEncryptionAes256)
	o := r.mustRun(fixtureSSE, b, remediation.ActionRemediated)
	if got := r.bucketSSE(b); got.ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAwsKms {
		t.Fatalf("precondition: the fix left %+v", got.ApplyServerSideEncryptionByDefault)
	}
	sse(s3types.ServerSideEncryptionAwsKmsDsse) // changed since
	r.undo(o, false, remediation.ActionNeedsManual)
	if got := r.bucketSSE(b); got.ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAwsKmsDsse {
		t.Fatalf("refused undo changed the bucket: %+v", got.ApplyServerSideEncryptionByDefault)
	}
	r.undo(o, true, remediation.ActionReverted)
	got := r.bucketSSE(b)
	if d := got.ApplyServerSideEncryptionByDefault; d.SSEAlgorithm != s3types.ServerSideEncryptionAes256 || d.KMSMasterKeyID != nil || aws.ToBool(got.BucketKeyEnabled) {
		t.Fatalf("after undo: %+v bucket key %v, want AES256 as before", d, got.BucketKeyEnabled)
	}

	// moto's new buckets have no default encryption (real S3's have
	// SSE-S3): that "none" comes back as SSE-S3, and the reason says so.
	b2 := r.createBucket("undo-sse-none")
	o = r.mustRun(fixtureSSE, b2, remediation.ActionRemediated)
	u := r.undo(o, false, remediation.ActionReverted)
	if !strings.Contains(u.Reason, "S3 encrypts every bucket with SSE-S3") {
		t.Errorf("reason %q", u.Reason)
	}
	if got := r.bucketSSE(b2); got.ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAes256 {
		t.Fatalf("after undo: %+v, want AES256", got.ApplyServerSideEncryptionByDefault)
	}
}

func TestUndoIMDSv2OnEmulator(t *testing.T) {
	r := newRig(t, map[string]string{"IMDS_LOOKBACK_DAYS": "0"})
	id := r.launchIMDSv1()
	o := r.mustRun(fixtureIMDSv2, id, remediation.ActionRemediated)
	// Changed since: the hop limit. (moto clears an endpoint the request
	// omits, so the test sends it.)
	if _, err := r.EC2.ModifyInstanceMetadataOptions(ctx(t), &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id),
		HttpTokens: ec2types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled}); err != nil {
		t.Fatal(err)
	}
	refused := r.undo(o, false, remediation.ActionNeedsManual)
	if !strings.Contains(refused.Reason, "httpPutResponseHopLimit is 1, the outcome left 2") {
		t.Errorf("refusal reason %q", refused.Reason)
	}
	if got := r.metadataOptions(id); got.HttpTokens != ec2types.HttpTokensStateRequired {
		t.Fatalf("refused undo changed HttpTokens to %q", got.HttpTokens)
	}
	r.undo(o, true, remediation.ActionReverted)
	got := r.metadataOptions(id)
	if got.HttpTokens != ec2types.HttpTokensStateOptional || aws.ToInt32(got.HttpPutResponseHopLimit) != 1 || got.HttpEndpoint != ec2types.InstanceMetadataEndpointStateEnabled {
		t.Fatalf("after undo: tokens %q, hop limit %d, endpoint %q; want optional, the hop limit left alone (1), enabled",
			got.HttpTokens, aws.ToInt32(got.HttpPutResponseHopLimit), got.HttpEndpoint)
	}

	// Unchanged since the fix: reverted without --force.
	id2 := r.launchIMDSv1()
	o = r.mustRun(fixtureIMDSv2, id2, remediation.ActionRemediated)
	r.undo(o, false, remediation.ActionReverted)
	if got := r.metadataOptions(id2); got.HttpTokens != ec2types.HttpTokensStateOptional {
		t.Fatalf("after undo: HttpTokens %q, want optional", got.HttpTokens)
	}
}

func TestUndoSSLRequestsOnlyOnEmulator(t *testing.T) {
	r := newRig(t, nil)
	// A bucket without a policy has none again.
	b := r.createBucket("undo-ssl-none")
	o := r.mustRun(fixtureSSL, b, remediation.ActionRemediated)
	r.undo(o, false, remediation.ActionReverted)
	if doc, ok := r.bucketPolicy(b); ok {
		t.Fatalf("after undo bucket %s has policy %s, want none as before", b, doc)
	}

	// A bucket with a policy gets that policy back, whole.
	b2 := r.createBucket("undo-ssl-policy")
	previous := `{"Version":"2012-10-17","Statement":[{"Sid":"PartnerRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},` +
		`"Action":"s3:GetObject","Resource":"arn:aws:s3:::` + b2 + `/*"}]}`
	if _, err := r.S3.PutBucketPolicy(ctx(t), &s3.PutBucketPolicyInput{Bucket: aws.String(b2), Policy: aws.String(previous)}); err != nil {
		t.Fatal(err)
	}
	o = r.mustRun(fixtureSSL, b2, remediation.ActionRemediated)
	fixed, _ := r.bucketPolicy(b2)
	edited := strings.Replace(fixed, `"PartnerRead"`, `"PartnerReadEdited"`, 1)
	if _, err := r.S3.PutBucketPolicy(ctx(t), &s3.PutBucketPolicyInput{Bucket: aws.String(b2), Policy: aws.String(edited)}); err != nil {
		t.Fatal(err)
	}
	r.undo(o, false, remediation.ActionNeedsManual)
	if doc, _ := r.bucketPolicy(b2); !strings.Contains(doc, "PartnerReadEdited") {
		t.Fatalf("refused undo changed the policy: %s", doc)
	}
	r.undo(o, true, remediation.ActionReverted)
	doc, ok := r.bucketPolicy(b2)
	var got, want any
	_ = json.Unmarshal([]byte(doc), &got)
	_ = json.Unmarshal([]byte(previous), &want)
	if !ok || !jsonEqual(got, want) {
		t.Fatalf("after undo the policy is %s, want %s", doc, previous)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestUndoSecurityGroupIngressOnEmulator(t *testing.T) {
	r := newRig(t, nil)
	var (
		ssh4    = sgSpec{"tcp", 22, 22, "0.0.0.0/0"}
		ssh6    = sgSpec{"tcp", 22, 22, "::/0"}
		sshCorp = sgSpec{"tcp", 22, 22, "10.0.0.0/8"}
		wide    = sgSpec{"tcp", 20, 3400, "0.0.0.0/0"}
	)
	id := r.newGroup("undo-sg", nil, ssh4, ssh6, sshCorp, wide)
	o := r.mustRun(sgFixture, id, remediation.ActionRemediated)
	if got := r.ingress(id); !equalStrings(got, specs(sshCorp)) {
		t.Fatalf("precondition: after the fix %v", got)
	}
	r.undo(o, false, remediation.ActionReverted)
	if got, want := r.ingress(id), specs(ssh4, ssh6, sshCorp, wide); !equalStrings(got, want) {
		t.Fatalf("after undo the rules are %v, want %v", got, want)
	}
	// The description comes back too.
	out, err := r.EC2.DescribeSecurityGroupRules(ctx(t), &ec2.DescribeSecurityGroupRulesInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{id}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range out.SecurityGroupRules {
		if aws.ToString(sr.CidrIpv6) == "::/0" && aws.ToString(sr.Description) != "test "+ssh6.String() {
			t.Errorf("rule %s description %q", aws.ToString(sr.SecurityGroupRuleId), aws.ToString(sr.Description))
		}
	}

	// Opened again since the fix: refused; forced, only the missing rules
	// are added.
	id2 := r.newGroup("undo-sg-reopened", nil, ssh4, ssh6)
	o = r.mustRun(sgFixture, id2, remediation.ActionRemediated)
	r.newRule(id2, ssh4)
	refused := r.undo(o, false, remediation.ActionNeedsManual)
	if !strings.Contains(refused.Reason, "0.0.0.0/0") {
		t.Errorf("refusal reason %q", refused.Reason)
	}
	if got := r.ingress(id2); !equalStrings(got, specs(ssh4)) {
		t.Fatalf("refused undo changed the rules: %v", got)
	}
	r.undo(o, true, remediation.ActionReverted)
	if got := r.ingress(id2); !equalStrings(got, specs(ssh4, ssh6)) {
		t.Fatalf("after forced undo the rules are %v, want %v", got, specs(ssh4, ssh6))
	}
}

// newRule authorises one more ingress rule on a group.
func (r *rig) newRule(id string, s sgSpec) {
	r.t.Helper()
	p := ec2types.IpPermission{IpProtocol: aws.String(s.proto), FromPort: aws.Int32(s.from), ToPort: aws.Int32(s.to),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String(s.source)}}}
	if _, err := r.EC2.AuthorizeSecurityGroupIngress(ctx(r.t), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id),
		IpPermissions: []ec2types.IpPermission{p}}); err != nil {
		r.t.Fatalf("authorizing %s on %s: %v", s, id, err)
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

package remediators

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// The fakes' calls that only a revert makes.

func (f *fakeS3) DeletePublicAccessBlock(_ context.Context, in *s3.DeletePublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.DeletePublicAccessBlockOutput, error) {
	if err := f.begin("DeletePublicAccessBlock", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites {
		f.pab = nil
	}
	return &s3.DeletePublicAccessBlockOutput{}, nil
}

func (f *fakePolicyS3) DeleteBucketPolicy(_ context.Context, in *s3.DeleteBucketPolicyInput, optFns ...func(*s3.Options)) (*s3.DeleteBucketPolicyOutput, error) {
	if err := f.begin("DeleteBucketPolicy", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites {
		f.previous, f.policy = f.policy, nil
	}
	return &s3.DeleteBucketPolicyOutput{}, nil
}

// AuthorizeSecurityGroupIngress adds the rules with new IDs, refusing a
// duplicate as EC2 does; it checks that rules come as IpPermissions of the
// test group with CIDR sources only.
func (f *fakeSG) AuthorizeSecurityGroupIngress(_ context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	f.authorizes = append(f.authorizes, in)
	if aws.ToString(in.GroupId) != f.group || in.GroupName != nil || in.CidrIp != nil || in.IpProtocol != nil || len(in.IpPermissions) == 0 {
		f.t.Errorf("AuthorizeSecurityGroupIngress: %+v; want GroupId %s and IpPermissions only", in, f.group)
	}
	if err := f.begin("AuthorizeSecurityGroupIngress", optFns); err != nil {
		return nil, err
	}
	var tags []ec2types.Tag
	for _, s := range in.TagSpecifications {
		if s.ResourceType != ec2types.ResourceTypeSecurityGroupRule {
			f.t.Errorf("AuthorizeSecurityGroupIngress: tag specification for %q", s.ResourceType)
		}
		tags = append(tags, s.Tags...)
	}
	var added []ec2types.SecurityGroupRule
	for _, p := range in.IpPermissions {
		if len(p.IpRanges)+len(p.Ipv6Ranges) != 1 || len(p.UserIdGroupPairs)+len(p.PrefixListIds) != 0 {
			f.t.Errorf("AuthorizeSecurityGroupIngress: permission %+v; want one CIDR", p)
		}
		cidr, desc := "", (*string)(nil)
		for _, r := range p.IpRanges {
			cidr, desc = aws.ToString(r.CidrIp), r.Description
		}
		for _, r := range p.Ipv6Ranges {
			cidr, desc = aws.ToString(r.CidrIpv6), r.Description
		}
		rule := sgRule("sgr-new"+strings.Repeat("0", len(f.authorizes))+cidr, aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), cidr)
		rule.Description, rule.Tags = desc, tags
		for _, have := range f.rules {
			if newIngressRule(have).key() == newIngressRule(rule).key() {
				return nil, apiErr("InvalidPermission.Duplicate")
			}
		}
		added = append(added, rule)
	}
	if !f.dropWrites {
		f.rules = append(f.rules, added...)
	}
	return &ec2.AuthorizeSecurityGroupIngressOutput{Return: aws.Bool(true)}, nil
}

// remediated turns a remediated result into the outcome undo reads, after
// a trip through the outcome's JSON (numbers become float64, lists []any).
func remediated(t *testing.T, res remediation.Result, resourceType, id string) remediation.Outcome {
	t.Helper()
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("remediation: %q, want remediated (reason %q)", res.Action, res.Reason)
	}
	o := remediation.Outcome{Remediator: "x", ResourceType: resourceType, ResourceID: id, Account: testAccount, Region: testRegion,
		Action: res.Action, Before: res.Before, After: res.After, EventID: "e1"}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back remediation.Outcome
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

func revertReq(o remediation.Outcome, mode remediation.Mode, force bool) remediation.RevertRequest {
	return remediation.RevertRequest{Outcome: o, Mode: mode, Force: force}
}

func wantAction(t *testing.T, res remediation.Result, want remediation.Action, reasonHas ...string) {
	t.Helper()
	if res.Action != want {
		t.Fatalf("Action = %q, want %q (reason %q, err %v)", res.Action, want, res.Reason, res.Err)
	}
	for _, s := range reasonHas {
		if !strings.Contains(res.Reason, s) {
			t.Errorf("reason %q does not say %q", res.Reason, s)
		}
	}
}

func TestRevertPublicAccessBlockDeletesWhatWasNotThere(t *testing.T) {
	f := newFakeS3(t)
	r := NewS3PublicAccessBlock(f, testOptions())
	o := remediated(t, r.Remediate(context.Background(), request("s3-bucket-public-read-prohibited", ResourceTypeBucket, testBucket, remediation.ModeEnforce)), ResourceTypeBucket, testBucket)

	dry := r.Revert(context.Background(), revertReq(o, remediation.ModeDryRun, false))
	wantAction(t, dry, remediation.ActionDryRun, "no public access block configuration")
	if f.count("DeletePublicAccessBlock") != 0 || f.pab == nil {
		t.Fatalf("dry-run wrote: %v", f.names())
	}
	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionReverted)
	if f.pab != nil || f.count("DeletePublicAccessBlock") != 1 || len(f.pabPuts) != 1 {
		t.Fatalf("after revert: pab %+v, calls %v", f.pab, f.names())
	}
	if res.After["configured"] != false || res.Before["configured"] != true {
		t.Errorf("before %v, after %v", res.Before, res.After)
	}
}

func TestRevertPublicAccessBlockRestoresFlags(t *testing.T) {
	f := newFakeS3(t)
	f.pab = &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(false),
		BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(true)}
	r := NewS3PublicAccessBlock(f, testOptions())
	o := remediated(t, r.Remediate(context.Background(), request("s3-bucket-public-read-prohibited", ResourceTypeBucket, testBucket, remediation.ModeEnforce)), ResourceTypeBucket, testBucket)
	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionReverted, "BlockPublicAcls, RestrictPublicBuckets")
	last := f.pabPuts[len(f.pabPuts)-1].PublicAccessBlockConfiguration
	got := []bool{aws.ToBool(last.BlockPublicAcls), aws.ToBool(last.IgnorePublicAcls), aws.ToBool(last.BlockPublicPolicy), aws.ToBool(last.RestrictPublicBuckets)}
	if !slices.Equal(got, []bool{true, false, false, true}) || f.count("DeletePublicAccessBlock") != 0 {
		t.Errorf("restored %v (calls %v)", got, f.names())
	}
}

func TestRevertPublicAccessBlockRefusesChange(t *testing.T) {
	f := newFakeS3(t)
	r := NewS3PublicAccessBlock(f, testOptions())
	o := remediated(t, r.Remediate(context.Background(), request("s3-bucket-public-read-prohibited", ResourceTypeBucket, testBucket, remediation.ModeEnforce)), ResourceTypeBucket, testBucket)
	f.pab.BlockPublicPolicy = aws.Bool(false) // someone changed it since
	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionNeedsManual, "blockPublicPolicy is false, the outcome left true", "--force")
	if f.count("DeletePublicAccessBlock") != 0 {
		t.Fatalf("refused revert wrote: %v", f.names())
	}
	res = r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, true))
	wantAction(t, res, remediation.ActionReverted)
	if f.pab != nil {
		t.Errorf("forced revert left %+v", f.pab)
	}
}

func TestRevertNeedsCompleteBefore(t *testing.T) {
	for name, c := range map[string]struct {
		r      remediation.Reverter
		typ    string
		id     string
		before map[string]any
		says   string
	}{
		"public access block": {NewS3PublicAccessBlock(newFakeS3(t), testOptions()), ResourceTypeBucket, testBucket,
			map[string]any{"configured": true, "blockPublicAcls": true}, "ignorePublicAcls"},
		"encryption": {NewS3Encryption(newFakeS3(t), testOptions()), ResourceTypeBucket, testBucket,
			map[string]any{"bucketKeyEnabled": false}, "sseAlgorithm"},
		"imdsv2": {NewEC2IMDSv2(newFakeEC2(t), nil, testOptions()), ResourceTypeInstance, testInstance,
			map[string]any{"httpEndpoint": "enabled"}, "httpTokens"},
		"ssl": {NewS3SSLRequestsOnly(newFakePolicyS3(t), testOptions()), ResourceTypeBucket, testBucket,
			map[string]any{}, "policy"},
		"security group": {NewEC2SecurityGroupIngress(newFakeSG(t), testOptions()), ResourceTypeSecurityGroup, testGroup,
			map[string]any{"checkedPorts": []any{22.0}, "openIngressRules": []any{map[string]any{"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0}}}, "cidrIpv4"},
	} {
		t.Run(name, func(t *testing.T) {
			o := remediation.Outcome{ResourceType: c.typ, ResourceID: c.id, Region: testRegion, Action: remediation.ActionRemediated, Before: c.before}
			res := c.r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, true))
			wantAction(t, res, remediation.ActionFailed, "before has no", c.says)
		})
	}
}

func TestRevertEncryptionNoneBecomesSSES3(t *testing.T) {
	f := newFakeS3(t)
	r := NewS3Encryption(f, testOptions())
	o := remediated(t, r.Remediate(context.Background(), request("s3-bucket-server-side-encryption-enabled", ResourceTypeBucket, testBucket, remediation.ModeEnforce)), ResourceTypeBucket, testBucket)
	if o.Before["sseAlgorithm"] != SSEAlgorithmNone {
		t.Fatalf("before %v", o.Before)
	}
	// The fix wrote AES256 already: undo has nothing closer to "none".
	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionReverted, "S3 encrypts every bucket with SSE-S3")
	if len(f.encPuts) != 1 {
		t.Errorf("PutBucketEncryption calls %d, want only the fix's", len(f.encPuts))
	}
}

func TestRevertEncryptionRestoresPrevious(t *testing.T) {
	f := newFakeS3(t)
	f.encryption = &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
		ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}}
	opts := testOptions()
	opts.SSEAlgorithm, opts.KMSKeyARN = SSEAlgorithmKMS, testKMSKey
	r := NewS3Encryption(f, opts)
	o := remediated(t, r.Remediate(context.Background(), request("s3-bucket-server-side-encryption-enabled", ResourceTypeBucket, testBucket, remediation.ModeEnforce)), ResourceTypeBucket, testBucket)

	f.encryption.Rules[0].BucketKeyEnabled = aws.Bool(false) // changed since
	wantAction(t, r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false)), remediation.ActionNeedsManual, "bucketKeyEnabled is false, the outcome left true")
	f.encryption.Rules[0].BucketKeyEnabled = aws.Bool(true)

	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionReverted, "to AES256")
	put := f.encPuts[len(f.encPuts)-1].ServerSideEncryptionConfiguration.Rules
	if len(f.encPuts) != 2 || len(put) != 1 || put[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAes256 ||
		put[0].ApplyServerSideEncryptionByDefault.KMSMasterKeyID != nil || put[0].BucketKeyEnabled != nil {
		t.Errorf("revert put %+v", put)
	}
}

func TestRevertIMDSv2(t *testing.T) {
	f := newIMDSFakes(t)
	opts := testOptions()
	opts.IMDSLookback = 0
	o := remediated(t, runIMDS(t, f, opts, remediation.ModeEnforce), ResourceTypeInstance, testInstance)
	r := NewEC2IMDSv2(f.ec2, f.cw, opts)

	f.ec2.instance.MetadataOptions.HttpPutResponseHopLimit = aws.Int32(1) // changed since
	wantAction(t, r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false)), remediation.ActionNeedsManual, "httpPutResponseHopLimit is 1, the outcome left 2")
	if len(f.ec2.modifies) != 1 {
		t.Fatalf("refused revert modified: %d calls", len(f.ec2.modifies))
	}
	f.ec2.pendingReads = 1 // the change shows on the second read
	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, true))
	wantAction(t, res, remediation.ActionReverted, "from required back to optional")
	in := f.ec2.modifies[len(f.ec2.modifies)-1]
	if len(f.ec2.modifies) != 2 || in.HttpTokens != ec2types.HttpTokensStateOptional || in.HttpEndpoint != ec2types.InstanceMetadataEndpointStateEnabled || aws.ToInt32(in.HttpPutResponseHopLimit) != 1 {
		t.Errorf("modify %+v", in)
	}
	if res.After["httpTokens"] != "optional" {
		t.Errorf("after %v", res.After)
	}
}

func TestRevertIMDSv2Gone(t *testing.T) {
	f := newIMDSFakes(t)
	opts := testOptions()
	opts.IMDSLookback = 0
	o := remediated(t, runIMDS(t, f, opts, remediation.ModeEnforce), ResourceTypeInstance, testInstance)
	f.ec2.instance = nil
	wantAction(t, NewEC2IMDSv2(f.ec2, f.cw, opts).Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false)), remediation.ActionGone)
}

func TestRevertSSLRestoresPolicyExactly(t *testing.T) {
	f := newFakePolicyS3(t).withPolicy(partnerRead)
	o := remediated(t, runSSL(t, f, testOptions(), remediation.ModeEnforce), ResourceTypeBucket, testBucket)
	r := NewS3SSLRequestsOnly(f, testOptions())
	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionReverted, "previous bucket policy")
	if len(f.puts) != 2 || f.puts[1] != partnerRead || *f.policy != partnerRead {
		t.Errorf("puts %q", f.puts)
	}
}

func TestRevertSSLDeletesPolicyItCreated(t *testing.T) {
	f := newFakePolicyS3(t)
	o := remediated(t, runSSL(t, f, testOptions(), remediation.ModeEnforce), ResourceTypeBucket, testBucket)
	r := NewS3SSLRequestsOnly(f, testOptions())

	edited := strings.Replace(*f.policy, `"s3:*"`, `"s3:GetObject"`, 1)
	f.policy = &edited // changed since
	wantAction(t, r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false)), remediation.ActionNeedsManual, "differs")
	wantAction(t, r.Revert(context.Background(), revertReq(o, remediation.ModeDryRun, true)), remediation.ActionDryRun, "no bucket policy")
	if f.count("DeleteBucketPolicy") != 0 {
		t.Fatalf("refused or dry-run revert deleted")
	}
	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, true))
	wantAction(t, res, remediation.ActionReverted)
	if f.policy != nil || f.count("DeleteBucketPolicy") != 1 || res.After["policy"] != nil {
		t.Errorf("policy %v, after %v", f.policy, res.After)
	}
}

func TestRevertSSLSameDocumentOtherLayout(t *testing.T) {
	f := newFakePolicyS3(t).withPolicy(partnerRead)
	o := remediated(t, runSSL(t, f, testOptions(), remediation.ModeEnforce), ResourceTypeBucket, testBucket)
	var v any
	_ = json.Unmarshal([]byte(*f.policy), &v)
	indented, _ := json.MarshalIndent(v, "", "  ")
	doc := string(indented)
	f.policy = &doc // S3 may return the same policy laid out otherwise
	wantAction(t, NewS3SSLRequestsOnly(f, testOptions()).Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false)), remediation.ActionReverted)
}

func TestRevertSecurityGroupAuthorisesRulesAgain(t *testing.T) {
	ssh4 := sgRule("sgr-01", "tcp", 22, 22, "0.0.0.0/0")
	ssh4.Tags = []ec2types.Tag{ec2Tagged("owner", "ops"), ec2Tagged("ticket", "OPS-1")}
	ssh6 := sgRule("sgr-02", "tcp", 22, 22, "::/0")
	ssh6.Description = nil
	corp := sgRule("sgr-03", "tcp", 22, 22, "10.0.0.0/8")
	f := newFakeSG(t, ssh4, ssh6, corp)
	r := NewEC2SecurityGroupIngress(f, testOptions())
	o := remediated(t, r.Remediate(context.Background(), request(RuleRestrictedSSH, ResourceTypeSecurityGroup, testGroup, remediation.ModeEnforce)), ResourceTypeSecurityGroup, testGroup)

	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionReverted, "authorised again 2 ingress rules")
	if len(f.authorizes) != 2 {
		t.Fatalf("%d authorize calls, want one per tag set (2)", len(f.authorizes))
	}
	tagged, plain := f.authorizes[0], f.authorizes[1]
	if len(tagged.IpPermissions) != 1 || aws.ToString(tagged.IpPermissions[0].IpRanges[0].CidrIp) != "0.0.0.0/0" ||
		aws.ToString(tagged.IpPermissions[0].IpRanges[0].Description) != "rule sgr-01" ||
		len(tagged.TagSpecifications) != 1 || len(tagged.TagSpecifications[0].Tags) != 2 ||
		aws.ToString(tagged.TagSpecifications[0].Tags[1].Value) != "OPS-1" {
		t.Errorf("tagged rule authorised as %+v", tagged)
	}
	if len(plain.IpPermissions) != 1 || aws.ToString(plain.IpPermissions[0].Ipv6Ranges[0].CidrIpv6) != "::/0" ||
		plain.IpPermissions[0].Ipv6Ranges[0].Description != nil || len(plain.TagSpecifications) != 0 ||
		aws.ToInt32(plain.IpPermissions[0].FromPort) != 22 || aws.ToString(plain.IpPermissions[0].IpProtocol) != "tcp" {
		t.Errorf("untagged rule authorised as %+v", plain)
	}
	if len(f.rules) != 3 {
		t.Errorf("rules %v", f.ruleIDs())
	}
	if after, _ := stateList(res.After, "openIngressRules"); len(after) != 2 {
		t.Errorf("after %v", res.After)
	}
}

func TestRevertSecurityGroupRefusesReopenedPort(t *testing.T) {
	ssh4 := sgRule("sgr-01", "tcp", 22, 22, "0.0.0.0/0")
	ssh6 := sgRule("sgr-02", "tcp", 22, 22, "::/0")
	f := newFakeSG(t, ssh4, ssh6)
	r := NewEC2SecurityGroupIngress(f, testOptions())
	o := remediated(t, r.Remediate(context.Background(), request(RuleRestrictedSSH, ResourceTypeSecurityGroup, testGroup, remediation.ModeEnforce)), ResourceTypeSecurityGroup, testGroup)
	f.rules = append(f.rules, sgRule("sgr-09", "tcp", 22, 22, "0.0.0.0/0")) // someone opened it again

	res := r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, false))
	wantAction(t, res, remediation.ActionNeedsManual, "sgr-09")
	if len(f.authorizes) != 0 {
		t.Fatalf("refused revert authorised %d times", len(f.authorizes))
	}
	res = r.Revert(context.Background(), revertReq(o, remediation.ModeEnforce, true))
	wantAction(t, res, remediation.ActionReverted, "1 ingress rule")
	if len(f.authorizes) != 1 || len(f.authorizes[0].IpPermissions) != 1 || len(f.authorizes[0].IpPermissions[0].Ipv6Ranges) != 1 {
		t.Errorf("forced revert authorised %+v, want only the IPv6 rule", f.authorizes)
	}
}

package remediators

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

const (
	sseRule = "s3-bucket-server-side-encryption-enabled"
)

func sse(alg, key string, bucketKey bool) *s3types.ServerSideEncryptionConfiguration {
	def := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryption(alg)}
	if key != "" {
		def.KMSMasterKeyID = aws.String(key)
	}
	return &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{
		{ApplyServerSideEncryptionByDefault: def, BucketKeyEnabled: aws.Bool(bucketKey)}}}
}

func runSSE(t *testing.T, f *fakeS3, opts Options, rule string, mode remediation.Mode) remediation.Result {
	t.Helper()
	f.bucket = "example-unencrypted-bucket"
	req := request(rule, "AWS::S3::Bucket", "example-unencrypted-bucket", mode)
	return NewS3Encryption(f, opts).Remediate(context.Background(), req)
}

// checkSSEPut asserts the one PutBucketEncryption request exactly.
func checkSSEPut(t *testing.T, f *fakeS3, alg, key string, bucketKey *bool) {
	t.Helper()
	if len(f.encPuts) != 1 {
		t.Fatalf("%d PutBucketEncryption calls, want 1", len(f.encPuts))
	}
	in := f.encPuts[0]
	if aws.ToString(in.Bucket) != "example-unencrypted-bucket" {
		t.Errorf("Bucket = %q", aws.ToString(in.Bucket))
	}
	if in.ServerSideEncryptionConfiguration == nil || len(in.ServerSideEncryptionConfiguration.Rules) != 1 {
		t.Fatalf("configuration = %+v, want one rule", in.ServerSideEncryptionConfiguration)
	}
	rule := in.ServerSideEncryptionConfiguration.Rules[0]
	def := rule.ApplyServerSideEncryptionByDefault
	if def == nil || string(def.SSEAlgorithm) != alg {
		t.Fatalf("ApplyServerSideEncryptionByDefault = %+v, want algorithm %s", def, alg)
	}
	if key == "" && def.KMSMasterKeyID != nil {
		t.Errorf("KMSMasterKeyID = %q, want none", aws.ToString(def.KMSMasterKeyID))
	} else if key != "" && aws.ToString(def.KMSMasterKeyID) != key {
		t.Errorf("KMSMasterKeyID = %q, want %q", aws.ToString(def.KMSMasterKeyID), key)
	}
	if (bucketKey == nil) != (rule.BucketKeyEnabled == nil) || (bucketKey != nil && *bucketKey != *rule.BucketKeyEnabled) {
		t.Errorf("BucketKeyEnabled = %v, want %v", rule.BucketKeyEnabled, bucketKey)
	}
}

func TestSSERemediatesToAES256(t *testing.T) {
	f := newFakeS3(t)
	res := runSSE(t, f, testOptions(), sseRule, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	checkSSEPut(t, f, "AES256", "", nil)
	want := []string{"GetBucketEncryption", "GetBucketTagging", "PutBucketEncryption", "GetBucketEncryption"}
	if got := f.names(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	if res.Before["sseAlgorithm"] != "none" || res.After["sseAlgorithm"] != "AES256" {
		t.Errorf("Before %v After %v", res.Before, res.After)
	}
	if res.Reason != "set default encryption from none to AES256" {
		t.Errorf("Reason = %q", res.Reason)
	}
}

func TestSSERemediatesToKMSWithKey(t *testing.T) {
	f := newFakeS3(t)
	f.encryption = sse("AES256", "", false)
	opts := testOptions()
	opts.SSEAlgorithm, opts.KMSKeyARN = SSEAlgorithmKMS, testKMSKey
	res := runSSE(t, f, opts, sseRule, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	checkSSEPut(t, f, "aws:kms", testKMSKey, aws.Bool(true))
	if res.After["kmsMasterKeyId"] != testKMSKey || res.After["bucketKeyEnabled"] != true || res.After["sseAlgorithm"] != "aws:kms" {
		t.Errorf("After = %v", res.After)
	}
	if !strings.Contains(res.Reason, "from AES256 to aws:kms (key "+testKMSKey+", bucket key on)") {
		t.Errorf("Reason = %q", res.Reason)
	}
}

func TestSSEKMSRuleAsksForKMS(t *testing.T) {
	for _, rule := range []string{"s3-default-encryption-kms"} {
		f := newFakeS3(t)
		f.encryption = sse("AES256", "", false)
		opts := testOptions() // AES256 configured
		res := runSSE(t, f, opts, rule, remediation.ModeEnforce)
		if res.Action != remediation.ActionRemediated {
			t.Fatalf("result = %+v", res)
		}
		// no key configured: the AWS managed key aws/s3, with bucket keys on
		checkSSEPut(t, f, "aws:kms", "", aws.Bool(true))
		if !strings.Contains(res.Reason, "AWS managed key aws/s3") {
			t.Errorf("Reason = %q", res.Reason)
		}
	}
	// the conformance-pack name is resolved to the managed name by the core;
	// the remediator sees ManagedRule
	f := newFakeS3(t)
	f.bucket = "example-unencrypted-bucket"
	req := request("s3-default-encryption-kms-conformance-pack-mz2p5rt1", "AWS::S3::Bucket", "example-unencrypted-bucket", remediation.ModeEnforce)
	req.ManagedRule = "s3-default-encryption-kms"
	opts := testOptions()
	opts.KMSKeyARN = testKMSKey
	if res := NewS3Encryption(f, opts).Remediate(context.Background(), req); res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	checkSSEPut(t, f, "aws:kms", testKMSKey, aws.Bool(true))
}

func TestSSELeavesEqualOrStrongerAlone(t *testing.T) {
	cases := []struct {
		name     string
		current  *s3types.ServerSideEncryptionConfiguration
		alg      string
		rule     string
		wantNote string
	}{
		{"AES256 wanted, AES256 set", sse("AES256", "", false), SSEAlgorithmAES256, sseRule, "AES256 is at least as strong as AES256"},
		{"AES256 wanted, KMS set", sse("aws:kms", "arn:aws:kms:eu-west-1:123456789012:key/other", true), SSEAlgorithmAES256, sseRule, "aws:kms is at least as strong as AES256"},
		{"AES256 wanted, DSSE set", sse("aws:kms:dsse", "", false), SSEAlgorithmAES256, sseRule, "aws:kms:dsse"},
		{"KMS wanted, KMS with another key", sse("aws:kms", "arn:aws:kms:eu-west-1:123456789012:key/other", false), SSEAlgorithmKMS, sseRule, "aws:kms is at least as strong as aws:kms"},
		{"KMS rule, KMS set", sse("aws:kms", "", true), SSEAlgorithmAES256, "s3-default-encryption-kms", "as strong as aws:kms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3(t)
			f.encryption = tc.current
			opts := testOptions()
			opts.SSEAlgorithm, opts.KMSKeyARN = tc.alg, testKMSKey
			res := runSSE(t, f, opts, tc.rule, remediation.ModeEnforce)
			if res.Action != remediation.ActionCompliant || !strings.Contains(res.Reason, tc.wantNote) {
				t.Errorf("result = %+v", res)
			}
			if got := f.names(); !reflect.DeepEqual(got, []string{"GetBucketEncryption"}) {
				t.Errorf("calls = %v, want only the read", got)
			}
		})
	}
}

func TestSSEStrongestRuleCounts(t *testing.T) {
	f := newFakeS3(t)
	f.encryption = &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{
		{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: "AES256"}},
		{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: "aws:kms", KMSMasterKeyID: aws.String(testKMSKey)}, BucketKeyEnabled: aws.Bool(true)},
		{}, // a rule without a default
	}}
	opts := testOptions()
	opts.SSEAlgorithm = SSEAlgorithmKMS
	res := runSSE(t, f, opts, sseRule, remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || res.Before["kmsMasterKeyId"] != testKMSKey || res.Before["bucketKeyEnabled"] != true {
		t.Errorf("result = %+v", res)
	}
}

func TestSSEExempt(t *testing.T) {
	for _, v := range []string{"off", "false", "OFF"} {
		f := newFakeS3(t)
		f.tags = []s3types.Tag{tag("auto-remediation", v)}
		res := runSSE(t, f, testOptions(), sseRule, remediation.ModeEnforce)
		if res.Action != remediation.ActionExempt || !strings.Contains(res.Reason, "auto-remediation="+v) {
			t.Errorf("%s: result = %+v", v, res)
		}
		if len(f.writes()) != 0 {
			t.Errorf("%s: writes %v", v, f.writes())
		}
	}
	f := newFakeS3(t)
	f.tags = []s3types.Tag{tag("compliance/skip", "false")}
	opts := testOptions()
	opts.ExemptTagKey = "compliance/skip"
	if res := runSSE(t, f, opts, sseRule, remediation.ModeEnforce); res.Action != remediation.ActionExempt || len(f.writes()) != 0 {
		t.Errorf("configured key: %+v, writes %v", res, f.writes())
	}
}

func TestSSEDryRun(t *testing.T) {
	f := newFakeS3(t)
	opts := testOptions()
	opts.SSEAlgorithm, opts.KMSKeyARN = SSEAlgorithmKMS, testKMSKey
	res := runSSE(t, f, opts, sseRule, remediation.ModeDryRun)
	if res.Action != remediation.ActionDryRun || !strings.HasPrefix(res.Reason, "would set default encryption from none to aws:kms") {
		t.Fatalf("result = %+v", res)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes %v in dry-run", f.writes())
	}
	if res.After["sseAlgorithm"] != "aws:kms" || res.After["kmsMasterKeyId"] != testKMSKey || res.After["bucketKeyEnabled"] != true {
		t.Errorf("After = %v", res.After)
	}
}

func TestSSEGone(t *testing.T) {
	for _, at := range []string{"GetBucketEncryption", "GetBucketTagging", "PutBucketEncryption"} {
		f := newFakeS3(t)
		f.errs[at] = apiErr("NoSuchBucket")
		res := runSSE(t, f, testOptions(), sseRule, remediation.ModeEnforce)
		if res.Action != remediation.ActionGone || !strings.Contains(res.Reason, "example-unencrypted-bucket") {
			t.Errorf("%s: result = %+v", at, res)
		}
	}
}

func TestSSEAPIErrors(t *testing.T) {
	cases := []struct{ at, want string }{
		{"GetBucketEncryption", "reading default encryption of bucket"},
		{"GetBucketTagging", "reading tags of bucket"},
		{"PutBucketEncryption", "putting default encryption AES256 on bucket"},
		{"GetBucketEncryption#2", "verifying default encryption of bucket"},
	}
	for _, tc := range cases {
		t.Run(tc.at, func(t *testing.T) {
			f := newFakeS3(t)
			f.errs[tc.at] = apiErr("AccessDenied")
			res := runSSE(t, f, testOptions(), sseRule, remediation.ModeEnforce)
			checkFailed(t, res, "AccessDenied", tc.want, `"example-unencrypted-bucket"`)
		})
	}
}

func TestSSEVerifyMismatch(t *testing.T) {
	f := newFakeS3(t)
	f.dropWrites = true
	res := runSSE(t, f, testOptions(), sseRule, remediation.ModeEnforce)
	checkFailed(t, res, "", "verifying default encryption", "read back none, want AES256")

	// the wrong key read back is a mismatch too
	f = newFakeS3(t)
	f.dropWrites = true
	f.encryption = sse("AES256", "", false)
	opts := testOptions()
	opts.SSEAlgorithm, opts.KMSKeyARN = SSEAlgorithmKMS, testKMSKey
	res = runSSE(t, f, opts, sseRule, remediation.ModeEnforce)
	checkFailed(t, res, "", "read back AES256")
}

func TestSSEDescribe(t *testing.T) {
	r := NewS3Encryption(nil, Options{})
	if r.Name() != S3EncryptionName || !reflect.DeepEqual(r.ResourceTypes(), []string{"AWS::S3::Bucket"}) {
		t.Errorf("Name %q ResourceTypes %v", r.Name(), r.ResourceTypes())
	}
	checkPermissionsCover(t, S3EncryptionDefinition(), reflect.TypeFor[S3EncryptionAPI]())
	// an empty algorithm means AES256
	f := newFakeS3(t)
	opts := testOptions()
	opts.SSEAlgorithm = ""
	if res := runSSE(t, f, opts, sseRule, remediation.ModeEnforce); res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	checkSSEPut(t, f, "AES256", "", nil)
}

// S3 Bucket Keys are an SSE-KMS feature; dual-layer DSSE-KMS has none.
func TestSSEDSSEHasNoBucketKey(t *testing.T) {
	f := newFakeS3(t)
	o := DefaultOptions()
	o.SSEAlgorithm = SSEAlgorithmDSSE
	res := runSSE(t, f, o, sseRule, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("action %s: %s", res.Action, res.Reason)
	}
	checkSSEPut(t, f, SSEAlgorithmDSSE, "", nil)
}

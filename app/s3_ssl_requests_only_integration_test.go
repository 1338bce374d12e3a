package app_test

// s3-ssl-requests-only against moto_server: the golden event goes through
// the handler the Lambda function builds, and the bucket policy is read
// back from the emulator.
//
// moto (5.2) differs from S3 here: it returns a policy exactly as it was
// put, accepts any policy (duplicate Sids, unknown principals, over 20 KB)
// and does not apply Block Public Access's BlockPublicPolicy; the unit
// tests cover those paths with fakes.

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

const fixtureSSL = "config-s3-bucket-ssl-requests-only-noncompliant.json"

// bucketPolicy reads the bucket's policy back; ok is false when it has none.
func (r *rig) bucketPolicy(bucket string) (doc string, ok bool) {
	r.t.Helper()
	out, err := r.S3.GetBucketPolicy(ctx(r.t), &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if apiCode(err) == "NoSuchBucketPolicy" {
		return "", false
	}
	if err != nil {
		r.t.Fatalf("reading bucket policy of %s: %v", bucket, err)
	}
	return aws.ToString(out.Policy), true
}

// policyStatements returns the policy's statements as the bytes it holds.
func policyStatements(t *testing.T, doc string) []json.RawMessage {
	t.Helper()
	var p struct{ Statement []json.RawMessage }
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("bucket policy %s: %v", doc, err)
	}
	return p.Statement
}

// checkTLSDeny asserts that stmt is AWS's documented TLS-only statement for
// the bucket.
func checkTLSDeny(t *testing.T, stmt json.RawMessage, bucket string) {
	t.Helper()
	var s struct {
		Effect, Principal, Action string
		Resource                  []string
		Condition                 map[string]map[string]string
	}
	if err := json.Unmarshal(stmt, &s); err != nil {
		t.Fatalf("statement %s: %v", stmt, err)
	}
	arn := "arn:aws:s3:::" + bucket
	if s.Effect != "Deny" || s.Principal != "*" || s.Action != "s3:*" || len(s.Resource) != 2 || s.Resource[0] != arn || s.Resource[1] != arn+"/*" ||
		len(s.Condition) != 1 || len(s.Condition["Bool"]) != 1 || s.Condition["Bool"]["aws:SecureTransport"] != "false" {
		t.Errorf("statement added %s, want a deny of s3:* on %s and %s/* when aws:SecureTransport is false", stmt, arn, arn)
	}
}

// A bucket without a policy gets one.
func TestS3SSLPolicyCreatedWhenNone(t *testing.T) {
	r := newRig(t, nil)
	b := r.createBucket("http")
	o := r.mustRun(fixtureSSL, b, remediation.ActionRemediated)
	doc, ok := r.bucketPolicy(b)
	if !ok {
		t.Fatalf("after %q the bucket has no policy", o.Reason)
	}
	stmts := policyStatements(t, doc)
	if len(stmts) != 1 {
		t.Fatalf("policy %s, want one statement", doc)
	}
	checkTLSDeny(t, stmts[0], b)
	var p struct{ Version string }
	if json.Unmarshal([]byte(doc), &p); p.Version != "2012-10-17" {
		t.Errorf("Version %q", p.Version)
	}
	if before, ok := o.Before["policy"]; !ok || before != nil {
		t.Errorf("before = %v, want policy null", o.Before)
	}
	if o.After["policy"] != doc {
		t.Errorf("after = %v, want the policy in the emulator %s", o.After, doc)
	}
	r.mustRun(fixtureSSL, b, remediation.ActionCompliant)
	if n := r.ops.Count("PutBucketPolicy"); n != 1 {
		t.Errorf("PutBucketPolicy called %d times, want 1", n)
	}
}

// An existing policy keeps its statements, Version and Id; a second event
// adds no second statement.
func TestS3SSLPolicyMergedWithExisting(t *testing.T) {
	r := newRig(t, nil)
	b := r.createBucket("partner")
	arn := "arn:aws:s3:::" + b
	existing := `{"Version":"2012-10-17","Id":"PartnerAccess","Statement":[` +
		`{"Sid":"PartnerRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["` + arn + `","` + arn + `/*"]},` +
		`{"Sid":"DenyUnencryptedUploads","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"` + arn + `/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}]}`
	if _, err := r.S3.PutBucketPolicy(ctx(t), &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(existing)}); err != nil {
		t.Fatal(err)
	}
	// What S3 returns is what the remediator keeps (S3 may normalise what
	// it was given; moto returns it as put).
	before, _ := r.bucketPolicy(b)
	o := r.mustRun(fixtureSSL, b, remediation.ActionRemediated)
	if o.Before["policy"] != before {
		t.Errorf("before = %v, want the whole policy %s", o.Before, before)
	}
	doc, _ := r.bucketPolicy(b)
	old, got := policyStatements(t, before), policyStatements(t, doc)
	if len(got) != 3 || string(got[0]) != string(old[0]) || string(got[1]) != string(old[1]) {
		t.Fatalf("policy after:\n%s\nwant the two statements of\n%s\nkept byte for byte, and one added", doc, before)
	}
	checkTLSDeny(t, got[2], b)
	var p struct{ Version, Id string }
	if json.Unmarshal([]byte(doc), &p); p.Version != "2012-10-17" || p.Id != "PartnerAccess" {
		t.Errorf("Version %q Id %q, want kept", p.Version, p.Id)
	}

	// No duplicate: the same event again finds the statement.
	r.mustRun(fixtureSSL, b, remediation.ActionCompliant)
	if again, _ := r.bucketPolicy(b); len(policyStatements(t, again)) != 3 {
		t.Errorf("policy after a second event %s, want still 3 statements", again)
	}
	if n := r.ops.Count("PutBucketPolicy"); n != 1 {
		t.Errorf("PutBucketPolicy called %d times, want 1", n)
	}
}

func TestS3SSLExemptAndWebsiteBucketsKeepTheirPolicy(t *testing.T) {
	r := newRig(t, nil)
	exempt := r.createBucket("http-exempt")
	if _, err := r.S3.PutBucketTagging(ctx(t), &s3.PutBucketTaggingInput{Bucket: aws.String(exempt),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("auto-remediation"), Value: aws.String("off")}}}}); err != nil {
		t.Fatal(err)
	}
	r.mustRun(fixtureSSL, exempt, remediation.ActionExempt)
	site := r.createBucket("http-site")
	if _, err := r.S3.PutBucketWebsite(ctx(t), &s3.PutBucketWebsiteInput{Bucket: aws.String(site),
		WebsiteConfiguration: &s3types.WebsiteConfiguration{IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}}}); err != nil {
		t.Fatal(err)
	}
	r.mustRun(fixtureSSL, site, remediation.ActionExempt)
	for _, b := range []string{exempt, site} {
		if doc, ok := r.bucketPolicy(b); ok {
			t.Errorf("bucket %s got a policy %s", b, doc)
		}
	}
	if n := r.ops.Count("PutBucketPolicy"); n != 0 {
		t.Errorf("PutBucketPolicy called %d times", n)
	}
}

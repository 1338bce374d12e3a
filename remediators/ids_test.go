package remediators

import (
	"context"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/remediation"
)

// A resource ID that cannot name a resource of its type is an input error,
// not a resource that is gone, and no API is called for it; an ID that S3
// itself rejects as a bucket name is an input error too.
func TestMalformedIDsAreInputErrors(t *testing.T) {
	inputError := func(t *testing.T, what string, res remediation.Result) {
		t.Helper()
		if res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "input error") {
			t.Errorf("%s: %s %q, want failed as an input error", what, res.Action, res.Reason)
		}
	}
	for _, id := range []string{"bad id!", "", "arn:aws:s3:::bucket", strings.Repeat("b", 256)} {
		f := newFakeS3(t)
		f.bucket = id
		inputError(t, "public access block "+id, NewS3PublicAccessBlock(f, testOptions()).Remediate(context.Background(),
			request("s3-bucket-public-read-prohibited", ResourceTypeBucket, id, remediation.ModeEnforce)))
		inputError(t, "encryption "+id, NewS3Encryption(f, testOptions()).Remediate(context.Background(),
			request("s3-bucket-server-side-encryption-enabled", ResourceTypeBucket, id, remediation.ModeEnforce)))
		if n := f.names(); len(n) != 0 {
			t.Errorf("%q: S3 was called: %v", id, n)
		}
	}
	f := newFakeS3(t)
	f.errs["GetPublicAccessBlock"] = apiErr("InvalidBucketName")
	f.errs["GetBucketEncryption"] = apiErr("InvalidBucketName")
	inputError(t, "S3 says InvalidBucketName", runPAB(t, f, testOptions(), remediation.ModeEnforce))
	inputError(t, "S3 says InvalidBucketName", runSSE(t, f, testOptions(), "s3-bucket-server-side-encryption-enabled", remediation.ModeEnforce))

	// the account rule's resource must be the event's account
	for _, id := range []string{"12345", "not-an-account", "999999999999"} {
		ec2 := newFakeEC2(t)
		res := NewEBSEncryption(ec2, &fakeKMS{f: ec2}, testOptions()).Remediate(context.Background(),
			request("ec2-ebs-encryption-by-default", ResourceTypeAccount, id, remediation.ModeEnforce))
		inputError(t, "account "+id, res)
		if w := ec2.writes(); len(w) != 0 {
			t.Errorf("account %q: wrote %v", id, w)
		}
	}
}

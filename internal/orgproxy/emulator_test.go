package orgproxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
)

const (
	centralKey   = "AKIACENTRALFUNCTION1"
	developerKey = "AKIADEVELOPER0000001"
)

// TestProxyOnEmulator runs the proxy in front of moto_server: STS's trust
// evaluation (missing role, untrusted caller, external ID, the role's
// path), the keys it sees issued mapped to their account, and
// GetCallerIdentity for the base keys.
func TestProxyOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	var proxyErrs []error
	proxy, err := Start(Options{Target: srv.URL, Identities: map[string]cloudtrailproxy.Identity{
		centralKey:   cloudtrailproxy.AssumedRole(centralRole, "autoremediate-remediate"),
		developerKey: cloudtrailproxy.AssumedRole("arn:aws:iam::123456789012:role/developer", "alice"),
	}, OnError: func(err error) { proxyErrs = append(proxyErrs, err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	through := func(key string) aws.Config {
		cfg := srv.AWSConfig()
		cfg.BaseEndpoint = aws.String(proxy.URL)
		cfg.Credentials = credentials.NewStaticCredentialsProvider(key, "secret", "")
		return cfg
	}
	fn := sts.NewFromConfig(through(centralKey))
	members, err := CreateMembers(ctx, srv.AWSConfig(), "orgproxy-test", 1)
	if err != nil {
		t.Fatal(err)
	}
	member := members[0]
	memberRole := "arn:aws:iam::" + member + ":role/autoremediate-member"

	id, err := fn.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:sts::123456789012:assumed-role/autoremediate-remediate/autoremediate-remediate"; got != want || aws.ToString(id.Account) != central {
		t.Errorf("GetCallerIdentity for the function's key: %s in %s, want %s in %s", got, aws.ToString(id.Account), want, central)
	}
	// The UserId is the one the CloudTrail stand-in records for the same key.
	if got, want := aws.ToString(id.UserId), cloudtrailproxy.AssumedRole(centralRole, "autoremediate-remediate").PrincipalID(); got != want {
		t.Errorf("GetCallerIdentity for the function's key: UserId %q, want %q", got, want)
	}

	assume := func(c *sts.Client, role, externalID string) (*sts.AssumeRoleOutput, error) {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("autoremediate-test")}
		if externalID != "" {
			in.ExternalId = aws.String(externalID)
		}
		return c.AssumeRole(ctx, in)
	}
	wantDenied := func(what string, err error, caller, role string) {
		t.Helper()
		var re *smithyhttp.ResponseError
		if !awserr.Denied(err) || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
			t.Fatalf("%s: %v, want STS's 403 AccessDenied", what, err)
		}
		want := "User: " + caller + " is not authorized to perform: sts:AssumeRole on resource: " + role
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want the message %q", what, err, want)
		}
	}
	fnARN := aws.ToString(id.Arn)

	// moto would grant this; STS denies a role that does not exist.
	_, err = assume(fn, memberRole, "s3cret")
	wantDenied("the member role does not exist yet", err, fnARN, memberRole)

	// The member account creates its role with the member module's trust.
	direct := srv.AWSConfig()
	inMember, err := InAccount(ctx, direct, member)
	if err != nil {
		t.Fatal(err)
	}
	if err := CreateRole(ctx, inMember, "autoremediate-member", MemberTrustPolicy(central, []string{centralRole, centralSweep}, "s3cret")); err != nil {
		t.Fatal(err)
	}
	_, err = assume(fn, memberRole, "")
	wantDenied("without the external ID", err, fnARN, memberRole)
	_, err = assume(sts.NewFromConfig(through(developerKey)), memberRole, "s3cret")
	wantDenied("by a central role the trust policy does not name", err, "arn:aws:sts::123456789012:assumed-role/developer/alice", memberRole)
	withPath := "arn:aws:iam::" + member + ":role/ops/autoremediate-member"
	_, err = assume(fn, withPath, "s3cret")
	wantDenied("with another path than the role's", err, fnARN, withPath)

	out, err := assume(fn, memberRole, "s3cret")
	if err != nil {
		t.Fatalf("the trusted central function assuming the member role: %v", err)
	}
	key := aws.ToString(out.Credentials.AccessKeyId)
	memberCfg := through(key)
	memberCfg.Credentials = credentials.NewStaticCredentialsProvider(key, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	if _, err := ec2.NewFromConfig(memberCfg, func(o *ec2.Options) { o.Region = "eu-west-1" }).EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{}); err != nil {
		t.Fatal(err)
	}
	bucket := "orgproxy-" + strings.ToLower(time.Now().Format("150405.000000"))
	bucket = strings.ReplaceAll(bucket, ".", "-")
	if _, err := s3.NewFromConfig(through(centralKey), func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	var writes, assumes, denied []Call
	for _, c := range proxy.Calls() {
		if c.Write() {
			writes = append(writes, c)
		}
		if c.RoleARN() != "" {
			assumes = append(assumes, c)
			if c.Denied {
				denied = append(denied, c)
			}
		}
	}
	if len(assumes) != 5 || len(denied) != 4 {
		t.Errorf("recorded %d AssumeRole calls, %d denied; want 5, 4 denied: %+v", len(assumes), len(denied), assumes)
	}
	if len(writes) != 2 {
		t.Fatalf("recorded writes %+v, want EnableEbsEncryptionByDefault and CreateBucket", writes)
	}
	ebs, mk := writes[0], writes[1]
	if ebs.Operation != "EnableEbsEncryptionByDefault" || ebs.AccessKeyID != key || ebs.Account != member || ebs.Role != memberRole ||
		ebs.Region != "eu-west-1" || ebs.Service != "ec2" || ebs.Principal != aws.ToString(out.AssumedRoleUser.Arn) || ebs.Status != http.StatusOK {
		t.Errorf("the member session's write was recorded as %+v, want it signed by %s, of role %s in account %s, eu-west-1", ebs, key, memberRole, member)
	}
	if mk.Service != "s3" || mk.Bucket != bucket || mk.Method != http.MethodPut || mk.Account != central || mk.Role != centralRole || mk.AccessKeyID != centralKey {
		t.Errorf("the central function's CreateBucket was recorded as %+v", mk)
	}
	// The emulator agrees: the member's EBS default is on in its eu-west-1
	// only.
	on := func(cfg aws.Config, region string) bool {
		t.Helper()
		o, err := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region }).GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToBool(o.EbsEncryptionByDefault)
	}
	if !on(inMember, "eu-west-1") || on(inMember, "us-east-1") || on(direct, "eu-west-1") {
		t.Error("EBS encryption by default: want it on in the member's eu-west-1 only")
	}
	if len(proxyErrs) > 0 {
		t.Errorf("proxy errors: %v", proxyErrs)
	}
}

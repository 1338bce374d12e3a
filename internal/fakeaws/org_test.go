package fakeaws_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/autoremediate/autoremediate/internal/fakeaws"
)

const (
	central = "111111111111"
	member  = "222222222222"
	outside = "333333333333"
	role    = "autoremediate-member"
)

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func running(t *testing.T, c *ec2.Client) []string {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"running"}}}})
	if err != nil {
		t.Fatalf("listing instances: %v", err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	return ids
}

// The Org routes each call by the access key that signed it and the
// region of its signature, hands out member credentials only for the
// member role to the central account, and each account-region's state is
// its own.
func TestOrgRoutesBySignature(t *testing.T) {
	ctx := context.Background()
	o := fakeaws.NewOrg(t, central, role, member)
	optional := func(r *fakeaws.Region) string {
		return r.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1)
	}
	own := optional(o.Region(central, "us-east-1"))
	east, west := optional(o.Region(member, "us-east-1")), optional(o.Region(member, "eu-west-1"))
	if own == east || east == west {
		t.Fatalf("instance IDs shared by account-regions: %s %s %s", own, east, west)
	}

	// A finalize middleware added after the fake (as Scopes.Configure adds
	// a rate limiter) still runs: the fake answers after the finalize step.
	var finalized atomic.Int32
	cfg := o.Config("us-east-1")
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("count", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			finalized.Add(1)
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
	})
	stsc := sts.NewFromConfig(cfg)
	who, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Account) != central {
		t.Fatalf("central GetCallerIdentity: %v %v", who, err)
	}
	if finalized.Load() != 1 {
		t.Errorf("finalize middleware ran %d times, want 1", finalized.Load())
	}
	if got := running(t, ec2.NewFromConfig(cfg)); !slices.Equal(got, []string{own}) {
		t.Errorf("central us-east-1 lists %v, want %v", got, []string{own})
	}

	roleARN := "arn:aws:iam::" + member + ":role/" + role
	out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("autoremediate-run-1"), DurationSeconds: aws.Int32(3600)})
	if err != nil {
		t.Fatalf("assuming %s: %v", roleARN, err)
	}
	c := out.Credentials
	if want := "arn:aws:sts::" + member + ":assumed-role/" + role + "/autoremediate-run-1"; aws.ToString(out.AssumedRoleUser.Arn) != want {
		t.Errorf("assumed role user %s, want %s", aws.ToString(out.AssumedRoleUser.Arn), want)
	}
	if got := o.AccountOf(aws.ToString(c.AccessKeyId)); got != member {
		t.Errorf("the member credentials' key belongs to %q, want %s", got, member)
	}
	mcfg := cfg.Copy()
	mcfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	if who, err := sts.NewFromConfig(mcfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || aws.ToString(who.Account) != member {
		t.Errorf("member GetCallerIdentity: %v %v", who, err)
	}
	memberEC2 := func(region string) *ec2.Client {
		return ec2.NewFromConfig(mcfg, func(o *ec2.Options) { o.Region = region })
	}
	if got := running(t, memberEC2("eu-west-1")); !slices.Equal(got, []string{west}) {
		t.Errorf("member eu-west-1 lists %v, want %v", got, []string{west})
	}

	// A write lands in the signer's account-region only; the member's
	// instance is not found with the central account's credentials.
	require := &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(east), HttpTokens: ec2types.HttpTokensStateRequired}
	if _, err := ec2.NewFromConfig(cfg).ModifyInstanceMetadataOptions(ctx, require); code(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("central write to the member's instance: %v, want InvalidInstanceID.NotFound", err)
	}
	if _, err := memberEC2("us-east-1").ModifyInstanceMetadataOptions(ctx, require); err != nil {
		t.Fatalf("member write: %v", err)
	}
	if got := o.Region(member, "us-east-1").Instances[east].MetadataOptions.HttpTokens; got != ec2types.HttpTokensStateRequired {
		t.Errorf("member us-east-1 instance: HttpTokens %q after the write", got)
	}
	for _, r := range []*fakeaws.Region{o.Region(member, "eu-west-1"), o.Region(central, "us-east-1")} {
		for id, i := range r.Instances {
			if i.MetadataOptions.HttpTokens != ec2types.HttpTokensStateOptional {
				t.Errorf("%s %s: instance %s changed by another account-region's write", r.Account, r.Region, id)
			}
		}
	}
	if got, want := o.Region(member, "us-east-1").Signers(), map[string]int{aws.ToString(c.AccessKeyId): 1}; !maps.Equal(got, want) {
		t.Errorf("member us-east-1 signers %v, want %v", got, want)
	}
	if got, want := o.Region(central, "us-east-1").Signers(), map[string]int{fakeaws.CentralKey: 2}; !maps.Equal(got, want) {
		t.Errorf("central us-east-1 signers %v, want %v", got, want)
	}

	// What is refused.
	for _, tc := range []struct {
		name string
		cfg  aws.Config
		in   sts.AssumeRoleInput
		want string
	}{
		{"outside the organisation", cfg, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + outside + ":role/" + role)}, "AccessDenied"},
		{"another role", cfg, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":role/admin")}, "AccessDenied"},
		{"from a member", mcfg, sts.AssumeRoleInput{RoleArn: aws.String(roleARN)}, "AccessDenied"},
	} {
		tc.in.RoleSessionName = aws.String("autoremediate-x")
		if _, err := sts.NewFromConfig(tc.cfg).AssumeRole(ctx, &tc.in); code(err) != tc.want {
			t.Errorf("AssumeRole %s: %v, want %s", tc.name, err, tc.want)
		}
	}
	stolen := cfg.Copy()
	stolen.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), "another-token")
	if _, err := ec2.NewFromConfig(stolen).DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); code(err) != "InvalidClientTokenId" {
		t.Errorf("member key with another session token: %v, want InvalidClientTokenId", err)
	}
	if n := len(o.AssumeRoles()); n != 1 {
		t.Errorf("%d AssumeRole granted, want 1", n)
	}
}

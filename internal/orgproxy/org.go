package orgproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AdminRole is the role the helpers act in a member account as: the role
// Organizations creates in every account it creates. moto grants
// AssumeRole into it (into any role) without it existing.
const AdminRole = "OrganizationAccountAccessRole"

// CreateMembers creates n member accounts named prefix-1 ... prefix-n in
// the organisation of the account cfg signs as (the management account),
// creating the organisation first when there is none, and returns their
// IDs. moto creates an account at once (state SUCCEEDED); AWS takes
// minutes, and DescribeCreateAccountStatus tells when it is done.
func CreateMembers(ctx context.Context, cfg aws.Config, prefix string, n int) ([]string, error) {
	org := organizations.NewFromConfig(cfg)
	if _, err := org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); err != nil {
		var none *orgtypes.AWSOrganizationsNotInUseException
		if !errors.As(err, &none) {
			return nil, fmt.Errorf("describing the organisation: %w", err)
		}
		if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
			return nil, fmt.Errorf("creating the organisation: %w", err)
		}
	}
	ids := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			return nil, fmt.Errorf("creating member account %s: %w", name, err)
		}
		st := out.CreateAccountStatus
		if st == nil || st.State != orgtypes.CreateAccountStateSucceeded || aws.ToString(st.AccountId) == "" {
			return nil, fmt.Errorf("creating member account %s: not created at once (%+v)", name, st)
		}
		ids = append(ids, aws.ToString(st.AccountId))
	}
	return ids, nil
}

// InAccount returns cfg signed with credentials in account: a session of
// its AdminRole, assumed with cfg's credentials straight from the
// emulator (not through a proxy, so that no trust is evaluated).
func InAccount(ctx context.Context, cfg aws.Config, account string) (aws.Config, error) {
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + AdminRole), RoleSessionName: aws.String("orgproxy-setup")})
	if err != nil {
		return aws.Config{}, fmt.Errorf("assuming %s in account %s: %w", AdminRole, account, err)
	}
	c := out.Credentials
	in := cfg.Copy()
	in.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return in, nil
}

// MemberTrustPolicy is the trust policy terraform/modules/member (and the
// StackSet template) gives the member role: the central account as the
// principal, the central functions' roles by aws:PrincipalArn, and the
// external ID when there is one.
func MemberTrustPolicy(central string, centralRoles []string, externalID string) string {
	cond := map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": centralRoles}}
	if externalID != "" {
		cond["StringEquals"] = map[string]any{"sts:ExternalId": externalID}
	}
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "CentralFunctions", "Effect": "Allow", "Action": "sts:AssumeRole",
		"Principal": map[string]any{"AWS": "arn:aws:iam::" + central + ":root"}, "Condition": cond}}})
	return string(doc)
}

// CreateRole creates the role name with the trust policy in the account
// cfg signs in.
func CreateRole(ctx context.Context, cfg aws.Config, name, trust string) error {
	if _, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		return fmt.Errorf("creating role %s: %w", name, err)
	}
	return nil
}

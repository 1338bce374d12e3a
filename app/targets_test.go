package app

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// fakeOrg serves ListAccounts in pages of two.
type fakeOrg struct {
	accounts []orgtypes.Account
	tokens   []string
}

func (f *fakeOrg) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	f.tokens = append(f.tokens, aws.ToString(in.NextToken))
	start := 0
	if in.NextToken != nil {
		start = int(aws.ToString(in.NextToken)[0] - '0')
	}
	end := min(start+2, len(f.accounts))
	out := &organizations.ListAccountsOutput{Accounts: f.accounts[start:end]}
	if end < len(f.accounts) {
		out.NextToken = aws.String(string(rune('0' + end)))
	}
	return out, nil
}

func TestOrgAccountsAreTheActiveOnes(t *testing.T) {
	acct := func(id string, s orgtypes.AccountStatus) orgtypes.Account {
		return orgtypes.Account{Id: aws.String(id), Status: s}
	}
	f := &fakeOrg{accounts: []orgtypes.Account{
		acct("111111111111", orgtypes.AccountStatusActive), acct("222222222222", orgtypes.AccountStatusSuspended),
		acct("333333333333", orgtypes.AccountStatusActive), acct("444444444444", orgtypes.AccountStatusPendingClosure),
		acct("555555555555", orgtypes.AccountStatusActive),
	}}
	got, err := OrgAccounts(context.Background(), f)
	if err != nil || !slices.Equal(got, []string{"111111111111", "333333333333", "555555555555"}) {
		t.Errorf("OrgAccounts = %v, %v", got, err)
	}
	if len(f.tokens) != 3 {
		t.Errorf("%d pages read, want 3", len(f.tokens))
	}
}

type fakeRegions struct{ in *ec2.DescribeRegionsInput }

func (f *fakeRegions) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	f.in = in
	return &ec2.DescribeRegionsOutput{Regions: []ec2types.Region{{RegionName: aws.String("us-west-2")}, {RegionName: aws.String("eu-west-1")}}}, nil
}

func TestEnabledRegions(t *testing.T) {
	f := &fakeRegions{}
	got, err := EnabledRegions(context.Background(), f)
	if err != nil || !slices.Equal(got, []string{"eu-west-1", "us-west-2"}) {
		t.Errorf("EnabledRegions = %v, %v", got, err)
	}
	if aws.ToBool(f.in.AllRegions) {
		t.Error("AllRegions asked for: regions that are not enabled would be listed")
	}
}

func TestResolveTargets(t *testing.T) {
	cfg := Config{ExcludedAccounts: []string{"222222222222"}, Regions: []string{"us-east-1", "eu-west-1"}}
	c := NewClients(aws.Config{Region: "us-east-1"})
	accs, regs, err := ResolveTargets(context.Background(), c, cfg, "111111111111, 222222222222,333333333333", "eu-west-1,ap-south-1")
	if err != nil || !slices.Equal(accs, []string{"111111111111", "333333333333"}) || !slices.Equal(regs, []string{"eu-west-1"}) {
		t.Errorf("ResolveTargets = %v %v, %v", accs, regs, err)
	}
	for _, tc := range [][2]string{{"dev", "us-east-1"}, {"111111111111", "Europe"}, {"222222222222", "us-east-1"}, {"111111111111", "ap-south-1"}} {
		if _, _, err := ResolveTargets(context.Background(), c, cfg, tc[0], tc[1]); !errors.Is(err, ErrBadTarget) {
			t.Errorf("ResolveTargets(%q, %q) = %v, want ErrBadTarget", tc[0], tc[1], err)
		}
	}
}

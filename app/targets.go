package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// ErrBadTarget marks an accounts or regions argument that is not valid (a
// usage error, not an AWS failure): errors.Is(err, ErrBadTarget).
var ErrBadTarget = errors.New("bad target")

// targetError is a usage error in an accounts or regions argument.
type targetError struct{ msg string }

func (e *targetError) Error() string        { return e.msg }
func (e *targetError) Is(target error) bool { return target == ErrBadTarget }

func badTarget(format string, args ...any) error {
	return &targetError{msg: fmt.Sprintf(format, args...)}
}

// Organizations returns the AWS Organizations client.
func (c *Clients) Organizations() *organizations.Client {
	return Memo(c, "organizations", func(cfg aws.Config) *organizations.Client { return organizations.NewFromConfig(cfg) })
}

// ListAccountsAPI is the part of the Organizations client that lists the
// organisation's accounts.
type ListAccountsAPI interface {
	organizations.ListAccountsAPIClient
}

// DescribeRegionsAPI is the part of the EC2 client that lists the enabled
// regions.
type DescribeRegionsAPI interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// OrgAccounts returns the organisation's ACTIVE accounts (suspended and
// closing ones cannot be acted in), in the order AWS lists them.
func OrgAccounts(ctx context.Context, api ListAccountsAPI) ([]string, error) {
	var out []string
	pages := organizations.NewListAccountsPaginator(api, &organizations.ListAccountsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the organisation's accounts (organizations:ListAccounts, from the management or a delegated administrator account): %w", err)
		}
		for _, a := range page.Accounts {
			if a.Status == orgtypes.AccountStatusActive {
				out = append(out, aws.ToString(a.Id))
			}
		}
	}
	return out, nil
}

// EnabledRegions returns the regions enabled in the credentials' account:
// DescribeRegions without AllRegions lists only those (opt-in regions that
// are not opted in are left out).
func EnabledRegions(ctx context.Context, api DescribeRegionsAPI) ([]string, error) {
	out, err := api.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing the enabled regions (ec2:DescribeRegions): %w", err)
	}
	var regions []string
	for _, r := range out.Regions {
		regions = append(regions, aws.ToString(r.RegionName))
	}
	slices.Sort(regions)
	return regions, nil
}

// ResolveTargets turns the --accounts and --regions arguments of the
// organisation commands into lists: "all" accounts are the organisation's
// ACTIVE ones (OrgAccounts), "all" regions the enabled ones
// (EnabledRegions); otherwise comma-separated IDs and region names.
// EXCLUDED_ACCOUNTS are left out, and with REGIONS set only its regions are
// kept. Invalid arguments wrap ErrBadTarget.
func ResolveTargets(ctx context.Context, c *Clients, cfg Config, accounts, regions string) ([]string, []string, error) {
	var accs, regs []string
	var err error
	if strings.TrimSpace(accounts) == "all" {
		if accs, err = OrgAccounts(ctx, c.Organizations()); err != nil {
			return nil, nil, err
		}
	} else if accs, err = accountList(accounts); err != nil {
		return nil, nil, badTarget("--accounts: %v", err)
	}
	if strings.TrimSpace(regions) == "all" {
		if regs, err = EnabledRegions(ctx, c.EC2()); err != nil {
			return nil, nil, err
		}
	} else if regs, err = regionList(regions); err != nil {
		return nil, nil, badTarget("--regions: %v", err)
	}
	accs = slices.DeleteFunc(slices.Compact(accs), func(a string) bool { return slices.Contains(cfg.ExcludedAccounts, a) })
	if len(cfg.Regions) > 0 {
		regs = slices.DeleteFunc(regs, func(r string) bool { return !slices.Contains(cfg.Regions, r) })
	}
	if len(accs) == 0 {
		return nil, nil, badTarget("no account to act in (--accounts %q, EXCLUDED_ACCOUNTS %q)", accounts, strings.Join(cfg.ExcludedAccounts, ","))
	}
	if len(regs) == 0 {
		return nil, nil, badTarget("no region to act in (--regions %q, REGIONS %q)", regions, strings.Join(cfg.Regions, ","))
	}
	return accs, regs, nil
}

package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/sweep"
)

// fakeOrganization answers ListAccounts in pages of two.
type fakeOrganization struct {
	accounts []orgtypes.Account
	calls    int
}

func (f *fakeOrganization) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	f.calls++
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(aws.ToString(in.NextToken), &start)
	}
	end := min(start+2, len(f.accounts))
	out := &organizations.ListAccountsOutput{Accounts: f.accounts[start:end]}
	if end < len(f.accounts) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

type fakeEnabledRegions []string

func (f fakeEnabledRegions) DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	out := &ec2.DescribeRegionsOutput{}
	for _, r := range f {
		out.Regions = append(out.Regions, ec2types.Region{RegionName: aws.String(r), OptInStatus: aws.String("opt-in-not-required")})
	}
	return out, nil
}

func TestSweepPlannerResolvesAccountsAndRegions(t *testing.T) {
	org := &fakeOrganization{}
	for _, id := range []string{"555555555555", "111111111111", "333333333333", "222222222222"} {
		org.accounts = append(org.accounts, orgtypes.Account{Id: aws.String(id), State: orgtypes.AccountStateActive})
	}
	org.accounts = append(org.accounts, orgtypes.Account{Id: aws.String("444444444444"), State: orgtypes.AccountStateSuspended})
	planner := func(excluded, regions []string) *app.SweepPlanner {
		return &app.SweepPlanner{
			Config:        app.Config{ExcludedAccounts: excluded, Regions: regions},
			Organizations: org, Regions: fakeEnabledRegions{"us-east-1", "eu-west-1", "ap-southeast-2"},
			Own:  func(context.Context) (string, error) { return "999999999999", nil },
			Home: "eu-central-1",
		}
	}
	keys := func(ts []sweep.AccountRegion) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.String())
		}
		return out
	}
	for _, tc := range []struct {
		name              string
		excluded, regions []string
		accounts, regs    string
		want              []string
		skipped           []string
	}{
		{name: "the credentials' own", want: []string{"999999999999/eu-central-1"}},
		{name: "every account and region, EXCLUDED_ACCOUNTS and REGIONS applied", excluded: []string{"333333333333"}, regions: []string{"us-east-1", "eu-west-1"},
			accounts: "all", regs: "all",
			want: []string{"111111111111/eu-west-1", "111111111111/us-east-1", "222222222222/eu-west-1", "222222222222/us-east-1",
				"555555555555/eu-west-1", "555555555555/us-east-1"},
			skipped: []string{"account 333333333333 is excluded (EXCLUDED_ACCOUNTS)"}},
		{name: "named ones, sorted, each once", regions: []string{"us-east-1", "eu-west-1"},
			accounts: "222222222222, 111111111111,222222222222", regs: "us-east-1,ap-southeast-2,us-east-1",
			want:    []string{"111111111111/us-east-1", "222222222222/us-east-1"},
			skipped: []string{"region ap-southeast-2 is not one this deployment acts in (REGIONS: us-east-1, eu-west-1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := planner(tc.excluded, tc.regions).Plan(context.Background(), tc.accounts, tc.regs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys(got), tc.want) || !slices.Equal(skipped, tc.skipped) {
				t.Errorf("plan %v, skipped %q; want %v, skipped %q", keys(got), skipped, tc.want, tc.skipped)
			}
		})
	}
	if _, _, err := planner([]string{"111111111111"}, nil).Plan(context.Background(), "111111111111", ""); !errors.Is(err, sweep.ErrNothingToSweep) {
		t.Errorf("every account excluded: %v, want ErrNothingToSweep", err)
	}
	if _, _, err := planner(nil, []string{"us-east-1"}).Plan(context.Background(), "", "eu-west-1"); !errors.Is(err, sweep.ErrNothingToSweep) {
		t.Errorf("no region in REGIONS: %v, want ErrNothingToSweep", err)
	}
	if _, _, err := planner(nil, nil).Plan(context.Background(), "all,111111111111", ""); err == nil || !strings.Contains(err.Error(), "accounts") {
		t.Errorf("a bad selection: %v", err)
	}
}

func TestLoadSweep(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := app.LoadSweep(env())
	if err != nil || c.Org() {
		t.Errorf("defaults: %+v %v, want the credentials' own account and region", c, err)
	}
	c, err = app.LoadSweep(env("SWEEP_ACCOUNTS", "all", "SWEEP_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/111111111111/q"))
	if err != nil || !c.Org() || c.Accounts != "all" {
		t.Errorf("all accounts: %+v %v", c, err)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"SWEEP_ACCOUNTS", "all"}, "SWEEP_QUEUE_URL"},
		{[]string{"SWEEP_REGIONS", "eu-west-1"}, "SWEEP_QUEUE_URL"},
		{[]string{"SWEEP_ACCOUNTS", "12345", "SWEEP_QUEUE_URL", "https://q"}, `SWEEP_ACCOUNTS: "12345" is not a 12-digit`},
		{[]string{"SWEEP_REGIONS", "Ireland", "SWEEP_QUEUE_URL", "https://q"}, `SWEEP_REGIONS: "Ireland" is not an AWS region`},
		{[]string{"SWEEP_ACCOUNTS", ",", "SWEEP_QUEUE_URL", "https://q"}, "SWEEP_ACCOUNTS: \",\" names no account"},
	} {
		if _, err := app.LoadSweep(env(tc.env...)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
	// The settings table lists exactly what LoadSweep reads, none of them
	// also a setting of every function.
	shared := map[string]bool{}
	for _, s := range app.Settings() {
		shared[s.Name] = true
	}
	for _, s := range app.SweepSettings() {
		if shared[s.Name] || !strings.HasPrefix(s.Name, "SWEEP_") || s.Description == "" {
			t.Errorf("sweep setting %+v", s)
		}
	}
}

func TestSweepRunID(t *testing.T) {
	if got := app.SweepRunID("c0ffee00-1111-2222-3333-444455556666", 1700000000); got != "sweep-c0ffee00-1111-2222-3333-444455556666" {
		t.Errorf("run ID %q", got)
	}
	if got := app.SweepRunID("", 1700000000); got != "sweep-1700000000" {
		t.Errorf("run ID outside Lambda %q", got)
	}
	// It names role sessions (autoremediate-<run ID>, at most 64
	// characters) and the run's messages.
	id := app.SweepRunID("c0ffee00-1111-2222-3333-444455556666", 0)
	if _, err := sweep.ParseMessage(fmt.Sprintf(`{"runId":%q,"account":"111111111111","region":"eu-west-1","regions":1}`, id)); err != nil || len("autoremediate-"+id) > 64 {
		t.Errorf("run ID %q: %v", id, err)
	}
}

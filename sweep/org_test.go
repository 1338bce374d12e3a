package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// fakeOrg serves ListAccounts in pages and checks that each call carries
// the previous page's token.
type fakeOrg struct {
	t     *testing.T
	pages [][]orgtypes.Account
	calls int
	err   error
}

func (f *fakeOrg) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	want := ""
	if f.calls > 0 {
		want = "page-" + string(rune('0'+f.calls))
	}
	if got := aws.ToString(in.NextToken); got != want {
		f.t.Errorf("ListAccounts call %d with NextToken %q, want %q", f.calls+1, got, want)
	}
	out := &organizations.ListAccountsOutput{Accounts: f.pages[f.calls]}
	f.calls++
	if f.calls < len(f.pages) {
		out.NextToken = aws.String("page-" + string(rune('0'+f.calls)))
	}
	return out, nil
}

func account(id string, state orgtypes.AccountState, status orgtypes.AccountStatus) orgtypes.Account {
	return orgtypes.Account{Id: aws.String(id), State: state, Status: status}
}

func TestActiveAccountsReadsEveryPageAndKeepsActiveOnes(t *testing.T) {
	org := &fakeOrg{t: t, pages: [][]orgtypes.Account{
		{account("333333333333", orgtypes.AccountStateActive, orgtypes.AccountStatusActive), account("444444444444", orgtypes.AccountStateSuspended, orgtypes.AccountStatusSuspended)},
		// State is what AWS answers once Status is retired; an answer
		// with Status only still counts.
		{account("111111111111", orgtypes.AccountStateActive, ""), account("555555555555", orgtypes.AccountStatePendingClosure, orgtypes.AccountStatusPendingClosure)},
		{account("222222222222", "", orgtypes.AccountStatusActive), account("666666666666", orgtypes.AccountStateClosed, "")},
	}}
	got, err := ActiveAccounts(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"111111111111", "222222222222", "333333333333"}; !slices.Equal(got, want) || org.calls != 3 {
		t.Errorf("ActiveAccounts = %v after %d calls, want %v after 3", got, org.calls, want)
	}
	_, err = ActiveAccounts(context.Background(), &fakeOrg{t: t, err: errors.New("AccessDeniedException: not the management account")})
	if err == nil || !strings.Contains(err.Error(), "ListAccounts") || !strings.Contains(err.Error(), "delegated administrator") {
		t.Errorf("error %v, want it to name ListAccounts and where it runs", err)
	}
}

type fakeRegions struct {
	t       *testing.T
	regions []ec2types.Region
}

func (f fakeRegions) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	if aws.ToBool(in.AllRegions) || len(in.RegionNames) > 0 || len(in.Filters) > 0 {
		f.t.Errorf("DescribeRegions %+v, want the enabled regions (no AllRegions, names or filters)", in)
	}
	return &ec2.DescribeRegionsOutput{Regions: f.regions}, nil
}

func region(name, optIn string) ec2types.Region {
	r := ec2types.Region{RegionName: aws.String(name)}
	if optIn != "" {
		r.OptInStatus = aws.String(optIn)
	}
	return r
}

func TestEnabledRegionsLeavesOutRegionsNotOptedIn(t *testing.T) {
	got, err := EnabledRegions(context.Background(), fakeRegions{t: t, regions: []ec2types.Region{
		region("us-east-1", "opt-in-not-required"), region("ap-east-1", "not-opted-in"), region("af-south-1", "opted-in"), region("eu-west-1", ""),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"af-south-1", "eu-west-1", "us-east-1"}; !slices.Equal(got, want) {
		t.Errorf("EnabledRegions = %v, want %v", got, want)
	}
}

func outcomes(account, region string, actions ...remediation.Action) []remediation.Outcome {
	var out []remediation.Outcome
	for i, a := range actions {
		o := remediation.Outcome{Remediator: "pab", ResourceType: typeBucket, ResourceID: account + "-" + region + "-" + string(rune('a'+i)), Account: account, Region: region, Action: a}
		if a == remediation.ActionFailed {
			o.Error = "AccessDenied on PutPublicAccessBlock"
		}
		out = append(out, o)
	}
	return out
}

func orgReport() *OrgReport {
	scope := func(a, r string, actions ...remediation.Action) ScopeReport {
		return ScopeReport{AccountRegion: AccountRegion{a, r}, Report: &Report{Outcomes: outcomes(a, r, actions...), Remediators: []string{"pab"}, Duration: time.Second}}
	}
	return &OrgReport{RunID: "sweep-1", Duration: 2 * time.Second, Scopes: []ScopeReport{
		scope("111111111111", "eu-west-1", remediation.ActionCompliant, remediation.ActionRemediated),
		scope("111111111111", "us-east-1", remediation.ActionRemediated, remediation.ActionFailed, remediation.ActionGone),
		{AccountRegion: AccountRegion{"222222222222", "eu-west-1"}, Err: errors.New("cannot assume the member role arn:aws:iam::222222222222:role/autoremediate-member")},
		scope("222222222222", "us-east-1", remediation.ActionDryRun),
	}}
}

func TestOrgResultBreaksDownByAccount(t *testing.T) {
	res := orgReport().Result()
	if res.RunID != "sweep-1" || res.Scopes != 4 || res.FailedScopes != 2 || res.Checked != 6 || res.CompliantChecks != 3 || res.ScoredChecks != 5 {
		t.Errorf("totals %+v", res)
	}
	if len(res.Accounts) != 2 {
		t.Fatalf("accounts %+v, want 2", res.Accounts)
	}
	a, b := res.Accounts[0], res.Accounts[1]
	if a.Account != "111111111111" || !slices.Equal(a.Regions, []string{"eu-west-1", "us-east-1"}) || a.Checked != 5 ||
		a.Counts[remediation.ActionRemediated] != 2 || a.Counts[remediation.ActionFailed] != 1 || a.CompliantChecks != 3 || a.ScoredChecks != 4 ||
		!slices.Equal(a.FailedRegions, []string{"us-east-1"}) || len(a.Problems) != 1 || !strings.HasPrefix(a.Problems[0], "us-east-1: pab on AWS::S3::Bucket") {
		t.Errorf("account 1: %+v", a)
	}
	if a.ScorePercent == nil || *a.ScorePercent != 75 || a.Score != "75.0% (3 of 4 checks compliant)" {
		t.Errorf("account 1 score %v %q", a.ScorePercent, a.Score)
	}
	if b.Account != "222222222222" || b.Checked != 1 || b.ScoredChecks != 1 || b.CompliantChecks != 0 ||
		!slices.Equal(b.FailedRegions, []string{"eu-west-1"}) || len(b.Problems) != 1 || !strings.Contains(b.Problems[0], "eu-west-1: not swept: cannot assume the member role") {
		t.Errorf("account 2: %+v", b)
	}
	// The JSON names what a reader needs.
	js, _ := json.Marshal(res)
	for _, want := range []string{`"accounts":[{"account":"111111111111","regions":["eu-west-1","us-east-1"]`, `"failedScopes":2`, `"failedRegions":["eu-west-1"]`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("summary JSON lacks %s:\n%s", want, js)
		}
	}
}

func TestScopeResultKeepsTheFirstProblems(t *testing.T) {
	var actions []remediation.Action
	for range maxProblems + 3 {
		actions = append(actions, remediation.ActionFailed)
	}
	rep := &Report{Outcomes: outcomes("111111111111", "eu-west-1", actions...), ListErrors: []error{errors.New("listing instances: throttled")}}
	res := ScopeReport{AccountRegion: AccountRegion{"111111111111", "eu-west-1"}, Report: rep}.Result()
	if len(res.Problems) != maxProblems || res.MoreProblems != 4 || !res.Failed() {
		t.Errorf("%d problems and %d more, want %d and 4", len(res.Problems), res.MoreProblems, maxProblems)
	}
}

func TestOrgSummaryHasATablePerAccountAndTheOrganisation(t *testing.T) {
	var out strings.Builder
	orgReport().WriteSummary(&out)
	text := out.String()
	for _, want := range []string{
		"== account 111111111111 (eu-west-1, us-east-1)\n",
		"== account 222222222222 (eu-west-1, us-east-1)\n",
		"not swept in eu-west-1: cannot assume the member role arn:aws:iam::222222222222:role/autoremediate-member\n",
		"== organisation: 2 accounts, 4 account-regions (2 with problems, 1 not swept)\n",
		"compliance score: 60.0% (3 of 5 checks compliant), in 2s\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	// Each account's table adds up its regions; the organisation's has a
	// row per account and the total.
	fields := func(prefix string) []string {
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == prefix {
				return f
			}
		}
		return nil
	}
	// account regions checked compliant remediated dry-run exempt deferred needs-manual gone failed score not-swept
	if got, want := fields("111111111111"), []string{"111111111111", "2", "5", "1", "2", "0", "0", "0", "0", "1", "1", "75.0%", "0"}; !slices.Equal(got, want) {
		t.Errorf("organisation row %v, want %v", got, want)
	}
	if got, want := fields("222222222222"), []string{"222222222222", "2", "1", "0", "0", "1", "0", "0", "0", "0", "0", "0.0%", "1"}; !slices.Equal(got, want) {
		t.Errorf("organisation row %v, want %v", got, want)
	}
	if n := strings.Count(text, "  pab"); n != 2 {
		t.Errorf("%d per-remediator rows, want one per account:\n%s", n, text)
	}
}

func TestLambdaResultOfOneScopeHasItsAccount(t *testing.T) {
	rem := &failingRemediator{recordingRemediator{name: "pab", types: []string{typeBucket}}}
	reg, err := remediation.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	sw := &Sweeper{Definitions: []remediators.Definition{def("pab", []string{typeBucket}, remediators.SweepCheck{Rule: "r", Lister: lister(t, "b", typeBucket, []string{"a", "b"}, nil, nil)})},
		Account: "111122223333", Region: "eu-west-1", Handler: &remediation.Handler{Registry: reg}}
	res, _ := LambdaHandler(sw, nil)(context.Background())
	if res.Scopes != 1 || res.FailedScopes != 1 || len(res.Accounts) != 1 || res.Accounts[0].Account != "111122223333" ||
		!slices.Equal(res.Accounts[0].Regions, []string{"eu-west-1"}) || res.Accounts[0].Checked != 2 {
		t.Errorf("result %+v", res)
	}
}

func TestSummaryMessageFitsSNS(t *testing.T) {
	res := LambdaResult{RunID: "sweep-1", Score: "50.0% (1 of 2 checks compliant)", Scopes: 4000, FailedScopes: 1}
	for i := range 4000 {
		a := AccountResult{Account: strings.Repeat("1", 8) + string(rune('0'+i/1000)) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)),
			Regions: []string{"eu-west-1", "us-east-1"}, Counts: map[remediation.Action]int{remediation.ActionCompliant: 3}, Problems: []string{strings.Repeat("x", 100)}}
		if i == 3999 {
			a.FailedRegions = []string{"us-east-1"}
		}
		res.Accounts = append(res.Accounts, a)
	}
	msg := SummaryMessage("arn:aws:sns:eu-west-1:111122223333:t", res)
	if n := len(aws.ToString(msg.Message)); n > 256<<10 {
		t.Fatalf("message of %d bytes, over SNS's 256 KiB", n)
	}
	var got LambdaResult
	if err := json.Unmarshal([]byte(aws.ToString(msg.Message)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Accounts) == 0 || len(got.Accounts) == 4000 || got.Accounts[0].Account != res.Accounts[3999].Account {
		t.Errorf("kept %d accounts, first %q: want the failed account first, and fewer than all", len(got.Accounts), got.Accounts[0].Account)
	}
	if s := aws.ToString(msg.Subject); len(s) > 100 || !strings.Contains(s, "1 of 4000 account-regions with problems") {
		t.Errorf("subject %q", s)
	}
	if v := msg.MessageAttributes["severity"]; aws.ToString(v.StringValue) != "high" {
		t.Errorf("severity %v, want high", aws.ToString(v.StringValue))
	}
}

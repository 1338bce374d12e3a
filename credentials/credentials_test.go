package credentials

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ago(days int) string { return now.Add(-time.Duration(days) * 24 * time.Hour).Format(time.RFC3339) }

const header = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active," +
	"access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service," +
	"access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service," +
	"cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"

type user struct {
	name                                 string
	created                              int
	password                             bool
	pwUsed                               string
	mfa                                  bool
	k1, k2                               bool
	k1Rotated, k1Used, k2Rotated, k2Used string
}

func (u user) line() string {
	b := func(v bool) string { return fmt.Sprint(v) }
	pw, pwUsed := "false", "not_supported"
	if u.password {
		pw, pwUsed = "true", u.pwUsed
	}
	na := func(s string) string {
		if s == "" {
			return "N/A"
		}
		return s
	}
	arn := "arn:aws:iam::111111111111:user/" + u.name
	if u.name == RootUser {
		arn = "arn:aws:iam::111111111111:root"
	}
	return strings.Join([]string{u.name, arn, ago(u.created), pw, pwUsed, ago(u.created), "N/A", b(u.mfa),
		b(u.k1), na(u.k1Rotated), na(u.k1Used), "N/A", "N/A", b(u.k2), na(u.k2Rotated), na(u.k2Used), "N/A", "N/A",
		"false", "N/A", "false", "N/A"}, ",")
}

// users covers every check once, and users that must pass.
var users = []user{
	{name: RootUser, created: 900, password: true, pwUsed: ago(3), mfa: true, k1: true, k1Rotated: ago(800), k1Used: ago(400)},
	{name: "alice", created: 300, password: true, pwUsed: ago(2), mfa: false},                                                // 1.10
	{name: "bob", created: 300, password: true, pwUsed: "no_information", mfa: true},                                         // 1.12 password never used
	{name: "carol", created: 300, k1: true, k1Rotated: ago(120), k1Used: ago(60)},                                            // 1.12 + 1.14
	{name: "dave", created: 30, k1: true, k1Rotated: ago(30), k1Used: ago(1), k2: true, k2Rotated: ago(10), k2Used: ago(2)},  // 1.13
	{name: "erin", created: 100, k1: true, k1Rotated: ago(50)},                                                               // 1.12 never used
	{name: "frank", created: 200, password: true, pwUsed: ago(10), mfa: true, k1: true, k1Rotated: ago(80), k1Used: ago(44)}, // passes
	{name: "grace", created: 500, k1: false, k1Rotated: ago(400)},                                                            // inactive key: passes
}

func reportCSV() []byte {
	lines := []string{header}
	for _, u := range users {
		lines = append(lines, u.line())
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

func checksOf(fs []Finding) map[string][]string {
	out := map[string][]string{}
	for _, f := range fs {
		out[f.User] = append(out[f.User], f.Check)
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func TestChecks(t *testing.T) {
	rows, err := Parse(reportCSV())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(users) {
		t.Fatalf("%d rows, want %d", len(rows), len(users))
	}
	got := checksOf(Check(rows, now, DefaultThresholds()))
	want := map[string][]string{
		RootUser: {CheckRootAccessKey, CheckRootUsed},
		"alice":  {CheckConsoleNoMFA},
		"bob":    {CheckUnusedPassword},
		"carol":  {CheckOldAccessKey, CheckUnusedAccessKey},
		"dave":   {CheckTwoActiveKeys},
		"erin":   {CheckUnusedAccessKey},
	}
	for u, checks := range want {
		sort.Strings(checks)
		if strings.Join(got[u], ",") != strings.Join(checks, ",") {
			t.Errorf("%s: checks %v, want %v", u, got[u], checks)
		}
	}
	for u := range got {
		if _, ok := want[u]; !ok {
			t.Errorf("%s should pass, got %v", u, got[u])
		}
	}
}

func TestFindingsNameControlAndFix(t *testing.T) {
	rows, _ := Parse(reportCSV())
	fs := Check(rows, now, DefaultThresholds())
	ids := map[string]string{CheckRootAccessKey: "1.4", CheckRootUsed: "1.7", CheckConsoleNoMFA: "1.10", CheckUnusedPassword: "1.12",
		CheckUnusedAccessKey: "1.12", CheckTwoActiveKeys: "1.13", CheckOldAccessKey: "1.14"}
	for _, f := range fs {
		if f.Control != "CIS AWS Foundations Benchmark v3.0.0 "+ids[f.Check] || f.Fix == "" || f.Title == "" || f.Detail == "" {
			t.Errorf("finding %+v lacks its control or fix", f)
		}
	}
	if fs[0].Severity != "CRITICAL" {
		t.Errorf("most severe first: got %s", fs[0].Severity)
	}
	for _, format := range []string{FormatTable, FormatCSV, FormatJSON} {
		var b bytes.Buffer
		if err := Write(&b, format, fs); err != nil {
			t.Fatal(err)
		}
		switch format {
		case FormatCSV:
			recs, err := csv.NewReader(&b).ReadAll()
			if err != nil || len(recs) != len(fs)+1 {
				t.Errorf("CSV: %d records, %v", len(recs), err)
			}
		case FormatJSON:
			var back []Finding
			if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != len(fs) {
				t.Errorf("JSON: %d findings, %v", len(back), err)
			}
		case FormatTable:
			if !strings.Contains(b.String(), "CIS 1.10") || !strings.Contains(b.String(), "alice") {
				t.Errorf("table:\n%s", b.String())
			}
		}
	}
}

// IAM user names may contain =, +, - and @ anywhere, also first: the CSV
// must not hand such a name to a spreadsheet as a formula.
func TestCSVNeutralisesFormulaUserNames(t *testing.T) {
	var fs []Finding
	for _, name := range []string{"=HYPERLINK(\"http://example.com\",\"x\")", "+cmd", "-2+3", "@SUM(A1)", "alice"} {
		fs = append(fs, Finding{Severity: "HIGH", User: name, ARN: "arn:aws:iam::111122223333:user/" + name, Check: CheckConsoleNoMFA,
			Control: Benchmark + " 1.10", Title: "t", Detail: "d", Fix: "f"})
	}
	var b bytes.Buffer
	if err := Write(&b, FormatCSV, fs); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != len(fs)+1 {
		t.Fatalf("CSV: %d records, %v", len(recs), err)
	}
	for i, rec := range recs[1:] {
		user := rec[1]
		if first := user[0]; first == '=' || first == '+' || first == '-' || first == '@' {
			t.Errorf("user %q is written as %q, which a spreadsheet evaluates", fs[i].User, user)
		}
		if !strings.HasSuffix(user, fs[i].User) || len(user) > len(fs[i].User)+1 {
			t.Errorf("user %q is written as %q: the name must stay readable", fs[i].User, user)
		}
	}
}

// fakeReport plays IAM's credential report states and checks the calls.
type fakeReport struct {
	states  []iamtypes.ReportStateType // GenerateCredentialReport answers, last repeats
	getErrs []error                    // GetCredentialReport errors before success
	gens    int
	gets    int
	content []byte
}

func (f *fakeReport) GenerateCredentialReport(_ context.Context, in *iam.GenerateCredentialReportInput, _ ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	s := f.states[min(f.gens, len(f.states)-1)]
	f.gens++
	return &iam.GenerateCredentialReportOutput{State: s}, nil
}

func (f *fakeReport) GetCredentialReport(_ context.Context, _ *iam.GetCredentialReportInput, _ ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	if f.gets < len(f.getErrs) {
		f.gets++
		return nil, f.getErrs[f.gets-1]
	}
	f.gets++
	return &iam.GetCredentialReportOutput{Content: f.content, GeneratedTime: aws.Time(now), ReportFormat: iamtypes.ReportFormatTypeTextCsv}, nil
}

type fakeClock struct {
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func TestFetchWaitsForTheReport(t *testing.T) {
	api := &fakeReport{
		states:  []iamtypes.ReportStateType{iamtypes.ReportStateTypeStarted, iamtypes.ReportStateTypeInprogress, iamtypes.ReportStateTypeComplete},
		getErrs: []error{&smithy.GenericAPIError{Code: "ReportInProgress", Message: "not ready"}},
		content: reportCSV(),
	}
	clock := &fakeClock{t: now}
	rep, err := (&Fetcher{API: api, Now: clock.now, Sleep: clock.sleep}).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != len(users) || !rep.GeneratedAt.Equal(now) {
		t.Errorf("report %d rows at %v", len(rep.Rows), rep.GeneratedAt)
	}
	if len(clock.sleeps) != 3 || clock.sleeps[0] != time.Second || clock.sleeps[1] != 2*time.Second {
		t.Errorf("backoff %v, want 1s, 2s, 4s", clock.sleeps)
	}
}

func TestFetchTimesOut(t *testing.T) {
	api := &fakeReport{states: []iamtypes.ReportStateType{iamtypes.ReportStateTypeInprogress}}
	clock := &fakeClock{t: now}
	_, err := (&Fetcher{API: api, Now: clock.now, Sleep: clock.sleep, Timeout: 30 * time.Second}).Fetch(context.Background())
	if !errors.Is(err, ErrStillGenerating) || !strings.Contains(err.Error(), "INPROGRESS") {
		t.Errorf("got %v, want ErrStillGenerating naming the state", err)
	}
	if api.gets != 0 {
		t.Error("read the report before it was complete")
	}
}

func TestFetchAccessDenied(t *testing.T) {
	api := &deniedReport{}
	_, err := (&Fetcher{API: api}).Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "iam:GenerateCredentialReport") {
		t.Errorf("got %v, want a message naming the permission", err)
	}
}

type deniedReport struct{ fakeReport }

func (d *deniedReport) GenerateCredentialReport(context.Context, *iam.GenerateCredentialReportInput, ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}
}

// fakeKeys is an IAM user store; it records UpdateAccessKey calls.
type fakeKeys struct {
	t       *testing.T
	keys    map[string][]iamtypes.AccessKeyMetadata // by user
	used    map[string]time.Time                    // by key ID
	updates []string
}

func (f *fakeKeys) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	ks, ok := f.keys[aws.ToString(in.UserName)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchEntity", Message: "no user"}
	}
	return &iam.ListAccessKeysOutput{AccessKeyMetadata: append([]iamtypes.AccessKeyMetadata(nil), ks...)}, nil
}

func (f *fakeKeys) GetAccessKeyLastUsed(_ context.Context, in *iam.GetAccessKeyLastUsedInput, _ ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	out := &iam.GetAccessKeyLastUsedOutput{AccessKeyLastUsed: &iamtypes.AccessKeyLastUsed{Region: aws.String("N/A"), ServiceName: aws.String("N/A")}}
	if t, ok := f.used[aws.ToString(in.AccessKeyId)]; ok {
		out.AccessKeyLastUsed.LastUsedDate = aws.Time(t)
	}
	return out, nil
}

func (f *fakeKeys) UpdateAccessKey(_ context.Context, in *iam.UpdateAccessKeyInput, _ ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error) {
	if in.Status != iamtypes.StatusTypeInactive || aws.ToString(in.UserName) == "" {
		f.t.Errorf("UpdateAccessKey %+v: want Status Inactive with the user name", in)
	}
	id := aws.ToString(in.AccessKeyId)
	f.updates = append(f.updates, id)
	for u, ks := range f.keys {
		for i := range ks {
			if aws.ToString(ks[i].AccessKeyId) == id {
				f.keys[u][i].Status = in.Status
			}
		}
	}
	return &iam.UpdateAccessKeyOutput{}, nil
}

func key(id string, status iamtypes.StatusType, createdDaysAgo int) iamtypes.AccessKeyMetadata {
	return iamtypes.AccessKeyMetadata{AccessKeyId: aws.String(id), Status: status, CreateDate: aws.Time(now.Add(-time.Duration(createdDaysAgo) * 24 * time.Hour))}
}

func newFakeKeys(t *testing.T) *fakeKeys {
	return &fakeKeys{t: t,
		keys: map[string][]iamtypes.AccessKeyMetadata{
			"carol": {key("AKIACAROL1", iamtypes.StatusTypeActive, 120)},
			// erin's key was used yesterday since the report: compliant.
			"erin": {key("AKIAERIN01", iamtypes.StatusTypeActive, 50), key("AKIAERIN02", iamtypes.StatusTypeInactive, 400)},
		},
		used: map[string]time.Time{"AKIACAROL1": now.Add(-60 * 24 * time.Hour), "AKIAERIN01": now.Add(-24 * time.Hour)},
	}
}

func TestDeactivateDryRunChangesNothing(t *testing.T) {
	rows, _ := Parse(reportCSV())
	fs := Check(rows, now, DefaultThresholds())
	api := newFakeKeys(t)
	outs := (&Deactivator{API: api, Thresholds: DefaultThresholds(), Now: func() time.Time { return now }}).Run(context.Background(), rows, fs)
	if len(api.updates) != 0 {
		t.Errorf("dry run called UpdateAccessKey for %v", api.updates)
	}
	got := actions(outs)
	if got["AKIACAROL1"] != remediation.ActionDryRun || got["AKIAERIN01"] != remediation.ActionCompliant || len(got) != 2 {
		t.Errorf("outcomes %v", got)
	}
}

func TestDeactivateApplies(t *testing.T) {
	rows, _ := Parse(reportCSV())
	fs := Check(rows, now, DefaultThresholds())
	api := newFakeKeys(t)
	outs := (&Deactivator{API: api, Thresholds: DefaultThresholds(), Apply: true, Now: func() time.Time { return now }}).Run(context.Background(), rows, fs)
	if strings.Join(api.updates, ",") != "AKIACAROL1" {
		t.Errorf("UpdateAccessKey for %v, want only AKIACAROL1 (unused 60 days)", api.updates)
	}
	for _, o := range outs {
		if o.Remediator != Remediator || o.Before["accessKeyId"] == nil {
			t.Errorf("outcome %+v", o)
		}
		if o.Before["accessKeyId"] == "AKIACAROL1" && (o.Action != remediation.ActionRemediated || o.Before["status"] != "Active" || o.After["status"] != "Inactive") {
			t.Errorf("carol's key: %+v", o)
		}
	}
	// Repeat: the key is now inactive, nothing else to do.
	api.updates = nil
	again := (&Deactivator{API: api, Thresholds: DefaultThresholds(), Apply: true, Now: func() time.Time { return now }}).Run(context.Background(), rows, fs)
	if len(api.updates) != 0 || actions(again)["AKIACAROL1"] != "" {
		t.Errorf("second run changed %v / %v", api.updates, actions(again))
	}
}

func TestDeactivateGoneUser(t *testing.T) {
	rows := []Row{{User: "ghost", ARN: "arn:aws:iam::111111111111:user/ghost"}}
	fs := []Finding{{User: "ghost", Check: CheckUnusedAccessKey}}
	outs := (&Deactivator{API: newFakeKeys(t), Thresholds: DefaultThresholds(), Apply: true}).Run(context.Background(), rows, fs)
	if len(outs) != 1 || outs[0].Action != remediation.ActionGone {
		t.Errorf("outcomes %+v, want one gone", outs)
	}
}

func actions(outs []remediation.Outcome) map[string]remediation.Action {
	m := map[string]remediation.Action{}
	for _, o := range outs {
		m[fmt.Sprint(o.Before["accessKeyId"])] = o.Action
	}
	return m
}

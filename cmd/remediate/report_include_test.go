package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/report"
)

func TestReportIncludeUnknownSection(t *testing.T) {
	c, _, errOut := testCLI("", nil)
	if code := run(context.Background(), []string{"report", "soc2", "--out", t.TempDir(), "--include", "credentials,secrets"}, c); code != exitBadArgs ||
		!strings.Contains(errOut.String(), `--include: "secrets"`) {
		t.Errorf("exit %d, stderr %q; want %d naming the unknown section", code, errOut.String(), exitBadArgs)
	}
}

// report soc2 --include credentials against the emulator: GuardDuty and
// Inspector findings in Security Hub and an IAM user with an unused key
// end up in report.md, threats.csv and vulnerabilities.csv.
func TestReportSOC2IncludeCredentialsOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	var seed []shtypes.AwsSecurityFinding
	for _, name := range []string{"guardduty_findings.json", "inspector_findings.json"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "report", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var fs []shtypes.AwsSecurityFinding
		if err := json.Unmarshal(data, &fs); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			f.Region = aws.String(emulator.Region)
			seed = append(seed, f)
		}
	}
	hub := securityhub.NewFromConfig(srv.AWSConfig())
	if out, err := hub.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: seed}); err != nil || aws.ToInt32(out.FailedCount) != 0 {
		t.Fatalf("importing findings: %v %+v", err, out)
	}
	iamc := iam.NewFromConfig(srv.AWSConfig())
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ci-bot")}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("ci-bot"), Password: aws.String("Correct-Horse-42")}); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "out")
	c, _, errOut := testCLI("", nil)
	c.getenv = os.Getenv
	if code := run(ctx, []string{"report", "soc2", "--out", dir, "--period", "1d", "--include", "credentials"}, c); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "Active threats (GuardDuty): 4, 2 high or critical.") || strings.Contains(errOut.String(), "is not enabled") {
		t.Errorf("stderr lacks the threat and vulnerability counts or says a product sends nothing: %s", errOut.String())
	}
	if strings.Contains(errOut.String(), "credential audit unavailable") {
		t.Fatalf("stderr: %s", errOut.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, report.FileMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Threats (GuardDuty)", "| UnauthorizedAccess:EC2-SSHBruteForce |", "## Vulnerabilities (Amazon Inspector)",
		"| CVE-2021-44228 |", "## IAM credential audit", "| HIGH | ci-bot | 1.10 | console password enabled without an MFA device | CC6.1 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for name, min := range map[string]int{report.FileThreatsCSV: 3, report.FileVulnerabilitiesCSV: 5} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(recs)-1 < min {
			t.Errorf("%s: %d rows (%v), want at least %d", name, len(recs)-1, err, min)
		}
	}
}

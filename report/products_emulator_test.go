package report

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

// GuardDuty and Inspector findings in their ASFF shapes, imported into
// moto's Security Hub next to control findings, reach their sections.
// moto ignores GetFindings' filters, so the control query also returns
// them (and the product query the control findings): the client-side
// checks keep each in its own section.
func TestProductsOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	hub := securityhub.NewFromConfig(srv.AWSConfig())
	if _, err := hub.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		t.Fatalf("enabling Security Hub: %v", err)
	}
	var seed []shtypes.AwsSecurityFinding
	for _, f := range loadProductFindings(t) {
		// moto's hub is one account and Region: the findings are its own
		f.AwsAccountId = aws.String(emulator.Account)
		f.Region = aws.String(emulator.Region)
		for i := range f.Resources {
			f.Resources[i].Region = aws.String(emulator.Region)
		}
		seed = append(seed, f)
	}
	controls := seedFindings(20)
	seed = append(seed, controls...)
	out, err := hub.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: seed})
	if err != nil || aws.ToInt32(out.FailedCount) != 0 {
		t.Fatalf("importing findings: %v %+v", err, out)
	}
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	g := &Generator{Findings: func(string) SecurityHubAPI { return hub }, Regions: []string{emulator.Region},
		Namespace: "AutoRemediation", Period: time.Hour, Mapping: m, Now: time.Now}
	r, err := g.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}

	wantThreats, wantVulnFindings := 0, map[string]bool{}
	for _, a := range seed {
		if !activeProduct(a) {
			continue
		}
		switch aws.ToString(a.ProductName) {
		case "GuardDuty":
			wantThreats++
		case "Inspector":
			wantVulnFindings[aws.ToString(a.Id)] = true
		}
	}
	if r.Threats.Total != wantThreats || r.Vulnerabilities.Findings != len(wantVulnFindings) {
		t.Errorf("%d threats and %d Inspector findings, want %d and %d", r.Threats.Total, r.Vulnerabilities.Findings, wantThreats, len(wantVulnFindings))
	}
	if len(r.Threats.Missing) != 0 || len(r.Vulnerabilities.Missing) != 0 {
		t.Errorf("products said missing in %v / %v", r.Threats.Missing, r.Vulnerabilities.Missing)
	}
	// The control findings are not in the product sections, nor the
	// product findings among the failed control findings.
	if r.ProductsExcluded < len(controls) {
		t.Errorf("%d findings excluded from the product query, want at least the %d control findings", r.ProductsExcluded, len(controls))
	}
	for _, f := range r.Findings {
		if f.ProductName == ProductGuardDuty || f.ProductName == ProductInspector {
			t.Errorf("product finding %s among the failed control findings", f.ID)
		}
	}
	if g0 := r.Threats.Groups[0]; stamp(g0.LastSeen) != "2026-11-23T07:30:00Z" {
		t.Errorf("first threat %s last seen %s, want the newest (2026-11-23T07:30:00Z)", g0.Name, stamp(g0.LastSeen))
	}
	if v0 := r.Vulnerabilities.Rows[0]; v0.CVE != "CVE-2021-44228" || v0.FixedIn != "2.15.0" || v0.ExploitAvailable != "YES" {
		t.Errorf("first vulnerability %+v, want CVE-2021-44228 fixed in 2.15.0 with an exploit", v0)
	}
	md := string(r.Markdown())
	for _, want := range []string{"| UnauthorizedAccess:EC2-SSHBruteForce |", "| CVE-2022-3171 | 7.5 | com.google.protobuf:protobuf-java 2.5.0 | 3.16.3 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// loadASR reads testdata/asr_findings.json: findings shaped like AWS
// Automated Security Response's samples (see testdata/README.md).
func loadASR(t testing.TB) []shtypes.AwsSecurityFinding {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "asr_findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fs []shtypes.AwsSecurityFinding
	if err := json.Unmarshal(data, &fs); err != nil {
		t.Fatalf("parsing asr_findings.json: %v", err)
	}
	return fs
}

// buildASR reads the samples through the paginated fetch, queried from
// us-east-1 as an aggregation Region would be, and builds the report.
func buildASR(t testing.TB, raw []shtypes.AwsSecurityFinding) *Report {
	t.Helper()
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	fs, _, err := FetchFindings(context.Background(), &fakeHub{t: t, findings: raw, pageSize: 3}, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return Build(fs, m, fixedActivity(), Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
}

// The samples end to end: every finding is recognised, located, merged and
// titled as the AWS Security Hub user guide says it should be.
func TestASRSamplesEndToEnd(t *testing.T) {
	raw := loadASR(t)
	r := buildASR(t, raw)

	// Control IDs, from the user guide's consolidation table: CIS v1.2.0
	// 2.7, PCI.CloudTrail.1 and FSBP CloudTrail.2 are all CloudTrail.2;
	// CIS v1.2.0 2.1 is CloudTrail.1; PCI.Lambda.1 is Lambda.1;
	// PCI.CodeBuild.2 is CodeBuild.2; S3.4 stays S3.4.
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.ControlID)
	}
	slices.Sort(got)
	if want := []string{"CloudTrail.1", "CloudTrail.2", "CodeBuild.2", "Lambda.1", "S3.4"}; !slices.Equal(got, want) {
		t.Errorf("controls %q, want %q (the three CloudTrail.2 findings of one trail counted once)", got, want)
	}
	if r.NoControlID != 0 {
		t.Errorf("%d findings without a control ID; every sample is a control finding", r.NoControlID)
	}

	// Every resource is in eu-west-1, whether or not the finding has a
	// top-level Region; none is in us-east-1, the queried Region.
	for _, f := range r.Findings {
		if f.Region != "eu-west-1" {
			t.Errorf("%s (%s): Region %q, want eu-west-1, the resource's", f.ControlID, f.ResourceID, f.Region)
		}
	}

	// The S3 encryption control this project fixes is mapped.
	if _, ok := r.mapping.Lookup("S3.4"); !ok {
		t.Error("S3.4 is not in the SOC 2 mapping")
	}
	for _, u := range r.Unmapped {
		if u.ControlID != "CodeBuild.2" {
			t.Errorf("%s is unmapped; only CodeBuild.2 has no row", controlLabel(u.ControlID))
		}
	}

	// Services are named as the control IDs name them, never split by
	// resource type into CLOUD, CODE or LAMBDA.
	services := map[string]int{}
	for _, c := range r.ByService {
		services[c.Key] = c.Count
	}
	for svc, n := range map[string]int{"CloudTrail": 2, "S3": 1, "Lambda": 1, "CodeBuild": 1} {
		if services[svc] != n {
			t.Errorf("service %s: %d findings, want %d (by service: %v)", svc, services[svc], n, r.ByService)
		}
	}
	if len(services) != 4 {
		t.Errorf("by service %v, want CloudTrail, S3, Lambda and CodeBuild only", r.ByService)
	}

	// Titles do not repeat the control ID, in the tables or the CSV.
	idPrefix := regexp.MustCompile(`^(PCI\.)?[A-Za-z0-9]+\.[0-9]+ |^[0-9]+(\.[0-9]+)+ `)
	for _, c := range r.Controls {
		if idPrefix.MatchString(c.Title) {
			t.Errorf("%s: title %q repeats the control ID", c.ControlID, c.Title)
		}
	}
	md := string(r.Markdown())
	if !strings.Contains(md, "| CodeBuild.2 | CodeBuild project environment variables should not contain clear text credentials |") {
		t.Errorf("report.md does not list CodeBuild.2 with its own title:\n%s", md)
	}
	rows := readCSV(t, r.CSV())
	for _, row := range rows {
		if idPrefix.MatchString(row["title"]) {
			t.Errorf("findings.csv: title %q repeats the control ID", row["title"])
		}
	}

	// The merge is said, and no finding is lost: the CSV names the two
	// merged finding IDs on the row of the one kept.
	if len(rows) != 5 {
		t.Fatalf("findings.csv: %d rows, want 5 (7 findings, 2 merged)", len(rows))
	}
	if !strings.Contains(md, "2 findings were merged") || !strings.Contains(md, "- **Merged:** 2 findings") {
		t.Errorf("report.md does not say that 2 findings were merged:\n%s", md)
	}
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row["finding_id"]] = true
		for _, id := range strings.Split(row["merged_finding_ids"], ";") {
			if id != "" {
				seen[id] = true
			}
		}
		if row["control_id"] == "CloudTrail.2" {
			if n := len(strings.Split(row["standard_controls"], ";")); n != 3 {
				t.Errorf("CloudTrail.2 row: standard controls %q, want the three standards' controls", row["standard_controls"])
			}
			if !strings.Contains(row["finding_id"], "aws-foundational-security-best-practices") {
				// All three are MEDIUM: the lowest finding ID is kept, the FSBP one.
				t.Errorf("CloudTrail.2 row keeps %s", row["finding_id"])
			}
		}
	}
	for _, a := range raw {
		if !seen[aws.ToString(a.Id)] {
			t.Errorf("finding %s is in no CSV row", aws.ToString(a.Id))
		}
	}
	for _, bad := range []string{"GuardDuty or Inspector", "CLOUD", "LAMBDA"} {
		if strings.Contains(md, bad) {
			t.Errorf("report.md says %q", bad)
		}
	}
}

// The merged report does not depend on the order Security Hub returns the
// findings in.
func TestMergeIsOrderIndependent(t *testing.T) {
	raw := loadASR(t)
	first := buildASR(t, raw)
	rev := slices.Clone(raw)
	slices.Reverse(rev)
	again := buildASR(t, rev)
	if !bytes.Equal(first.Markdown(), again.Markdown()) || !bytes.Equal(first.CSV(), again.CSV()) {
		t.Error("reversing the findings changed the report")
	}
}

// A merged finding keeps the consolidated finding when there is one, the
// highest severity and the full observation period of the group.
func TestMergeKeepsTheWorstOfTheGroup(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	base := Finding{Account: "111122223333", Region: "eu-west-1", ControlID: "CloudTrail.1", ResourceID: "AWS::::Account:111122223333",
		RecordState: "ACTIVE", ComplianceStatus: "FAILED", WorkflowStatus: "NEW"}
	cis, fsbp, cons := base, base, base
	cis.ID, cis.Severity, cis.StandardControls = "a-cis", SeverityInformational, []string{"cis-aws-foundations-benchmark/v/1.2.0/2.1"}
	cis.FirstSeen = fixedNow.Add(-30 * 24 * time.Hour)
	fsbp.ID, fsbp.Severity, fsbp.StandardControls = "b-fsbp", SeverityHigh, []string{"aws-foundational-security-best-practices/v/1.0.0/CloudTrail.1"}
	fsbp.LastSeen = fixedNow
	cons.ID, cons.Severity = "c-consolidated", SeverityMedium
	other := base
	other.ID, other.Region, other.Severity = "d-other-region", "us-east-1", SeverityLow

	r := Build([]Finding{cis, fsbp, cons, other}, m, Activity{}, Meta{GeneratedAt: fixedNow})
	if r.Total() != 2 || r.Merged != 2 {
		t.Fatalf("%d findings, %d merged; want 2 and 2 (the other Region's check is another check)", r.Total(), r.Merged)
	}
	var kept Finding
	for _, f := range r.Findings {
		if f.Region == "eu-west-1" {
			kept = f
		}
	}
	if kept.ID != "c-consolidated" || kept.Severity != SeverityHigh || !kept.FirstSeen.Equal(cis.FirstSeen) || !kept.LastSeen.Equal(fixedNow) {
		t.Errorf("kept %s %s %s..%s; want the consolidated finding, HIGH, the earliest and latest observations", kept.ID, kept.Severity, kept.FirstSeen, kept.LastSeen)
	}
	if !slices.Equal(kept.Merged, []string{"a-cis", "b-fsbp"}) {
		t.Errorf("merged %q", kept.Merged)
	}
	if want := []string{"AWS FSBP v1.0.0", "CIS AWS Foundations Benchmark v1.2.0"}; !slices.Equal(r.MergedStandards, want) {
		t.Errorf("merged standards %q, want %q", r.MergedStandards, want)
	}
}

// The Region of a finding is its own Region field, else its resource's,
// else the Region queried.
func TestRegionOrder(t *testing.T) {
	res := func(region string) []shtypes.Resource {
		return []shtypes.Resource{{Type: aws.String("AwsS3Bucket"), Id: aws.String("arn:aws:s3:::b"), Region: aws.String(region)}}
	}
	for _, c := range []struct {
		name string
		in   shtypes.AwsSecurityFinding
		want string
	}{
		{"finding Region", shtypes.AwsSecurityFinding{Region: aws.String("ap-south-1"), Resources: res("eu-west-1")}, "ap-south-1"},
		{"resource Region", shtypes.AwsSecurityFinding{Resources: res("eu-west-1")}, "eu-west-1"},
		{"queried Region", shtypes.AwsSecurityFinding{Resources: res("")}, "us-east-1"},
		{"no resource", shtypes.AwsSecurityFinding{}, "us-east-1"},
	} {
		if got := FromASFF(c.in, "us-east-1").Region; got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// Standard-specific control IDs, checked against rows of the AWS Security
// Hub user guide's consolidation table and the ASFF fields that carry them.
func TestStandardSpecificControlIDs(t *testing.T) {
	pf := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name        string
		in          shtypes.AwsSecurityFinding
		want, title string
	}{
		{"PCI generator: PCI.S3.1 is S3.3, not S3.1",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("pci-dss/v/3.2.1/PCI.S3.1"), Title: aws.String("PCI.S3.1 S3 buckets should prohibit public write access")},
			"S3.3", "S3 buckets should prohibit public write access"},
		{"PCI ControlId with the standard's ARN",
			shtypes.AwsSecurityFinding{ProductFields: pf("ControlId", "PCI.S3.4", "StandardsArn", "arn:aws:securityhub:::standards/pci-dss/v/3.2.1")},
			"S3.4", ""},
		{"CIS v1.2.0 rule",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/4.1"), Title: aws.String("4.1 Ensure no security groups allow ingress from 0.0.0.0/0 to port 22")},
			"EC2.13", "Ensure no security groups allow ingress from 0.0.0.0/0 to port 22"},
		{"CIS v1.2.0 RuleId and guide ARN",
			shtypes.AwsSecurityFinding{ProductFields: pf("RuleId", "1.4", "StandardsGuideArn", "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0")},
			"IAM.3", ""},
		{"CIS v1.4.0: the same number is another control",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("cis-aws-foundations-benchmark/v/1.4.0/1.4")},
			"IAM.4", ""},
		{"CIS v1.4.0 S3 encryption",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("cis-aws-foundations-benchmark/v/1.4.0/2.1.1")},
			"S3.4", ""},
		{"FSBP ELBv2.1 is ELB.1",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("aws-foundational-security-best-practices/v/1.0.0/ELBv2.1")},
			"ELB.1", ""},
		{"Control Tower drops CT.",
			shtypes.AwsSecurityFinding{ProductFields: pf("ControlId", "CT.S3.1", "StandardsArn", "arn:aws:securityhub:::standards/service-managed-aws-control-tower/v/1.0.0")},
			"S3.1", ""},
		{"SecurityControlId is authoritative",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("pci-dss/v/3.2.1/PCI.CloudTrail.1"), Compliance: &shtypes.Compliance{SecurityControlId: aws.String("CloudTrail.2")}},
			"CloudTrail.2", ""},
		{"unknown PCI ID is not guessed",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("pci-dss/v/3.2.1/PCI.S3.99")},
			"", ""},
		{"consolidated",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("security-control/S3.1"), Compliance: &shtypes.Compliance{SecurityControlId: aws.String("S3.1")}, Title: aws.String("S3 general purpose buckets should have block public access settings enabled")},
			"S3.1", "S3 general purpose buckets should have block public access settings enabled"},
		{"partner title that starts with a number keeps it",
			shtypes.AwsSecurityFinding{GeneratorId: aws.String("arn:aws:guardduty:us-east-1:1:detector/d"), Title: aws.String("3.5 GB exfiltrated from i-0abc")},
			"", "3.5 GB exfiltrated from i-0abc"},
	} {
		f := FromASFF(c.in, "us-east-1")
		if f.ControlID != c.want {
			t.Errorf("%s: control %q, want %q", c.name, f.ControlID, c.want)
		}
		if c.title != "" && f.Title != c.title {
			t.Errorf("%s: title %q, want %q", c.name, f.Title, c.title)
		}
	}
}

// The embedded table parses, and a broken one is rejected with its line.
func TestStandardControlTable(t *testing.T) {
	m, err := ParseStandardControls(bytes.NewReader(standardControlsCSV))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) < 100 {
		t.Errorf("only %d rows", len(m))
	}
	for _, bad := range []string{
		"standard,control_id,security_control_id\npci-dss/v/3.2.1,PCI.S3.1,S3.3\npci-dss/v/3.2.1,PCI.S3.1,S3.1\n",
		"standard,control_id,security_control_id\npci-dss/v/3.2.1,PCI.S3.1,s3 three\n",
		"standard,control_id,security_control_id\npci-dss,PCI.S3.1,S3.3\n",
		"control,security_control_id\n",
	} {
		if _, err := ParseStandardControls(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestResourceService(t *testing.T) {
	for in, want := range map[string]string{
		"AwsLambdaFunction":     "Lambda",
		"AwsCloudTrailTrail":    "CloudTrail",
		"AwsCodeBuildProject":   "CodeBuild",
		"AwsEc2Instance":        "EC2",
		"AwsEc2Volume":          "EBS",
		"AwsElbv2LoadBalancer":  "ELB",
		"AwsIamAccessKey":       "IAM",
		"AwsDynamoDbTable":      "DynamoDB",
		"AWS::Lambda::Function": "Lambda",
		"AwsNewThing":           "New",
		"Other":                 "",
		"":                      "",
	} {
		if got := ResourceService(in); got != want {
			t.Errorf("ResourceService(%q) = %q, want %q", in, got, want)
		}
	}
}

// A GuardDuty finding on a Lambda function counts under Lambda, beside
// the Lambda control findings, not under a service of its own.
func TestServicesDoNotSplit(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	fs := []Finding{
		{ID: "1", ControlID: "Lambda.1", ResourceType: "AwsLambdaFunction", ResourceID: "f1", Severity: SeverityHigh},
		{ID: "2", ResourceType: "AwsLambdaFunction", ResourceID: "f2", Severity: SeverityHigh, ProductName: "GuardDuty"},
	}
	r := Build(fs, m, Activity{}, Meta{GeneratedAt: fixedNow})
	if len(r.ByService) != 1 || r.ByService[0] != (Count{"Lambda", 2}) {
		t.Errorf("by service %v, want Lambda: 2", r.ByService)
	}
}

// The recommendation for findings without a control ID names where they
// come from, instead of blaming GuardDuty or Inspector for all of them.
func TestNoControlIDRecommendationNamesItsSources(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	action := func(fs []Finding) string {
		for _, rec := range Build(fs, m, Activity{}, Meta{GeneratedAt: fixedNow}).Recommendations {
			if rec.ControlID == "" {
				return rec.Action
			}
		}
		t.Fatal("no recommendation for the findings without a control ID")
		return ""
	}
	gd := Finding{ID: "gd", ResourceID: "i-1", Severity: SeverityHigh, ProductName: "GuardDuty"}
	if a := action([]Finding{gd}); !strings.Contains(a, "GuardDuty (1)") || strings.Contains(a, "Inspector") {
		t.Errorf("GuardDuty only: %q", a)
	}
	pci := Finding{ID: "pci", ResourceID: "b", Severity: SeverityHigh, ProductName: "Security Hub", StandardControls: []string{"pci-dss/v/3.2.1/PCI.S3.99"}}
	if a := action([]Finding{pci}); strings.Contains(a, "GuardDuty") || !strings.Contains(a, "pci-dss/v/3.2.1/PCI.S3.99") {
		t.Errorf("unknown PCI control: %q", a)
	}
}

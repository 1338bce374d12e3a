package report

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// tscCriteria is the closed list of the 2017 Trust Services Criteria (with
// the 2022 revised points of focus): every criterion the mapping may use.
func tscCriteria() map[string]bool {
	out := map[string]bool{}
	add := func(prefix string, from, to int) {
		for i := from; i <= to; i++ {
			out[prefix+"."+strconv.Itoa(i)] = true
		}
	}
	add("CC1", 1, 5)
	add("CC2", 1, 3)
	add("CC3", 1, 4)
	add("CC4", 1, 2)
	add("CC5", 1, 3)
	add("CC6", 1, 8)
	add("CC7", 1, 5)
	add("CC8", 1, 1)
	add("CC9", 1, 2)
	add("A1", 1, 3)
	add("C1", 1, 2)
	add("PI1", 1, 5)
	add("P1", 1, 1)
	add("P2", 1, 1)
	add("P3", 1, 2)
	add("P4", 1, 3)
	add("P5", 1, 2)
	add("P6", 1, 7)
	add("P7", 1, 1)
	add("P8", 1, 1)
	return out
}

// fsbpControls lists the AWS Foundational Security Best Practices v1.0.0
// controls of the services the mapping must cover, as the Security Hub
// user guide's FSBP standard page lists them (retired controls such as
// S3.4 are not there).
var fsbpControls = strings.Fields(`Account.1
CloudTrail.1 CloudTrail.2 CloudTrail.4 CloudTrail.5 Config.1
DynamoDB.1 DynamoDB.2 DynamoDB.3 DynamoDB.6 DynamoDB.7
EC2.1 EC2.2 EC2.3 EC2.4 EC2.6 EC2.7 EC2.8 EC2.9 EC2.10 EC2.15 EC2.16 EC2.17 EC2.18 EC2.19 EC2.20 EC2.21 EC2.23 EC2.24 EC2.25
EC2.51 EC2.55 EC2.56 EC2.57 EC2.58 EC2.60 EC2.170 EC2.171 EC2.172 EC2.173 EC2.180 EC2.181
GuardDuty.1 GuardDuty.5 GuardDuty.6 GuardDuty.7 GuardDuty.8 GuardDuty.9 GuardDuty.10 GuardDuty.11 GuardDuty.12 GuardDuty.13
IAM.1 IAM.2 IAM.3 IAM.4 IAM.5 IAM.6 IAM.7 IAM.8 IAM.21
KMS.1 KMS.2 KMS.3 KMS.5 Lambda.1 Lambda.2 Lambda.5
RDS.1 RDS.2 RDS.3 RDS.4 RDS.5 RDS.6 RDS.7 RDS.8 RDS.9 RDS.10 RDS.11 RDS.12 RDS.13
S3.1 S3.2 S3.3 S3.5 S3.6 S3.8 S3.9 S3.12 S3.13 S3.17 S3.19 S3.24 S3.25`)

// otherControls are security controls of the covered services in other
// standards Security Hub offers: EC2.13 (CIS v1.2.0 4.1, PCI.EC2.5) and
// EC2.14 (CIS v1.2.0 4.2), which the ec2-security-group-ingress remediator
// fixes.
var otherControls = strings.Fields(`EC2.13 EC2.14`)

// retiredControls are controls Security Hub has retired whose findings
// still exist where they ran: S3.4 (S3 encrypts by default since January
// 2023), Lambda.4 and EC2.22 (PCI.EC2.3, retired November 2023). None is in
// the current control reference; each needs a row and says it is retired.
var retiredControls = strings.Fields(`S3.4 Lambda.4 EC2.22`)

func TestMappingFileIsWellFormed(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	idPattern := regexp.MustCompile(`^[A-Za-z0-9]+\.[0-9]+$`)
	valid := tscCriteria()
	if len(valid) != 61 {
		t.Fatalf("closed TSC list has %d criteria, want 61", len(valid))
	}
	fsbp := map[string]bool{}
	for _, id := range append(append(append([]string(nil), fsbpControls...), otherControls...), retiredControls...) {
		fsbp[id] = true
	}
	// a control a remediator declares is one of Security Hub's (the
	// remediators' tests check its form): its row needs no entry above
	for _, d := range remediators.Definitions() {
		for _, id := range d.Controls {
			fsbp[id] = true
		}
	}
	for _, id := range retiredControls {
		r, ok := m.Lookup(id)
		if !ok {
			t.Errorf("retired control %s has no row: its findings would show as unmapped", id)
		} else if !strings.Contains(r.Rationale, "etired") {
			t.Errorf("retired control %s: the rationale does not say it is retired", id)
		}
	}
	names := map[string]bool{}
	for _, n := range remediators.Catalog(remediators.Definitions()).Names() {
		names[n] = true
	}
	services := map[string]bool{}
	fixedBy := map[string]string{}
	rows := m.Rows()
	if len(rows) < 40 {
		t.Errorf("only %d rows", len(rows))
	}
	for _, r := range rows {
		if !idPattern.MatchString(r.ControlID) {
			t.Errorf("control ID %q is malformed", r.ControlID)
		}
		if !fsbp[r.ControlID] {
			t.Errorf("%s is not an FSBP, CIS/PCI-only or retired control of the covered services", r.ControlID)
		}
		for _, c := range r.Criteria {
			if !valid[c] {
				t.Errorf("%s: %q is not a SOC 2 trust services criterion", r.ControlID, c)
			}
		}
		switch r.Source {
		case SourceTeamReasoning:
			if len(r.Rationale) < 20 {
				t.Errorf("%s: team reasoning without a rationale", r.ControlID)
			}
		case SourceAWSDocs, SourceAuditManager:
		default:
			t.Errorf("%s: source %q is not one of the three allowed", r.ControlID, r.Source)
		}
		if r.Title == "" || r.Recommendation == "" {
			t.Errorf("%s: title or recommendation missing", r.ControlID)
		}
		if r.Remediator != "" && !names[r.Remediator] {
			t.Errorf("%s: remediator %q does not exist", r.ControlID, r.Remediator)
		}
		if r.Remediator != "" {
			fixedBy[r.ControlID] = r.Remediator
		}
		if CriterionName(r.Criteria[0]) == "" {
			t.Errorf("%s: criterion %s has no description", r.ControlID, r.Criteria[0])
		}
		services[r.Service] = true
	}
	for _, s := range []string{"S3", "EC2", "EBS", "IAM", "CloudTrail", "Config", "GuardDuty", "KMS", "Lambda", "RDS", "DynamoDB", "VPC"} {
		if !services[s] {
			t.Errorf("no mapping row for service %s", s)
		}
	}
	// S3.4 is what the s3-encryption remediator fixes; S3.5, EC2.13, EC2.14,
	// EC2.18 and EC2.19 are the controls of s3-ssl-requests-only and
	// ec2-security-group-ingress.
	for _, id := range []string{"S3.1", "EC2.8", "GuardDuty.1", "IAM.6", "EC2.3", "EC2.7", "S3.4", "S3.5", "EC2.13", "EC2.14", "EC2.18", "EC2.19"} {
		if _, ok := m.Lookup(id); !ok {
			t.Errorf("%s not mapped", id)
		}
	}
}

// The "fixed automatically" marks are the controls the definitions declare,
// no more and no fewer.
func TestFixedAutomaticallyComesFromTheDefinitions(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, d := range remediators.Definitions() {
		for _, c := range d.Controls {
			want[c] = d.Name
		}
	}
	if len(want) == 0 {
		t.Fatal("no remediator declares a control")
	}
	for _, r := range m.Rows() {
		if r.Remediator != want[r.ControlID] {
			t.Errorf("%s: fixed by %q, want %q", r.ControlID, r.Remediator, want[r.ControlID])
		}
	}
	// a definition declaring a control the table lacks is an error
	bad := remediators.Definition{Spec: remediation.Spec{Name: "x", Controls: []string{"Nope.1"}}}
	if _, err := MappingFor(append(remediators.Definitions(), bad)); err == nil || !strings.Contains(err.Error(), "Nope.1") {
		t.Errorf("unmapped control: %v", err)
	}
}

func TestSortCriteria(t *testing.T) {
	ids := []string{"P4.1", "C1.1", "CC7.2", "A1.2", "CC6.10", "PI1.5", "CC6.1", "CC10.1", "CC6.6"}
	sortCriteria(ids)
	want := "CC6.1 CC6.6 CC6.10 CC7.2 CC10.1 A1.2 C1.1 PI1.5 P4.1"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("sorted %s, want %s", got, want)
	}
}

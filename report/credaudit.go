package report

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/credentials"
)

// IncludeCredentials is the --include (REPORT_INCLUDE) value that adds the
// IAM credential audit to the SOC 2 report.
const IncludeCredentials = "credentials"

// CredentialPermissions lists the IAM actions the report adds when it
// includes the credential audit (credentials.Permissions()).
func CredentialPermissions() []string { return credentials.Permissions() }

// CredentialAudit runs the IAM credential audit of package credentials (as
// `remediate report credentials` does) for the report.
type CredentialAudit struct {
	Fetcher    *credentials.Fetcher
	Thresholds credentials.Thresholds
}

// CredentialSection is the IAM credential audit in the report.
type CredentialSection struct {
	// ReportGeneratedAt is when IAM generated the credential report.
	ReportGeneratedAt time.Time
	// Accounts are the accounts of the report's users (the caller's).
	Accounts []string
	Users    int // rows of the credential report, the root user included
	Findings []credentials.Finding
	// Criteria are the SOC 2 criteria the findings map to (all the
	// checks' criteria when there is no finding).
	Criteria []string
	// Err says why the audit could not run; the rest is then empty.
	Err  string
	rows map[string]MappingRow
}

// Run audits the credential report as of now and maps each check to SOC 2
// criteria (the CredentialAudit: rows of the mapping). A failure is in the
// section's Err, not returned: the rest of the report is still written.
func (c *CredentialAudit) Run(ctx context.Context, m *Mapping, now time.Time) *CredentialSection {
	s := &CredentialSection{}
	rep, err := c.Fetcher.Fetch(ctx)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	s.ReportGeneratedAt = rep.GeneratedAt
	s.Users = len(rep.Rows)
	s.Findings = credentials.Check(rep.Rows, now, c.Thresholds)
	accounts := map[string]bool{}
	for _, r := range rep.Rows {
		if a := r.Account(); a != "" {
			accounts[a] = true
		}
	}
	s.Accounts = sortedKeys(accounts)
	s.mapFindings(m)
	return s
}

func (s *CredentialSection) mapFindings(m *Mapping) {
	s.rows = map[string]MappingRow{}
	crit := map[string]bool{}
	checks := map[string]bool{}
	for _, f := range s.Findings {
		checks[f.Check] = true
	}
	if len(checks) == 0 {
		for check := range credentials.Controls() {
			checks[check] = true
		}
	}
	for check := range checks {
		row, ok := m.LookupFinding(SourceCredentialAudit, check)
		if !ok {
			continue
		}
		s.rows[check] = row
		for _, c := range row.Criteria {
			crit[c] = true
		}
	}
	s.Criteria = sortedCriteria(crit)
}

// CriteriaOf returns the SOC 2 criteria of a credential finding.
func (s *CredentialSection) CriteriaOf(f credentials.Finding) []string {
	return s.rows[f.Check].Criteria
}

// ParseInclude reads the optional sections of --include (REPORT_INCLUDE):
// a comma-separated list, of which "credentials" is the one there is.
func ParseInclude(v string) (credentialAudit bool, err error) {
	for _, s := range strings.Split(v, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case IncludeCredentials:
			credentialAudit = true
		default:
			return false, fmt.Errorf("%q is not an optional section of the report (%s)", s, IncludeCredentials)
		}
	}
	return credentialAudit, nil
}

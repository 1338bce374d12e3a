package report

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// Control statuses, as Security Hub derives them from the compliance status
// of a control's findings (user guide, "Evaluating compliance status and
// control status"): archived and suppressed findings are ignored; Failed
// when any finding is FAILED; Unknown when none is FAILED but one is
// WARNING or NOT_AVAILABLE; Passed when all are PASSED; No data without
// findings (such a control is not scored, so it has no constant here).
const (
	ControlPassed  = "PASSED"
	ControlFailed  = "FAILED"
	ControlUnknown = "UNKNOWN"
)

// StandardScore is the compliance score of one enabled standard: its
// controls by status. As in Security Hub ("Calculating security scores"),
// the score is the passed controls over the passed, failed and unknown
// ones; controls without data are left out, and a control that fails in
// one account or Region fails for the standard.
type StandardScore struct {
	// Standard is the standard's path
	// ("aws-foundational-security-best-practices/v/1.0.0"); "" for the
	// summary across all standards, where each control counts once.
	Standard string `json:"standard"`
	Name     string `json:"name"`
	Passed   int    `json:"passed"`
	Failed   int    `json:"failed"`
	Unknown  int    `json:"unknown"`
}

// Controls is the number of controls the score is computed over.
func (s StandardScore) Controls() int { return s.Passed + s.Failed + s.Unknown }

// Percent is the score from 0 to 100, rounded to the nearest whole number
// as the Security Hub console shows it; -1 when no control has data.
func (s StandardScore) Percent() int {
	if s.Controls() == 0 {
		return -1
	}
	return int(math.Round(100 * float64(s.Passed) / float64(s.Controls())))
}

// Scores are the compliance scores of a run.
type Scores struct {
	// Standards has one score per standard with control findings, by name.
	Standards []StandardScore
	// Overall counts each control once across the standards, as Security
	// Hub's summary score does.
	Overall StandardScore
}

// ComputeScores derives each control's status from the findings and
// scores every standard they name (Finding.Standards). A control is its
// security control ID, else (no consolidated control findings and no
// translation) its standard-specific control; findings of products without
// controls (GuardDuty, Inspector) and without a compliance status are not
// control findings and are ignored. Findings may repeat (the same finding
// read twice changes no status).
func ComputeScores(findings []Finding) Scores {
	perStd := map[string]map[string]string{}
	overall := map[string]string{}
	for _, f := range findings {
		if f.RecordState != string(shtypes.RecordStateActive) || f.WorkflowStatus == string(shtypes.WorkflowStatusSuppressed) {
			continue
		}
		status := controlStatusOf(f.ComplianceStatus)
		control := f.ControlID
		if control == "" && len(f.StandardControls) > 0 {
			control = f.StandardControls[0]
		}
		if status == "" || control == "" {
			continue
		}
		overall[control] = worse(overall[control], status)
		for _, std := range f.Standards {
			if perStd[std] == nil {
				perStd[std] = map[string]string{}
			}
			perStd[std][control] = worse(perStd[std][control], status)
		}
	}
	var s Scores
	for std, controls := range perStd {
		s.Standards = append(s.Standards, tally(StandardScore{Standard: std, Name: StandardName(std)}, controls))
	}
	sort.Slice(s.Standards, func(i, j int) bool {
		if s.Standards[i].Name != s.Standards[j].Name {
			return s.Standards[i].Name < s.Standards[j].Name
		}
		return s.Standards[i].Standard < s.Standards[j].Standard
	})
	s.Overall = tally(StandardScore{Name: "All enabled standards"}, overall)
	return s
}

func tally(s StandardScore, controls map[string]string) StandardScore {
	for _, st := range controls {
		switch st {
		case ControlPassed:
			s.Passed++
		case ControlFailed:
			s.Failed++
		default:
			s.Unknown++
		}
	}
	return s
}

// controlStatusOf maps a finding's Compliance.Status to the control status
// it implies; "" for none (not a control finding).
func controlStatusOf(compliance string) string {
	switch compliance {
	case string(shtypes.ComplianceStatusPassed):
		return ControlPassed
	case string(shtypes.ComplianceStatusFailed):
		return ControlFailed
	case string(shtypes.ComplianceStatusWarning), string(shtypes.ComplianceStatusNotAvailable):
		return ControlUnknown
	}
	return ""
}

// worse folds a finding's status into its control's: Failed beats
// Unknown, which beats Passed.
func worse(a, b string) string {
	rank := map[string]int{"": 0, ControlPassed: 1, ControlUnknown: 2, ControlFailed: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// standardsOf lists the standards of a control finding as paths:
// Compliance.AssociatedStandards' StandardsId
// ("standards/aws-foundational-security-best-practices/v/1.0.0",
// "ruleset/cis-aws-foundations-benchmark/v/1.2.0", or an ARN ending so),
// else, for findings generated without consolidated control findings, the
// standard of the standard-specific control.
func standardsOf(a shtypes.AwsSecurityFinding, sc StandardControl) []string {
	seen := map[string]bool{}
	if a.Compliance != nil {
		for _, s := range a.Compliance.AssociatedStandards {
			if p := standardPath(aws.ToString(s.StandardsId)); p != "" {
				seen[p] = true
			}
		}
	}
	if len(seen) == 0 && sc.Standard != "" {
		seen[sc.Standard] = true
	}
	if len(seen) == 0 {
		return nil
	}
	return sortedKeys(seen)
}

func standardPath(id string) string {
	id = strings.TrimSpace(id)
	if i := strings.LastIndex(id, ":"); i >= 0 {
		id = id[i+1:] // arn:aws:securityhub:us-east-1::standards/pci-dss/v/3.2.1
	}
	for _, p := range []string{"standards/", "ruleset/"} {
		id = strings.TrimPrefix(id, p)
	}
	return id
}

// ControlStatusFilter is the GetFindings filter of the findings the scores
// need besides the report's failed ones: active, not suppressed (Security
// Hub ignores suppressed findings for control status too), with compliance
// status PASSED, WARNING or NOT_AVAILABLE (values of one field are ORed).
func ControlStatusFilter() *shtypes.AwsSecurityFindingFilters {
	eq := func(v string) shtypes.StringFilter {
		return shtypes.StringFilter{Comparison: shtypes.StringFilterComparisonEquals, Value: aws.String(v)}
	}
	return &shtypes.AwsSecurityFindingFilters{
		RecordState: []shtypes.StringFilter{eq(string(shtypes.RecordStateActive))},
		ComplianceStatus: []shtypes.StringFilter{eq(string(shtypes.ComplianceStatusPassed)), eq(string(shtypes.ComplianceStatusWarning)),
			eq(string(shtypes.ComplianceStatusNotAvailable))},
		WorkflowStatus: []shtypes.StringFilter{{
			Comparison: shtypes.StringFilterComparisonNotEquals,
			Value:      aws.String(string(shtypes.WorkflowStatusSuppressed)),
		}},
	}
}

// FetchControlFindings reads the active, not suppressed control findings
// that did not fail (ControlStatusFilter), every page. Failed findings come
// from FetchFindings; together they give every control's status. The
// conditions are checked again on each finding, as FetchFindings does.
func FetchControlFindings(ctx context.Context, api SecurityHubAPI, region string) ([]Finding, error) {
	var out []Finding
	p := securityhub.NewGetFindingsPaginator(api, &securityhub.GetFindingsInput{Filters: ControlStatusFilter(), MaxResults: aws.Int32(100)})
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("getting Security Hub control findings in %s: still more pages after %d pages", region, maxPages)
		}
		resp, err := p.NextPage(ctx)
		if err != nil {
			return nil, ExplainError("getting Security Hub control findings for the compliance scores", "securityhub:GetFindings", region, err)
		}
		for _, raw := range resp.Findings {
			f := FromASFF(raw, region)
			if f.RecordState != string(shtypes.RecordStateActive) || f.WorkflowStatus == string(shtypes.WorkflowStatusSuppressed) ||
				f.ComplianceStatus == string(shtypes.ComplianceStatusFailed) || controlStatusOf(f.ComplianceStatus) == "" {
				continue
			}
			out = append(out, f)
		}
	}
	return out, nil
}

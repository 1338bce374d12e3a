// Package report builds the SOC 2 compliance report from AWS Security Hub
// findings: it reads the active failed findings, summarises them by
// severity, service and control, maps each control to SOC 2 trust services
// criteria through the table in soc2_mapping.csv, adds the remediation
// activity the pipeline published to CloudWatch, and renders Markdown, CSV
// and HTML. Everything is computed from the data: the same findings and
// clock give byte-identical files.
package report

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"
)

// Severity labels, most severe first.
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
)

// Severities lists the labels in report order.
func Severities() []string {
	return []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInformational}
}

func severityRank(s string) int {
	for i, v := range Severities() {
		if v == s {
			return len(Severities()) - i
		}
	}
	return 0
}

// Finding is one Security Hub finding, reduced to what the report uses.
type Finding struct {
	ID           string
	Account      string
	Region       string
	ResourceType string
	ResourceID   string
	// ControlID is the security control ID (S3.1); empty when the finding
	// carries none (findings from GuardDuty, Inspector, partner products).
	ControlID string
	// StandardControls are the standard-specific controls the finding was
	// generated for ("pci-dss/v/3.2.1/PCI.CloudTrail.1") when consolidated
	// control findings is off: one from FromASFF, several once Build has
	// merged the same check of the same resource under other standards.
	// Empty for consolidated control findings.
	StandardControls []string
	// Merged are the IDs of the findings Build counted in this one: the
	// same check of the same resource under other standards.
	Merged []string
	// Standards are the paths of the standards the control belongs to
	// ("aws-foundational-security-best-practices/v/1.0.0"), from
	// Compliance.AssociatedStandards, else from the standard-specific
	// control; the compliance scores group controls by them.
	Standards        []string
	Title            string
	Severity         string
	WorkflowStatus   string
	RecordState      string
	ComplianceStatus string
	FirstSeen        time.Time
	LastSeen         time.Time
	// Recommendation is the finding's own remediation text, if any.
	Recommendation    string
	RecommendationURL string
	ProductName       string
}

// SecurityHubAPI is the part of the Security Hub client the report uses.
type SecurityHubAPI interface {
	GetFindings(ctx context.Context, params *securityhub.GetFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error)
}

// Excluded counts findings the API returned although the filter should
// have removed them (emulators ignore filters): they are not in the report,
// and the report says how many there were.
type Excluded struct {
	Archived, Suppressed, NotFailed, Duplicate int
}

// Total is the number of excluded findings.
func (e Excluded) Total() int { return e.Archived + e.Suppressed + e.NotFailed + e.Duplicate }

// FindingsFilter is the GetFindings filter of the report: active records,
// failed compliance checks, not suppressed.
func FindingsFilter() *shtypes.AwsSecurityFindingFilters {
	eq := func(v string) []shtypes.StringFilter {
		return []shtypes.StringFilter{{Comparison: shtypes.StringFilterComparisonEquals, Value: aws.String(v)}}
	}
	return &shtypes.AwsSecurityFindingFilters{
		RecordState:      eq(string(shtypes.RecordStateActive)),
		ComplianceStatus: eq(string(shtypes.ComplianceStatusFailed)),
		WorkflowStatus: []shtypes.StringFilter{{
			Comparison: shtypes.StringFilterComparisonNotEquals,
			Value:      aws.String(string(shtypes.WorkflowStatusSuppressed)),
		}},
	}
}

// maxPages bounds pagination against a server that never stops returning a
// NextToken (100 findings a page: a million findings).
const maxPages = 10000

// FetchFindings reads every active, failed, not suppressed finding of the
// region the client is for, page by page until NextToken is empty. The
// same conditions are checked again on each finding, so a finding that is
// archived, suppressed or not failed is never counted even when the server
// ignores the filter; those are counted in Excluded instead.
func FetchFindings(ctx context.Context, api SecurityHubAPI, region string) ([]Finding, Excluded, error) {
	var (
		out      []Finding
		excluded Excluded
		seen     = map[string]bool{}
	)
	// StopOnDuplicateToken stays off (the SDK default): a server repeating
	// its token runs into maxPages and is reported, not silently truncated.
	p := securityhub.NewGetFindingsPaginator(api, &securityhub.GetFindingsInput{
		Filters:    FindingsFilter(),
		MaxResults: aws.Int32(100),
	})
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return nil, excluded, fmt.Errorf("getting Security Hub findings in %s: still more pages after %d pages", region, maxPages)
		}
		resp, err := p.NextPage(ctx)
		if err != nil {
			return nil, excluded, ExplainError("getting Security Hub findings", "securityhub:GetFindings", region, err)
		}
		for _, raw := range resp.Findings {
			f := FromASFF(raw, region)
			switch {
			case seen[f.ID]:
				excluded.Duplicate++
				continue
			case f.RecordState != string(shtypes.RecordStateActive):
				excluded.Archived++
			case f.WorkflowStatus == string(shtypes.WorkflowStatusSuppressed):
				excluded.Suppressed++
			case f.ComplianceStatus != string(shtypes.ComplianceStatusFailed):
				excluded.NotFailed++
			default:
				out = append(out, f)
			}
			seen[f.ID] = true
		}
	}
	return out, excluded, nil
}

// FromASFF converts a finding in the AWS Security Finding Format. Its
// Region is the finding's Region field, else its first resource's Region,
// else defaultRegion (the Region queried).
func FromASFF(a shtypes.AwsSecurityFinding, defaultRegion string) Finding {
	f := Finding{
		ID:          aws.ToString(a.Id),
		Account:     aws.ToString(a.AwsAccountId),
		Region:      aws.ToString(a.Region),
		RecordState: string(a.RecordState),
		ProductName: productName(a),
	}
	if f.RecordState == "" {
		f.RecordState = string(shtypes.RecordStateActive) // ASFF default
	}
	if len(a.Resources) > 0 {
		r := a.Resources[0]
		f.ResourceType = aws.ToString(r.Type)
		f.ResourceID = aws.ToString(r.Id)
		if f.Region == "" {
			// Older control findings have no top-level Region; the
			// resource's is where it lives, which with cross-Region
			// aggregation is not the Region that was queried.
			f.Region = aws.ToString(r.Region)
		}
	}
	if f.Region == "" {
		f.Region = defaultRegion
	}
	if a.Compliance != nil {
		f.ComplianceStatus = string(a.Compliance.Status)
	}
	if a.Workflow != nil {
		f.WorkflowStatus = string(a.Workflow.Status)
	}
	if f.WorkflowStatus == "" {
		// Findings without Workflow are NEW (ASFF default); the deprecated
		// WorkflowState has no SUPPRESSED value to honour.
		f.WorkflowStatus = string(shtypes.WorkflowStatusNew)
		if a.WorkflowState == shtypes.WorkflowStateResolved {
			f.WorkflowStatus = string(shtypes.WorkflowStatusResolved)
		}
	}
	f.Severity = severityOf(a.Severity)
	var sc StandardControl
	f.ControlID, sc = controlIDOf(a)
	if sc.ID != "" {
		f.StandardControls = []string{sc.String()}
	}
	f.Standards = standardsOf(a, sc)
	f.Title = stripControlPrefix(oneLine(aws.ToString(a.Title)), sc.ID, f.ControlID)
	f.FirstSeen = parseTime(a.FirstObservedAt, a.CreatedAt)
	f.LastSeen = parseTime(a.LastObservedAt, a.UpdatedAt)
	if a.Remediation != nil && a.Remediation.Recommendation != nil {
		f.Recommendation = oneLine(aws.ToString(a.Remediation.Recommendation.Text))
		f.RecommendationURL = aws.ToString(a.Remediation.Recommendation.Url)
	}
	return f
}

// productName names the product that reported a finding. Older findings
// have no ProductName field, only the product ARN and ProductFields.
func productName(a shtypes.AwsSecurityFinding) string {
	if n := aws.ToString(a.ProductName); n != "" {
		return n
	}
	if n := a.ProductFields["aws/securityhub/ProductName"]; n != "" {
		return n
	}
	arn := aws.ToString(a.ProductArn) // arn:aws:securityhub:us-east-1::product/aws/guardduty
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return ""
}

func severityOf(s *shtypes.Severity) string {
	if s == nil {
		return SeverityInformational
	}
	label := strings.ToUpper(string(s.Label))
	if severityRank(label) > 0 {
		return label
	}
	// Label missing: derive it from Normalized as ASFF defines the ranges.
	n := aws.ToInt32(s.Normalized)
	switch {
	case n >= 90:
		return SeverityCritical
	case n >= 70:
		return SeverityHigh
	case n >= 40:
		return SeverityMedium
	case n >= 1:
		return SeverityLow
	}
	return SeverityInformational
}

func parseTime(values ...*string) time.Time {
	for _, v := range values {
		s := aws.ToString(v)
		if s == "" {
			continue
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z0700"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// sortFindings orders findings most severe first, then by control, account,
// region, resource and ID, so every output is deterministic.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra > rb
		}
		for _, p := range [][2]string{{a.ControlID, b.ControlID}, {a.Account, b.Account}, {a.Region, b.Region}, {a.ResourceID, b.ResourceID}, {a.ID, b.ID}} {
			if p[0] != p[1] {
				return p[0] < p[1]
			}
		}
		return false
	})
}

// Sentinel errors for the conditions the report explains.
var (
	ErrNotEnabled   = errors.New("AWS Security Hub is not enabled")
	ErrAccessDenied = errors.New("access denied")
	ErrThrottled    = errors.New("throttled")
)

// ExplainError turns an AWS error into a message that says what to do:
// Security Hub not enabled, access denied (naming the IAM action), or
// throttling that outlasted the SDK's retries.
func ExplainError(doing, iamAction, region string, err error) error {
	code, msg := "", err.Error()
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg = apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	lower := strings.ToLower(msg)
	if region != "" {
		doing += " in " + region
	}
	switch {
	case code == "InvalidAccessException" && strings.Contains(lower, "not subscribed"),
		code == "InvalidAccessException" && strings.Contains(lower, "not enabled"):
		return fmt.Errorf("%s: %w there (%s); enable it with `aws securityhub enable-security-hub --region %s` and the AWS Foundational Security Best Practices standard, or choose another --region: %w",
			doing, ErrNotEnabled, msg, region, err)
	case code == "AccessDeniedException" || code == "AccessDenied" || code == "UnauthorizedOperation" || code == "AuthorizationError":
		return fmt.Errorf("%s: %w: the caller needs %s (%s): %w", doing, ErrAccessDenied, iamAction, msg, err)
	case isThrottle(code, err):
		return fmt.Errorf("%s: %w: AWS kept throttling the requests and the SDK's retries gave up; run again later or lower the request rate: %w",
			doing, ErrThrottled, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func isThrottle(code string, err error) bool {
	switch code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException":
		return true
	}
	var maxErr *retry.MaxAttemptsError
	if errors.As(err, &maxErr) {
		var apiErr smithy.APIError
		if errors.As(maxErr.Err, &apiErr) {
			return isThrottle(apiErr.ErrorCode(), nil)
		}
	}
	return false
}

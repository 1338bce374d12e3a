package report

import (
	"sort"
	"strings"
	"time"
)

// Count is one row of a summary table.
type Count struct {
	Key   string
	Count int
}

// ControlSummary aggregates the findings of one control.
type ControlSummary struct {
	ControlID string // "" for findings without a control ID
	Title     string
	Service   string
	Severity  string // the highest severity among its findings
	Findings  int
	Resources int // distinct resources
	Mapped    bool
	Row       MappingRow
}

// CriterionImpact is the SOC 2 impact of the findings on one criterion.
type CriterionImpact struct {
	Criterion string
	Name      string
	Findings  int
	Severity  string // highest
	Controls  []string
	BySev     map[string]int
}

// Recommendation is one prioritised action.
type Recommendation struct {
	Priority   int
	ControlID  string
	Title      string
	Severity   string
	Findings   int
	Resources  int
	Criteria   []string
	Action     string
	Remediator string
}

// Meta describes the run.
type Meta struct {
	GeneratedAt time.Time
	// Regions queried; the scope lists them even when they had no findings.
	Regions []string
	// PeriodStart and PeriodEnd bound the remediation activity.
	PeriodStart, PeriodEnd time.Time
	Excluded               Excluded
}

// Report is everything the renderers print.
type Report struct {
	Meta       Meta
	Findings   []Finding // sorted, most severe first
	Accounts   []string
	Regions    []string
	BySeverity []Count // every severity, in order, zeros included
	ByService  []Count
	Controls   []ControlSummary
	Criteria   []CriterionImpact
	// Unmapped are findings without a mapping: no control ID, or a control
	// not in the table.
	Unmapped         []Finding
	NoControlID      int
	UnmappedControls int
	Recommendations  []Recommendation
	Activity         Activity
	mapping          *Mapping
}

// Criteria returns the SOC 2 criteria a finding maps to (nil if unmapped).
func (r *Report) CriteriaOf(f Finding) []string {
	if row, ok := r.mapping.Lookup(f.ControlID); ok {
		return row.Criteria
	}
	return nil
}

// RecommendationOf is the recommendation printed for a finding: the
// mapping's, else the finding's own, else a generic one.
func (r *Report) RecommendationOf(f Finding) string {
	if row, ok := r.mapping.Lookup(f.ControlID); ok && row.Recommendation != "" {
		return row.Recommendation
	}
	if f.Recommendation != "" {
		return f.Recommendation
	}
	if f.ControlID == "" {
		return "Investigate the finding in Security Hub; it has no control ID, so it is not mapped to SOC 2 criteria and needs a manual assessment."
	}
	return "Follow the Security Hub remediation guidance for " + f.ControlID + " and add the control to the SOC 2 mapping table."
}

// Total is the number of findings in the report.
func (r *Report) Total() int { return len(r.Findings) }

// SeverityCount returns the number of findings of one severity.
func (r *Report) SeverityCount(sev string) int {
	for _, c := range r.BySeverity {
		if c.Key == sev {
			return c.Count
		}
	}
	return 0
}

// Build computes the report from findings. It does not change its input.
func Build(findings []Finding, m *Mapping, activity Activity, meta Meta) *Report {
	fs := append([]Finding(nil), findings...)
	sortFindings(fs)
	r := &Report{Meta: meta, Findings: fs, Activity: activity, mapping: m}

	accounts, regions := map[string]bool{}, map[string]bool{}
	for _, reg := range meta.Regions {
		regions[reg] = true
	}
	sev := map[string]int{}
	svc := map[string]int{}
	type ctl struct {
		sum       ControlSummary
		resources map[string]bool
	}
	ctls := map[string]*ctl{}
	crit := map[string]*CriterionImpact{}
	critCtl := map[string]map[string]bool{}
	for _, f := range fs {
		if f.Account != "" {
			accounts[f.Account] = true
		}
		if f.Region != "" {
			regions[f.Region] = true
		}
		sev[f.Severity]++
		row, mapped := m.Lookup(f.ControlID)
		service := serviceOf(f, row, mapped)
		svc[service]++
		c := ctls[f.ControlID]
		if c == nil {
			title := f.Title
			if mapped {
				title = row.Title
			}
			if f.ControlID == "" {
				title = "Findings without a control ID"
			}
			c = &ctl{sum: ControlSummary{ControlID: f.ControlID, Title: title, Service: service, Mapped: mapped, Row: row}, resources: map[string]bool{}}
			ctls[f.ControlID] = c
		}
		c.sum.Findings++
		c.resources[f.Account+"|"+f.Region+"|"+f.ResourceID] = true
		if severityRank(f.Severity) > severityRank(c.sum.Severity) {
			c.sum.Severity = f.Severity
		}
		if !mapped {
			r.Unmapped = append(r.Unmapped, f)
			if f.ControlID == "" {
				r.NoControlID++
			} else {
				r.UnmappedControls++
			}
			continue
		}
		for _, cr := range row.Criteria {
			ci := crit[cr]
			if ci == nil {
				ci = &CriterionImpact{Criterion: cr, Name: CriterionName(cr), BySev: map[string]int{}}
				crit[cr] = ci
				critCtl[cr] = map[string]bool{}
			}
			ci.Findings++
			ci.BySev[f.Severity]++
			if severityRank(f.Severity) > severityRank(ci.Severity) {
				ci.Severity = f.Severity
			}
			critCtl[cr][f.ControlID] = true
		}
	}
	r.Accounts = sortedKeys(accounts)
	r.Regions = sortedKeys(regions)
	for _, s := range Severities() {
		r.BySeverity = append(r.BySeverity, Count{s, sev[s]})
	}
	r.ByService = sortedCounts(svc)

	for _, c := range ctls {
		c.sum.Resources = len(c.resources)
		r.Controls = append(r.Controls, c.sum)
	}
	sort.Slice(r.Controls, func(i, j int) bool {
		a, b := r.Controls[i], r.Controls[j]
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.Findings != b.Findings {
			return a.Findings > b.Findings
		}
		return a.ControlID < b.ControlID
	})

	ids := make([]string, 0, len(crit))
	for id := range crit {
		ids = append(ids, id)
	}
	sortCriteria(ids)
	for _, id := range ids {
		ci := crit[id]
		ci.Controls = sortedKeys(critCtl[id])
		r.Criteria = append(r.Criteria, *ci)
	}

	for _, c := range r.Controls {
		rec := Recommendation{ControlID: c.ControlID, Title: c.Title, Severity: c.Severity, Findings: c.Findings, Resources: c.Resources}
		switch {
		case c.Mapped:
			rec.Criteria, rec.Action, rec.Remediator = c.Row.Criteria, c.Row.Recommendation, c.Row.Remediator
		case c.ControlID == "":
			rec.Action = "Triage these findings in Security Hub (they come from products that do not use security controls, such as GuardDuty or Inspector) and assess their SOC 2 impact manually."
		default:
			rec.Action = "Follow the Security Hub remediation guidance for " + c.ControlID + "; the control is not in the SOC 2 mapping table yet, so add it after assessing which criteria it supports."
		}
		rec.Priority = len(r.Recommendations) + 1
		r.Recommendations = append(r.Recommendations, rec)
	}
	return r
}

// serviceOf names the AWS service of a finding: the mapping's service
// (EC2.7 is EBS, EC2.2 is VPC), else the control ID prefix, else the
// resource type's service (AWS::S3::Bucket -> S3), else the product.
func serviceOf(f Finding, row MappingRow, mapped bool) string {
	if mapped && row.Service != "" {
		return row.Service
	}
	if f.ControlID != "" {
		p, _, _ := strings.Cut(f.ControlID, ".")
		return p
	}
	if parts := strings.Split(f.ResourceType, "::"); len(parts) == 3 && parts[0] == "AWS" {
		return parts[1]
	}
	if strings.HasPrefix(f.ResourceType, "Aws") {
		// ASFF resource types such as AwsS3Bucket, AwsEc2Instance.
		rest := strings.TrimPrefix(f.ResourceType, "Aws")
		for i := 1; i < len(rest); i++ {
			if rest[i] >= 'A' && rest[i] <= 'Z' && !(rest[i-1] >= 'A' && rest[i-1] <= 'Z') {
				return strings.ToUpper(rest[:i])
			}
		}
	}
	if f.ProductName != "" {
		return f.ProductName
	}
	return "Unknown"
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}

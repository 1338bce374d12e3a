package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/remediation"
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

// AccountSummary is one account's part of the report: its open findings
// (the per-resource evidence, by severity and control) and its remediation
// outcomes of the period.
type AccountSummary struct {
	Account  string
	Findings int
	// Severity is the highest severity among its findings ("" for none).
	Severity   string
	BySeverity []Count // every severity, in order, zeros included
	Resources  int     // distinct resources with findings
	// Controls are the controls with findings in the account and how many,
	// most first; "" is the findings without a control ID.
	Controls []Count
	// Criteria are the SOC 2 criteria its mapped findings affect.
	Criteria []string
	// Outcomes counts its outcomes by action (AccountActions); nil when the
	// activity by account could not be read.
	Outcomes map[remediation.Action]int
}

// NotCompliant is the number of outcomes that left one of the account's
// resources not compliant (publish.NotCompliantActions).
func (a AccountSummary) NotCompliant() int {
	return AccountActivity{Counts: a.Outcomes}.NotCompliant()
}

// SeverityCount returns the account's findings of one severity.
func (a AccountSummary) SeverityCount(sev string) int {
	for _, c := range a.BySeverity {
		if c.Key == sev {
			return c.Count
		}
	}
	return 0
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
	// Merged is the number of standard-specific findings counted in
	// another finding of the same check on the same resource (see Build).
	Merged int
	// MergedStandards names the standards whose findings were merged.
	MergedStandards []string
	Recommendations []Recommendation
	Activity        Activity
	// ByAccount has a row per account with findings or outcomes in the
	// period, the most severe first (see Build).
	ByAccount []AccountSummary
	// Scores are the compliance scores per enabled standard (SetScores).
	Scores Scores
	// Trend compares this run with the previous runs (SetHistory).
	Trend Trend
	// OtherRisks are risks of other sections (threats, vulnerabilities)
	// that compete for the executive summary's top risks (TopRisks).
	OtherRisks []Risk
	// Threats and Vulnerabilities are the sections of GuardDuty's and
	// Amazon Inspector's findings (products.go; AddProducts).
	Threats         ThreatSection
	Vulnerabilities VulnerabilitySection
	// ProductsExcluded counts the GuardDuty and Inspector findings the
	// API returned although the filter should have removed them.
	ProductsExcluded int
	// Credentials is the IAM credential audit; nil when not included.
	Credentials *CredentialSection
	mapping     *Mapping
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
//
// With consolidated control findings turned off, Security Hub reports one
// check of one resource once per enabled standard (CIS 2.7,
// PCI.CloudTrail.1 and FSBP CloudTrail.2 on one trail): Build counts such
// findings once, under their security control, and reports how many it
// merged (Report.Merged; Finding.Merged lists their IDs).
func Build(findings []Finding, m *Mapping, activity Activity, meta Meta) *Report {
	fs, merged, standards := mergeStandards(findings)
	sortFindings(fs)
	r := &Report{Meta: meta, Findings: fs, Activity: activity, mapping: m, Merged: merged, MergedStandards: standards}
	noID := map[string]int{} // products of the findings without a control ID
	var unresolved []string  // their standard-specific controls, if any

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
				if len(f.StandardControls) > 0 {
					unresolved = append(unresolved, f.StandardControls...)
				} else {
					noID[f.ProductName]++
				}
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

	order := make(map[string]int, len(r.Controls))
	for i, c := range r.Controls {
		order[c.ControlID] = i
	}
	r.ByAccount = byAccount(fs, m, activity, order)

	for _, c := range r.Controls {
		rec := Recommendation{ControlID: c.ControlID, Title: c.Title, Severity: c.Severity, Findings: c.Findings, Resources: c.Resources}
		switch {
		case c.Mapped:
			rec.Criteria, rec.Action, rec.Remediator = c.Row.Criteria, c.Row.Recommendation, c.Row.Remediator
		case c.ControlID == "":
			rec.Action = noControlIDAction(noID, unresolved)
		default:
			rec.Action = "Follow the Security Hub remediation guidance for " + c.ControlID + "; the control is not in the SOC 2 mapping table yet, so add it after assessing which criteria it supports."
		}
		rec.Priority = len(r.Recommendations) + 1
		r.Recommendations = append(r.Recommendations, rec)
	}
	r.AddProducts(ProductFindings{})
	return r
}

// byAccount breaks the findings and the outcomes down by account: an
// account with findings, outcomes or both has a row. Rows are ordered by
// highest severity, then findings, then outcomes needing attention (failed
// and escalated, then not compliant), then account ID; each account's
// controls in the order of the report's controls (order).
func byAccount(fs []Finding, m *Mapping, activity Activity, order map[string]int) []AccountSummary {
	type acc struct {
		sum       AccountSummary
		sev       map[string]int
		controls  map[string]int
		resources map[string]bool
		criteria  map[string]bool
	}
	accs := map[string]*acc{}
	get := func(id string) *acc {
		a := accs[id]
		if a == nil {
			a = &acc{sum: AccountSummary{Account: id}, sev: map[string]int{}, controls: map[string]int{}, resources: map[string]bool{}, criteria: map[string]bool{}}
			accs[id] = a
		}
		return a
	}
	for _, f := range fs {
		a := get(f.Account)
		a.sum.Findings++
		a.sev[f.Severity]++
		if severityRank(f.Severity) > severityRank(a.sum.Severity) {
			a.sum.Severity = f.Severity
		}
		a.controls[f.ControlID]++
		a.resources[f.Region+"|"+f.ResourceID] = true
		if row, ok := m.Lookup(f.ControlID); ok {
			for _, c := range row.Criteria {
				a.criteria[c] = true
			}
		}
	}
	for _, aa := range activity.Accounts {
		get(aa.Account).sum.Outcomes = aa.Counts
	}
	readable := activity.Err == "" && activity.AccountsErr == ""
	out := make([]AccountSummary, 0, len(accs))
	for _, a := range accs {
		for _, s := range Severities() {
			a.sum.BySeverity = append(a.sum.BySeverity, Count{s, a.sev[s]})
		}
		a.sum.Resources = len(a.resources)
		for id, n := range a.controls {
			a.sum.Controls = append(a.sum.Controls, Count{id, n})
		}
		sort.Slice(a.sum.Controls, func(i, j int) bool { return order[a.sum.Controls[i].Key] < order[a.sum.Controls[j].Key] })
		crit := make([]string, 0, len(a.criteria))
		for c := range a.criteria {
			crit = append(crit, c)
		}
		sortCriteria(crit)
		a.sum.Criteria = crit
		if a.sum.Outcomes == nil && readable {
			a.sum.Outcomes = map[remediation.Action]int{}
		}
		out = append(out, a.sum)
	}
	attention := func(a AccountSummary) (int, int) {
		return a.Outcomes[remediation.ActionFailed] + a.Outcomes[remediation.ActionEscalated], a.NotCompliant()
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.Findings != b.Findings {
			return a.Findings > b.Findings
		}
		ua, na := attention(a)
		ub, nb := attention(b)
		if ua != ub {
			return ua > ub
		}
		if na != nb {
			return na > nb
		}
		return a.Account < b.Account
	})
	return out
}

// noControlIDAction is the recommendation for the findings without a
// control ID, naming where they come from rather than guessing.
func noControlIDAction(products map[string]int, unresolved []string) string {
	var parts []string
	if len(products) > 0 {
		var names []string
		for _, p := range sortedKeys(boolKeys(products)) {
			name := p
			if name == "" {
				name = "an unnamed product"
			}
			names = append(names, fmt.Sprintf("%s (%d)", name, products[p]))
		}
		parts = append(parts, "Triage the findings from "+joinAnd(names)+" in Security Hub and assess their SOC 2 impact manually: they carry no security control ID.")
	}
	if len(unresolved) > 0 {
		ids := sortedKeys(boolKeys(countStrings(unresolved)))
		parts = append(parts, fmt.Sprintf("%s generated for standard-specific controls that report/standard_controls.csv does not translate to a security control ID (%s); add them from the AWS Security Hub user guide's consolidation table.",
			pluralVerb(len(unresolved), "finding was", "findings were"), strings.Join(ids, ", ")))
	}
	return strings.Join(parts, " ")
}

func countStrings(xs []string) map[string]int {
	m := map[string]int{}
	for _, x := range xs {
		m[x]++
	}
	return m
}

func boolKeys(m map[string]int) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// mergeStandards counts each check of a resource once: findings with the
// same account, Region, security control and resource are the same check
// reported under several standards. The finding kept is the consolidated
// one if any, else the most severe (then the lowest ID); it takes the
// highest severity, the earliest first and latest last observation of the
// group, and lists the others in Merged. It returns the findings, how many
// were merged and the names of the standards involved.
func mergeStandards(in []Finding) ([]Finding, int, []string) {
	type key struct{ account, region, control, resource string }
	first := make(map[key]int, len(in))
	var dups map[int][]int // index of a group's first finding -> the others
	for i, f := range in {
		if f.ControlID == "" || f.ResourceID == "" {
			continue
		}
		k := key{f.Account, f.Region, f.ControlID, f.ResourceID}
		j, ok := first[k]
		if !ok {
			first[k] = i
			continue
		}
		if dups == nil {
			dups = map[int][]int{}
		}
		dups[j] = append(dups[j], i)
	}
	if len(dups) == 0 {
		return append([]Finding(nil), in...), 0, nil
	}
	skip := make([]bool, len(in))
	for _, others := range dups {
		for _, i := range others {
			skip[i] = true
		}
	}
	out := make([]Finding, 0, len(in))
	merged := 0
	standards := map[string]bool{}
	for i, f := range in {
		if skip[i] {
			continue
		}
		others, ok := dups[i]
		if !ok {
			out = append(out, f)
			continue
		}
		g := append([]int{i}, others...)
		best := g[0]
		for _, j := range g[1:] {
			if preferred(in[j], in[best]) {
				best = j
			}
		}
		keep := in[best]
		scs := map[string]bool{}
		var ids []string
		for _, j := range g {
			f := in[j]
			for _, sc := range f.StandardControls {
				scs[sc] = true
				if k := strings.LastIndex(sc, "/"); k > 0 {
					standards[StandardName(sc[:k])] = true
				}
			}
			ids = append(ids, f.Merged...)
			if j == best {
				continue
			}
			ids = append(ids, f.ID)
			if severityRank(f.Severity) > severityRank(keep.Severity) {
				keep.Severity = f.Severity
			}
			if !f.FirstSeen.IsZero() && (keep.FirstSeen.IsZero() || f.FirstSeen.Before(keep.FirstSeen)) {
				keep.FirstSeen = f.FirstSeen
			}
			if f.LastSeen.After(keep.LastSeen) {
				keep.LastSeen = f.LastSeen
			}
		}
		keep.StandardControls = sortedKeys(scs)
		sort.Strings(ids)
		keep.Merged = ids
		merged += len(others)
		out = append(out, keep)
	}
	return out, merged, sortedKeys(standards)
}

// preferred reports whether a should represent its group rather than b.
func preferred(a, b Finding) bool {
	if ca, cb := len(a.StandardControls) == 0, len(b.StandardControls) == 0; ca != cb {
		return ca
	}
	if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
		return ra > rb
	}
	return a.ID < b.ID
}

// serviceOf names the AWS service of a finding: the mapping's service
// (EC2.7 is EBS, EC2.2 is VPC), else the control ID prefix, else the
// resource type's service (AWS::S3::Bucket, AwsS3Bucket -> S3), else the
// product.
func serviceOf(f Finding, row MappingRow, mapped bool) string {
	if mapped && row.Service != "" {
		return row.Service
	}
	if f.ControlID != "" {
		p, _, _ := strings.Cut(f.ControlID, ".")
		return p
	}
	if s := ResourceService(f.ResourceType); s != "" {
		return s
	}
	if f.ProductName != "" {
		return f.ProductName
	}
	return "Unknown"
}

// asffServices names the service of ASFF resource types by prefix, in the
// spelling of the security control IDs (AwsLambdaFunction -> Lambda,
// AwsElbv2LoadBalancer -> ELB). The longest matching prefix wins, so
// AwsEc2Volume is EBS while AwsEc2Instance is EC2, as in the mapping table.
var asffServices = map[string]string{
	"AwsAccount": "Account", "AwsAmazonMq": "MQ", "AwsApiGateway": "APIGateway", "AwsAppSync": "AppSync",
	"AwsAthena": "Athena", "AwsAutoScaling": "AutoScaling", "AwsBackup": "Backup",
	"AwsCertificateManager": "ACM", "AwsCloudFormation": "CloudFormation", "AwsCloudFront": "CloudFront",
	"AwsCloudTrail": "CloudTrail", "AwsCloudWatch": "CloudWatch", "AwsCodeBuild": "CodeBuild",
	"AwsDms": "DMS", "AwsDynamoDb": "DynamoDB",
	"AwsEc2": "EC2", "AwsEc2Volume": "EBS", "AwsEc2Vpc": "VPC", "AwsEc2Subnet": "VPC", "AwsEc2SecurityGroup": "VPC",
	"AwsEc2NetworkAcl": "VPC", "AwsEc2RouteTable": "VPC",
	"AwsEcr": "ECR", "AwsEcs": "ECS", "AwsEfs": "EFS", "AwsEks": "EKS", "AwsElasticBeanstalk": "ElasticBeanstalk",
	"AwsElasticsearch": "ES", "AwsElb": "ELB", "AwsEventSchemas": "EventBridge", "AwsEvents": "EventBridge",
	"AwsGuardDuty": "GuardDuty", "AwsIam": "IAM", "AwsKinesis": "Kinesis", "AwsKms": "KMS", "AwsLambda": "Lambda",
	"AwsMsk": "MSK", "AwsNetworkFirewall": "NetworkFirewall", "AwsOpenSearchService": "Opensearch",
	"AwsRds": "RDS", "AwsRedshift": "Redshift", "AwsRoute53": "Route53", "AwsS3": "S3", "AwsSageMaker": "SageMaker",
	"AwsSecretsManager": "SecretsManager", "AwsSns": "SNS", "AwsSqs": "SQS", "AwsSsm": "SSM",
	"AwsStepFunction": "StepFunctions", "AwsWaf": "WAF", "AwsXray": "XRay",
}

// ResourceService names the AWS service of a resource type, in the ASFF
// form (AwsCloudTrailTrail -> CloudTrail) or the CloudFormation form
// (AWS::Lambda::Function -> Lambda); "" when the type names no service
// (Container, Other, empty).
func ResourceService(resourceType string) string {
	if parts := strings.Split(resourceType, "::"); len(parts) == 3 && parts[0] == "AWS" {
		return parts[1]
	}
	best := ""
	for prefix := range asffServices {
		if strings.HasPrefix(resourceType, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best != "" {
		return asffServices[best]
	}
	// A type added to ASFF after this table: its first word after "Aws".
	rest, ok := strings.CutPrefix(resourceType, "Aws")
	if !ok || rest == "" {
		return ""
	}
	for i := 1; i < len(rest); i++ {
		if rest[i] >= 'A' && rest[i] <= 'Z' {
			return rest[:i]
		}
	}
	return rest
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

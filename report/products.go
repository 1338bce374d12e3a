package report

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// ProductsFilter is the GetFindings filter of the threat and vulnerability
// sections: the active findings of GuardDuty and Amazon Inspector whose
// workflow status is neither SUPPRESSED nor RESOLVED. They carry no
// compliance status, so FindingsFilter (ComplianceStatus = FAILED) never
// returns them. Security Hub ORs the EQUALS values of one field and ANDs
// its NOT_EQUALS values.
func ProductsFilter() *shtypes.AwsSecurityFindingFilters {
	f := func(cmp shtypes.StringFilterComparison, values ...string) []shtypes.StringFilter {
		var out []shtypes.StringFilter
		for _, v := range values {
			out = append(out, shtypes.StringFilter{Comparison: cmp, Value: aws.String(v)})
		}
		return out
	}
	return &shtypes.AwsSecurityFindingFilters{
		ProductName:    f(shtypes.StringFilterComparisonEquals, ProductGuardDuty, ProductInspector),
		RecordState:    f(shtypes.StringFilterComparisonEquals, string(shtypes.RecordStateActive)),
		WorkflowStatus: f(shtypes.StringFilterComparisonNotEquals, string(shtypes.WorkflowStatusSuppressed), string(shtypes.WorkflowStatusResolved)),
	}
}

// ProductFindings are the GuardDuty and Inspector findings of the report.
type ProductFindings struct {
	Threats         []Threat
	Vulnerabilities []Vulnerability
	// Excluded counts the findings the server returned although the filter
	// should have removed them (emulators ignore filters): other products,
	// archived, suppressed or resolved ones.
	Excluded int
}

// Threat is one active GuardDuty finding.
type Threat struct {
	ID, Account, Region string
	// Type is the ASFF type ("TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce").
	Type         string
	Title        string
	Severity     string
	ResourceType string
	ResourceID   string
	FirstSeen    time.Time
	LastSeen     time.Time
	// Count is how many times GuardDuty observed the activity
	// (aws/guardduty/service/count), at least 1.
	Count int
}

// Vulnerability is one vulnerable package of one Amazon Inspector finding
// (a finding without Vulnerabilities, such as network reachability, is one
// with an empty CVE).
type Vulnerability struct {
	FindingID, Account, Region string
	Type                       string // ASFF type
	Title                      string
	Severity                   string
	CVE                        string
	// CVSS is the highest base score among the finding's CVSS entries (0
	// when none).
	CVSS             float64
	Package          string // name and version ("openssl 1.0.2k-16.amzn2.0.3")
	FixedIn          string // "" when Inspector knows no fixed version
	Remediation      string
	FixAvailable     string // YES, NO, PARTIAL or ""
	ExploitAvailable string // YES, NO or ""
	ResourceType     string
	ResourceID       string
	LastSeen         time.Time
}

// FetchProducts reads the active GuardDuty and Inspector findings of the
// region the client is for, every page, checking the filter's conditions
// again on each finding as FetchFindings does.
func FetchProducts(ctx context.Context, api SecurityHubAPI, region string) (ProductFindings, error) {
	var out ProductFindings
	seen := map[string]bool{}
	p := securityhub.NewGetFindingsPaginator(api, &securityhub.GetFindingsInput{Filters: ProductsFilter(), MaxResults: aws.Int32(100)})
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return out, fmt.Errorf("getting GuardDuty and Inspector findings from Security Hub in %s: still more pages after %d pages", region, maxPages)
		}
		resp, err := p.NextPage(ctx)
		if err != nil {
			return out, ExplainError("getting GuardDuty and Inspector findings from Security Hub", "securityhub:GetFindings", region, err)
		}
		for _, a := range resp.Findings {
			id := aws.ToString(a.Id)
			if seen[id] {
				out.Excluded++
				continue
			}
			seen[id] = true
			out.add(a, region)
		}
	}
	return out, nil
}

// add sorts one finding into its section, or counts it as excluded.
func (pf *ProductFindings) add(a shtypes.AwsSecurityFinding, region string) {
	f := FromASFF(a, region)
	if f.RecordState != string(shtypes.RecordStateActive) ||
		f.WorkflowStatus == string(shtypes.WorkflowStatusSuppressed) || f.WorkflowStatus == string(shtypes.WorkflowStatusResolved) {
		pf.Excluded++
		return
	}
	typ := findingType(a)
	sev := f.Severity
	if (a.Severity == nil || (a.Severity.Label == "" && a.Severity.Normalized == nil)) && a.FindingProviderFields != nil && a.FindingProviderFields.Severity != nil {
		// Security Hub copies the provider's severity into Severity; a
		// finding imported with only FindingProviderFields has it there.
		if l := strings.ToUpper(string(a.FindingProviderFields.Severity.Label)); severityRank(l) > 0 {
			sev = l
		}
	}
	switch f.ProductName {
	case ProductGuardDuty:
		t := Threat{ID: f.ID, Account: f.Account, Region: f.Region, Type: typ, Title: f.Title, Severity: sev,
			ResourceType: f.ResourceType, ResourceID: f.ResourceID, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen, Count: 1}
		if n, err := strconv.Atoi(a.ProductFields["aws/guardduty/service/count"]); err == nil && n > 1 {
			t.Count = n
		}
		pf.Threats = append(pf.Threats, t)
	case ProductInspector:
		base := Vulnerability{FindingID: f.ID, Account: f.Account, Region: f.Region, Type: typ, Title: f.Title, Severity: sev,
			ResourceType: f.ResourceType, ResourceID: f.ResourceID, LastSeen: f.LastSeen}
		if len(a.Vulnerabilities) == 0 {
			pf.Vulnerabilities = append(pf.Vulnerabilities, base)
			return
		}
		for _, v := range a.Vulnerabilities {
			row := base
			row.CVE = aws.ToString(v.Id)
			row.FixAvailable = string(v.FixAvailable)
			row.ExploitAvailable = string(v.ExploitAvailable)
			for _, c := range v.Cvss {
				row.CVSS = max(row.CVSS, aws.ToFloat64(c.BaseScore))
			}
			if len(v.VulnerablePackages) == 0 {
				pf.Vulnerabilities = append(pf.Vulnerabilities, row)
				continue
			}
			for _, p := range v.VulnerablePackages {
				r := row
				r.Package = packageLabel(p)
				r.FixedIn = aws.ToString(p.FixedInVersion)
				if r.FixedIn == "NotAvailable" { // Inspector's word for no fixed version
					r.FixedIn = ""
				}
				r.Remediation = oneLine(aws.ToString(p.Remediation))
				pf.Vulnerabilities = append(pf.Vulnerabilities, r)
			}
		}
	default:
		pf.Excluded++
	}
}

// findingType is the finding's first ASFF type, else the provider's.
func findingType(a shtypes.AwsSecurityFinding) string {
	if len(a.Types) > 0 {
		return a.Types[0]
	}
	if a.FindingProviderFields != nil && len(a.FindingProviderFields.Types) > 0 {
		return a.FindingProviderFields.Types[0]
	}
	return ""
}

// packageLabel is "name version-release" ("openssl 1.0.2k-16.amzn2.0.3").
func packageLabel(p shtypes.SoftwarePackage) string {
	v := aws.ToString(p.Version)
	if r := aws.ToString(p.Release); r != "" {
		v += "-" + r
	}
	return strings.TrimSpace(aws.ToString(p.Name) + " " + v)
}

// ThreatName is the GuardDuty finding type of an ASFF type: from its first
// part with a colon to the end ("UnauthorizedAccess:EC2-SSHBruteForce" of
// "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce";
// "PenTest:IAMUser/KaliLinux" of "TTPs/PenTest:IAMUser/KaliLinux"). GuardDuty
// writes its own "/" as "-" in most ASFF types, not all.
func ThreatName(asffType string) string {
	parts := strings.Split(asffType, "/")
	for i, p := range parts {
		if strings.Contains(p, ":") {
			return strings.Join(parts[i:], "/")
		}
	}
	return parts[len(parts)-1]
}

// ThreatCategory is the ASFF namespace and category before the name
// ("TTPs/Initial Access").
func ThreatCategory(asffType string) string {
	name := ThreatName(asffType)
	return strings.TrimSuffix(strings.TrimSuffix(asffType, name), "/")
}

// ThreatGroup is the threats of one type on one resource.
type ThreatGroup struct {
	Type, Name, Category string
	Account, Region      string
	ResourceType         string
	ResourceID           string
	Severity             string // the highest
	Findings             int
	Events               int // sum of the findings' counts
	FirstSeen, LastSeen  time.Time
	Title                string // the newest finding's
	Row                  MappingRow
	Mapped               bool
}

// ThreatType summarises one threat type across resources.
type ThreatType struct {
	Name, Category string
	Severity       string
	Findings       int
	Resources      int
	LastSeen       time.Time
	Row            MappingRow
	Mapped         bool
}

// ProductSection is what the report says about one product.
type ProductSection struct {
	Product string
	// Missing are the Regions queried where the product has no active
	// finding in Security Hub; the section says it may not be enabled there.
	Missing []string
	// Criteria are the SOC 2 criteria its findings map to.
	Criteria []string
}

// ThreatSection is the report's section on GuardDuty findings.
type ThreatSection struct {
	ProductSection
	Groups []ThreatGroup // newest first
	Types  []ThreatType  // most severe first, then newest
	Total  int
}

// BuildThreats groups the threats by type and resource (newest first) and
// by type (most severe, then newest, first), with their SOC 2 mapping.
func BuildThreats(ts []Threat, m *Mapping, regions []string) ThreatSection {
	s := ThreatSection{ProductSection: ProductSection{Product: ProductGuardDuty}, Total: len(ts)}
	type key struct{ typ, account, region, resource string }
	groups := map[key]*ThreatGroup{}
	seenRegions := map[string]bool{}
	crit := map[string]bool{}
	for _, t := range ts {
		seenRegions[t.Region] = true
		k := key{t.Type, t.Account, t.Region, t.ResourceID}
		g := groups[k]
		if g == nil {
			row, ok := m.LookupFinding(ProductGuardDuty, t.Type)
			g = &ThreatGroup{Type: t.Type, Name: ThreatName(t.Type), Category: ThreatCategory(t.Type), Account: t.Account, Region: t.Region,
				ResourceType: t.ResourceType, ResourceID: t.ResourceID, Row: row, Mapped: ok, FirstSeen: t.FirstSeen}
			groups[k] = g
			for _, c := range row.Criteria {
				crit[c] = true
			}
		}
		g.Findings++
		g.Events += t.Count
		if severityRank(t.Severity) > severityRank(g.Severity) {
			g.Severity = t.Severity
		}
		if !t.FirstSeen.IsZero() && (g.FirstSeen.IsZero() || t.FirstSeen.Before(g.FirstSeen)) {
			g.FirstSeen = t.FirstSeen
		}
		if g.Title == "" || t.LastSeen.After(g.LastSeen) || (t.LastSeen.Equal(g.LastSeen) && t.Title < g.Title) {
			g.Title = t.Title
		}
		if t.LastSeen.After(g.LastSeen) {
			g.LastSeen = t.LastSeen
		}
	}
	types := map[string]*ThreatType{}
	typeResources := map[string]map[string]bool{}
	for _, g := range groups {
		s.Groups = append(s.Groups, *g)
		tt := types[g.Name]
		if tt == nil {
			tt = &ThreatType{Name: g.Name, Category: g.Category, Row: g.Row, Mapped: g.Mapped}
			types[g.Name] = tt
			typeResources[g.Name] = map[string]bool{}
		}
		tt.Findings += g.Findings
		typeResources[g.Name][g.Account+"|"+g.Region+"|"+g.ResourceID] = true
		if severityRank(g.Severity) > severityRank(tt.Severity) {
			tt.Severity = g.Severity
		}
		if g.LastSeen.After(tt.LastSeen) {
			tt.LastSeen = g.LastSeen
		}
	}
	sort.Slice(s.Groups, func(i, j int) bool {
		a, b := s.Groups[i], s.Groups[j]
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra > rb
		}
		for _, p := range [][2]string{{a.Type, b.Type}, {a.Account, b.Account}, {a.Region, b.Region}, {a.ResourceID, b.ResourceID}} {
			if p[0] != p[1] {
				return p[0] < p[1]
			}
		}
		return false
	})
	for name, tt := range types {
		tt.Resources = len(typeResources[name])
		s.Types = append(s.Types, *tt)
	}
	sort.Slice(s.Types, func(i, j int) bool {
		a, b := s.Types[i], s.Types[j]
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		return a.Name < b.Name
	})
	s.Missing = missingRegions(regions, seenRegions)
	s.Criteria = sortedCriteria(withDefault(crit, m, s.Product))
	return s
}

// VulnerabilitySection is the report's section on Inspector findings.
type VulnerabilitySection struct {
	ProductSection
	Rows       []Vulnerability // by severity, then exploitable, then fix available
	BySeverity []VulnCount     // every severity, in order
	Findings   int             // distinct Inspector findings
	// Rows' mapping, by ASFF type.
	rows map[string]MappingRow
}

// VulnCount counts the vulnerability rows of one severity.
type VulnCount struct {
	Severity             string
	Rows                 int
	Exploitable, Fixable int
	Resources            int
}

// fixRank orders FixAvailable: a fix first, then a partial one, then none.
func fixRank(s string) int {
	switch s {
	case "YES":
		return 2
	case "PARTIAL":
		return 1
	}
	return 0
}

// BuildVulnerabilities orders the vulnerabilities by severity and, within
// one severity, the exploitable ones first, then those with a fix (YES,
// then PARTIAL), then by CVSS score, CVE and resource.
func BuildVulnerabilities(vs []Vulnerability, m *Mapping, regions []string) VulnerabilitySection {
	s := VulnerabilitySection{ProductSection: ProductSection{Product: ProductInspector}, rows: map[string]MappingRow{}}
	s.Rows = append([]Vulnerability(nil), vs...)
	sort.SliceStable(s.Rows, func(i, j int) bool {
		a, b := s.Rows[i], s.Rows[j]
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if ea, eb := a.ExploitAvailable == "YES", b.ExploitAvailable == "YES"; ea != eb {
			return ea
		}
		if fa, fb := fixRank(a.FixAvailable), fixRank(b.FixAvailable); fa != fb {
			return fa > fb
		}
		if a.CVSS != b.CVSS {
			return a.CVSS > b.CVSS
		}
		for _, p := range [][2]string{{a.CVE, b.CVE}, {a.Account, b.Account}, {a.Region, b.Region}, {a.ResourceID, b.ResourceID}, {a.Package, b.Package}, {a.FindingID, b.FindingID}} {
			if p[0] != p[1] {
				return p[0] < p[1]
			}
		}
		return false
	})
	seenRegions := map[string]bool{}
	findings := map[string]bool{}
	crit := map[string]bool{}
	type counts struct {
		VulnCount
		res map[string]bool
	}
	bySev := map[string]*counts{}
	for _, v := range s.Rows {
		seenRegions[v.Region] = true
		findings[v.FindingID] = true
		if _, ok := s.rows[v.Type]; !ok {
			row, _ := m.LookupFinding(ProductInspector, v.Type)
			s.rows[v.Type] = row
			for _, c := range row.Criteria {
				crit[c] = true
			}
		}
		c := bySev[v.Severity]
		if c == nil {
			c = &counts{res: map[string]bool{}}
			bySev[v.Severity] = c
		}
		c.Rows++
		if v.ExploitAvailable == "YES" {
			c.Exploitable++
		}
		if fixRank(v.FixAvailable) > 0 {
			c.Fixable++
		}
		c.res[v.Account+"|"+v.Region+"|"+v.ResourceID] = true
	}
	for _, sev := range Severities() {
		vc := VulnCount{Severity: sev}
		if c := bySev[sev]; c != nil {
			vc = c.VulnCount
			vc.Severity = sev
			vc.Resources = len(c.res)
		}
		s.BySeverity = append(s.BySeverity, vc)
	}
	s.Findings = len(findings)
	s.Missing = missingRegions(regions, seenRegions)
	s.Criteria = sortedCriteria(withDefault(crit, m, s.Product))
	return s
}

// CriteriaOf returns the SOC 2 criteria of a vulnerability row's type.
func (s VulnerabilitySection) CriteriaOf(v Vulnerability) []string { return s.rows[v.Type].Criteria }

// SourceOf returns the mapping row key ("Inspector:Software and
// Configuration Checks/Vulnerabilities/CVE") a row was mapped by.
func (s VulnerabilitySection) SourceOf(v Vulnerability) string { return s.rows[v.Type].ControlID }

// withDefault is crit, else (no finding) the criteria of the product's
// catch-all row, so an empty section still says what it would map to.
func withDefault(crit map[string]bool, m *Mapping, product string) map[string]bool {
	if len(crit) > 0 {
		return crit
	}
	row, _ := m.LookupFinding(product, "")
	for _, c := range row.Criteria {
		crit[c] = true
	}
	return crit
}

func missingRegions(regions []string, seen map[string]bool) []string {
	var out []string
	for _, r := range regions {
		if !seen[r] {
			out = append(out, r)
		}
	}
	return out
}

func sortedCriteria(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sortCriteria(out)
	return out
}

// NotSendingText is the empty-state sentence of a product's section for
// the Regions where it has no active finding.
func (p ProductSection) NotSendingText() string {
	if len(p.Missing) == 0 {
		return ""
	}
	return fmt.Sprintf("%s is not enabled or sends no findings to Security Hub in %s (or has no active finding there).", p.Product, joinAnd(p.Missing))
}

// AddProducts sets the threat and vulnerability sections from the
// GuardDuty and Inspector findings (Build starts them empty).
func (r *Report) AddProducts(pf ProductFindings) {
	r.Threats = BuildThreats(pf.Threats, r.mapping, r.Meta.Regions)
	r.Vulnerabilities = BuildVulnerabilities(pf.Vulnerabilities, r.mapping, r.Meta.Regions)
	r.ProductsExcluded = pf.Excluded
	r.OtherRisks = productRisks(r.Threats, r.Vulnerabilities)
}

// productRisks are the threat types and the CVEs as candidates for the
// executive summary's top risks: one per threat type, one per CVE (its
// packages' resources and accounts together).
func productRisks(t ThreatSection, v VulnerabilitySection) []Risk {
	var out []Risk
	for _, tt := range t.Types {
		accounts := map[string]bool{}
		for _, g := range t.Groups {
			if g.Name == tt.Name {
				accounts[g.Account] = true
			}
		}
		out = append(out, Risk{Severity: tt.Severity, Title: "Active threat " + tt.Name, Source: ProductGuardDuty,
			Resources: tt.Resources, Accounts: len(accounts), Action: tt.Row.Recommendation})
	}
	type cve struct {
		risk                Risk
		resources, accounts map[string]bool
	}
	byCVE := map[string]*cve{}
	var order []string
	for _, x := range v.Rows {
		if x.CVE == "" {
			continue
		}
		c := byCVE[x.CVE]
		if c == nil {
			title := x.CVE + " in " + strings.SplitN(x.Package, " ", 2)[0]
			if x.ExploitAvailable == "YES" {
				title += ", with a known exploit"
			}
			action := x.Remediation
			if action == "" && x.FixedIn != "" {
				action = "Update to " + x.FixedIn + " or later."
			}
			if action != "" && !strings.HasSuffix(action, ".") {
				action += "."
			}
			c = &cve{risk: Risk{Severity: x.Severity, Title: title, Source: ProductInspector, Action: action},
				resources: map[string]bool{}, accounts: map[string]bool{}}
			byCVE[x.CVE] = c
			order = append(order, x.CVE)
		}
		c.resources[x.Account+"|"+x.Region+"|"+x.ResourceID] = true
		c.accounts[x.Account] = true
	}
	for _, id := range order {
		c := byCVE[id]
		c.risk.Resources, c.risk.Accounts = len(c.resources), len(c.accounts)
		out = append(out, c.risk)
	}
	return out
}

// addProducts reads the GuardDuty and Inspector findings of every Region
// (each finding once, as with the control findings) into r.
func (g *Generator) addProducts(ctx context.Context, r *Report) error {
	var all ProductFindings
	seen := map[string]bool{}
	for _, region := range g.Regions {
		pf, err := FetchProducts(ctx, g.Findings(region), region)
		if err != nil {
			return err
		}
		all.Excluded += pf.Excluded
		for _, t := range pf.Threats {
			if seen[t.ID] {
				all.Excluded++
				continue
			}
			seen[t.ID] = true
			all.Threats = append(all.Threats, t)
		}
		regionVulns := map[string]bool{}
		for _, v := range pf.Vulnerabilities {
			// one finding gives a row per package: skip a finding seen in
			// an earlier Region, keep all its rows from this one
			if seen[v.FindingID] && !regionVulns[v.FindingID] {
				all.Excluded++
				continue
			}
			seen[v.FindingID], regionVulns[v.FindingID] = true, true
			all.Vulnerabilities = append(all.Vulnerabilities, v)
		}
	}
	r.AddProducts(all)
	return nil
}

package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/autoremediate/autoremediate/credentials"
	"github.com/autoremediate/autoremediate/internal/csvsafe"
)

// File names of the threat and vulnerability CSV files.
const (
	FileThreatsCSV         = "threats.csv"
	FileVulnerabilitiesCSV = "vulnerabilities.csv"
)

// MaxProductRows bounds the threat and vulnerability tables of report.md
// and report.html; threats.csv and vulnerabilities.csv have every row.
const MaxProductRows = 50

// Sentence summarises the threat section in one sentence.
func (s ThreatSection) Sentence() string {
	if s.Total == 0 {
		return "No active GuardDuty finding in Security Hub."
	}
	return fmt.Sprintf("%s (record state ACTIVE, workflow status neither SUPPRESSED nor RESOLVED) of %s on %s: %s.",
		plural(s.Total, "active GuardDuty finding", "active GuardDuty findings"), plural(len(s.Types), "threat type", "threat types"),
		plural(s.resources(), "resource", "resources"), s.severities())
}

func (s ThreatSection) resources() int {
	res := map[string]bool{}
	for _, g := range s.Groups {
		res[g.Account+"|"+g.Region+"|"+g.ResourceID] = true
	}
	return len(res)
}

func (s ThreatSection) severities() string {
	n := map[string]int{}
	for _, g := range s.Groups {
		n[g.Severity] += g.Findings
	}
	var parts []string
	for _, sev := range Severities() {
		if n[sev] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[sev], strings.ToLower(sev)))
		}
	}
	return strings.Join(parts, ", ")
}

// Sentence summarises the vulnerability section in one sentence.
func (s VulnerabilitySection) Sentence() string {
	if len(s.Rows) == 0 {
		return "No active Amazon Inspector finding in Security Hub."
	}
	exploitable, fixable := 0, 0
	var parts []string
	for _, c := range s.BySeverity {
		exploitable += c.Exploitable
		fixable += c.Fixable
		if c.Rows > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.Rows, strings.ToLower(c.Severity)))
		}
	}
	return fmt.Sprintf("%s in %s (%s): %d with a known exploit, %d with a fix available.",
		plural(len(s.Rows), "vulnerable package", "vulnerable packages"), plural(s.Findings, "active Amazon Inspector finding", "active Amazon Inspector findings"),
		strings.Join(parts, ", "), exploitable, fixable)
}

func limitRows[T any](xs []T) ([]T, int) {
	if len(xs) > MaxProductRows {
		return xs[:MaxProductRows], len(xs) - MaxProductRows
	}
	return xs, 0
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func cvss(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// productsMarkdown writes the threat, vulnerability and (when included)
// credential audit sections.
func (r *Report) productsMarkdown(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	t := r.Threats
	p("## Threats (GuardDuty)\n\n%s", t.Sentence())
	if s := t.NotSendingText(); s != "" {
		p(" %s", s)
	}
	p(" SOC 2: %s.\n\n", orNone(strings.Join(t.Criteria, ", ")))
	if t.Total > 0 {
		p("### By threat type\n\n| Threat type | Category | Highest severity | Findings | Resources | Last seen | SOC 2 criteria |\n|---|---|---|---:|---:|---|---|\n")
		for _, tt := range t.Types {
			p("| %s | %s | %s | %d | %d | %s | %s |\n", mdCell(tt.Name), mdCell(tt.Category), tt.Severity, tt.Findings, tt.Resources, stamp(tt.LastSeen), strings.Join(tt.Row.Criteria, ", "))
		}
		p("\n### Active threats, newest first\n\n| Last seen | Severity | Threat type | Resource | Account | Region | Findings | Observations | Title |\n|---|---|---|---|---|---|---:|---:|---|\n")
		rows, more := limitRows(t.Groups)
		for _, g := range rows {
			p("| %s | %s | %s | %s | %s | %s | %d | %d | %s |\n", stamp(g.LastSeen), g.Severity, mdCell(g.Name), mdCell(resourceLabel(g.ResourceType, g.ResourceID)),
				g.Account, g.Region, g.Findings, g.Events, mdCell(g.Title))
		}
		if more > 0 {
			p("\n%s more in %s.\n", plural(more, "threat", "threats"), FileThreatsCSV)
		}
		p("\n")
	}

	v := r.Vulnerabilities
	p("## Vulnerabilities (Amazon Inspector)\n\n%s", v.Sentence())
	if s := v.NotSendingText(); s != "" {
		p(" %s", s)
	}
	p(" SOC 2: %s.\n\n", orNone(strings.Join(v.Criteria, ", ")))
	if len(v.Rows) > 0 {
		p("| Severity | Vulnerable packages | Exploit available | Fix available | Resources |\n|---|---:|---:|---:|---:|\n")
		for _, c := range v.BySeverity {
			p("| %s | %d | %d | %d | %d |\n", c.Severity, c.Rows, c.Exploitable, c.Fixable, c.Resources)
		}
		p("\nBy severity; within one, those with a known exploit first, then those with a fix.\n\n")
		p("| Severity | CVE | CVSS | Package | Fixed in | Exploit | Fix | Resource | Account | Region | SOC 2 criteria |\n|---|---|---:|---|---|---|---|---|---|---|---|\n")
		rows, more := limitRows(v.Rows)
		for _, x := range rows {
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Severity, mdCell(cveLabel(x)), cvss(x.CVSS), mdCell(x.Package), mdCell(orNone(x.FixedIn)),
				orNone(x.ExploitAvailable), orNone(x.FixAvailable), mdCell(resourceLabel(x.ResourceType, x.ResourceID)), x.Account, x.Region, strings.Join(v.CriteriaOf(x), ", "))
		}
		if more > 0 {
			p("\n%s more in %s.\n", plural(more, "vulnerable package", "vulnerable packages"), FileVulnerabilitiesCSV)
		}
		p("\n")
	}

	c := r.Credentials
	if c == nil {
		return
	}
	p("## IAM credential audit\n\n")
	if c.Err != "" {
		p("Not available: %s.\n\n", mdText(c.Err))
		return
	}
	p("%s\n\n", c.Sentence())
	if len(c.Findings) == 0 {
		return
	}
	p("| Severity | User | CIS control | Finding | SOC 2 criteria | Fix |\n|---|---|---|---|---|---|\n")
	for _, f := range c.Findings {
		p("| %s | %s | %s | %s | %s | %s |\n", f.Severity, mdCell(f.User), strings.TrimPrefix(f.Control, credentials.Benchmark+" "), mdCell(f.Detail),
			strings.Join(c.CriteriaOf(f), ", "), mdCell(f.Fix))
	}
	p("\n")
}

// Sentence summarises the credential audit.
func (c *CredentialSection) Sentence() string {
	of := "account " + orNone(strings.Join(c.Accounts, ", "))
	if len(c.Accounts) > 1 {
		of = "accounts " + strings.Join(c.Accounts, ", ")
	}
	s := fmt.Sprintf("The IAM credential report of %s, generated %s, lists %s (the root user included), checked against the %s credential controls (as `remediate report credentials` does).",
		of, stamp(c.ReportGeneratedAt), plural(c.Users, "user", "users"), credentials.Benchmark)
	if len(c.Findings) == 0 {
		s += " No credential findings: every user passes the checks."
	} else {
		s += fmt.Sprintf(" %s.", plural(len(c.Findings), "finding", "findings"))
	}
	return s + " SOC 2: " + orNone(strings.Join(c.Criteria, ", ")) + "."
}

// cveLabel is the CVE, or the finding's title when it names none (network
// reachability, code findings).
func cveLabel(v Vulnerability) string {
	if v.CVE != "" {
		return v.CVE
	}
	return v.Title
}

// resourceLabel is "AwsEc2Instance i-0abc" style: the type and the ID.
func resourceLabel(typ, id string) string {
	if typ == "" {
		return id
	}
	return typ + " " + id
}

// ProductsMethod is the method sentence of the two sections.
func (r *Report) ProductsMethod() string {
	s := "Threats and vulnerabilities are the GuardDuty and Amazon Inspector findings in Security Hub (GetFindings with ProductName GuardDuty and Inspector, RecordState = ACTIVE, WorkflowStatus not SUPPRESSED nor RESOLVED; every page), mapped to SOC 2 criteria by the rows PRODUCT:TYPE of report/soc2_mapping.csv (the most specific pattern matching the finding's ASFF type)."
	if r.ProductsExcluded > 0 {
		s += fmt.Sprintf(" %s returned by the API did not match that filter and are not counted.", plural(r.ProductsExcluded, "finding", "findings"))
	}
	if r.Credentials != nil {
		s += " The IAM credential audit reads the IAM credential report (GenerateCredentialReport, GetCredentialReport); its checks map to SOC 2 criteria by the rows CredentialAudit:CHECK."
	}
	return s
}

var productsHTMLTemplate = template.Must(template.New("products").Funcs(template.FuncMap{
	"stamp": stamp, "join": strings.Join, "sevColor": func(s string) string { return severityColors[s] },
	"res": resourceLabel, "cve": cveLabel, "cvss": cvss, "none": orNone, "limit": func(n int) int { return min(n, MaxProductRows) },
	"cis":  func(c string) string { return strings.TrimPrefix(c, credentials.Benchmark+" ") },
	"more": func(n int) int { return max(n-MaxProductRows, 0) }, "plural": plural,
}).Parse(`{{with .Threats}}<h2>Threats (GuardDuty)</h2>
<p>{{.Sentence}}{{with .NotSendingText}} {{.}}{{end}} SOC 2: {{none (join .Criteria ", ")}}.</p>
{{if .Total}}<h3>By threat type</h3>
<table>
<tr><th>Threat type</th><th>Category</th><th>Highest severity</th><th class="n">Findings</th><th class="n">Resources</th><th>Last seen</th><th>SOC 2 criteria</th></tr>
{{range .Types}}<tr><td>{{.Name}}</td><td>{{.Category}}</td><td><span class="sev" style="background:{{sevColor .Severity}}">{{.Severity}}</span></td><td class="n">{{.Findings}}</td><td class="n">{{.Resources}}</td><td>{{stamp .LastSeen}}</td><td>{{join .Row.Criteria ", "}}</td></tr>
{{end}}</table>
<h3>Active threats, newest first</h3>
<table>
<tr><th>Last seen</th><th>Severity</th><th>Threat type</th><th>Resource</th><th>Account</th><th>Region</th><th class="n">Findings</th><th class="n">Observations</th><th>Title</th></tr>
{{range $i, $g := .Groups}}{{if lt $i (limit (len $.Threats.Groups))}}<tr><td>{{stamp .LastSeen}}</td><td><span class="sev" style="background:{{sevColor .Severity}}">{{.Severity}}</span></td><td>{{.Name}}</td><td>{{res .ResourceType .ResourceID}}</td><td>{{.Account}}</td><td>{{.Region}}</td><td class="n">{{.Findings}}</td><td class="n">{{.Events}}</td><td>{{.Title}}</td></tr>
{{end}}{{end}}</table>
{{with more (len .Groups)}}<p>{{plural . "threat" "threats"}} more in threats.csv.</p>{{end}}{{end}}{{end}}
{{with .Vulnerabilities}}<h2>Vulnerabilities (Amazon Inspector)</h2>
<p>{{.Sentence}}{{with .NotSendingText}} {{.}}{{end}} SOC 2: {{none (join .Criteria ", ")}}.</p>
{{if .Rows}}<table class="narrow">
<tr><th>Severity</th><th class="n">Vulnerable packages</th><th class="n">Exploit available</th><th class="n">Fix available</th><th class="n">Resources</th></tr>
{{range .BySeverity}}<tr><td>{{.Severity}}</td><td class="n">{{.Rows}}</td><td class="n">{{.Exploitable}}</td><td class="n">{{.Fixable}}</td><td class="n">{{.Resources}}</td></tr>
{{end}}</table>
<p class="note">By severity; within one, those with a known exploit first, then those with a fix.</p>
<table>
<tr><th>Severity</th><th>CVE</th><th class="n">CVSS</th><th>Package</th><th>Fixed in</th><th>Exploit</th><th>Fix</th><th>Resource</th><th>Account</th><th>Region</th><th>SOC 2 criteria</th></tr>
{{$s := .}}{{range $i, $v := .Rows}}{{if lt $i (limit (len $s.Rows))}}<tr><td><span class="sev" style="background:{{sevColor .Severity}}">{{.Severity}}</span></td><td>{{cve .}}</td><td class="n">{{cvss .CVSS}}</td><td>{{.Package}}</td><td>{{none .FixedIn}}</td><td>{{none .ExploitAvailable}}</td><td>{{none .FixAvailable}}</td><td>{{res .ResourceType .ResourceID}}</td><td>{{.Account}}</td><td>{{.Region}}</td><td>{{join ($s.CriteriaOf .) ", "}}</td></tr>
{{end}}{{end}}</table>
{{with more (len .Rows)}}<p>{{plural . "vulnerable package" "vulnerable packages"}} more in vulnerabilities.csv.</p>{{end}}{{end}}{{end}}
{{with .Credentials}}<h2>IAM credential audit</h2>
{{if .Err}}<p>Not available: {{.Err}}.</p>{{else}}<p>{{.Sentence}}</p>
{{if .Findings}}<table>
<tr><th>Severity</th><th>User</th><th>CIS control</th><th>Finding</th><th>SOC 2 criteria</th><th>Fix</th></tr>
{{$c := .}}{{range .Findings}}<tr><td><span class="sev" style="background:{{sevColor .Severity}}">{{.Severity}}</span></td><td>{{.User}}</td><td>{{cis .Control}}</td><td>{{.Detail}}</td><td>{{join ($c.CriteriaOf .) ", "}}</td><td>{{.Fix}}</td></tr>
{{end}}</table>{{end}}{{end}}{{end}}`))

// ProductsHTML renders the threat, vulnerability and credential audit
// sections for report.html.
func (r *Report) ProductsHTML() (template.HTML, error) {
	var b bytes.Buffer
	if err := productsHTMLTemplate.Execute(&b, r); err != nil {
		return "", fmt.Errorf("rendering the threat and vulnerability sections: %w", err)
	}
	return template.HTML(b.String()), nil // the template escaped every value
}

// ThreatsCSVHeader is the header of threats.csv.
func ThreatsCSVHeader() []string {
	return []string{"last_seen", "severity", "threat_type", "asff_type", "resource_type", "resource_id", "account_id", "region",
		"findings", "observations", "first_seen", "title", "soc2_criteria", "mapping_source"}
}

// ThreatsCSV renders one row per threat (a type on a resource), newest first.
func (r *Report) ThreatsCSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(ThreatsCSVHeader()) // writes to a bytes.Buffer cannot fail
	for _, g := range r.Threats.Groups {
		_ = w.Write(csvsafe.Record([]string{stamp(g.LastSeen), g.Severity, g.Name, g.Type, g.ResourceType, g.ResourceID, g.Account, g.Region,
			strconv.Itoa(g.Findings), strconv.Itoa(g.Events), stamp(g.FirstSeen), g.Title, strings.Join(g.Row.Criteria, ";"), g.Row.ControlID}))
	}
	w.Flush()
	return b.Bytes()
}

// VulnerabilitiesCSVHeader is the header of vulnerabilities.csv.
func VulnerabilitiesCSVHeader() []string {
	return []string{"severity", "cve", "cvss", "package", "fixed_in", "exploit_available", "fix_available", "remediation",
		"resource_type", "resource_id", "account_id", "region", "last_seen", "title", "soc2_criteria", "mapping_source", "finding_id"}
}

// VulnerabilitiesCSV renders one row per vulnerable package, in report
// order.
func (r *Report) VulnerabilitiesCSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(VulnerabilitiesCSVHeader()) // writes to a bytes.Buffer cannot fail
	v := r.Vulnerabilities
	for _, x := range v.Rows {
		_ = w.Write(csvsafe.Record([]string{x.Severity, x.CVE, cvss(x.CVSS), x.Package, x.FixedIn, x.ExploitAvailable, x.FixAvailable, x.Remediation,
			x.ResourceType, x.ResourceID, x.Account, x.Region, stamp(x.LastSeen), x.Title, strings.Join(v.CriteriaOf(x), ";"), v.SourceOf(x), x.FindingID}))
	}
	w.Flush()
	return b.Bytes()
}

// ProductsSummary is the SNS summary's line on threats and
// vulnerabilities: "Active threats (GuardDuty): 4, 2 high or critical.
// Vulnerable packages (Inspector): 8, 3 with a known exploit, 6 with a fix."
func (r *Report) ProductsSummary() string {
	severe := 0
	for _, g := range r.Threats.Groups {
		if severityRank(g.Severity) >= severityRank(SeverityHigh) {
			severe += g.Findings
		}
	}
	exploitable, fixable := 0, 0
	for _, c := range r.Vulnerabilities.BySeverity {
		exploitable += c.Exploitable
		fixable += c.Fixable
	}
	return fmt.Sprintf("Active threats (GuardDuty): %d, %d high or critical. Vulnerable packages (Inspector): %d, %d with a known exploit, %d with a fix.",
		r.Threats.Total, severe, len(r.Vulnerabilities.Rows), exploitable, fixable)
}

// productsSentence is the executive summary's sentence on threats and
// vulnerabilities; "" when GuardDuty and Inspector report nothing.
func (r *Report) productsSentence() string {
	if r.Threats.Total == 0 && len(r.Vulnerabilities.Rows) == 0 {
		return ""
	}
	severe := 0
	for _, g := range r.Threats.Groups {
		if severityRank(g.Severity) >= severityRank(SeverityHigh) {
			severe += g.Findings
		}
	}
	exploitable := 0
	for _, c := range r.Vulnerabilities.BySeverity {
		exploitable += c.Exploitable
	}
	return fmt.Sprintf("Besides the configuration findings, GuardDuty reports %s (%d high or critical) and Amazon Inspector %s (%d with a known exploit); the sections \"Threats\" and \"Vulnerabilities\" list them.",
		plural(r.Threats.Total, "active threat", "active threats"), severe, plural(len(r.Vulnerabilities.Rows), "vulnerable package", "vulnerable packages"), exploitable)
}

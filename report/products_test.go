package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/autoremediate/autoremediate/credentials"
)

// loadProductFindings reads the GuardDuty and Inspector findings of
// testdata (ASFF as the products send them; see testdata/README.md).
func loadProductFindings(t testing.TB) []shtypes.AwsSecurityFinding {
	t.Helper()
	var all []shtypes.AwsSecurityFinding
	for _, name := range []string{"guardduty_findings.json", "inspector_findings.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var fs []shtypes.AwsSecurityFinding
		if err := json.Unmarshal(data, &fs); err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		all = append(all, fs...)
	}
	return all
}

// productsPage is fakeHub's answer to the GuardDuty and Inspector query:
// it checks the filter and serves f.products in pages.
func (f *fakeHub) productsPage(in *securityhub.GetFindingsInput) *securityhub.GetFindingsOutput {
	f.t.Helper()
	checkProductsFilter(f.t, in.Filters)
	want := ""
	if f.productCalls > 0 {
		want = fmt.Sprintf("products-%d", f.productCalls)
	}
	if got := aws.ToString(in.NextToken); got != want {
		f.t.Errorf("products call %d: NextToken %q, want %q", f.productCalls, got, want)
	}
	if aws.ToInt32(in.MaxResults) != 100 {
		f.t.Errorf("products: MaxResults %d, want 100", aws.ToInt32(in.MaxResults))
	}
	size := max(f.pageSize, 1)
	start := f.productCalls * size
	f.productCalls++
	end := min(start+size, len(f.products))
	out := &securityhub.GetFindingsOutput{Findings: f.products[min(start, end):end]}
	if end < len(f.products) {
		out.NextToken = aws.String(fmt.Sprintf("products-%d", f.productCalls))
	}
	return out
}

func checkProductsFilter(t testing.TB, fl *shtypes.AwsSecurityFindingFilters) {
	t.Helper()
	values := func(got []shtypes.StringFilter, cmp shtypes.StringFilterComparison) string {
		var vs []string
		for _, g := range got {
			if g.Comparison != cmp {
				t.Errorf("filter %+v: comparison %s, want %s", g, g.Comparison, cmp)
			}
			vs = append(vs, aws.ToString(g.Value))
		}
		sort.Strings(vs)
		return strings.Join(vs, ",")
	}
	if got := values(fl.ProductName, shtypes.StringFilterComparisonEquals); got != "GuardDuty,Inspector" {
		t.Errorf("ProductName filter %s, want EQUALS GuardDuty, Inspector", got)
	}
	if got := values(fl.RecordState, shtypes.StringFilterComparisonEquals); got != "ACTIVE" {
		t.Errorf("RecordState filter %s, want EQUALS ACTIVE", got)
	}
	if got := values(fl.WorkflowStatus, shtypes.StringFilterComparisonNotEquals); got != "RESOLVED,SUPPRESSED" {
		t.Errorf("WorkflowStatus filter %s, want NOT_EQUALS RESOLVED and SUPPRESSED", got)
	}
	if fl.ComplianceStatus != nil {
		t.Errorf("ComplianceStatus filter %+v: GuardDuty and Inspector findings have no compliance status", fl.ComplianceStatus)
	}
}

// addProductFixture reads the product findings of testdata through
// FetchProducts and a fake hub, and adds them to r (the golden report).
func addProductFixture(t testing.TB, r *Report) {
	t.Helper()
	raw := loadProductFindings(t)
	hub := &fakeHub{t: t, products: raw, pageSize: 4}
	pf, err := FetchProducts(context.Background(), hub, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(raw) + 3) / 4; hub.productCalls != want {
		t.Errorf("products: GetFindings called %d times, want %d (every page)", hub.productCalls, want)
	}
	r.AddProducts(pf)
}

// activeProduct is the test's own reading of which product findings the
// sections show.
func activeProduct(a shtypes.AwsSecurityFinding) bool {
	return a.RecordState == shtypes.RecordStateActive && a.Workflow.Status != shtypes.WorkflowStatusSuppressed && a.Workflow.Status != shtypes.WorkflowStatusResolved
}

func TestThreatsNewestFirst(t *testing.T) {
	r := buildFixture(t, loadFixture(t))
	type want struct {
		id   string
		last string
	}
	var active []want
	inactive := 0
	for _, a := range loadProductFindings(t) {
		if aws.ToString(a.ProductName) != "GuardDuty" {
			continue
		}
		if !activeProduct(a) {
			inactive++
			continue
		}
		active = append(active, want{aws.ToString(a.Id), aws.ToString(a.LastObservedAt)})
	}
	if inactive == 0 || len(active) < 3 {
		t.Fatalf("fixture: %d active, %d archived or resolved GuardDuty findings; want both kinds", len(active), inactive)
	}
	if r.Threats.Total != len(active) {
		t.Errorf("%d threats, want %d", r.Threats.Total, len(active))
	}
	// The fixture has one finding per type and resource: a group each.
	if len(r.Threats.Groups) != len(active) {
		t.Fatalf("%d groups, want %d", len(r.Threats.Groups), len(active))
	}
	for i := 1; i < len(r.Threats.Groups); i++ {
		if r.Threats.Groups[i].LastSeen.After(r.Threats.Groups[i-1].LastSeen) {
			t.Errorf("group %d (%s, %s) is newer than group %d (%s)", i, r.Threats.Groups[i].Name, r.Threats.Groups[i].LastSeen, i-1, r.Threats.Groups[i-1].LastSeen)
		}
	}
	newest := active[0]
	for _, a := range active {
		if a.last > newest.last {
			newest = a
		}
	}
	if got := stamp(r.Threats.Groups[0].LastSeen); got != newest.last {
		t.Errorf("first threat last seen %s, want the newest finding's %s", got, newest.last)
	}
	for _, g := range r.Threats.Groups {
		if !hasAll(g.Row.Criteria, "CC7.2", "CC7.3") {
			t.Errorf("%s: criteria %v, want CC7.2 and CC7.3", g.Name, g.Row.Criteria)
		}
		if strings.HasPrefix(g.Name, "Backdoor:") && !hasAll(g.Row.Criteria, "CC6.8") {
			t.Errorf("%s: criteria %v, want CC6.8 (malicious software) too", g.Name, g.Row.Criteria)
		}
		if g.Name == "UnauthorizedAccess:EC2-SSHBruteForce" && g.Events < 2 {
			t.Errorf("%s: %d observations, want GuardDuty's count", g.Name, g.Events)
		}
	}
	// Types: most severe first.
	for i := 1; i < len(r.Threats.Types); i++ {
		if severityRank(r.Threats.Types[i].Severity) > severityRank(r.Threats.Types[i-1].Severity) {
			t.Errorf("type %s (%s) after a less severe one", r.Threats.Types[i].Name, r.Threats.Types[i].Severity)
		}
	}
	// The fixture has GuardDuty findings in us-east-1 only.
	if !strings.Contains(string(r.Markdown()), "GuardDuty is not enabled or sends no findings to Security Hub in eu-west-1") {
		t.Error("report.md does not say GuardDuty sends nothing from eu-west-1")
	}
	rows := readCSV(t, r.ThreatsCSV())
	if len(rows) != len(r.Threats.Groups) || rows[0]["last_seen"] != newest.last {
		t.Errorf("threats.csv: %d rows, first last seen %q; want %d, %s", len(rows), rows[0]["last_seen"], len(r.Threats.Groups), newest.last)
	}
}

func hasAll(xs []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, x := range xs {
			found = found || x == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestVulnerabilitiesActionableFirst(t *testing.T) {
	r := buildFixture(t, loadFixture(t))
	wantRows, suppressed := 0, 0
	for _, a := range loadProductFindings(t) {
		if aws.ToString(a.ProductName) != "Inspector" {
			continue
		}
		if !activeProduct(a) {
			suppressed++
			continue
		}
		n := 0
		for _, v := range a.Vulnerabilities {
			n += max(len(v.VulnerablePackages), 1)
		}
		wantRows += max(n, 1)
	}
	if suppressed == 0 {
		t.Fatal("fixture has no suppressed Inspector finding")
	}
	v := r.Vulnerabilities
	if len(v.Rows) != wantRows {
		t.Fatalf("%d rows, want %d (one per vulnerable package of the active findings)", len(v.Rows), wantRows)
	}
	key := func(x Vulnerability) [3]int {
		e := 0
		if x.ExploitAvailable == "YES" {
			e = 1
		}
		return [3]int{severityRank(x.Severity), e, fixRank(x.FixAvailable)}
	}
	for i := 1; i < len(v.Rows); i++ {
		a, b := key(v.Rows[i-1]), key(v.Rows[i])
		if b[0] > a[0] || b[0] == a[0] && (b[1] > a[1] || b[1] == a[1] && b[2] > a[2]) {
			t.Errorf("row %d %s (%v) before row %d %s (%v)", i-1, v.Rows[i-1].CVE, a, i, v.Rows[i].CVE, b)
		}
	}
	if v.Rows[0].Severity != SeverityCritical || v.Rows[0].ExploitAvailable != "YES" {
		t.Errorf("first row %+v, want the critical exploitable one", v.Rows[0])
	}
	sawNoFix, sawNoCVE := false, false
	for _, x := range v.Rows {
		if x.FixedIn == "NotAvailable" {
			t.Errorf("%s %s: fixed in %q, want empty", x.CVE, x.Package, x.FixedIn)
		}
		if x.CVE != "" && (x.Package == "" || x.ResourceID == "") {
			t.Errorf("%s: package %q, resource %q", x.CVE, x.Package, x.ResourceID)
		}
		if x.CVE == "CVE-2023-42363" && x.FixedIn == "" {
			sawNoFix = true
		}
		if x.CVE == "" {
			sawNoCVE = true
			if !hasAll(v.CriteriaOf(x), "CC6.6") {
				t.Errorf("network reachability finding: criteria %v, want CC6.6", v.CriteriaOf(x))
			}
		} else if !hasAll(v.CriteriaOf(x), "CC7.1", "CC8.1") {
			t.Errorf("%s: criteria %v, want CC7.1 and CC8.1", x.CVE, v.CriteriaOf(x))
		}
	}
	if !sawNoFix || !sawNoCVE {
		t.Errorf("fixture rows: a CVE without a fix %v, a finding without a CVE %v", sawNoFix, sawNoCVE)
	}
	if r.ProductsExcluded != 0 {
		// the fake applies no filter, but FetchProducts counts what the
		// filter should have removed only when the server ignores it
		t.Logf("excluded %d", r.ProductsExcluded)
	}
	rows := readCSV(t, r.VulnerabilitiesCSV())
	if len(rows) != len(v.Rows) || rows[0]["cve"] != v.Rows[0].CVE || rows[0]["mapping_source"] == "" {
		t.Errorf("vulnerabilities.csv: %d rows, first %v", len(rows), rows[0])
	}
}

// A server that ignores the filter: archived, suppressed, resolved and
// other products' findings are counted as excluded, not shown.
func TestProductsFilterCheckedAgain(t *testing.T) {
	raw := loadProductFindings(t)
	raw = append(raw, loadFixture(t)...) // Security Hub control findings
	pf, err := FetchProducts(context.Background(), &fakeHub{t: t, products: raw, pageSize: 100}, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, x := range pf.Threats {
		shown[x.ID] = true
	}
	for _, x := range pf.Vulnerabilities {
		shown[x.FindingID] = true
	}
	want := 0
	for _, a := range raw {
		p := aws.ToString(a.ProductName)
		if (p == "GuardDuty" || p == "Inspector") && activeProduct(a) {
			want++
			if !shown[aws.ToString(a.Id)] {
				t.Errorf("%s not shown", aws.ToString(a.Id))
			}
		}
	}
	if len(shown) != want || pf.Excluded != len(raw)-want {
		t.Errorf("%d shown, %d excluded; want %d and %d", len(shown), pf.Excluded, want, len(raw)-want)
	}
}

func TestProductsEmptyState(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	r := Build(nil, m, Activity{Namespace: "AutoRemediation"}, Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1", "eu-west-1"}})
	md := string(r.Markdown())
	for _, want := range []string{
		"GuardDuty is not enabled or sends no findings to Security Hub in us-east-1 and eu-west-1",
		"Inspector is not enabled or sends no findings to Security Hub in us-east-1 and eu-west-1",
		"## Threats (GuardDuty)", "## Vulnerabilities (Amazon Inspector)", "SOC 2: CC7.2, CC7.3.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("empty report lacks %q", want)
		}
	}
	if strings.Contains(md, "IAM credential audit") {
		t.Error("credential audit section without --include credentials")
	}
	if rows := readCSV(t, r.ThreatsCSV()); len(rows) != 0 {
		t.Errorf("%d threat rows", len(rows))
	}
}

func TestThreatNameAndCategory(t *testing.T) {
	for in, want := range map[string][2]string{
		"TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce":        {"UnauthorizedAccess:EC2-SSHBruteForce", "TTPs/Initial Access"},
		"TTPs/PenTest:IAMUser/KaliLinux":                                  {"PenTest:IAMUser/KaliLinux", "TTPs"},
		"Effects/Data Exposure/Policy:S3-BucketBlockPublicAccessDisabled": {"Policy:S3-BucketBlockPublicAccessDisabled", "Effects/Data Exposure"},
		"Unusual Behaviors": {"Unusual Behaviors", ""},
	} {
		if n, c := ThreatName(in), ThreatCategory(in); n != want[0] || c != want[1] {
			t.Errorf("%s: %q, %q; want %q, %q", in, n, c, want[0], want[1])
		}
	}
}

// The severity of a finding imported with FindingProviderFields only.
func TestProviderSeverity(t *testing.T) {
	var pf ProductFindings
	pf.add(shtypes.AwsSecurityFinding{Id: aws.String("x"), ProductName: aws.String("GuardDuty"), RecordState: shtypes.RecordStateActive,
		FindingProviderFields: &shtypes.FindingProviderFields{Severity: &shtypes.FindingProviderSeverity{Label: shtypes.SeverityLabelHigh},
			Types: []string{"TTPs/Discovery/Recon:EC2-Portscan"}}}, "us-east-1")
	if len(pf.Threats) != 1 || pf.Threats[0].Severity != SeverityHigh || pf.Threats[0].Type != "TTPs/Discovery/Recon:EC2-Portscan" {
		t.Errorf("threats %+v, want one HIGH Recon:EC2-Portscan", pf.Threats)
	}
}

func TestFindingMappingRows(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	valid := tscCriteria()
	rows := m.FindingRows()
	sources := map[string]int{}
	for _, r := range rows {
		src, pattern, _ := strings.Cut(r.ControlID, ":")
		sources[src]++
		if pattern == "" || r.Service == "" || r.Title == "" || r.Recommendation == "" {
			t.Errorf("%s: pattern, service, title or recommendation missing", r.ControlID)
		}
		if r.Source != SourceTeamReasoning && r.Source != SourceAWSDocs && r.Source != SourceAuditManager || len(r.Rationale) < 20 {
			t.Errorf("%s: source %q, rationale %q", r.ControlID, r.Source, r.Rationale)
		}
		for _, c := range r.Criteria {
			if !valid[c] || CriterionName(c) == "" {
				t.Errorf("%s: %q is not a described trust services criterion", r.ControlID, c)
			}
		}
		if src == ProductGuardDuty && !hasAll(r.Criteria, "CC7.2", "CC7.3") {
			t.Errorf("%s: a threat row without CC7.2 and CC7.3: %v", r.ControlID, r.Criteria)
		}
	}
	if sources[ProductGuardDuty] == 0 || sources[ProductInspector] == 0 || sources[SourceCredentialAudit] == 0 || len(sources) != 3 {
		t.Errorf("finding rows by source %v, want GuardDuty, Inspector and CredentialAudit only", sources)
	}
	for check := range credentials.Controls() {
		if _, ok := m.LookupFinding(SourceCredentialAudit, check); !ok {
			t.Errorf("credential check %s has no CredentialAudit row", check)
		}
	}
	for _, c := range []struct{ source, typ, want string }{
		{ProductGuardDuty, "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce", "GuardDuty:*"},
		{ProductGuardDuty, "TTPs/Command and Control/Trojan:EC2-DGADomainRequest.B", "GuardDuty:*/Trojan:*"},
		{ProductGuardDuty, "Effects/Data Exfiltration/Trojan:EC2-DropPoint", "GuardDuty:*/Trojan:*"},
		{ProductGuardDuty, "TTPs/Execution/Execution:EC2-MaliciousFile", "GuardDuty:*MaliciousFile*"},
		{ProductInspector, "Software and Configuration Checks/Vulnerabilities/CVE", "Inspector:Software and Configuration Checks/Vulnerabilities/CVE"},
		{ProductInspector, "Software and Configuration Checks/AWS Security Best Practices/Network Reachability - Recognized port reachable from internet", "Inspector:*Network Reachability*"},
		{ProductInspector, "Software and Configuration Checks/Vulnerabilities/Code", "Inspector:*"},
		{"Macie", "Effects/Data Exposure/Policy:IAMUser-S3BucketPublic", ""},
	} {
		row, ok := m.LookupFinding(c.source, c.typ)
		if row.ControlID != c.want || ok != (c.want != "") {
			t.Errorf("%s %s: row %q (%v), want %q", c.source, c.typ, row.ControlID, ok, c.want)
		}
	}
	// A control row is never taken for a finding row, nor the reverse.
	if _, ok := m.Lookup("GuardDuty:*"); ok {
		t.Error("Lookup finds a finding row")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "ac", true}, {"a*b*c", "abc", true},
		{"a*b*c", "acb", false}, {"*/Backdoor:*", "TTPs/Command and Control/Backdoor:EC2-Spambot", true},
		{"*/Backdoor:*", "Backdoor:EC2-Spambot", false}, {"abc", "abcd", false}, {"a*a", "a", false},
	} {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

// fakeIAM serves a credential report and checks it is asked for one.
type fakeIAM struct {
	t         testing.TB
	content   []byte
	err       error
	generated bool
}

func (f *fakeIAM) GenerateCredentialReport(context.Context, *iam.GenerateCredentialReportInput, ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	f.generated = true
	if f.err != nil {
		return nil, f.err
	}
	return &iam.GenerateCredentialReportOutput{State: iamtypes.ReportStateTypeComplete}, nil
}

func (f *fakeIAM) GetCredentialReport(context.Context, *iam.GetCredentialReportInput, ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	if !f.generated {
		f.t.Error("GetCredentialReport before GenerateCredentialReport")
	}
	return &iam.GetCredentialReportOutput{Content: f.content, GeneratedTime: aws.Time(fixedNow.Add(-time.Hour)), ReportFormat: iamtypes.ReportFormatTypeTextCsv}, nil
}

func credentialReportCSV() []byte {
	day := func(d int) string { return fixedNow.Add(-time.Duration(d) * 24 * time.Hour).Format(time.RFC3339) }
	return []byte(strings.Join([]string{
		"user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date",
		"<root_account>,arn:aws:iam::111111111111:root," + day(900) + ",not_supported,N/A,not_supported,not_supported,true,false,N/A,N/A,false,N/A,N/A",
		"alice,arn:aws:iam::111111111111:user/alice," + day(300) + ",true," + day(2) + "," + day(300) + ",N/A,false,false,N/A,N/A,false,N/A,N/A",
		"carol,arn:aws:iam::111111111111:user/carol," + day(300) + ",false,N/A,N/A,N/A,false,true," + day(120) + "," + day(60) + ",false,N/A,N/A",
	}, "\n") + "\n")
}

func TestCredentialSection(t *testing.T) {
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeIAM{t: t, content: credentialReportCSV()}
	g := &Generator{
		Findings: func(string) SecurityHubAPI { return &fakeHub{t: t, pageSize: 100} }, Regions: []string{"us-east-1"},
		Namespace: "AutoRemediation", Period: time.Hour, Mapping: m, Now: func() time.Time { return fixedNow },
		Credentials: &CredentialAudit{Fetcher: &credentials.Fetcher{API: api}, Thresholds: credentials.DefaultThresholds()},
	}
	r, err := g.Generate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := r.Credentials
	if c == nil || c.Err != "" {
		t.Fatalf("credential section %+v", c)
	}
	want := credentials.Check(mustParse(t, credentialReportCSV()), fixedNow, credentials.DefaultThresholds())
	if len(want) == 0 || len(c.Findings) != len(want) || c.Users != 3 {
		t.Fatalf("%d findings of %d users, want %d of 3", len(c.Findings), c.Users, len(want))
	}
	md := string(r.Markdown())
	for _, f := range c.Findings {
		crit := c.CriteriaOf(f)
		if len(crit) == 0 || !strings.HasPrefix(crit[0], "CC6.") {
			t.Errorf("%s %s: criteria %v, want CC6.x", f.User, f.Check, crit)
		}
		if !strings.Contains(md, "| "+f.Severity+" | "+f.User+" | ") {
			t.Errorf("report.md lacks the %s finding of %s", f.Check, f.User)
		}
	}
	html, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "<h2>IAM credential audit</h2>") || !strings.Contains(md, "## IAM credential audit") {
		t.Error("credential audit section missing")
	}

	// A failed audit is said in the section; the report is still built.
	g.Credentials = &CredentialAudit{Fetcher: &credentials.Fetcher{API: &fakeIAM{t: t, err: errors.New("AccessDenied: not authorized")}}}
	r, err = g.Generate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Credentials == nil || !strings.Contains(string(r.Markdown()), "Not available: generating the IAM credential report") {
		t.Errorf("failed audit: %+v", r.Credentials)
	}
}

func mustParse(t testing.TB, data []byte) []credentials.Row {
	t.Helper()
	rows, err := credentials.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// The SNS summary counts threats and vulnerabilities as the sections do.
func TestSummaryMessageCountsProducts(t *testing.T) {
	r := buildFixture(t, loadFixture(t))
	severe, exploitable := 0, 0
	for _, a := range loadProductFindings(t) {
		if !activeProduct(a) {
			continue
		}
		switch aws.ToString(a.ProductName) {
		case "GuardDuty":
			if l := a.Severity.Label; l == "HIGH" || l == "CRITICAL" {
				severe++
			}
		case "Inspector":
			for _, v := range a.Vulnerabilities {
				if v.ExploitAvailable == "YES" {
					exploitable += len(v.VulnerablePackages)
				}
			}
		}
	}
	body := aws.ToString(SummaryMessage("arn:aws:sns:us-east-1:111111111111:t", r, nil).Message)
	for _, want := range []string{
		fmt.Sprintf("Active threats (GuardDuty): %d, %d high or critical.", r.Threats.Total, severe),
		fmt.Sprintf("Vulnerable packages (Inspector): %d, %d with a known exploit", len(r.Vulnerabilities.Rows), exploitable),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("SNS summary lacks %q:\n%s", want, body)
		}
	}
}

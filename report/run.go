package report

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/autoremediate/autoremediate/credentials"
)

// File names of the report, in the order they are written.
const (
	FileMarkdown = "report.md"
	FileCSV      = "findings.csv"
	FileHTML     = "report.html"
)

// FileNames lists the files Files renders, in order.
func FileNames() []string {
	return []string{FileMarkdown, FileCSV, FileAccountsCSV, FileThreatsCSV, FileVulnerabilitiesCSV, FileHTML, FileSummary}
}

// Permissions lists exactly the IAM actions the report Lambda calls;
// terraform/ grants these and no more. cloudwatch:ListMetrics finds the
// accounts with outcomes; without it the report says the outcomes by
// account are not available and has the rest. s3:ListBucket and
// s3:GetObject read the previous runs' summaries for the trends; without
// them the report says so and has no trends.
func Permissions() []string {
	return []string{"securityhub:GetFindings", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "s3:PutObject", "s3:ListBucket", "s3:GetObject", "sns:Publish"}
}

// Generator builds a report from Security Hub and CloudWatch.
type Generator struct {
	// Findings returns the Security Hub client for a region.
	Findings func(region string) SecurityHubAPI
	// Regions to read findings from (at least one).
	Regions []string
	// Metrics is the CloudWatch client of the remediation pipeline's
	// region; nil leaves the activity section empty with a reason.
	Metrics   MetricsAPI
	Namespace string
	// Remediators whose outcomes are read: ActivityRemediators().
	Remediators []string
	Period      time.Duration
	Mapping     *Mapping
	Now         func() time.Time
	Logger      *slog.Logger
	// History is where the previous runs' summaries are; nil leaves the
	// report without trends. HistoryRuns is how many are read.
	History     SummaryStore
	HistoryRuns int
	// Credentials, when set, adds the IAM credential audit to the report.
	Credentials *CredentialAudit
}

// Wiring is what NewGenerator builds a Generator from. The CLI and the
// report Lambda both go through it, so they read Security Hub the same way.
type Wiring struct {
	// AWS is the SDK configuration; each Region's Security Hub client is
	// derived from it.
	AWS aws.Config
	// Metrics is the CloudWatch client of the remediation pipeline's Region
	// (app.Clients.CloudWatch).
	Metrics MetricsAPI
	// Regions to read findings from; none means the configuration's Region.
	Regions   []string
	Namespace string
	Period    time.Duration
	Mapping   *Mapping
	Logger    *slog.Logger
	// IncludeCredentials adds the IAM credential audit (the IAM client
	// comes from AWS; CredentialPermissions).
	IncludeCredentials bool
}

// NewGenerator wires a Generator: one Security Hub client per Region (see
// SecurityHubClients), the activity of every remediator that publishes
// outcomes (ActivityRemediators).
func NewGenerator(w Wiring) *Generator {
	regions := w.Regions
	if len(regions) == 0 && w.AWS.Region != "" {
		regions = []string{w.AWS.Region}
	}
	var audit *CredentialAudit
	if w.IncludeCredentials {
		audit = &CredentialAudit{Fetcher: &credentials.Fetcher{API: iam.NewFromConfig(w.AWS)}, Thresholds: credentials.DefaultThresholds()}
	}
	return &Generator{
		Credentials: audit,
		Findings:    SecurityHubClients(w.AWS),
		Regions:     regions,
		Metrics:     w.Metrics,
		Namespace:   w.Namespace,
		Remediators: ActivityRemediators(),
		Period:      w.Period,
		Mapping:     w.Mapping,
		Logger:      w.Logger,
	}
}

// SecurityHubClients returns a factory of Security Hub clients for cfg, one
// per Region asked for, built on first use: a multi-Region report reads
// each Region's own hub.
func SecurityHubClients(cfg aws.Config) func(region string) SecurityHubAPI {
	var mu sync.Mutex
	clients := map[string]*securityhub.Client{}
	return func(region string) SecurityHubAPI {
		mu.Lock()
		defer mu.Unlock()
		c, ok := clients[region]
		if !ok {
			c = securityhub.NewFromConfig(cfg, func(o *securityhub.Options) { o.Region = region })
			clients[region] = c
		}
		return c
	}
}

// Generate reads the findings of every region and the remediation activity
// of the period and builds the report. Reading findings must succeed in
// every region; a failure to read the activity is reported in the report
// (and logged) rather than failing it.
func (g *Generator) Generate(ctx context.Context) (*Report, error) {
	if len(g.Regions) == 0 {
		return nil, fmt.Errorf("generating the SOC 2 report: no region given")
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	generated := now().UTC()
	// CloudWatch stores outcomes at minute resolution and the period is
	// [start, end): ending at the next whole minute keeps the outcomes of
	// the current minute (a sweep just before the report) in it.
	end := generated.Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-g.Period)
	var all, passing []Finding
	var excluded Excluded
	seen := map[string]bool{}
	for _, region := range g.Regions {
		fs, ex, err := FetchFindings(ctx, g.Findings(region), region)
		if err != nil {
			return nil, err
		}
		ok, err := FetchControlFindings(ctx, g.Findings(region), region)
		if err != nil {
			return nil, err
		}
		passing = append(passing, ok...)
		// With cross-Region aggregation the aggregation Region also returns
		// the findings of the linked Regions: count each finding once.
		for _, f := range fs {
			if seen[f.ID] {
				excluded.Duplicate++
				continue
			}
			seen[f.ID] = true
			all = append(all, f)
		}
		excluded.Archived += ex.Archived
		excluded.Suppressed += ex.Suppressed
		excluded.NotFailed += ex.NotFailed
		excluded.Duplicate += ex.Duplicate
	}
	act := Activity{Namespace: g.Namespace, Start: start, End: end}
	if g.Metrics == nil {
		act.Err = "no CloudWatch client configured"
	} else if a, err := FetchActivity(ctx, g.Metrics, g.Namespace, g.Remediators, start, end); err != nil {
		act.Err = err.Error()
		if g.Logger != nil {
			g.Logger.LogAttrs(ctx, slog.LevelWarn, "remediation activity unavailable", slog.String("error", err.Error()))
		}
	} else {
		act = a
	}
	meta := Meta{GeneratedAt: generated, Regions: g.Regions, PeriodStart: start, PeriodEnd: end, Excluded: excluded}
	r := Build(all, g.Mapping, act, meta)
	if err := g.addProducts(ctx, r); err != nil {
		return nil, err
	}
	if g.Credentials != nil {
		r.Credentials = g.Credentials.Run(ctx, g.Mapping, generated)
		if r.Credentials.Err != "" && g.Logger != nil {
			g.Logger.LogAttrs(ctx, slog.LevelWarn, "IAM credential audit unavailable", slog.String("error", r.Credentials.Err))
		}
	}
	// Scored before Build's merge: each standard's own findings count.
	r.SetScores(ComputeScores(append(all, passing...)))
	if g.History != nil {
		h := LoadHistory(ctx, g.History, generated, g.HistoryRuns)
		for _, n := range h.Notes {
			if g.Logger != nil {
				g.Logger.LogAttrs(ctx, slog.LevelWarn, "previous report summary left out", slog.String("note", n))
			}
		}
		r.SetHistory(h)
	}
	return r, nil
}

// File is one rendered output.
type File struct {
	Name, ContentType string
	Body              []byte
}

// Files renders the outputs, in the order of FileNames.
func (r *Report) Files() ([]File, error) {
	html, err := r.HTML()
	if err != nil {
		return nil, err
	}
	summary, err := r.SummaryJSON()
	if err != nil {
		return nil, err
	}
	return []File{
		{FileMarkdown, "text/markdown; charset=utf-8", r.Markdown()},
		{FileCSV, "text/csv; charset=utf-8", r.CSV()},
		{FileAccountsCSV, "text/csv; charset=utf-8", r.AccountsCSV()},
		{FileThreatsCSV, "text/csv; charset=utf-8", r.ThreatsCSV()},
		{FileVulnerabilitiesCSV, "text/csv; charset=utf-8", r.VulnerabilitiesCSV()},
		{FileHTML, "text/html; charset=utf-8", html},
		{FileSummary, "application/json", summary},
	}, nil
}

// S3API is the part of the S3 client the report Lambda uses.
type S3API interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// SNSAPI is the part of the SNS client the report Lambda uses.
type SNSAPI interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Delivery is what the Lambda returns and logs.
type Delivery struct {
	Objects    []string       `json:"objects"`
	Total      int            `json:"findings"`
	BySeverity map[string]int `json:"bySeverity"`
	Unmapped   int            `json:"unmapped"`
	// Accounts is the number of accounts in the breakdown by account.
	Accounts int  `json:"accounts"`
	Notified bool `json:"notified"`
}

// Publisher writes the report files to S3 and the summary to SNS.
type Publisher struct {
	S3       S3API
	SNS      SNSAPI
	Bucket   string
	Prefix   string
	TopicARN string
	// Region, when set, adds S3 console links to the summary.
	Region string
	Logger *slog.Logger
}

// Publish writes the files under PREFIX/YYYY-MM-DD/ (the report's
// generation date) and sends the summary.
func (p *Publisher) Publish(ctx context.Context, r *Report, files []File) (Delivery, error) {
	d := Delivery{Total: r.Total(), BySeverity: map[string]int{}, Unmapped: len(r.Unmapped), Accounts: len(r.ByAccount)}
	for _, c := range r.BySeverity {
		d.BySeverity[c.Key] = c.Count
	}
	dir := r.Meta.GeneratedAt.UTC().Format("2006-01-02")
	if p.Prefix != "" {
		dir = p.Prefix + "/" + dir
	}
	for _, f := range files {
		key := dir + "/" + f.Name
		if _, err := p.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(p.Bucket), Key: aws.String(key), Body: bytes.NewReader(f.Body),
			ContentType: aws.String(f.ContentType), ContentLength: aws.Int64(int64(len(f.Body))),
		}); err != nil {
			return d, ExplainError(fmt.Sprintf("writing s3://%s/%s", p.Bucket, key), "s3:PutObject", "", err)
		}
		d.Objects = append(d.Objects, "s3://"+p.Bucket+"/"+key)
	}
	if p.TopicARN == "" {
		if p.Logger != nil {
			p.Logger.LogAttrs(ctx, slog.LevelInfo, "SNS_TOPIC_ARN not set; report summary not sent", slog.Any("objects", d.Objects))
		}
		return d, nil
	}
	links := d.Objects
	if p.Region != "" {
		links = nil
		for _, f := range files {
			key := dir + "/" + f.Name
			links = append(links, "s3://"+p.Bucket+"/"+key+"\n    https://"+p.Region+".console.aws.amazon.com/s3/object/"+p.Bucket+"?region="+p.Region+"&prefix="+url.QueryEscape(key))
		}
	}
	if _, err := p.SNS.Publish(ctx, SummaryMessage(p.TopicARN, r, links)); err != nil {
		return d, ExplainError(fmt.Sprintf("publishing the report summary to %s", p.TopicARN), "sns:Publish", "", err)
	}
	d.Notified = true
	return d, nil
}

// SummaryMessage is the SNS notification: counts by severity and where the
// files are.
func SummaryMessage(topicARN string, r *Report, objects []string) *sns.PublishInput {
	var b strings.Builder
	fmt.Fprintf(&b, "SOC 2 compliance report generated %s\n", day(r.Meta.GeneratedAt))
	fmt.Fprintf(&b, "Scope: accounts %s; Regions %s\n", listOrNone(r.Accounts), listOrNone(r.Regions))
	fmt.Fprintf(&b, "Overall status: %s\n\nActive failed findings: %d\n", r.Status(), r.Total())
	for _, c := range r.BySeverity {
		fmt.Fprintf(&b, "  %-13s %d\n", c.Key, c.Count)
	}
	fmt.Fprintf(&b, "Unmapped to SOC 2 criteria: %d\n", len(r.Unmapped))
	fmt.Fprintf(&b, "%s\n", r.ProductsSummary())
	if rows := r.ScoreRows(); len(rows) > 0 {
		fmt.Fprintf(&b, "\nCompliance scores (since the last run):\n")
		for _, s := range rows {
			fmt.Fprintf(&b, "  %-40s %7s  %s\n", s.Name, s.PercentText(), s.Arrow())
		}
	}
	fmt.Fprintf(&b, "%s\n", r.TrendSentence())
	if rows := r.AccountsWithFindings(); len(rows) > 0 {
		fmt.Fprintf(&b, "\n%s.\n", r.AccountsSentence())
		for i, a := range rows {
			if i == summaryAccounts {
				fmt.Fprintf(&b, "  %s more in %s\n", plural(len(rows)-i, "account", "accounts"), FileAccountsCSV)
				break
			}
			fmt.Fprintf(&b, "  %-14s %s\n", AccountLabel(a.Account), accountSeverities(a))
		}
	}
	if s := r.attentionSentence(); s != "" {
		fmt.Fprintf(&b, "%s\n", s)
	}
	fmt.Fprintf(&b, "\nFiles:\n")
	for _, o := range objects {
		fmt.Fprintf(&b, "  %s\n", o)
	}
	subject := fmt.Sprintf("SOC 2 report %s: %d findings (%d critical, %d high)", r.Meta.GeneratedAt.UTC().Format("2006-01-02"),
		r.Total(), r.SeverityCount(SeverityCritical), r.SeverityCount(SeverityHigh))
	str := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return &sns.PublishInput{
		TopicArn: aws.String(topicARN),
		Subject:  aws.String(subject),
		Message:  aws.String(b.String()),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"type":   str("soc2-report"),
			"status": str(r.Status()),
		},
	}
}

// summaryAccounts is how many accounts the SNS summary lists.
const summaryAccounts = 5

// accountSeverities is "11 findings: 2 critical, 3 high, 6 medium".
func accountSeverities(a AccountSummary) string {
	var parts []string
	for _, c := range a.BySeverity {
		if c.Count > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.Count, strings.ToLower(c.Key)))
		}
	}
	return plural(a.Findings, "finding", "findings") + ": " + strings.Join(parts, ", ")
}

// Run generates, writes and announces one report: the Lambda's whole job.
func Run(ctx context.Context, g *Generator, p *Publisher) (Delivery, error) {
	r, err := g.Generate(ctx)
	if err != nil {
		return Delivery{}, err
	}
	files, err := r.Files()
	if err != nil {
		return Delivery{}, err
	}
	return p.Publish(ctx, r, files)
}

// Package publish delivers outcomes beside the remediation core: one
// structured log line with CloudWatch Embedded Metric Format, CloudWatch
// metrics through the API where logs are not turned into metrics (the local
// emulator), and an SNS message.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// The metrics every outcome produces. The dashboard in terraform/ is built on
// exactly these; a test keeps the two in step.
const (
	DefaultNamespace = "AutoRemediation"

	// MetricRemediations counts outcomes (unit Count, value 1), by
	// Remediator and Action, and again by Account and Action (the account
	// the outcome is about, which in an organisation is a member account;
	// the metric itself is always put in the central account).
	MetricRemediations = "Remediations"
	// MetricDuration is the time spent deciding and applying one outcome
	// (unit Milliseconds), by Remediator.
	MetricDuration = "RemediationDuration"
	// MetricTimeToRemediate is the time from the detection to the verified
	// fix (unit Milliseconds), by Remediator: from Config's
	// notificationCreationTime for Config events, from the API call's
	// eventTime for CloudTrail events; only for remediated outcomes.
	MetricTimeToRemediate = "TimeToRemediate"

	DimensionRemediator = "Remediator"
	DimensionAction     = "Action"
	DimensionAccount    = "Account"

	// NoRemediator is the Remediator dimension of outcomes whose rule maps to
	// no remediator (CloudWatch dimension values cannot be empty).
	NoRemediator = "none"
	// NoAccount is the Account dimension of outcomes that name no account
	// (an event that could not be read far enough to find one).
	NoAccount = "unknown"
)

// NotCompliantActions are the outcomes that found a resource not compliant
// and left it so without a failure or an escalation: dry-run (it would have
// been fixed), deferred and needs-manual (a person must act). With failed
// and escalated they are what the dashboard's by-account widget and the
// report's per-account table count as needing attention; remediated,
// compliant, exempt, gone and ignored outcomes leave nothing to do.
func NotCompliantActions() []remediation.Action {
	return []remediation.Action{remediation.ActionDryRun, remediation.ActionDeferred, remediation.ActionNeedsManual}
}

// MetricSpec describes one published metric: a name with one set of
// dimensions (CloudWatch counts a name published under two dimension sets
// as two metrics, and so does its bill).
type MetricSpec struct {
	Name       string
	Unit       string
	Dimensions []string
}

// PublishedMetrics lists every metric the publisher emits, in the namespace
// it is given; a name appears once per dimension set.
func PublishedMetrics() []MetricSpec {
	return []MetricSpec{
		{MetricRemediations, "Count", []string{DimensionRemediator, DimensionAction}},
		{MetricRemediations, "Count", []string{DimensionAccount, DimensionAction}},
		{MetricDuration, "Milliseconds", []string{DimensionRemediator}},
		{MetricTimeToRemediate, "Milliseconds", []string{DimensionRemediator}},
	}
}

// MetricsAPI is the part of the CloudWatch client the publisher uses.
type MetricsAPI interface {
	PutMetricData(ctx context.Context, params *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// SNSAPI is the part of the SNS client the publisher uses.
type SNSAPI interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// OutcomePublisher writes each outcome as one structured log line carrying
// CloudWatch Embedded Metric Format, optionally puts the same metrics with
// PutMetricData (for the local emulator, which cannot read logs), and sends
// it to an SNS topic.
//
// In an organisation one publisher serves every account and region the
// pipeline acts in: its clients are the central account's, fixed when it is
// built, and an outcome's account and region only ever become dimension
// values and message fields. Nothing is published into a member account,
// so a member needs no CloudWatch or SNS permission and the dashboard,
// alarms and report read one place.
type OutcomePublisher struct {
	Logger    *slog.Logger
	Namespace string
	// EMF embeds the metrics in the log line; Lambda turns them into metrics
	// without a synchronous API call on the hot path.
	EMF bool
	// Metrics, when set, receives PutMetricData calls.
	Metrics func() MetricsAPI
	// SNS and TopicARN: publishing is skipped (with a log line) when
	// TopicARN is empty.
	SNS      func() SNSAPI
	TopicARN string
	// Archive, when set, keeps every outcome as evidence (package archive:
	// ARCHIVE_DIR and ARCHIVE_BUCKET for local runs; in AWS the archive is
	// the topic's Firehose subscription and this stays nil). Close flushes
	// it.
	Archive Archiver
}

// Archiver keeps outcomes in the outcome archive; Close writes what it
// still holds.
type Archiver interface {
	Archive(ctx context.Context, o remediation.Outcome) error
	Close(ctx context.Context) error
}

// Close flushes and closes the archive, if any; call it once the last
// outcome is published.
func (p *OutcomePublisher) Close(ctx context.Context) error {
	if p.Archive == nil {
		return nil
	}
	return p.Archive.Close(ctx)
}

// Publish delivers the outcome. Failing to deliver is logged with the whole
// outcome and returned.
func (p *OutcomePublisher) Publish(ctx context.Context, o remediation.Outcome) error {
	p.logOutcome(ctx, o)
	var errs []error
	if p.Metrics != nil {
		if _, err := p.Metrics().PutMetricData(ctx, p.metricData(o)); err != nil {
			errs = append(errs, fmt.Errorf("putting metrics in namespace %q: %w", p.namespace(), err))
		}
	}
	if p.TopicARN == "" {
		// Info, not Debug: docs/outcomes.md promises the skip is logged at the
		// default LOG_LEVEL.
		p.Logger.LogAttrs(ctx, slog.LevelInfo, "SNS topic not configured; notification skipped",
			slog.String("resourceId", o.ResourceID))
	} else if p.SNS != nil {
		if _, err := p.SNS().Publish(ctx, SNSMessage(p.TopicARN, o)); err != nil {
			errs = append(errs, fmt.Errorf("publishing to SNS topic %q: %w", p.TopicARN, err))
		}
	}
	if p.Archive != nil {
		if err := p.Archive.Archive(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		p.Logger.LogAttrs(ctx, slog.LevelError, "outcome not delivered",
			slog.String("error", err.Error()), slog.Any("outcome", o))
	}
	return err
}

// NoteDuplicate implements remediation.DuplicateNoter: one info line, not an
// outcome line (the outcome was logged and published when it was decided).
func (p *OutcomePublisher) NoteDuplicate(ctx context.Context, o remediation.Outcome) {
	p.Logger.LogAttrs(ctx, slog.LevelInfo, "duplicate delivery: the recorded outcome is returned, not acted on or published again",
		slog.String("eventId", o.EventID), slog.String("remediator", o.Remediator), slog.String("resourceId", o.ResourceID),
		slog.String("action", string(o.Action)))
}

func (p *OutcomePublisher) namespace() string {
	if p.Namespace == "" {
		return DefaultNamespace
	}
	return p.Namespace
}

func level(a remediation.Action) slog.Level {
	switch a.Severity() {
	case "high":
		return slog.LevelError
	case "medium":
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func dimensionRemediator(o remediation.Outcome) string {
	if o.Remediator == "" {
		return NoRemediator
	}
	return o.Remediator
}

func dimensionAccount(o remediation.Outcome) string {
	if o.Account == "" {
		return NoAccount
	}
	return o.Account
}

// logOutcome writes the single structured line for the outcome, whatever
// the log level. The outcome
// fields sit at the top level; with EMF on, the _aws block and the metric and
// dimension members that EMF requires at the root sit beside them.
func (p *OutcomePublisher) logOutcome(ctx context.Context, o remediation.Outcome) {
	attrs := []slog.Attr{
		slog.String("remediator", o.Remediator),
		slog.String("rule", o.Rule),
		slog.String("resourceType", o.ResourceType),
		slog.String("resourceId", o.ResourceID),
		slog.String("account", o.Account),
		slog.String("region", o.Region),
		slog.String("action", string(o.Action)),
		slog.String("reason", o.Reason),
		slog.Any("before", nonNil(o.Before)),
		slog.Any("after", nonNil(o.After)),
		slog.Int64("durationMs", o.DurationMs),
		slog.String("error", o.Error),
		slog.String("eventId", o.EventID),
		slog.String("trigger", string(o.Trigger)),
		slog.String("actor", o.Actor),
	}
	if o.ActedAs != "" {
		// The member role session the fix was made as: the member
		// account's CloudTrail names it.
		attrs = append(attrs, slog.String("actedAs", o.ActedAs))
	}
	if !o.DetectedAt.IsZero() {
		attrs = append(attrs, slog.String("detectedAt", o.DetectedAt.UTC().Format(remediation.TimeLayout)))
	}
	if !o.CompletedAt.IsZero() {
		attrs = append(attrs, slog.String("completedAt", o.CompletedAt.UTC().Format(remediation.TimeLayout)))
	}
	if o.Warning != "" {
		// Not an outcome field: a problem beside the outcome (the state
		// store was unreachable), on the line that records it.
		attrs = append(attrs, slog.String("warning", o.Warning))
	}
	if p.EMF {
		attrs = append(attrs, p.emfAttrs(o)...)
	}
	// The outcome line is the record of what was done and carries the EMF
	// metrics: LOG_LEVEL filters diagnostics, never this line, so it goes to
	// the handler directly, past the logger's level check.
	r := slog.NewRecord(time.Now(), level(o.Action), "outcome", 0)
	r.AddAttrs(attrs...)
	_ = p.Logger.Handler().Handle(ctx, r) // a failing log writer has nowhere to be reported
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

func (p *OutcomePublisher) emfAttrs(o remediation.Outcome) []slog.Attr {
	ns := p.namespace()
	ts := o.CompletedAt
	if ts.IsZero() {
		ts = time.Now()
	}
	meta := emfMetadata{
		Timestamp: ts.UnixMilli(),
		CloudWatchMetrics: []emfDirective{
			// One directive, two dimension sets: CloudWatch makes a metric of
			// each from the one Remediations member.
			{Namespace: ns, Dimensions: [][]string{{DimensionRemediator, DimensionAction}, {DimensionAccount, DimensionAction}},
				Metrics: []emfMetric{{MetricRemediations, "Count"}}},
			{Namespace: ns, Dimensions: [][]string{{DimensionRemediator}},
				Metrics: []emfMetric{{MetricDuration, "Milliseconds"}}},
		},
	}
	attrs := []slog.Attr{
		slog.String(DimensionRemediator, dimensionRemediator(o)),
		slog.String(DimensionAction, string(o.Action)),
		slog.String(DimensionAccount, dimensionAccount(o)),
		slog.Int(MetricRemediations, 1),
		slog.Int64(MetricDuration, o.DurationMs),
	}
	if ttr, ok := timeToRemediate(o); ok {
		meta.CloudWatchMetrics[1].Metrics = append(meta.CloudWatchMetrics[1].Metrics, emfMetric{MetricTimeToRemediate, "Milliseconds"})
		attrs = append(attrs, slog.Int64(MetricTimeToRemediate, ttr.Milliseconds()))
	}
	return append([]slog.Attr{slog.Any("_aws", meta)}, attrs...)
}

func timeToRemediate(o remediation.Outcome) (time.Duration, bool) {
	if o.Action != remediation.ActionRemediated || o.DetectedAt.IsZero() || o.CompletedAt.IsZero() {
		return 0, false
	}
	d := o.CompletedAt.Sub(o.DetectedAt)
	if d < 0 {
		return 0, false
	}
	return d, true
}

func (p *OutcomePublisher) metricData(o remediation.Outcome) *cloudwatch.PutMetricDataInput {
	ts := o.CompletedAt
	if ts.IsZero() {
		ts = time.Now()
	}
	rem := cwtypes.Dimension{Name: aws.String(DimensionRemediator), Value: aws.String(dimensionRemediator(o))}
	action := cwtypes.Dimension{Name: aws.String(DimensionAction), Value: aws.String(string(o.Action))}
	account := cwtypes.Dimension{Name: aws.String(DimensionAccount), Value: aws.String(dimensionAccount(o))}
	data := []cwtypes.MetricDatum{
		{MetricName: aws.String(MetricRemediations), Unit: cwtypes.StandardUnitCount, Value: aws.Float64(1), Timestamp: aws.Time(ts),
			Dimensions: []cwtypes.Dimension{rem, action}},
		{MetricName: aws.String(MetricRemediations), Unit: cwtypes.StandardUnitCount, Value: aws.Float64(1), Timestamp: aws.Time(ts),
			Dimensions: []cwtypes.Dimension{account, action}},
		{MetricName: aws.String(MetricDuration), Unit: cwtypes.StandardUnitMilliseconds, Value: aws.Float64(float64(o.DurationMs)), Timestamp: aws.Time(ts),
			Dimensions: []cwtypes.Dimension{rem}},
	}
	if ttr, ok := timeToRemediate(o); ok {
		data = append(data, cwtypes.MetricDatum{MetricName: aws.String(MetricTimeToRemediate), Unit: cwtypes.StandardUnitMilliseconds,
			Value: aws.Float64(float64(ttr.Milliseconds())), Timestamp: aws.Time(ts), Dimensions: []cwtypes.Dimension{rem}})
	}
	return &cloudwatch.PutMetricDataInput{Namespace: aws.String(p.namespace()), MetricData: data}
}

// SNSMessage builds the notification for an outcome: the outcome JSON as the
// body (with its trigger and actor), a readable subject, and the action,
// remediator, severity, account, trigger and actor as message attributes
// for subscription filter policies (SNS refuses empty attribute values, so
// an unknown account, trigger or actor has none).
func SNSMessage(topicARN string, o remediation.Outcome) *sns.PublishInput {
	body, _ := o.MarshalJSON() // an Outcome always marshals
	str := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	attrs := map[string]snstypes.MessageAttributeValue{
		"action":     str(string(o.Action)),
		"remediator": str(dimensionRemediator(o)),
		"severity":   str(o.Action.Severity()),
	}
	if o.Account != "" {
		attrs["account"] = str(o.Account)
	}
	if o.Trigger != "" {
		attrs["trigger"] = str(string(o.Trigger))
	}
	if o.Actor != "" {
		attrs["actor"] = str(o.Actor)
	}
	return &sns.PublishInput{
		TopicArn:          aws.String(topicARN),
		Subject:           aws.String(Subject(o)),
		Message:           aws.String(string(body)),
		MessageAttributes: attrs,
	}
}

// Subject is the SNS subject of an outcome: printable ASCII, at most 100
// characters, as SNS requires.
func Subject(o remediation.Outcome) string {
	rem := o.Remediator
	if rem == "" {
		rem = "no remediator"
	}
	s := fmt.Sprintf("[%s] %s: %s %s", strings.ToUpper(string(o.Action)), rem, o.ResourceType, o.ResourceID)
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 100; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}

// Permissions lists the IAM actions the publisher calls: PutMetricData
// (METRICS_MODE api or both; grant it limited by the cloudwatch:namespace
// condition) and sns:Publish on the topic.
func Permissions() []string {
	return []string{"cloudwatch:PutMetricData", "sns:Publish"}
}

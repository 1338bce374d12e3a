package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
)

type fakeMetrics struct {
	inputs []*cloudwatch.PutMetricDataInput
	err    error
}

func (f *fakeMetrics) PutMetricData(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	f.inputs = append(f.inputs, in)
	if f.err != nil {
		return nil, f.err
	}
	return &cloudwatch.PutMetricDataOutput{}, nil
}

type fakeSNS struct {
	inputs []*sns.PublishInput
	err    error
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.inputs = append(f.inputs, in)
	if f.err != nil {
		return nil, f.err
	}
	return &sns.PublishOutput{MessageId: aws.String("m-1")}, nil
}

const topic = "arn:aws:sns:us-east-1:123456789012:auto-remediation-outcomes"

var (
	detected  = time.Date(2026, 11, 20, 9, 14, 5, 475_000_000, time.UTC)
	completed = time.Date(2026, 11, 20, 9, 14, 7, 0, time.UTC)
)

func sampleOutcome() remediation.Outcome {
	return remediation.Outcome{
		Remediator: "s3-public-access-block", Rule: "s3-bucket-public-read-prohibited", ResourceType: "AWS::S3::Bucket",
		ResourceID: "example-public-bucket", Account: "123456789012", Region: "us-east-1", Action: remediation.ActionRemediated,
		Reason: "turned on BlockPublicAcls", Before: map[string]any{"blockPublicAcls": false}, After: map[string]any{"blockPublicAcls": true},
		DurationMs: 412, EventID: "3f1a0001", DetectedAt: detected, CompletedAt: completed,
		Trigger: remediation.TriggerCloudTrail, Actor: "arn:aws:iam::123456789012:role/Admin/alice",
	}
}

type published struct {
	p       *OutcomePublisher
	log     *bytes.Buffer
	metrics *fakeMetrics
	sns     *fakeSNS
}

func newPublisher(level slog.Level) *published {
	buf := &bytes.Buffer{}
	m, s := &fakeMetrics{}, &fakeSNS{}
	return &published{
		p: &OutcomePublisher{
			Logger: slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level})),
			EMF:    true, TopicARN: topic,
			Metrics: func() MetricsAPI { return m },
			SNS:     func() SNSAPI { return s },
		},
		log: buf, metrics: m, sns: s,
	}
}

func (p *published) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimRight(p.log.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkOutcomeFields checks that m carries exactly the outcome's values in
// the documented fields.
func checkOutcomeFields(t *testing.T, m map[string]any, o remediation.Outcome) {
	t.Helper()
	b, _ := json.Marshal(o)
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range outcomeFields {
		if !reflect.DeepEqual(m[k], want[k]) {
			t.Errorf("field %s = %#v, want %#v", k, m[k], want[k])
		}
	}
}

// slogKeys are the keys slog's JSON handler always writes; CloudWatch Logs
// and EMF ignore them.
var slogKeys = []string{"time", "level", "msg"}

// checkEMF validates the Embedded Metric Format of a log line: every
// directive's dimensions are root string members and every metric a root
// number member.
func checkEMF(t *testing.T, m map[string]any, namespace string, ts time.Time) (metrics map[string]string) {
	t.Helper()
	meta, ok := m["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("_aws = %#v, want an object", m["_aws"])
	}
	if got, ok := meta["Timestamp"].(float64); !ok || int64(got) != ts.UnixMilli() {
		t.Errorf("_aws.Timestamp = %#v, want %d", meta["Timestamp"], ts.UnixMilli())
	}
	dirs, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics = %#v", meta["CloudWatchMetrics"])
	}
	metrics = map[string]string{}
	for _, d := range dirs {
		dir := d.(map[string]any)
		if dir["Namespace"] != namespace {
			t.Errorf("Namespace = %v, want %s", dir["Namespace"], namespace)
		}
		dimSets, ok := dir["Dimensions"].([]any)
		if !ok || len(dimSets) == 0 {
			t.Fatalf("Dimensions = %#v", dir["Dimensions"])
		}
		var sets []string
		for _, set := range dimSets {
			names := set.([]any)
			// EMF: at most 30 dimensions in a set.
			if len(names) == 0 || len(names) > 30 {
				t.Errorf("dimension set %v has %d dimensions, want 1 to 30", names, len(names))
			}
			var dims []string
			for _, name := range names {
				n := name.(string)
				dims = append(dims, n)
				if v, ok := m[n].(string); !ok || v == "" {
					t.Errorf("dimension %s is not a non-empty root string member: %#v", n, m[n])
				}
			}
			sets = append(sets, strings.Join(dims, "+"))
		}
		for _, mt := range dir["Metrics"].([]any) {
			mm := mt.(map[string]any)
			name, unit := mm["Name"].(string), mm["Unit"].(string)
			if _, ok := m[name].(float64); !ok {
				t.Errorf("metric %s is not a root number member: %#v", name, m[name])
			}
			if unit != "Count" && unit != "Milliseconds" {
				t.Errorf("metric %s unit %q", name, unit)
			}
			metrics[name] = unit + " by " + strings.Join(sets, " and ")
		}
	}
	return metrics
}

func TestLogLineWithEMF(t *testing.T) {
	p := newPublisher(slog.LevelInfo)
	o := sampleOutcome()
	if err := p.p.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(p.log.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines, want exactly 1:\n%s", n, p.log.String())
	}
	m := p.lines(t)[0]
	checkOutcomeFields(t, m, o)
	metrics := checkEMF(t, m, DefaultNamespace, completed)
	wantMetrics := map[string]string{
		MetricRemediations:    "Count by Remediator+Action and Account+Action",
		MetricDuration:        "Milliseconds by Remediator",
		MetricTimeToRemediate: "Milliseconds by Remediator",
	}
	if !reflect.DeepEqual(metrics, wantMetrics) {
		t.Errorf("EMF metrics = %v, want %v", metrics, wantMetrics)
	}
	want := append(append(append([]string{}, outcomeFields...), slogKeys...), "_aws", DimensionRemediator, DimensionAction, DimensionAccount,
		MetricRemediations, MetricDuration, MetricTimeToRemediate)
	sort.Strings(want)
	if got := keys(m); !reflect.DeepEqual(got, want) {
		t.Errorf("log line keys = %v\nwant %v", got, want)
	}
	if m[DimensionRemediator] != "s3-public-access-block" || m[DimensionAction] != "remediated" || m[DimensionAccount] != "123456789012" || m[MetricRemediations] != 1.0 ||
		m[MetricDuration] != 412.0 || m[MetricTimeToRemediate] != float64(completed.Sub(detected).Milliseconds()) {
		t.Errorf("metric values: %v %v %v %v %v", m[DimensionRemediator], m[DimensionAction], m[MetricRemediations], m[MetricDuration], m[MetricTimeToRemediate])
	}
	if m["msg"] != "outcome" || m["level"] != "INFO" {
		t.Errorf("msg %v level %v", m["msg"], m["level"])
	}
}

func TestLogLineVariants(t *testing.T) {
	t.Run("no TimeToRemediate unless remediated with a detection time", func(t *testing.T) {
		for _, o := range []remediation.Outcome{
			func() remediation.Outcome { o := sampleOutcome(); o.Action = remediation.ActionCompliant; return o }(),
			func() remediation.Outcome { o := sampleOutcome(); o.DetectedAt = time.Time{}; return o }(),
			func() remediation.Outcome { o := sampleOutcome(); o.DetectedAt = completed.Add(time.Hour); return o }(),
		} {
			p := newPublisher(slog.LevelInfo)
			if err := p.p.Publish(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			m := p.lines(t)[0]
			metrics := checkEMF(t, m, DefaultNamespace, completed)
			if _, ok := metrics[MetricTimeToRemediate]; ok {
				t.Errorf("%s outcome (detected %v) has TimeToRemediate in EMF", o.Action, o.DetectedAt)
			}
			if _, ok := m[MetricTimeToRemediate]; ok {
				t.Errorf("%s outcome has a TimeToRemediate member", o.Action)
			}
			for _, d := range p.metrics.inputs[0].MetricData {
				if aws.ToString(d.MetricName) == MetricTimeToRemediate {
					t.Errorf("%s outcome has TimeToRemediate in PutMetricData", o.Action)
				}
			}
		}
	})
	t.Run("EMF off", func(t *testing.T) {
		p := newPublisher(slog.LevelInfo)
		p.p.EMF = false
		o := sampleOutcome()
		if err := p.p.Publish(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		m := p.lines(t)[0]
		want := append(append([]string{}, outcomeFields...), slogKeys...)
		sort.Strings(want)
		if got := keys(m); !reflect.DeepEqual(got, want) {
			t.Errorf("keys = %v, want %v", got, want)
		}
		checkOutcomeFields(t, m, o)
	})
	t.Run("a member account's outcome names the session it acted as", func(t *testing.T) {
		p := newPublisher(slog.LevelInfo)
		o := sampleOutcome()
		o.ActedAs = "arn:aws:sts::444455556666:assumed-role/autoremediate-member/autoremediate-3f1a0001"
		if err := p.p.Publish(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if m := p.lines(t)[0]; m["actedAs"] != o.ActedAs {
			t.Errorf("actedAs = %v, want %s", m["actedAs"], o.ActedAs)
		}
		var sent map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(p.sns.inputs[0].Message)), &sent); err != nil || sent["actedAs"] != o.ActedAs {
			t.Errorf("SNS message actedAs = %v (%v), want %s", sent["actedAs"], err, o.ActedAs)
		}
	})
	t.Run("levels and empty remediator and account", func(t *testing.T) {
		for a, lvl := range map[remediation.Action]string{remediation.ActionFailed: "ERROR", remediation.ActionDeferred: "WARN", remediation.ActionNeedsManual: "WARN", remediation.ActionIgnored: "INFO", remediation.ActionRemediated: "INFO"} {
			p := newPublisher(slog.LevelInfo)
			p.p.SNS, p.p.Metrics = nil, nil
			o := remediation.Outcome{Action: a, Rule: "iam-password-policy", CompletedAt: completed}
			if err := p.p.Publish(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			m := p.lines(t)[0]
			if m["level"] != lvl {
				t.Errorf("%s logged at %v, want %s", a, m["level"], lvl)
			}
			if m[DimensionRemediator] != NoRemediator || m["remediator"] != "" {
				t.Errorf("Remediator dimension %v, remediator %v", m[DimensionRemediator], m["remediator"])
			}
			if m[DimensionAccount] != NoAccount || m["account"] != "" {
				t.Errorf("Account dimension %v, account %v", m[DimensionAccount], m["account"])
			}
			if b, ok := m["before"].(map[string]any); !ok || len(b) != 0 {
				t.Errorf("before = %#v, want {}", m["before"])
			}
			checkEMF(t, m, DefaultNamespace, completed)
		}
	})
	t.Run("zero CompletedAt uses the current time", func(t *testing.T) {
		p := newPublisher(slog.LevelInfo)
		o := sampleOutcome()
		o.CompletedAt = time.Time{}
		before := time.Now()
		if err := p.p.Publish(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		ts := int64(p.lines(t)[0]["_aws"].(map[string]any)["Timestamp"].(float64))
		if ts < before.UnixMilli() || ts > time.Now().UnixMilli() {
			t.Errorf("Timestamp %d not now", ts)
		}
	})
}

func TestPutMetricData(t *testing.T) {
	p := newPublisher(slog.LevelInfo)
	p.p.Namespace = "Custom/Remediation"
	o := sampleOutcome()
	if err := p.p.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(p.metrics.inputs) != 1 {
		t.Fatalf("%d PutMetricData calls, want 1", len(p.metrics.inputs))
	}
	in := p.metrics.inputs[0]
	if aws.ToString(in.Namespace) != "Custom/Remediation" {
		t.Errorf("Namespace = %q", aws.ToString(in.Namespace))
	}
	type datum struct {
		unit  cwtypes.StandardUnit
		value float64
	}
	// Keyed by name and dimensions: a name put under two dimension sets
	// is two metrics.
	got := map[string]datum{}
	for _, d := range in.MetricData {
		var dims []string
		for _, dim := range d.Dimensions {
			dims = append(dims, aws.ToString(dim.Name)+"="+aws.ToString(dim.Value))
		}
		if d.Timestamp == nil || !d.Timestamp.Equal(completed) {
			t.Errorf("%s timestamp %v", aws.ToString(d.MetricName), d.Timestamp)
		}
		k := aws.ToString(d.MetricName) + " " + strings.Join(dims, ",")
		if _, dup := got[k]; dup {
			t.Errorf("metric %s put twice in one call", k)
		}
		got[k] = datum{d.Unit, aws.ToFloat64(d.Value)}
	}
	want := map[string]datum{
		"Remediations Remediator=s3-public-access-block,Action=remediated": {cwtypes.StandardUnitCount, 1},
		"Remediations Account=123456789012,Action=remediated":              {cwtypes.StandardUnitCount, 1},
		"RemediationDuration Remediator=s3-public-access-block":            {cwtypes.StandardUnitMilliseconds, 412},
		"TimeToRemediate Remediator=s3-public-access-block":                {cwtypes.StandardUnitMilliseconds, float64(completed.Sub(detected).Milliseconds())},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metric data = %+v\nwant %+v", got, want)
	}
	// PublishedMetrics documents exactly what is put: each spec matches
	// one datum by name, unit and dimension names, and no datum is left.
	matched := map[string]bool{}
	for _, spec := range PublishedMetrics() {
		n := 0
		for k, d := range got {
			name, dims, _ := strings.Cut(k, " ")
			var names []string
			for _, kv := range strings.Split(dims, ",") {
				names = append(names, strings.SplitN(kv, "=", 2)[0])
			}
			if name == spec.Name && reflect.DeepEqual(names, spec.Dimensions) {
				n++
				matched[k] = true
				if string(d.unit) != spec.Unit {
					t.Errorf("PublishedMetrics %+v: the datum's unit is %s", spec, d.unit)
				}
			}
		}
		if n != 1 {
			t.Errorf("PublishedMetrics %+v matches %d data, want 1", spec, n)
		}
	}
	if len(matched) != len(got) {
		t.Errorf("PublishedMetrics documents %d of the %d metrics put", len(matched), len(got))
	}
	// default namespace
	p = newPublisher(slog.LevelInfo)
	if err := p.p.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if ns := aws.ToString(p.metrics.inputs[0].Namespace); ns != DefaultNamespace {
		t.Errorf("default namespace = %q", ns)
	}
}

func TestMetricsOffMakesNoCall(t *testing.T) {
	p := newPublisher(slog.LevelInfo)
	m := p.metrics
	p.p.Metrics = nil
	if err := p.p.Publish(context.Background(), sampleOutcome()); err != nil {
		t.Fatal(err)
	}
	if len(m.inputs) != 0 {
		t.Error("PutMetricData called with metrics off")
	}
}

func TestSNSMessage(t *testing.T) {
	p := newPublisher(slog.LevelInfo)
	o := sampleOutcome()
	if err := p.p.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(p.sns.inputs) != 1 {
		t.Fatalf("%d SNS publishes, want 1", len(p.sns.inputs))
	}
	in := p.sns.inputs[0]
	if aws.ToString(in.TopicArn) != topic {
		t.Errorf("TopicArn = %q", aws.ToString(in.TopicArn))
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &body); err != nil {
		t.Fatalf("message is not JSON: %v", err)
	}
	want := append([]string(nil), outcomeFields...)
	sort.Strings(want)
	if got := keys(body); !reflect.DeepEqual(got, want) {
		t.Errorf("message keys = %v, want exactly %v", got, want)
	}
	checkOutcomeFields(t, body, o)
	var back remediation.Outcome
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("message decodes to %+v\nwant %+v", back, o)
	}
	if got, want := aws.ToString(in.Subject), "[REMEDIATED] s3-public-access-block: AWS::S3::Bucket example-public-bucket"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	attrs := map[string]string{}
	for k, v := range in.MessageAttributes {
		if aws.ToString(v.DataType) != "String" {
			t.Errorf("attribute %s DataType %q", k, aws.ToString(v.DataType))
		}
		attrs[k] = aws.ToString(v.StringValue)
	}
	if want := map[string]string{"action": "remediated", "remediator": "s3-public-access-block", "severity": "low",
		"account": "123456789012", "trigger": "cloudtrail", "actor": "arn:aws:iam::123456789012:role/Admin/alice"}; !reflect.DeepEqual(attrs, want) {
		t.Errorf("attributes = %v, want %v", attrs, want)
	}
	failed := SNSMessage(topic, remediation.Outcome{Action: remediation.ActionFailed})
	for _, k := range []string{"account", "trigger", "actor"} {
		if v, ok := failed.MessageAttributes[k]; ok {
			t.Errorf("attribute %s = %q for an outcome without one: SNS refuses empty values", k, aws.ToString(v.StringValue))
		}
	}
	if got := aws.ToString(failed.MessageAttributes["severity"].StringValue); got != "high" {
		t.Errorf("failed severity %q", got)
	}
	if got := aws.ToString(failed.MessageAttributes["remediator"].StringValue); got != NoRemediator {
		t.Errorf("empty remediator attribute %q", got)
	}
}

func TestSubject(t *testing.T) {
	cases := []remediation.Outcome{
		sampleOutcome(),
		{Action: remediation.ActionIgnored, ResourceType: "AWS::::Account", ResourceID: "123456789012"},
		{Action: remediation.ActionNeedsManual, Remediator: "ebs-encryption", ResourceType: "AWS::EC2::Volume", ResourceID: strings.Repeat("vol-0123456789abcdef0", 10)},
		{Action: remediation.ActionFailed, Remediator: "s3-encryption", ResourceType: "AWS::S3::Bucket", ResourceID: "bücket-\n-名前\t-\x7f-x"},
	}
	for _, o := range cases {
		s := Subject(o)
		if len(s) == 0 || len(s) > 100 {
			t.Errorf("Subject(%q) has %d bytes", o.ResourceID, len(s))
		}
		for _, c := range []byte(s) {
			if c < 0x20 || c >= 0x7f {
				t.Errorf("Subject %q has byte %#x", s, c)
			}
		}
		if !strings.HasPrefix(s, "["+strings.ToUpper(string(o.Action))+"] ") {
			t.Errorf("Subject %q does not start with the action", s)
		}
	}
	if s := Subject(cases[1]); !strings.Contains(s, "no remediator") {
		t.Errorf("Subject %q", s)
	}
	if s := Subject(cases[3]); s != "[FAILED] s3-encryption: AWS::S3::Bucket bcket----x" {
		t.Errorf("Subject = %q", s)
	}
}

func TestTopicNotConfigured(t *testing.T) {
	p := newPublisher(slog.LevelInfo) // the default LOG_LEVEL
	p.p.TopicARN = ""
	if err := p.p.Publish(context.Background(), sampleOutcome()); err != nil {
		t.Fatal(err)
	}
	if len(p.sns.inputs) != 0 {
		t.Error("SNS called without a topic")
	}
	lines := p.lines(t)
	if len(lines) != 2 || !strings.Contains(lines[1]["msg"].(string), "SNS topic not configured") || lines[1]["resourceId"] != "example-public-bucket" {
		t.Errorf("log lines = %v", lines)
	}
}

func TestPublishFailures(t *testing.T) {
	t.Run("SNS", func(t *testing.T) {
		p := newPublisher(slog.LevelInfo)
		p.sns.err = &smithy.GenericAPIError{Code: "AuthorizationError", Message: "not authorized to perform SNS:Publish"}
		o := sampleOutcome()
		err := p.p.Publish(context.Background(), o)
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AuthorizationError" {
			t.Fatalf("err = %v, want the SNS error", err)
		}
		if !strings.Contains(err.Error(), topic) {
			t.Errorf("error %q does not name the topic", err)
		}
		checkFailureLog(t, p, o, "AuthorizationError")
		if len(p.metrics.inputs) != 1 {
			t.Error("metrics not put before the SNS failure")
		}
	})
	t.Run("metrics and SNS", func(t *testing.T) {
		p := newPublisher(slog.LevelInfo)
		p.metrics.err = &smithy.GenericAPIError{Code: "Throttling", Message: "slow down"}
		p.sns.err = &smithy.GenericAPIError{Code: "NotFound", Message: "topic does not exist"}
		o := sampleOutcome()
		err := p.p.Publish(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "Throttling") || !strings.Contains(err.Error(), "NotFound") ||
			!strings.Contains(err.Error(), `namespace "AutoRemediation"`) {
			t.Fatalf("err = %v, want both failures", err)
		}
		if len(p.sns.inputs) != 1 {
			t.Error("SNS not attempted after a metrics failure")
		}
		checkFailureLog(t, p, o, "Throttling")
	})
}

func checkFailureLog(t *testing.T, p *published, o remediation.Outcome, code string) {
	t.Helper()
	lines := p.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want the outcome and the failure", len(lines))
	}
	l := lines[1]
	if l["level"] != "ERROR" || l["msg"] != "outcome not delivered" || !strings.Contains(l["error"].(string), code) {
		t.Errorf("failure line = %v", l)
	}
	got, ok := l["outcome"].(map[string]any)
	if !ok {
		t.Fatalf("outcome = %#v, want the whole outcome object", l["outcome"])
	}
	want := append([]string(nil), outcomeFields...)
	sort.Strings(want)
	if !reflect.DeepEqual(keys(got), want) {
		t.Errorf("logged outcome keys = %v", keys(got))
	}
	checkOutcomeFields(t, got, o)
}

func TestPermissions(t *testing.T) {
	if got := Permissions(); !reflect.DeepEqual(got, []string{"cloudwatch:PutMetricData", "sns:Publish"}) {
		t.Errorf("Permissions = %v", got)
	}
}

// LOG_LEVEL=error must not silence the outcome line: it is the record of
// what was done and carries the EMF metrics.
func TestOutcomeLineIgnoresLogLevel(t *testing.T) {
	p := newPublisher(slog.LevelError)
	o := sampleOutcome()
	if err := p.p.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	lines := p.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d log lines at LOG_LEVEL=error, want the outcome line:\n%s", len(lines), p.log.String())
	}
	checkOutcomeFields(t, lines[0], o)
	checkEMF(t, lines[0], DefaultNamespace, completed)
	if lines[0]["level"] != "INFO" {
		t.Errorf("level %v, want INFO for a remediated outcome", lines[0]["level"])
	}
}

// outcomeFields are the fields of the outcome JSON, as remediation.Outcome
// marshals them (remediation's tests hold the documented list).
var outcomeFields = func() []string {
	// The times are omitted when zero; a published outcome has them.
	b, err := json.Marshal(remediation.Outcome{DetectedAt: time.Unix(1, 0), CompletedAt: time.Unix(2, 0)})
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}()

func TestNoteDuplicate(t *testing.T) {
	p := newPublisher(slog.LevelInfo)
	var _ remediation.DuplicateNoter = p.p
	p.p.NoteDuplicate(context.Background(), sampleOutcome())
	line := p.log.String()
	if !strings.Contains(line, `"msg":"duplicate delivery: the recorded outcome is returned, not acted on or published again"`) ||
		!strings.Contains(line, `"eventId":"3f1a0001"`) || strings.Contains(line, `"msg":"outcome"`) {
		t.Errorf("log %s", line)
	}
	if len(p.sns.inputs) != 0 {
		t.Errorf("%d SNS messages for a duplicate", len(p.sns.inputs))
	}
}

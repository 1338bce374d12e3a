package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != remediation.ModeEnforce || len(cfg.RemediatorModes) != 0 || cfg.Enabled != nil || len(cfg.RuleMap) != 0 {
		t.Errorf("modes/enabled/rules: %+v", cfg)
	}
	if cfg.SNSTopicARN != "" || cfg.MetricsNamespace != "AutoRemediation" || cfg.MetricsMode != MetricsEMF || cfg.LogLevel != slog.LevelInfo {
		t.Errorf("outputs: %+v", cfg)
	}
	if cfg.IgnoreActorARNs != nil || cfg.StateTable != "" || cfg.FlapLimit != 3 || cfg.FlapWindow != time.Hour {
		t.Errorf("state and loop settings: %v %q %d %v; want none, stateless, 3 writes per hour", cfg.IgnoreActorARNs, cfg.StateTable, cfg.FlapLimit, cfg.FlapWindow)
	}
	o := cfg.Remediators
	want := remediators.DefaultOptions()
	if o.ExemptTagKey != "auto-remediation" || o.WebsiteGuard != true || o.SSEAlgorithm != "AES256" || o.KMSKeyARN != "" ||
		o.EBSKMSKeyID != "" || o.IMDSLookback != 14*24*time.Hour || o.VerifyAttempts != want.VerifyAttempts || o.VerifyInterval != want.VerifyInterval {
		t.Errorf("remediator options: %+v", o)
	}
	// blank values are defaults too
	blank := map[string]string{}
	for _, s := range Settings() {
		blank[s.Name] = "  "
	}
	cfg2, err := Load(env(blank))
	if err != nil {
		t.Fatal(err)
	}
	cfg2.Remediators.Now, cfg.Remediators.Now = nil, nil
	// the definitions hold functions, which DeepEqual never finds equal
	if len(cfg.Definitions) == 0 || len(cfg2.Definitions) != len(cfg.Definitions) {
		t.Errorf("definitions: %d and %d", len(cfg.Definitions), len(cfg2.Definitions))
	}
	cfg.Definitions, cfg2.Definitions = nil, nil
	if !reflect.DeepEqual(cfg, cfg2) {
		t.Errorf("blank values: %+v\nwant %+v", cfg2, cfg)
	}
}

func TestSettingsDefaultsAreLoadable(t *testing.T) {
	seen := map[string]bool{}
	vals := map[string]string{}
	for _, s := range Settings() {
		if seen[s.Name] {
			t.Errorf("%s listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.Description == "" {
			t.Errorf("%s has no description", s.Name)
		}
		vals[s.Name] = s.Default
	}
	if _, err := Load(env(vals)); err != nil {
		t.Errorf("the documented defaults do not load: %v", err)
	}
	// every variable Load reads is listed
	read := map[string]bool{}
	Load(func(k string) string { read[k] = true; return "" })
	for k := range read {
		// AWS_ENDPOINT_URL is the SDK's; it changes METRICS_MODE's default.
		if !seen[k] && k != "AWS_ENDPOINT_URL" {
			t.Errorf("Load reads %s, which Settings does not list", k)
		}
	}
}

func TestLoadValues(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"MODE":                    "dry-run",
		"REMEDIATOR_MODES":        "ec2-imdsv2=enforce, s3-default-encryption = dry-run",
		"ENABLED_REMEDIATORS":     "s3-public-access-block, imdsv2,",
		"RULE_MAP":                "my-bucket-rule=s3-public-access-block, legacy-imds=imdsv2",
		"EXEMPT_TAG_KEY":          "compliance:skip",
		"S3_WEBSITE_GUARD":        "false",
		"S3_SSE_ALGORITHM":        "aws:kms",
		"S3_KMS_KEY_ARN":          "arn:aws:kms:us-east-1:123456789012:key/abc",
		"EBS_KMS_KEY_ID":          "alias/ebs",
		"IMDS_LOOKBACK_DAYS":      "0",
		"SNS_TOPIC_ARN":           "arn:aws:sns:us-east-1:123456789012:outcomes",
		"METRICS_NAMESPACE":       "Sec/Remediation",
		"METRICS_MODE":            "both",
		"LOG_LEVEL":               "debug",
		"IGNORE_ACTOR_ARNS":       "arn:aws:iam::123456789012:role/service-role/autoremediate-remediate, arn:aws-us-gov:iam::123456789012:user/ci, arn:aws:sts::123456789012:assumed-role/ops/alice",
		"STATE_TABLE":             "autoremediate-state",
		"FLAP_LIMIT":              "5",
		"FLAP_WINDOW":             "2h30m",
		"MEMBER_ROLE_NAME":        "security-remediation-member",
		"MEMBER_ROLE_EXTERNAL_ID": "o-abc123:security",
		"EXCLUDED_ACCOUNTS":       "111122223333, 444455556666,",
		"REGIONS":                 "us-east-1,eu-west-1, us-gov-west-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != remediation.ModeDryRun {
		t.Errorf("Mode = %q", cfg.Mode)
	}
	if want := map[string]remediation.Mode{"ec2-imdsv2": remediation.ModeEnforce, "s3-encryption": remediation.ModeDryRun}; !reflect.DeepEqual(cfg.RemediatorModes, want) {
		t.Errorf("RemediatorModes = %v, want %v", cfg.RemediatorModes, want)
	}
	if want := []string{"s3-public-access-block", "ec2-imdsv2"}; !reflect.DeepEqual(cfg.Enabled, want) {
		t.Errorf("Enabled = %v, want %v", cfg.Enabled, want)
	}
	if want := map[string]string{"my-bucket-rule": "s3-public-access-block", "legacy-imds": "ec2-imdsv2"}; !reflect.DeepEqual(cfg.RuleMap, want) {
		t.Errorf("RuleMap = %v, want %v", cfg.RuleMap, want)
	}
	o := cfg.Remediators
	if o.ExemptTagKey != "compliance:skip" || o.WebsiteGuard || o.SSEAlgorithm != "aws:kms" || o.KMSKeyARN != "arn:aws:kms:us-east-1:123456789012:key/abc" ||
		o.EBSKMSKeyID != "alias/ebs" || o.IMDSLookback != 0 {
		t.Errorf("options = %+v", o)
	}
	if cfg.SNSTopicARN != "arn:aws:sns:us-east-1:123456789012:outcomes" || cfg.MetricsNamespace != "Sec/Remediation" || cfg.MetricsMode != MetricsBoth || cfg.LogLevel != slog.LevelDebug {
		t.Errorf("outputs = %+v", cfg)
	}
	if want := []string{"arn:aws:iam::123456789012:role/service-role/autoremediate-remediate", "arn:aws-us-gov:iam::123456789012:user/ci", "arn:aws:sts::123456789012:assumed-role/ops/alice"}; !reflect.DeepEqual(cfg.IgnoreActorARNs, want) ||
		cfg.StateTable != "autoremediate-state" || cfg.FlapLimit != 5 || cfg.FlapWindow != 150*time.Minute {
		t.Errorf("state and loop settings: %v %q %d %v", cfg.IgnoreActorARNs, cfg.StateTable, cfg.FlapLimit, cfg.FlapWindow)
	}
	if cfg.MemberRoleName != "security-remediation-member" || cfg.MemberRoleExternalID != "o-abc123:security" ||
		!reflect.DeepEqual(cfg.ExcludedAccounts, []string{"111122223333", "444455556666"}) ||
		!reflect.DeepEqual(cfg.Regions, []string{"us-east-1", "eu-west-1", "us-gov-west-1"}) {
		t.Errorf("organisation settings: %q %q %v %v", cfg.MemberRoleName, cfg.MemberRoleExternalID, cfg.ExcludedAccounts, cfg.Regions)
	}
	cfg, err = Load(env(map[string]string{"IMDS_LOOKBACK_DAYS": "30", "LOG_LEVEL": "WARN", "S3_WEBSITE_GUARD": "1"}))
	if err != nil || cfg.Remediators.IMDSLookback != 30*24*time.Hour || cfg.LogLevel != slog.LevelWarn || !cfg.Remediators.WebsiteGuard {
		t.Errorf("cfg %+v, err %v", cfg, err)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	cases := []struct{ name, value, msg string }{
		{"MODE", "audit", `"audit" is not one of enforce, dry-run`},
		{"REMEDIATOR_MODES", "ec2-imdsv2", "want remediator=mode"},
		{"REMEDIATOR_MODES", "s3-magic=dry-run", `unknown remediator "s3-magic"`},
		{"REMEDIATOR_MODES", "ec2-imdsv2=sometimes", `"sometimes" is not one of enforce, dry-run`},
		{"ENABLED_REMEDIATORS", "s3-public-access-block,iam-keys", `unknown remediator "iam-keys"`},
		{"RULE_MAP", "my-rule", "want rule-name=remediator"},
		{"RULE_MAP", "my-rule=s3-magic", `unknown remediator "s3-magic"`},
		{"S3_WEBSITE_GUARD", "maybe", `"maybe" is not true or false`},
		{"S3_SSE_ALGORITHM", "aws:kms:xts", `"aws:kms:xts" is not one of AES256`},
		{"S3_SSE_ALGORITHM", "aes256", `"aes256"`},
		{"IMDS_LOOKBACK_DAYS", "two weeks", `"two weeks" is not a whole number of days`},
		{"IMDS_LOOKBACK_DAYS", "-1", `"-1"`},
		{"IMDS_LOOKBACK_DAYS", "456", `"456"`},
		{"IMDS_LOOKBACK_DAYS", "1.5", `"1.5"`},
		{"SNS_TOPIC_ARN", "outcomes", `"outcomes" is not an ARN`},
		{"METRICS_MODE", "statsd", `"statsd" is not one of emf, api, both, off`},
		{"LOG_LEVEL", "verbose", "verbose"},
		{"IGNORE_ACTOR_ARNS", "autoremediate-remediate", `"autoremediate-remediate" is not an IAM role, user or root ARN`},
		{"IGNORE_ACTOR_ARNS", "arn:aws:sts::123456789012:federated-user/bob", `"arn:aws:sts::123456789012:federated-user/bob"`},
		{"IGNORE_ACTOR_ARNS", "arn:aws:iam::123456789012:role/ok,arn:aws:s3:::bucket", `"arn:aws:s3:::bucket"`},
		{"IGNORE_ACTOR_ARNS", "arn:aws:sts::123456789012:assumed-role/", `"arn:aws:sts::123456789012:assumed-role/"`},
		{"STATE_TABLE", "my table", `"my table" is not a DynamoDB table name`},
		{"FLAP_LIMIT", "0", `"0" is not a whole number of writes of at least 1`},
		{"FLAP_LIMIT", "three", `"three"`},
		{"FLAP_WINDOW", "60", `"60" is not a duration`},
		{"MEMBER_ROLE_NAME", "arn:aws:iam::123456789012:role/x", `"arn:aws:iam::123456789012:role/x" is not an IAM role name`},
		{"MEMBER_ROLE_NAME", strings.Repeat("r", 65), "is not an IAM role name"},
		{"MEMBER_ROLE_NAME", "team/member", `"team/member" is not an IAM role name (up to 64 of A-Z a-z 0-9 +=,.@_-, without a path)`},
		{"MEMBER_ROLE_EXTERNAL_ID", "x", "not a valid external ID"},
		{"MEMBER_ROLE_EXTERNAL_ID", "has space", "not a valid external ID"},
		{"EXCLUDED_ACCOUNTS", "111122223333,dev", `"dev" is not a 12-digit AWS account ID`},
		{"REGIONS", "us-east-1,Europe", `"Europe" is not an AWS region name`},
		{"FLAP_WINDOW", "500ms", `"500ms" is not a duration of at least a second`},
		{"STATE_TABLE", "T", `"T" is not a DynamoDB table name`},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := Load(env(map[string]string{tc.name: tc.value}))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.name+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to start with %q and contain %q", err, tc.name+": ", tc.msg)
			}
		})
	}
}

func TestNewPublisherModes(t *testing.T) {
	c := NewClients(aws.Config{Region: "us-east-1"})
	for mode, want := range map[string]struct{ emf, api bool }{
		MetricsEMF: {true, false}, MetricsAPI: {false, true}, MetricsBoth: {true, true}, MetricsOff: {false, false},
	} {
		cfg, err := Load(env(map[string]string{"METRICS_MODE": mode, "METRICS_NAMESPACE": "NS", "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t"}))
		if err != nil {
			t.Fatal(err)
		}
		p := NewPublisher(cfg, c, slog.Default())
		if p.EMF != want.emf || (p.Metrics != nil) != want.api || p.Namespace != "NS" || p.TopicARN != "arn:aws:sns:us-east-1:1:t" || p.SNS == nil {
			t.Errorf("%s: publisher %+v", mode, p)
		}
	}
}

func TestNewHandler(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"ENABLED_REMEDIATORS": "s3-public-access-block", "MODE": "dry-run", "REMEDIATOR_MODES": "s3-public-access-block=enforce",
		"RULE_MAP": "iam-password-policy=s3-public-access-block", "METRICS_MODE": "off",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h, err := NewHandler(cfg, NewClients(aws.Config{Region: "us-east-1"}), NewLogger(&logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Registry.Names(); !reflect.DeepEqual(got, []string{"s3-public-access-block"}) {
		t.Errorf("registry = %v", got)
	}
	if h.Modes.For("s3-public-access-block") != remediation.ModeEnforce || h.Modes.For("ec2-imdsv2") != remediation.ModeDryRun {
		t.Errorf("modes = %+v", h.Modes)
	}
	if rem, _, ok := h.Rules.Resolve("iam-password-policy"); !ok || rem != "s3-public-access-block" {
		t.Errorf("RULE_MAP not applied: %q %t", rem, ok)
	}
	if h.Store != nil || h.IgnoreActors != nil || h.FlapLimit != 3 || h.FlapWindow != time.Hour {
		t.Errorf("without STATE_TABLE: store %v, ignore %v, flap %d per %v; want stateless, none, 3 per 1h", h.Store, h.IgnoreActors, h.FlapLimit, h.FlapWindow)
	}
	withState := cfg
	withState.StateTable, withState.IgnoreActorARNs, withState.FlapLimit = "autoremediate-state", []string{"arn:aws:iam::123456789012:role/x"}, 5
	hs, err := NewHandler(withState, NewClients(aws.Config{Region: "us-east-1"}), NewLogger(&logs, slog.LevelInfo))
	if err != nil || hs.Store == nil || !reflect.DeepEqual(hs.IgnoreActors, withState.IgnoreActorARNs) || hs.FlapLimit != 5 {
		t.Errorf("with STATE_TABLE: %v, store %v, ignore %v, limit %d", err, hs.Store, hs.IgnoreActors, hs.FlapLimit)
	}
	// an event for a disabled remediator is ignored without any AWS call
	raw := []byte(`{"id":"e","source":"aws.config","detail-type":"Config Rules Compliance Change","region":"us-east-1","detail":{
	  "resourceId":"i-1","resourceType":"AWS::EC2::Instance","configRuleName":"ec2-imdsv2-check","awsRegion":"us-east-1",
	  "newEvaluationResult":{"complianceType":"NON_COMPLIANT"}}}`)
	o, err := h.Handle(context.Background(), raw)
	if err != nil || o.Action != remediation.ActionIgnored || !strings.Contains(o.Reason, "not enabled") {
		t.Errorf("outcome %+v, err %v", o, err)
	}
	var line map[string]any
	first, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("log output is not JSON lines: %v\n%s", err, logs.String())
	}
	if line["action"] != "ignored" || line["_aws"] != nil {
		t.Errorf("log line = %v (METRICS_MODE=off: no EMF)", line)
	}

	cfg.Enabled = []string{"nope"}
	if _, err := NewHandler(cfg, NewClients(aws.Config{}), slog.Default()); err == nil {
		t.Error("unknown enabled remediator accepted")
	}
}

func TestLoadAWSConfig(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := LoadAWSConfig(context.Background()); !errors.Is(err, ErrNoRegion) || !strings.Contains(err.Error(), "set AWS_REGION") {
		t.Errorf("without a region: %v", err)
	}
	t.Setenv("AWS_REGION", "eu-central-1")
	cfg, err := LoadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-central-1" {
		t.Errorf("Region = %q", cfg.Region)
	}
	if r, ok := cfg.Retryer().(*deadlineRetryer); !ok || r.MaxAttempts() != RetryMaxAttempts {
		t.Errorf("retryer is %T, want the pipeline's (NewRetryer)", cfg.Retryer())
	}
}

func TestClientsAreBuiltOnce(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	c := NewClients(aws.Config{Region: "us-east-1"})
	if c.PathStyleS3 || c.Config().Region != "us-east-1" {
		t.Errorf("clients = %+v", c)
	}
	if c.S3() != c.S3() || c.EC2() != c.EC2() || c.CloudWatch() != c.CloudWatch() || c.SNS() != c.SNS() {
		t.Error("a client was built twice")
	}
	if c.S3().Options().UsePathStyle {
		t.Error("path-style S3 without an endpoint override")
	}
	builds := 0
	for range 3 {
		if v := Memo(c, "test", func(aws.Config) int { builds++; return 7 }); v != 7 {
			t.Errorf("Memo = %d", v)
		}
	}
	if builds != 1 {
		t.Errorf("Memo built %d times", builds)
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
	if c := NewClients(aws.Config{Region: "us-east-1"}); !c.PathStyleS3 || !c.S3().Options().UsePathStyle {
		t.Error("no path-style S3 with AWS_ENDPOINT_URL set")
	}
}

// The report function reads its settings through the same loader as the
// others: the shared ones with the same defaults and the same checks.
func TestLoadReport(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := LoadReport(env(map[string]string{"REPORT_BUCKET": "b"}))
	if err != nil || c.Prefix != "soc2-reports" || c.Namespace != "AutoRemediation" || c.Period != 7*24*time.Hour || c.TopicARN != "" || c.LogLevel != slog.LevelInfo {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	for bad, msg := range map[string]map[string]string{
		"REPORT_BUCKET: required":                                    {},
		"REPORT_PERIOD_DAYS":                                         {"REPORT_BUCKET": "b", "REPORT_PERIOD_DAYS": "0"},
		`SNS_TOPIC_ARN: "topic" is not`:                              {"REPORT_BUCKET": "b", "SNS_TOPIC_ARN": "topic"},
		"LOG_LEVEL: \"loud\" is not one of debug, info, warn, error": {"REPORT_BUCKET": "b", "LOG_LEVEL": "loud"},
	} {
		if _, err := LoadReport(env(msg)); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%v: error %v, want %q", msg, err, bad)
		}
	}
	// the shared settings are the remediating functions' own
	shared := map[string]Setting{}
	for _, s := range Settings() {
		shared[s.Name] = s
	}
	for _, s := range ReportSettings() {
		if o, ok := shared[s.Name]; ok && o.Default != s.Default {
			t.Errorf("%s: default %q for the report, %q for the others", s.Name, s.Default, o.Default)
		}
	}
}

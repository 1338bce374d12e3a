package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/emulator"
	tfmodule "github.com/autoremediate/autoremediate/terraform"
)

// deployment reads back from the emulator what one apply deployed and
// compares it with what the inputs ask for.
type deployment struct {
	t       *testing.T
	ctx     context.Context
	srv     *emulator.Server
	in      *inputs
	setup   *setup
	state   *stateIndex
	outputs map[string]tfexec.OutputMeta
	raw     rawAPI

	keyArn, topicArn, dlqArn string
	functions                map[string]lambdaConfig // by for_each key
}

func (d *deployment) check() {
	d.raw = rawAPI{d.srv}
	d.keyArn, d.topicArn = d.output("kms_key_arn"), d.output("topic_arn")
	d.checkKey()
	d.checkQueue()
	d.checkTopic()
	d.checkFunctions()
	d.checkConfig()
	d.checkEventRules()
	d.checkStateTable()
	d.checkCloudTrailRules()
	d.checkTrail()
	d.checkSchedules()
	d.checkDashboard()
	d.checkAlarms()
	d.checkBuckets()
	d.checkArchive()
	d.checkOrganization()
}

// checkOrganization: with organization_id, the default bus admits
// events:PutEvents from the organisation only, and the remediate function
// may assume the member role in the organisation's accounts; without it,
// the bus has no policy of the module's.
func (d *deployment) checkOrganization() {
	if !d.in.has("organization_id") {
		return
	}
	org := d.in.str("organization_id")
	bus, err := eventbridge.NewFromConfig(d.srv.AWSConfig()).DescribeEventBus(d.ctx, &eventbridge.DescribeEventBusInput{})
	d.must("the default event bus", err)
	policy := aws.ToString(bus.Policy)
	if org == "" {
		if strings.Contains(policy, "aws:PrincipalOrgID") {
			d.t.Errorf("without organization_id the default bus admits an organisation: %s", policy)
		}
		return
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Principal any
			Action    stringOrList
			Condition map[string]map[string]stringOrList
		}
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil || len(doc.Statement) != 1 {
		d.t.Fatalf("the default bus's policy %q: %v", policy, err)
	}
	st := doc.Statement[0]
	if st.Effect != "Allow" || !slices.Equal(st.Action, []string{"events:PutEvents"}) ||
		!slices.Equal(st.Condition["StringEquals"]["aws:PrincipalOrgID"], []string{org}) {
		d.t.Errorf("the default bus's policy is %s; want events:PutEvents for aws:PrincipalOrgID %s only", policy, org)
	}
	fn, ok := d.functions["remediate"]
	if !ok {
		return
	}
	pol := d.rolePolicies(fn.Role[strings.LastIndex(fn.Role, "/")+1:], "lambda.amazonaws.com")
	if !pol.allows("sts:AssumeRole", "arn:aws:iam::111122223333:role/"+d.in.str("member_role_name")) {
		d.t.Errorf("the remediate function may not assume %s in the organisation's accounts", d.in.str("member_role_name"))
	}
}

// output returns a string output ("" for null).
func (d *deployment) output(name string) string {
	d.t.Helper()
	o, ok := d.outputs[name]
	if !ok {
		d.t.Fatalf("the module has no output %q", name)
	}
	var s *string
	if err := json.Unmarshal(o.Value, &s); err != nil {
		d.t.Fatalf("output %s = %s: want a string", name, o.Value)
	}
	if s == nil {
		return ""
	}
	return *s
}

func (d *deployment) must(what string, err error) {
	d.t.Helper()
	if err != nil {
		d.t.Fatalf("reading back %s: %v", what, err)
	}
}

func (d *deployment) checkKey() {
	var key struct {
		KeyMetadata struct {
			Enabled  bool
			KeyState string
		}
	}
	d.must("the KMS key", d.raw.kms(d.ctx, "DescribeKey", map[string]string{"KeyId": d.keyArn}, &key))
	if !key.KeyMetadata.Enabled || key.KeyMetadata.KeyState != "Enabled" {
		d.t.Errorf("KMS key %s: %+v, want enabled", d.keyArn, key.KeyMetadata)
	}
	var rot struct{ KeyRotationEnabled bool }
	d.must("the KMS key's rotation", d.raw.kms(d.ctx, "GetKeyRotationStatus", map[string]string{"KeyId": d.keyArn}, &rot))
	if !rot.KeyRotationEnabled {
		d.t.Errorf("KMS key %s: rotation off", d.keyArn)
	}
}

// checkQueue: the dead-letter queue, encrypted with the module's key.
func (d *deployment) checkQueue() {
	q := sqs.NewFromConfig(d.srv.AWSConfig())
	out, err := q.GetQueueAttributes(d.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(d.output("dead_letter_queue_url")),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	d.must("the dead-letter queue", err)
	a := out.Attributes
	d.dlqArn = a["QueueArn"]
	if a["KmsMasterKeyId"] != d.keyArn {
		d.t.Errorf("dead-letter queue: KmsMasterKeyId %q, want the module's key %s", a["KmsMasterKeyId"], d.keyArn)
	}
	if want := strconv.Itoa(d.in.num("dlq_retention_seconds")); a["MessageRetentionPeriod"] != want {
		d.t.Errorf("dead-letter queue: MessageRetentionPeriod %s, want %s", a["MessageRetentionPeriod"], want)
	}
	if !strings.Contains(a["Policy"], "aws:SecureTransport") || !strings.Contains(a["Policy"], "events.amazonaws.com") {
		d.t.Errorf("dead-letter queue policy lets EventBridge send or denies plain HTTP not: %s", a["Policy"])
	}
}

// checkTopic: the notification topic, encrypted, with the e-mail
// subscriptions.
func (d *deployment) checkTopic() {
	c := sns.NewFromConfig(d.srv.AWSConfig())
	out, err := c.GetTopicAttributes(d.ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(d.topicArn)})
	d.must("the topic", err)
	if got := out.Attributes["KmsMasterKeyId"]; got != d.keyArn {
		d.t.Errorf("topic: KmsMasterKeyId %q, want the module's key %s", got, d.keyArn)
	}
	if p := out.Attributes["Policy"]; !strings.Contains(p, "aws:SecureTransport") || !strings.Contains(p, "cloudwatch.amazonaws.com") {
		d.t.Errorf("topic policy lets alarms publish or denies plain HTTP not: %s", p)
	}
	subs, err := c.ListSubscriptionsByTopic(d.ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(d.topicArn)})
	d.must("the topic's subscriptions", err)
	var emails []string
	for _, s := range subs.Subscriptions {
		if aws.ToString(s.Protocol) == "email" {
			emails = append(emails, aws.ToString(s.Endpoint))
		}
	}
	sort.Strings(emails)
	want := append([]string(nil), d.in.list("notification_emails")...)
	sort.Strings(want)
	if !slices.Equal(emails, want) {
		d.t.Errorf("topic: e-mail subscriptions %q, want %q", emails, want)
	}
}

type lambdaConfig struct {
	FunctionName  string
	FunctionArn   string
	Runtime       string
	Handler       string
	Architectures []string
	MemorySize    int
	Timeout       int
	Role          string
	CodeSha256    string
	TracingConfig struct{ Mode string }
	Environment   struct{ Variables map[string]string }
}

// checkFunctions: each function with its runtime, architecture, code,
// settings, concurrency, asynchronous delivery, log group and role.
func (d *deployment) checkFunctions() {
	want := []string{"remediate"}
	if d.in.boolean("enable_sweep") {
		want = append(want, "sweep")
	}
	if d.in.boolean("enable_report") {
		want = append(want, "report")
	}
	sort.Strings(want)
	deployed := d.state.byKey("aws_lambda_function")
	if got := sortedKeys(deployed); !slices.Equal(got, want) {
		d.t.Fatalf("functions %q deployed, want %q", got, want)
	}
	d.functions = map[string]lambdaConfig{}
	remediation := d.remediationEnvironment()
	for _, key := range want {
		name, _ := deployed[key].AttributeValues["function_name"].(string)
		var fn lambdaConfig
		d.must("function "+name, d.raw.get(d.ctx, "lambda", "/2015-03-31/functions/"+url.PathEscape(name)+"/configuration", &fn))
		d.functions[key] = fn
		errorf := func(format string, args ...any) { d.t.Errorf("function %s: %s", name, fmt.Sprintf(format, args...)) }
		if fn.Runtime != "provided.al2023" || fn.Handler != "bootstrap" {
			errorf("runtime %s, handler %s: want provided.al2023 and bootstrap", fn.Runtime, fn.Handler)
		}
		if !slices.Equal(fn.Architectures, []string{d.in.str("architecture")}) {
			errorf("architectures %q, want [%s] (what make build wrote in dist/architecture)", fn.Architectures, d.in.str("architecture"))
		}
		if sum := zipSHA(d.t, filepath.Join(d.setup.dist, key+".zip")); fn.CodeSha256 != sum {
			errorf("code SHA-256 %s, want dist/%s.zip's %s", fn.CodeSha256, key, sum)
		}
		if fn.MemorySize != d.in.num("lambda_memory_mb") {
			errorf("memory %d MB, want %d", fn.MemorySize, d.in.num("lambda_memory_mb"))
		}
		timeouts := map[string]string{"remediate": "lambda_timeout_seconds", "sweep": "sweep_timeout_seconds"}
		if v, ok := timeouts[key]; ok && fn.Timeout != d.in.num(v) {
			errorf("timeout %d s, want %s = %d", fn.Timeout, v, d.in.num(v))
		}
		if fn.TracingConfig.Mode != "Active" {
			errorf("tracing %q, want Active", fn.TracingConfig.Mode)
		}
		env := remediation
		if key == "report" {
			env = d.reportEnvironment()
		}
		for k, v := range env {
			if got := fn.Environment.Variables[k]; got != v {
				errorf("environment %s = %q, want %q", k, got, v)
			}
		}

		var conc struct{ ReservedConcurrentExecutions *int }
		d.must("the concurrency of "+name, d.raw.get(d.ctx, "lambda", "/2019-09-30/functions/"+url.PathEscape(name)+"/concurrency", &conc))
		wantConc := 1
		if key == "remediate" {
			wantConc = d.in.num("reserved_concurrency")
		}
		if d.in.num("reserved_concurrency") == -1 {
			if conc.ReservedConcurrentExecutions != nil {
				errorf("reserved concurrency %d, want none (reserved_concurrency = -1)", *conc.ReservedConcurrentExecutions)
			}
		} else if conc.ReservedConcurrentExecutions == nil || *conc.ReservedConcurrentExecutions != wantConc {
			errorf("reserved concurrency %v, want %d", conc.ReservedConcurrentExecutions, wantConc)
		}

		var async struct {
			MaximumRetryAttempts     int
			MaximumEventAgeInSeconds int
			DestinationConfig        struct{ OnFailure struct{ Destination string } }
		}
		d.must("the asynchronous invocation settings of "+name, d.raw.get(d.ctx, "lambda", "/2019-09-25/functions/"+url.PathEscape(name)+"/event-invoke-config", &async))
		if async.MaximumRetryAttempts != d.in.num("async_retry_attempts") || async.MaximumEventAgeInSeconds != d.in.num("async_max_event_age_seconds") ||
			async.DestinationConfig.OnFailure.Destination != d.dlqArn {
			errorf("asynchronous invocations: %+v, want %d retries, %d s, failures to %s", async,
				d.in.num("async_retry_attempts"), d.in.num("async_max_event_age_seconds"), d.dlqArn)
		}

		var groups struct {
			LogGroups []struct {
				LogGroupName    string `json:"logGroupName"`
				RetentionInDays int    `json:"retentionInDays"`
				KmsKeyID        string `json:"kmsKeyId"`
			} `json:"logGroups"`
		}
		d.must("the log group of "+name, d.raw.logs(d.ctx, "DescribeLogGroups", map[string]string{"logGroupNamePrefix": "/aws/lambda/" + name}, &groups))
		found := false
		for _, g := range groups.LogGroups {
			if g.LogGroupName == "/aws/lambda/"+name {
				found = true
				if g.RetentionInDays != d.in.num("log_retention_days") || g.KmsKeyID != d.keyArn {
					errorf("log group: retention %d days, key %q; want %d days and %s", g.RetentionInDays, g.KmsKeyID, d.in.num("log_retention_days"), d.keyArn)
				}
			}
		}
		if !found {
			errorf("no log group /aws/lambda/%s", name)
		}
		d.checkFunctionRole(key, fn)
	}
}

// remediationEnvironment is what the remediate and sweep functions must
// find in their environment (app.Settings), from the inputs.
func (d *deployment) remediationEnvironment() map[string]string {
	topic := ""
	if d.in.boolean("notify_outcomes") {
		topic = d.topicArn
	}
	env := map[string]string{
		"MODE":                d.in.str("mode"),
		"ENABLED_REMEDIATORS": strings.Join(d.enabled(), ","),
		"REMEDIATOR_MODES":    pairs(d.in.mapOf("remediator_modes")),
		"RULE_MAP":            pairs(d.in.mapOf("rule_map")),
		"EXEMPT_TAG_KEY":      d.in.str("exempt_tag_key"),
		"S3_WEBSITE_GUARD":    strconv.FormatBool(d.in.boolean("s3_website_guard")),
		"S3_SSE_ALGORITHM":    d.in.str("s3_sse_algorithm"),
		"S3_KMS_KEY_ARN":      d.in.str("s3_kms_key_arn"),
		"EBS_KMS_KEY_ID":      d.in.str("ebs_kms_key_id"),
		"IMDS_LOOKBACK_DAYS":  strconv.Itoa(d.in.num("imds_lookback_days")),
		"SNS_TOPIC_ARN":       topic,
		"METRICS_NAMESPACE":   d.in.str("metrics_namespace"),
		"METRICS_MODE":        d.in.str("metrics_mode"),
		"LOG_LEVEL":           d.in.str("log_level"),
		"IGNORE_ACTOR_ARNS":   strings.Join(d.ignoredActors(), ","),
		"STATE_TABLE":         d.output("state_table_name"),
		"FLAP_LIMIT":          strconv.Itoa(d.in.num("flap_limit")),
		"FLAP_WINDOW":         d.in.str("flap_window"),
	}
	if d.in.has("organization_id") {
		env["MEMBER_ROLE_NAME"] = d.in.str("member_role_name")
		env["MEMBER_ROLE_EXTERNAL_ID"] = d.in.str("member_role_external_id")
		env["EXCLUDED_ACCOUNTS"] = strings.Join(d.in.list("excluded_accounts"), ",")
		env["REGIONS"] = strings.Join(d.in.list("regions"), ",")
	}
	return env
}

func (d *deployment) reportEnvironment() map[string]string {
	return map[string]string{
		"REPORT_BUCKET":      d.output("report_bucket"),
		"REPORT_PREFIX":      d.in.str("report_prefix"),
		"REPORT_PERIOD_DAYS": strconv.Itoa(d.in.num("report_period_days")),
		"SNS_TOPIC_ARN":      d.topicArn,
		"METRICS_NAMESPACE":  d.in.str("metrics_namespace"),
		"LOG_LEVEL":          d.in.str("log_level"),
	}
}

// zipSHA is Lambda's CodeSha256 of a zip: base64 of its SHA-256.
func zipSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// checkFunctionRole: the execution role trusts Lambda and its inline
// policies grant what the function needs (its remediators' actions, its log
// group, the dead-letter queue, X-Ray, the topic) and PutMetricData only
// when metrics_mode sends metrics through the API.
func (d *deployment) checkFunctionRole(key string, fn lambdaConfig) {
	role := fn.Role[strings.LastIndex(fn.Role, "/")+1:]
	pol := d.rolePolicies(role, "lambda.amazonaws.com")
	errorf := func(format string, args ...any) {
		d.t.Errorf("role %s of %s: %s", role, fn.FunctionName, fmt.Sprintf(format, args...))
	}
	acct, region := emulator.Account, emulator.Region
	logGroup := fmt.Sprintf("arn:aws:logs:%s:%s:log-group:/aws/lambda/%s", region, acct, fn.FunctionName)
	logStream := logGroup + ":log-stream:2026/01/01/[$LATEST]abc"
	// CreateLogStream's resource is the log group; policies often name it
	// with :* (which covers its streams too).
	if !pol.allows("logs:CreateLogStream", logGroup) && !pol.allows("logs:CreateLogStream", logStream) {
		errorf("does not allow logs:CreateLogStream on %s", logGroup)
	}
	need := [][2]string{{"logs:PutLogEvents", logStream}, {"sqs:SendMessage", d.dlqArn}, {"xray:PutTraceSegments", "*"}}
	if key == "report" || d.in.boolean("notify_outcomes") {
		need = append(need, [2]string{"sns:Publish", d.topicArn})
	}
	for _, n := range need {
		if !pol.allows(n[0], n[1]) {
			errorf("does not allow %s on %s", n[0], n[1])
		}
	}
	if key == "report" {
		return
	}
	for _, r := range d.enabled() {
		for _, a := range d.setup.catalog.actions(d.t, r) {
			if !pol.allowsAnywhere(a) {
				errorf("does not allow %s, which remediator %s needs", a, r)
			}
		}
	}
	if key == "remediate" {
		apiMetrics := d.in.str("metrics_mode") == "api" || d.in.str("metrics_mode") == "both"
		if got := pol.allowsAnywhere("cloudwatch:PutMetricData"); got != apiMetrics {
			errorf("allows cloudwatch:PutMetricData = %v with metrics_mode %s", got, d.in.str("metrics_mode"))
		}
	}
}

// rolePolicies reads a role's trust policy (it must trust service) and
// its inline policies.
func (d *deployment) rolePolicies(role, service string) policySet {
	c := iam.NewFromConfig(d.srv.AWSConfig())
	r, err := c.GetRole(d.ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	d.must("role "+role, err)
	trust := decodePolicy(d.t, aws.ToString(r.Role.AssumeRolePolicyDocument))
	if !strings.Contains(fmt.Sprint(trust), service) {
		d.t.Errorf("role %s does not trust %s: %v", role, service, trust)
	}
	names, err := c.ListRolePolicies(d.ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	d.must("the policies of role "+role, err)
	var set policySet
	for _, n := range names.PolicyNames {
		p, err := c.GetRolePolicy(d.ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(n)})
		d.must("policy "+n+" of role "+role, err)
		set = append(set, decodePolicy(d.t, aws.ToString(p.PolicyDocument)).Statement...)
	}
	if len(set) == 0 {
		d.t.Errorf("role %s has no inline policy", role)
	}
	return set
}

// checkConfig: the Config rules of the enabled remediators with their
// identifiers, scopes and parameters, and (create_config_recorder) the
// recorder, recording, with its role and delivery channel.
func (d *deployment) checkConfig() {
	var rules struct {
		ConfigRules []struct {
			ConfigRuleName  string
			Source          struct{ Owner, SourceIdentifier string }
			Scope           *struct{ ComplianceResourceTypes []string }
			InputParameters string
		}
	}
	d.must("the Config rules", d.raw.config(d.ctx, "DescribeConfigRules", &rules))
	var names []string
	for _, r := range rules.ConfigRules {
		names = append(names, r.ConfigRuleName)
		m, ok := d.setup.catalog.ManagedRules[r.ConfigRuleName]
		if !ok {
			continue
		}
		if r.Source.Owner != "AWS" || r.Source.SourceIdentifier != m.Identifier {
			d.t.Errorf("Config rule %s: source %+v, want the AWS managed rule %s", r.ConfigRuleName, r.Source, m.Identifier)
		}
		var scope []string
		if r.Scope != nil {
			scope = r.Scope.ComplianceResourceTypes
		}
		if !sameStrings(scope, m.ResourceTypes) {
			d.t.Errorf("Config rule %s: scope %q, want %q", r.ConfigRuleName, scope, m.ResourceTypes)
		}
		if len(m.InputParameters) > 0 {
			var got map[string]string
			if err := json.Unmarshal([]byte(r.InputParameters), &got); err != nil || !reflect.DeepEqual(got, m.InputParameters) {
				d.t.Errorf("Config rule %s: parameters %s, want %v", r.ConfigRuleName, r.InputParameters, m.InputParameters)
			}
		}
	}
	sort.Strings(names)
	if want := d.expectedRules(); !slices.Equal(names, want) {
		d.t.Errorf("Config rules %q, want %q (the managed rules of the enabled remediators, less those config_rules switches off)", names, want)
	}

	var recorders struct {
		ConfigurationRecorders []struct {
			Name           string `json:"name"`
			RoleARN        string `json:"roleARN"`
			RecordingGroup struct {
				AllSupported  bool     `json:"allSupported"`
				ResourceTypes []string `json:"resourceTypes"`
			} `json:"recordingGroup"`
		}
	}
	d.must("the Config recorders", d.raw.config(d.ctx, "DescribeConfigurationRecorders", &recorders))
	if !d.in.boolean("create_config_recorder") {
		if len(recorders.ConfigurationRecorders) != 0 {
			d.t.Errorf("a Config recorder was created without create_config_recorder: %+v", recorders.ConfigurationRecorders)
		}
		return
	}
	if len(recorders.ConfigurationRecorders) != 1 {
		d.t.Fatalf("%d Config recorders, want 1", len(recorders.ConfigurationRecorders))
	}
	rec := recorders.ConfigurationRecorders[0]
	// Unset (null), the recorder records the scopes of the deployed rules; a
	// rule scoped to a type it does not record never evaluates.
	scopes := map[string]bool{}
	for _, name := range d.expectedRules() {
		for _, rt := range d.setup.catalog.ManagedRules[name].ResourceTypes {
			scopes[rt] = true
		}
	}
	wantTypes := d.in.list("config_recorder_resource_types")
	if wantTypes == nil {
		wantTypes = sortedKeys(scopes)
	}
	if rec.Name != d.in.str("name") || rec.RecordingGroup.AllSupported || !sameStrings(rec.RecordingGroup.ResourceTypes, wantTypes) {
		d.t.Errorf("Config recorder %+v, want %s recording %q", rec, d.in.str("name"), wantTypes)
	}
	for rt := range scopes {
		if !slices.Contains(rec.RecordingGroup.ResourceTypes, rt) {
			d.t.Errorf("Config recorder records %q, not %s: the rules scoped to it never evaluate", rec.RecordingGroup.ResourceTypes, rt)
		}
	}
	role := rec.RoleARN[strings.LastIndex(rec.RoleARN, "/")+1:]
	pol := d.rolePolicies(role, "config.amazonaws.com")
	attached, err := iam.NewFromConfig(d.srv.AWSConfig()).ListAttachedRolePolicies(d.ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	d.must("the managed policies of "+role, err)
	if !slices.ContainsFunc(attached.AttachedPolicies, func(p iamAttached) bool {
		return aws.ToString(p.PolicyArn) == "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"
	}) {
		d.t.Errorf("the recorder's role %s lacks AWS_ConfigRole", role)
	}
	var status struct {
		ConfigurationRecordersStatus []struct {
			Name      string `json:"name"`
			Recording bool   `json:"recording"`
		}
	}
	d.must("the Config recorder's status", d.raw.config(d.ctx, "DescribeConfigurationRecorderStatus", &status))
	if len(status.ConfigurationRecordersStatus) != 1 || !status.ConfigurationRecordersStatus[0].Recording {
		d.t.Errorf("Config recorder status %+v, want recording", status.ConfigurationRecordersStatus)
	}
	var channels struct {
		DeliveryChannels []struct {
			Name         string `json:"name"`
			S3BucketName string `json:"s3BucketName"`
			S3KmsKeyArn  string `json:"s3KmsKeyArn"`
		}
	}
	d.must("the Config delivery channels", d.raw.config(d.ctx, "DescribeDeliveryChannels", &channels))
	if len(channels.DeliveryChannels) != 1 || channels.DeliveryChannels[0].S3KmsKeyArn != d.keyArn {
		d.t.Fatalf("Config delivery channels %+v, want one, encrypting with %s", channels.DeliveryChannels, d.keyArn)
	}
	bucket := channels.DeliveryChannels[0].S3BucketName
	if !slices.Contains(d.state.attr("aws_s3_bucket", "bucket"), bucket) {
		d.t.Errorf("Config delivers to %s, not a bucket of the module", bucket)
	}
	if obj := "arn:aws:s3:::" + bucket + "/AWSLogs/" + emulator.Account + "/Config/x"; !pol.allows("s3:PutObject", obj) {
		d.t.Errorf("the recorder's role %s may not deliver to %s", role, obj)
	}
}

func sameStrings(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

// checkEventRules: each EventBridge rule of the module, enabled, with the
// remediate function as its one target, retries and the dead-letter queue,
// allowed to invoke it; together their patterns match the NON_COMPLIANT
// notifications of exactly the rules the deployment handles.
func (d *deployment) checkEventRules() {
	eb := eventbridge.NewFromConfig(d.srv.AWSConfig())
	names := d.state.attr("aws_cloudwatch_event_rule", "name")
	if len(names) == 0 {
		d.t.Fatal("no EventBridge rule deployed")
	}
	remediate := d.functions["remediate"].FunctionArn
	var policy struct{ Policy string }
	d.must("the remediate function's resource policy", d.raw.get(d.ctx, "lambda", "/2015-03-31/functions/"+url.PathEscape(d.functions["remediate"].FunctionName)+"/policy", &policy))
	var patterns []string
	for _, name := range names {
		r, err := eb.DescribeRule(d.ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name)})
		d.must("event rule "+name, err)
		if r.State != ebtypes.RuleStateEnabled || aws.ToString(r.EventPattern) == "" {
			d.t.Errorf("event rule %s: state %s, pattern %q", name, r.State, aws.ToString(r.EventPattern))
		}
		patterns = append(patterns, aws.ToString(r.EventPattern))
		targets, err := eb.ListTargetsByRule(d.ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(name)})
		d.must("the targets of event rule "+name, err)
		if len(targets.Targets) != 1 {
			d.t.Errorf("event rule %s has %d targets, want the remediate function only", name, len(targets.Targets))
			continue
		}
		tg := targets.Targets[0]
		if aws.ToString(tg.Arn) != remediate {
			d.t.Errorf("event rule %s targets %s, want %s", name, aws.ToString(tg.Arn), remediate)
		}
		var attempts, age int
		if tg.RetryPolicy != nil {
			attempts, age = int(aws.ToInt32(tg.RetryPolicy.MaximumRetryAttempts)), int(aws.ToInt32(tg.RetryPolicy.MaximumEventAgeInSeconds))
		}
		if attempts != d.in.num("event_retry_attempts") || age != d.in.num("event_max_age_seconds") {
			d.t.Errorf("event rule %s: retry policy %d attempts within %d s, want %d within %d s", name, attempts, age, d.in.num("event_retry_attempts"), d.in.num("event_max_age_seconds"))
		}
		if tg.DeadLetterConfig == nil || aws.ToString(tg.DeadLetterConfig.Arn) != d.dlqArn {
			d.t.Errorf("event rule %s: no dead-letter queue %s", name, d.dlqArn)
		}
		if !strings.Contains(policy.Policy, aws.ToString(r.Arn)) || !strings.Contains(policy.Policy, "events.amazonaws.com") {
			d.t.Errorf("the remediate function's policy does not let %s invoke it: %s", aws.ToString(r.Arn), policy.Policy)
		}
	}
	d.checkPatterns(patterns)
}

// checkPatterns delivers sample Config notifications through the deployed
// patterns (copied to rules on a bus of their own, with a queue as target,
// so that the module's rules never see them) and checks which arrive.
func (d *deployment) checkPatterns(patterns []string) {
	type probe struct {
		rule, compliance string
		want             bool
	}
	var probes []probe
	for _, r := range d.expectedRules() {
		probes = append(probes, probe{r, "NON_COMPLIANT", true}, probe{r, "COMPLIANT", false})
		generated := (d.in.has("match_security_hub_rules") && d.in.boolean("match_security_hub_rules")) ||
			(d.in.has("match_generated_rule_names") && d.in.boolean("match_generated_rule_names"))
		probes = append(probes, probe{tfmodule.SecurityHubPrefix(r) + "a1b2c3", "NON_COMPLIANT", generated})
	}
	enabled := d.enabled()
	for rule, r := range d.in.mapOf("rule_map") {
		probes = append(probes, probe{rule, "NON_COMPLIANT", slices.Contains(enabled, r)})
	}
	probes = append(probes, probe{"e2e-unrelated-rule", "NON_COMPLIANT", false})
	arrived := d.sendProbes("e2e-probe", patterns, len(probes), func(i int) ebtypes.PutEventsRequestEntry {
		detail, _ := json.Marshal(map[string]any{
			"resourceId": fmt.Sprintf("probe-%d", i), "resourceType": "AWS::S3::Bucket", "awsRegion": emulator.Region, "awsAccountId": emulator.Account,
			"configRuleName": probes[i].rule, "messageType": "ComplianceChangeNotification", "recordVersion": "1.0",
			"newEvaluationResult": map[string]any{"complianceType": probes[i].compliance},
		})
		return ebtypes.PutEventsRequestEntry{Source: aws.String("aws.config"), DetailType: aws.String("Config Rules Compliance Change"), Detail: aws.String(string(detail))}
	}, func(body []byte) string {
		var ev struct {
			Detail struct {
				ResourceID string `json:"resourceId"`
			}
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			d.t.Fatalf("probe message %s: %v", body, err)
		}
		return ev.Detail.ResourceID
	})
	for i, p := range probes {
		n := arrived[fmt.Sprintf("probe-%d", i)]
		switch {
		case p.want && n != 1:
			d.t.Errorf("a %s notification of Config rule %s reached the function %d times, want once", p.compliance, p.rule, n)
		case !p.want && n != 0:
			d.t.Errorf("a %s notification of Config rule %s reached the function, want not", p.compliance, p.rule)
		}
	}
}

// checkSchedules: the sweep and report schedules, with their expressions,
// targets, retries and dead-letter queue.
func (d *deployment) checkSchedules() {
	var want []string
	for _, k := range []string{"sweep", "report"} {
		if d.in.boolean("enable_" + k) {
			want = append(want, k)
		}
	}
	sort.Strings(want)
	schedules := d.state.byKey("aws_scheduler_schedule")
	if got := sortedKeys(schedules); !slices.Equal(got, want) {
		d.t.Fatalf("schedules %q deployed, want %q", got, want)
	}
	for _, key := range want {
		name, _ := schedules[key].AttributeValues["name"].(string)
		group, _ := schedules[key].AttributeValues["group_name"].(string)
		if group == "" {
			group = "default"
		}
		var s struct {
			ScheduleExpression string
			State              string
			Target             struct {
				Arn, RoleArn     string
				RetryPolicy      *struct{ MaximumRetryAttempts, MaximumEventAgeInSeconds int }
				DeadLetterConfig struct{ Arn string }
			}
		}
		d.must("schedule "+name, d.raw.get(d.ctx, "scheduler", "/schedules/"+url.PathEscape(name)+"?groupName="+url.QueryEscape(group), &s))
		fn := d.functions[key].FunctionArn
		if s.ScheduleExpression != d.in.str(key+"_schedule") || s.State != "ENABLED" || s.Target.Arn != fn ||
			s.Target.DeadLetterConfig.Arn != d.dlqArn || s.Target.RetryPolicy == nil {
			d.t.Errorf("schedule %s: %+v, want %s, enabled, invoking %s with retries and failures to %s", name, s, d.in.str(key+"_schedule"), fn, d.dlqArn)
		}
		role := s.Target.RoleArn[strings.LastIndex(s.Target.RoleArn, "/")+1:]
		if pol := d.rolePolicies(role, "scheduler.amazonaws.com"); !pol.allows("lambda:InvokeFunction", fn) || !pol.allows("sqs:SendMessage", d.dlqArn) {
			d.t.Errorf("schedule %s: role %s may not invoke %s or send to the dead-letter queue", name, role, fn)
		}
	}
}

// checkDashboard: the dashboard is the template Go renders too, with the
// deployment's values.
func (d *deployment) checkDashboard() {
	cw := cloudwatch.NewFromConfig(d.srv.AWSConfig(), app.CloudWatchQueryProtocol)
	name := d.output("dashboard_name")
	out, err := cw.GetDashboard(d.ctx, &cloudwatch.GetDashboardInput{DashboardName: aws.String(name)})
	d.must("dashboard "+name, err)
	values := map[string]string{
		"namespace":     d.in.str("metrics_namespace"),
		"region":        emulator.Region,
		"function_name": d.functions["remediate"].FunctionName,
		"dlq_name":      d.dlqArn[strings.LastIndex(d.dlqArn, ":")+1:],
	}
	vars := map[string]string{}
	for _, v := range tfmodule.DashboardVariables() {
		val, ok := values[v]
		if !ok {
			d.t.Fatalf("the dashboard template takes %q: tell the e2e test its value", v)
		}
		vars[v] = val
	}
	want, err := tfmodule.RenderDashboard(vars)
	if err != nil {
		d.t.Fatal(err)
	}
	var got, exp any
	if err := json.Unmarshal([]byte(aws.ToString(out.DashboardBody)), &got); err != nil {
		d.t.Fatalf("dashboard %s: body is not JSON: %v", name, err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		d.t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		d.t.Errorf("dashboard %s differs from the template rendered with %v:\n got %s\nwant %s", name, vars, aws.ToString(out.DashboardBody), want)
	}
}

// checkAlarms: every alarm of the module notifies the topic, over
// alarm_evaluation_minutes.
func (d *deployment) checkAlarms() {
	names := d.state.attr("aws_cloudwatch_metric_alarm", "alarm_name")
	if len(names) == 0 {
		d.t.Fatal("no alarm deployed")
	}
	cw := cloudwatch.NewFromConfig(d.srv.AWSConfig(), app.CloudWatchQueryProtocol)
	out, err := cw.DescribeAlarms(d.ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: names})
	d.must("the alarms", err)
	if len(out.MetricAlarms) != len(names) {
		d.t.Errorf("%d alarms read back, want %d (%q)", len(out.MetricAlarms), len(names), names)
	}
	period := int32(d.in.num("alarm_evaluation_minutes") * 60)
	for _, a := range out.MetricAlarms {
		name := aws.ToString(a.AlarmName)
		if !slices.Contains(a.AlarmActions, d.topicArn) || !aws.ToBool(a.ActionsEnabled) {
			d.t.Errorf("alarm %s: actions %q (enabled %v), want the topic %s", name, a.AlarmActions, aws.ToBool(a.ActionsEnabled), d.topicArn)
		}
		periods := []int32{aws.ToInt32(a.Period)}
		namespaces := []string{aws.ToString(a.Namespace)}
		if len(a.Metrics) > 0 {
			periods, namespaces = nil, nil
			for _, m := range a.Metrics {
				if m.MetricStat != nil {
					periods = append(periods, aws.ToInt32(m.MetricStat.Period))
					namespaces = append(namespaces, aws.ToString(m.MetricStat.Metric.Namespace))
				}
			}
		}
		for _, p := range periods {
			if p != period {
				d.t.Errorf("alarm %s: period %d s, want %d (alarm_evaluation_minutes)", name, p, period)
			}
		}
		for _, ns := range namespaces {
			if ns != d.in.str("metrics_namespace") && !strings.HasPrefix(ns, "AWS/") {
				d.t.Errorf("alarm %s watches namespace %q, want %s or an AWS one", name, ns, d.in.str("metrics_namespace"))
			}
		}
	}
}

// checkBuckets: every bucket private, encrypted, reachable over TLS only;
// the versioned ones versioned; the logged ones logging where the module
// says.
func (d *deployment) checkBuckets() {
	s := s3.NewFromConfig(d.srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	buckets := d.state.attr("aws_s3_bucket", "bucket")
	n := 0
	if d.in.boolean("enable_report") {
		n++
		if !slices.Contains(buckets, d.output("report_bucket")) {
			d.t.Errorf("report bucket %s is not among the buckets %q", d.output("report_bucket"), buckets)
		}
	}
	if d.in.boolean("create_config_recorder") {
		n++
	}
	if d.in.boolean("create_trail") {
		n++
	}
	if d.in.boolean("archive_enabled") {
		n++
	}
	if n > 0 {
		n++ // the access-log bucket
	}
	if len(buckets) != n {
		d.t.Errorf("buckets %q, want %d", buckets, n)
	}
	for _, b := range buckets {
		pab, err := s.GetPublicAccessBlock(d.ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
		d.must("the public access block of "+b, err)
		if c := pab.PublicAccessBlockConfiguration; !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.RestrictPublicBuckets) {
			d.t.Errorf("bucket %s: public access block %+v, want all on", b, c)
		}
		enc, err := s.GetBucketEncryption(d.ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(b)})
		d.must("the encryption of "+b, err)
		if enc.ServerSideEncryptionConfiguration == nil || len(enc.ServerSideEncryptionConfiguration.Rules) == 0 {
			d.t.Errorf("bucket %s has no default encryption", b)
		}
		pol, err := s.GetBucketPolicy(d.ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
		d.must("the policy of "+b, err)
		if !strings.Contains(aws.ToString(pol.Policy), "aws:SecureTransport") {
			d.t.Errorf("bucket %s: policy does not deny plain HTTP: %s", b, aws.ToString(pol.Policy))
		}
	}
	for _, b := range d.state.attr("aws_s3_bucket_versioning", "bucket") {
		v, err := s.GetBucketVersioning(d.ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
		d.must("the versioning of "+b, err)
		if v.Status != "Enabled" {
			d.t.Errorf("bucket %s: versioning %q, want Enabled", b, v.Status)
		}
	}
	for _, r := range d.state.byType["aws_s3_bucket_logging"] {
		b, _ := r.AttributeValues["bucket"].(string)
		target, _ := r.AttributeValues["target_bucket"].(string)
		l, err := s.GetBucketLogging(d.ctx, &s3.GetBucketLoggingInput{Bucket: aws.String(b)})
		d.must("the logging of "+b, err)
		if l.LoggingEnabled == nil || aws.ToString(l.LoggingEnabled.TargetBucket) != target || !slices.Contains(buckets, target) {
			d.t.Errorf("bucket %s: logging %+v, want to the module's bucket %s", b, l.LoggingEnabled, target)
		}
	}
}

// checkDestroyed: after destroy, nothing of the deployment is left (the KMS
// key waits for its deletion window).
func (d *deployment) checkDestroyed() {
	for key, fn := range d.functions {
		var cfg lambdaConfig
		if err := d.raw.get(d.ctx, "lambda", "/2015-03-31/functions/"+url.PathEscape(fn.FunctionName)+"/configuration", &cfg); !errors.Is(err, errNotFound) {
			d.t.Errorf("function %s (%s) is still there after destroy (%v)", fn.FunctionName, key, err)
		}
	}
	var rules struct {
		ConfigRules []struct{ ConfigRuleName string }
	}
	d.must("the Config rules", d.raw.config(d.ctx, "DescribeConfigRules", &rules))
	if len(rules.ConfigRules) != 0 {
		d.t.Errorf("Config rules left after destroy: %+v", rules.ConfigRules)
	}
	bl, err := s3.NewFromConfig(d.srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(d.ctx, &s3.ListBucketsInput{})
	d.must("the buckets", err)
	if len(bl.Buckets) != 0 {
		var names []string
		for _, b := range bl.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		d.t.Errorf("buckets left after destroy: %q", names)
	}
	rl, err := eventbridge.NewFromConfig(d.srv.AWSConfig()).ListRules(d.ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String(d.in.str("name"))})
	d.must("the event rules", err)
	if len(rl.Rules) != 0 {
		d.t.Errorf("%d event rules left after destroy", len(rl.Rules))
	}
	d.checkFastPathDestroyed()
	var key struct{ KeyMetadata struct{ KeyState string } }
	d.must("the KMS key", d.raw.kms(d.ctx, "DescribeKey", map[string]string{"KeyId": d.keyArn}, &key))
	if key.KeyMetadata.KeyState != "PendingDeletion" {
		d.t.Errorf("KMS key %s is %s after destroy, want PendingDeletion", d.keyArn, key.KeyMetadata.KeyState)
	}
}

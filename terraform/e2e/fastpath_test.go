package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/autoremediate/autoremediate/state"
	tfmodule "github.com/autoremediate/autoremediate/terraform"
)

// cloudTrail calls the CloudTrail API (awsJson 1.1), which the repository
// has no SDK module for.
func (r rawAPI) cloudTrail(d *deployment, op string, in, out any) error {
	return r.target(d.ctx, "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."+op, in, out)
}

// functionRoleARNs returns the ARNs of the functions' roles as deployed,
// by function, from the state.
func (d *deployment) functionRoleARNs() map[string]string {
	out := map[string]string{}
	for _, r := range d.state.byType["aws_iam_role"] {
		// aws_iam_role.function only: the archive's roles are keyed too.
		fn, ok := r.Index.(string)
		if !ok || r.Name != "function" {
			continue
		}
		if arn, ok := r.AttributeValues["arn"].(string); ok {
			out[fn] = arn
		}
	}
	return out
}

// ignoredActors is what IGNORE_ACTOR_ARNS and the CloudTrail patterns
// must list: the deployed functions' roles (sorted by function) and
// ignore_actor_arns.
func (d *deployment) ignoredActors() []string {
	roles := d.functionRoleARNs()
	var out []string
	for _, fn := range sortedKeys(roles) {
		out = append(out, roles[fn])
	}
	for _, a := range d.in.list("ignore_actor_arns") {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// checkStateTable: the state table has the store's key and TTL, on-demand
// billing, point-in-time recovery and the module's key; state.Init, which
// `remediate state init` runs, finds it ready as it is; the remediating
// roles may call exactly the store's actions on it.
func (d *deployment) checkStateTable() {
	table := d.output("state_table_name")
	db := dynamodb.NewFromConfig(d.srv.AWSConfig())
	desc, err := db.DescribeTable(d.ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	d.must("state table "+table, err)
	tb := desc.Table
	if len(tb.KeySchema) != 1 || aws.ToString(tb.KeySchema[0].AttributeName) != state.KeyAttribute || tb.KeySchema[0].KeyType != dbtypes.KeyTypeHash ||
		len(tb.AttributeDefinitions) != 1 || tb.AttributeDefinitions[0].AttributeType != dbtypes.ScalarAttributeTypeS {
		d.t.Errorf("state table %s: key schema %+v, attributes %+v; want %s (S) as the only, partition, key", table, tb.KeySchema, tb.AttributeDefinitions, state.KeyAttribute)
	}
	if tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != dbtypes.BillingModePayPerRequest {
		d.t.Errorf("state table %s: billing %+v, want on-demand", table, tb.BillingModeSummary)
	}
	if sse := tb.SSEDescription; sse == nil || sse.SSEType != dbtypes.SSETypeKms || aws.ToString(sse.KMSMasterKeyArn) != d.keyArn {
		d.t.Errorf("state table %s: encryption %+v, want KMS with the module's key %s", table, sse, d.keyArn)
	}
	ttl, err := db.DescribeTimeToLive(d.ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	d.must("the state table's TTL", err)
	if s := ttl.TimeToLiveDescription; s == nil || s.TimeToLiveStatus != dbtypes.TimeToLiveStatusEnabled || aws.ToString(s.AttributeName) != state.TTLAttribute {
		d.t.Errorf("state table %s: TTL %+v, want enabled on %s", table, s, state.TTLAttribute)
	}
	backups, err := db.DescribeContinuousBackups(d.ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(table)})
	d.must("the state table's backups", err)
	if b := backups.ContinuousBackupsDescription; b == nil || b.PointInTimeRecoveryDescription == nil ||
		b.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus != dbtypes.PointInTimeRecoveryStatusEnabled {
		d.t.Errorf("state table %s: point-in-time recovery off (%+v)", table, b)
	}
	res, err := state.Init(d.ctx, db, table)
	if err != nil || res.Created || res.TTLEnabled {
		d.t.Errorf("state.Init on the table Terraform created: %+v, %v; want it ready as it is", res, err)
	}

	arn := aws.ToString(tb.TableArn)
	for fn, fc := range d.functions {
		pol := d.rolePolicies(fc.Role[strings.LastIndex(fc.Role, "/")+1:], "lambda.amazonaws.com")
		for _, a := range state.Actions() {
			if got := pol.allows(a, arn); got != (fn != "report") {
				d.t.Errorf("the %s function's role allows %s on the state table = %v", fn, a, got)
			}
		}
		for _, a := range []string{"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:DeleteTable"} {
			if pol.allowsAnywhere(a) {
				d.t.Errorf("the %s function's role allows %s, which the store does not call", fn, a)
			}
		}
	}
	var key struct{ Policy string }
	d.must("the key policy", d.raw.kms(d.ctx, "GetKeyPolicy", map[string]string{"KeyId": d.keyArn, "PolicyName": "default"}, &key))
	if !strings.Contains(key.Policy, "dynamodb."+d.srv.AWSConfig().Region+".amazonaws.com") || !strings.Contains(key.Policy, d.functionRoleARNs()["remediate"]) {
		d.t.Errorf("the key policy does not let the remediate role use the key through DynamoDB: %s", key.Policy)
	}
}

// checkCloudTrailRules: one rule per service the enabled remediators are
// triggered by (none with enable_cloudtrail_path off), each pattern the one
// Go renders for the deployed roles, and sample CloudTrail events through
// the deployed patterns: others' calls arrive, the functions' own, the
// ignored automation's and failed calls do not.
func (d *deployment) checkCloudTrailRules() {
	var names map[string]string
	d.must("output cloudtrail_rule_names", json.Unmarshal(d.outputs["cloudtrail_rule_names"].Value, &names))
	ignore := d.ignoredActors()
	want := map[string][]byte{}
	if d.in.boolean("enable_cloudtrail_path") {
		var err error
		if want, err = tfmodule.CloudTrailPatterns(tfmodule.TriggerCalls(d.enabled()), ignore); err != nil {
			d.t.Fatal(err)
		}
	}
	if got := sortedKeys(names); !slices.Equal(got, sortedKeys(want)) {
		d.t.Fatalf("CloudTrail rules for %v, want %v", got, sortedKeys(want))
	}
	eb := eventbridge.NewFromConfig(d.srv.AWSConfig())
	var patterns []string
	for svc, name := range names {
		r, err := eb.DescribeRule(d.ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name)})
		d.must("CloudTrail rule "+name, err)
		var got, exp any
		if json.Unmarshal([]byte(aws.ToString(r.EventPattern)), &got) != nil || json.Unmarshal(want[svc], &exp) != nil || !reflect.DeepEqual(got, exp) {
			d.t.Errorf("CloudTrail rule %s: pattern %s, want %s", name, aws.ToString(r.EventPattern), want[svc])
		}
		patterns = append(patterns, aws.ToString(r.EventPattern))
	}
	for fn, fc := range d.functions {
		if !slices.Contains(ignore, fc.Role) {
			d.t.Errorf("the %s function's role %s is not among the ignored actors %q", fn, fc.Role, ignore)
		}
	}
	if len(patterns) == 0 {
		return
	}

	// Probes: the PutBucketPolicy fixture with other principals.
	raw, err := os.ReadFile(filepath.Join(d.setup.module, "..", "events", "testdata", "cloudtrail", "s3-put-bucket-policy.json"))
	d.must("the CloudTrail fixture", err)
	var env struct {
		Source     string         `json:"source"`
		DetailType string         `json:"detail-type"`
		Detail     map[string]any `json:"detail"`
	}
	d.must("the CloudTrail fixture", json.Unmarshal(raw, &env))
	issuer := func(role string) map[string]any {
		return map[string]any{"type": "AssumedRole", "arn": "arn:aws:sts::" + strings.Split(role, ":")[4] + ":assumed-role/x/e2e",
			"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": role}}}
	}
	type probe struct {
		name     string
		identity map[string]any
		failed   bool
		want     bool
	}
	probes := []probe{
		{"someone else's role", issuer("arn:aws:iam::111122223333:role/ci/deploy"), false, true},
		{"an IAM user", map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/Mateo"}, false, true},
		{"root", map[string]any{"type": "Root", "arn": "arn:aws:iam::123456789012:root", "sessionContext": map[string]any{"sessionIssuer": map[string]any{}}}, false, true},
		{"a failed call", issuer("arn:aws:iam::111122223333:role/ci/deploy"), true, false},
	}
	for _, a := range ignore {
		id := issuer(a)
		if strings.Contains(a, ":user/") {
			id = map[string]any{"type": "IAMUser", "arn": a}
		}
		probes = append(probes, probe{"ignored " + a, id, false, false})
	}
	arrived := d.sendProbes("e2e-probe-cloudtrail", patterns, len(probes), func(i int) ebtypes.PutEventsRequestEntry {
		detail := map[string]any{}
		for k, v := range env.Detail {
			detail[k] = v
		}
		detail["userIdentity"], detail["requestID"] = probes[i].identity, fmt.Sprintf("probe-%d", i)
		if probes[i].failed {
			detail["errorCode"] = "AccessDenied"
		}
		b, _ := json.Marshal(detail)
		return ebtypes.PutEventsRequestEntry{Source: aws.String(env.Source), DetailType: aws.String(env.DetailType), Detail: aws.String(string(b))}
	}, func(body []byte) string {
		var ev struct {
			Detail struct {
				RequestID string `json:"requestID"`
			} `json:"detail"`
		}
		_ = json.Unmarshal(body, &ev)
		return ev.Detail.RequestID
	})
	for i, p := range probes {
		if n := arrived[fmt.Sprintf("probe-%d", i)]; (n == 1) != p.want || n > 1 {
			d.t.Errorf("a PutBucketPolicy call by %s reached the function %d times through the CloudTrail rules, want %v", p.name, n, p.want)
		}
	}
}

// sendProbes puts patterns on rules of a bus of their own with a queue as
// target (the module's rules never see the probes), sends n events and
// counts the arrivals by the id each message yields.
func (d *deployment) sendProbes(bus string, patterns []string, n int, entry func(int) ebtypes.PutEventsRequestEntry, id func([]byte) string) map[string]int {
	cfg := d.srv.AWSConfig()
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	_, err := eb.CreateEventBus(d.ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)})
	d.must("a probe event bus", err)
	queue, err := q.CreateQueue(d.ctx, &sqs.CreateQueueInput{QueueName: aws.String(bus)})
	d.must("a probe queue", err)
	qa, err := q.GetQueueAttributes(d.ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	d.must("the probe queue", err)
	for i, p := range patterns {
		rule := fmt.Sprintf("%s-%d", bus, i)
		_, err := eb.PutRule(d.ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus), EventPattern: aws.String(p)})
		d.must("a probe rule", err)
		_, err = eb.PutTargets(d.ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(bus),
			Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(qa.Attributes["QueueArn"])}}})
		d.must("a probe target", err)
	}
	for start := 0; start < n; start += 10 {
		var entries []ebtypes.PutEventsRequestEntry
		for i := start; i < min(start+10, n); i++ {
			e := entry(i)
			e.EventBusName = aws.String(bus)
			entries = append(entries, e)
		}
		out, err := eb.PutEvents(d.ctx, &eventbridge.PutEventsInput{Entries: entries})
		d.must("sample events", err)
		if out.FailedEntryCount != 0 {
			d.t.Fatalf("%d sample events not accepted: %+v", out.FailedEntryCount, out.Entries)
		}
	}
	arrived := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := q.ReceiveMessage(d.ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		d.must("the probe queue's messages", err)
		for _, m := range msgs.Messages {
			arrived[id([]byte(aws.ToString(m.Body)))]++
		}
		if len(msgs.Messages) == 0 || time.Now().After(deadline) {
			break
		}
	}
	return arrived
}

// trailDesc is a trail as DescribeTrails returns it.
type trailDesc struct {
	Name, TrailARN, S3BucketName, KmsKeyId, HomeRegion                       string
	IsMultiRegionTrail, LogFileValidationEnabled, IncludeGlobalServiceEvents bool
}

func (d *deployment) trails() []trailDesc {
	var out struct{ TrailList []trailDesc }
	d.must("the trails", d.raw.cloudTrail(d, "DescribeTrails", map[string]any{}, &out))
	return out.TrailList
}

// checkTrail: with create_trail, one multi-region trail with log file
// validation, logging write management events, encrypted with the
// module's key into the module's trail bucket, whose policy and the key's
// let CloudTrail write and encrypt for this trail; without it, no trail.
func (d *deployment) checkTrail() {
	trails := d.trails()
	arn := ""
	if _, ok := d.outputs["trail_arn"]; ok { // Terraform leaves null outputs out
		arn = d.output("trail_arn")
	}
	if !d.in.boolean("create_trail") {
		if len(trails) != 0 || arn != "" {
			d.t.Errorf("create_trail is false, yet trails %+v (output %q)", trails, arn)
		}
		return
	}
	if len(trails) != 1 {
		d.t.Fatalf("trails %+v, want the module's", trails)
	}
	tr := trails[0]
	buckets := d.state.attr("aws_s3_bucket", "bucket")
	if tr.TrailARN != arn || !tr.IsMultiRegionTrail || !tr.LogFileValidationEnabled || !tr.IncludeGlobalServiceEvents ||
		tr.KmsKeyId != d.keyArn || !slices.Contains(buckets, tr.S3BucketName) {
		d.t.Errorf("trail %+v: want %s, multi-region, with log file validation and global service events, encrypted with %s into a bucket of the module", tr, arn, d.keyArn)
	}
	var status struct{ IsLogging bool }
	d.must("the trail's status", d.raw.cloudTrail(d, "GetTrailStatus", map[string]string{"Name": arn}, &status))
	if !status.IsLogging {
		d.t.Errorf("trail %s is not logging", arn)
	}
	var sel struct {
		EventSelectors []struct {
			ReadWriteType           string
			IncludeManagementEvents bool
			DataResources           []any
		}
		AdvancedEventSelectors []any
	}
	d.must("the trail's event selectors", d.raw.cloudTrail(d, "GetEventSelectors", map[string]string{"TrailName": arn}, &sel))
	if len(sel.EventSelectors) != 1 || sel.EventSelectors[0].ReadWriteType != "WriteOnly" || !sel.EventSelectors[0].IncludeManagementEvents ||
		len(sel.EventSelectors[0].DataResources) != 0 || len(sel.AdvancedEventSelectors) != 0 {
		d.t.Errorf("trail %s logs %+v, want write management events only", arn, sel)
	}
	s := s3.NewFromConfig(d.srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	pol, err := s.GetBucketPolicy(d.ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(tr.S3BucketName)})
	d.must("the trail bucket's policy", err)
	if p := aws.ToString(pol.Policy); !strings.Contains(p, "cloudtrail.amazonaws.com") || !strings.Contains(p, `"`+arn+`"`) {
		d.t.Errorf("the trail bucket's policy does not let %s write: %s", arn, p)
	}
	var key struct{ Policy string }
	d.must("the key policy", d.raw.kms(d.ctx, "GetKeyPolicy", map[string]string{"KeyId": d.keyArn, "PolicyName": "default"}, &key))
	if !strings.Contains(key.Policy, "cloudtrail.amazonaws.com") || !strings.Contains(key.Policy, `"`+arn+`"`) {
		d.t.Errorf("the key policy does not let %s encrypt: %s", arn, key.Policy)
	}
}

// checkFastPathDestroyed: no state table and no trail left.
func (d *deployment) checkFastPathDestroyed() {
	tables, err := dynamodb.NewFromConfig(d.srv.AWSConfig()).ListTables(d.ctx, &dynamodb.ListTablesInput{})
	d.must("the tables", err)
	if len(tables.TableNames) != 0 {
		d.t.Errorf("tables left after destroy: %q", tables.TableNames)
	}
	if trails := d.trails(); len(trails) != 0 {
		d.t.Errorf("trails left after destroy: %+v", trails)
	}
}

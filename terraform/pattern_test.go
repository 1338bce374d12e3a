package terraform

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// testEvent is an event to send through the bus, with the tag that
// identifies it when it arrives.
type testEvent struct {
	name                   string
	source, detailType     string
	detail                 json.RawMessage
	rule, messageType, typ string // from the detail, for the oracle
}

// fixtureEvents reads events/testdata plus a few events the pattern must
// reject whatever the rule names: another source, another message type.
func fixtureEvents(t *testing.T) []testEvent {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "events", "testdata", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in ../events/testdata (%v)", err)
	}
	var out []testEvent
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, newTestEvent(t, strings.TrimSuffix(filepath.Base(p), ".json"), e.Source, e.DetailType, e.Detail))
	}
	// Variations of a matching fixture that must not match.
	base := out[slices.IndexFunc(out, func(e testEvent) bool { return e.name == "s3-public-read-noncompliant" })]
	out = append(out,
		newTestEvent(t, "other-source", "com.example.config", base.detailType, base.detail),
		newTestEvent(t, "other-detail-type", base.source, "Config Configuration Item Change", base.detail),
		newTestEvent(t, "other-message-type", base.source, base.detailType, setDetail(t, base.detail, "messageType", "OversizedConfigurationItemChangeNotification")),
		newTestEvent(t, "securityhub-lookalike", base.source, base.detailType, setDetail(t, base.detail, "configRuleName", "securityhub-s3-bucket-public-read-prohibited")),
		newTestEvent(t, "rule-name-extended", base.source, base.detailType, setDetail(t, base.detail, "configRuleName", "s3-bucket-public-read-prohibited-copy")),
	)
	// Rule names deployed by others, and lookalikes.
	for name, rule := range map[string]string{
		"controltower-public-read":     "AWSControlTower_AWS-GR_S3_BUCKET_PUBLIC_READ_PROHIBITED",
		"controltower-restricted-ssh":  "AWSControlTower_AWS-GR_RESTRICTED_SSH", // its name, not its identifier
		"controltower-unhandled":       "AWSControlTower_AWS-GR_RESTRICTED_ROOT_ACCOUNT_ACCESS",
		"controltower-extended":        "AWSControlTower_AWS-GR_S3_BUCKET_PUBLIC_READ_PROHIBITED_V2",
		"conformance-pack-public-read": "s3-bucket-public-read-prohibited-conformance-pack-k3x9q2w1",
		"conformance-pack-inside":      "corp-s3-bucket-public-read-prohibited-conformance-pack-k3x9q2w1",
		"conformance-pack-no-dash":     "s3-bucket-public-read-prohibited-conformance-packk3x9q2w1",
		// AWS Config organisation rules in a member account
		"org-rule-public-read":   "OrgConfigRule-s3-bucket-public-read-prohibited-dbgzf8ba",
		"org-rule-other-name":    "OrgConfigRule-corp-s3-bucket-public-read-prohibited-dbgzf8ba",
		"org-rule-no-suffix":     "OrgConfigRule-s3-bucket-public-read-prohibited",
		"org-rule-lower-case":    "orgconfigrule-s3-bucket-public-read-prohibited-dbgzf8ba",
		"org-rule-name-extended": "OrgConfigRule-s3-bucket-public-read-prohibitedx-dbgzf8ba",
	} {
		out = append(out, newTestEvent(t, name, base.source, base.detailType, setDetail(t, base.detail, "configRuleName", rule)))
	}
	return out
}

func newTestEvent(t *testing.T, name, source, detailType string, detail json.RawMessage) testEvent {
	t.Helper()
	var d struct {
		ConfigRuleName      string `json:"configRuleName"`
		MessageType         string `json:"messageType"`
		NewEvaluationResult struct {
			ComplianceType string `json:"complianceType"`
		} `json:"newEvaluationResult"`
	}
	if err := json.Unmarshal(detail, &d); err != nil {
		t.Fatalf("%s: detail: %v", name, err)
	}
	return testEvent{name: name, source: source, detailType: detailType, detail: detail,
		rule: d.ConfigRuleName, messageType: d.MessageType, typ: d.NewEvaluationResult.ComplianceType}
}

func setDetail(t *testing.T, detail json.RawMessage, key, value string) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(detail, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shouldMatch is the oracle, written from the issue rather than from the
// patterns: AWS Config compliance changes to NON_COMPLIANT for exactly the
// deployed rule names, or, for the generated managed rules, a name Security
// Hub (securityhub-<rule>-<suffix>), a conformance pack
// (<rule>-conformance-pack-<suffix>) or an organisation rule named after it
// (OrgConfigRule-<rule>-<suffix> in a member account) gives it, or a
// Control Tower name (AWSControlTower_AWS-GR_...) the handler's resolver
// recognises as one of them.
func shouldMatch(e testEvent, deployed, generated []string) bool {
	if e.source != "aws.config" || e.detailType != "Config Rules Compliance Change" ||
		e.messageType != "ComplianceChangeNotification" || e.typ != "NON_COMPLIANT" {
		return false
	}
	if slices.Contains(deployed, e.rule) {
		return true
	}
	for _, m := range generated {
		if strings.HasPrefix(e.rule, "securityhub-"+m+"-") || strings.HasPrefix(e.rule, m+"-conformance-pack-") ||
			strings.HasPrefix(e.rule, "OrgConfigRule-"+m+"-") {
			return true
		}
	}
	if strings.HasPrefix(e.rule, "AWSControlTower_AWS-GR_") {
		_, managed, ok := remediation.NewRuleResolver(remediators.Catalog(remediators.Definitions()), nil).Resolve(e.rule)
		return ok && slices.Contains(generated, managed)
	}
	return false
}

// deliver puts each pattern on a fresh rule of the emulator's default bus,
// all with one SQS queue as target, sends every event and returns the
// names of the events that reached the queue (an event delivered twice is
// listed twice).
func deliver(t *testing.T, ctx context.Context, srv *emulator.Server, id string, patterns map[string][]byte, events []testEvent) []string {
	t.Helper()
	cfg := srv.AWSConfig()
	eb, sq := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("pattern-" + id)})
	if err != nil {
		t.Fatalf("creating queue: %v", err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading queue ARN: %v", err)
	}
	for kind, pattern := range patterns {
		rule := "remediate-" + id + "-" + kind
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventPattern: aws.String(string(pattern))}); err != nil {
			t.Fatalf("putting rule with the production pattern: %v\n%s", err, pattern)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
			t.Fatalf("putting SQS target: %v", err)
		}
		defer func() {
			_, _ = eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), Ids: []string{"queue"}})
			_, _ = eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rule)})
		}()
	}
	for _, e := range events {
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source:     aws.String(e.source),
			DetailType: aws.String(e.detailType),
			Detail:     aws.String(string(e.detail)),
			// The name travels in resources, which the pattern ignores.
			Resources: []string{"urn:test:" + e.name},
		}}})
		if err != nil || out.FailedEntryCount > 0 {
			t.Fatalf("putting event %s: %v %+v", e.name, err, out)
		}
	}
	var got []string
	for {
		msgs, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatalf("receiving: %v", err)
		}
		if len(msgs.Messages) == 0 {
			break
		}
		for _, m := range msgs.Messages {
			var ev struct {
				Resources []string `json:"resources"`
			}
			if err := json.Unmarshal([]byte(*m.Body), &ev); err != nil || len(ev.Resources) != 1 {
				t.Fatalf("unexpected message %q: %v", *m.Body, err)
			}
			got = append(got, strings.TrimPrefix(ev.Resources[0], "urn:test:"))
			if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("deleting message: %v", err)
			}
		}
	}
	sort.Strings(got)
	return got
}

// TestEventPatternOnEmulator sends every fixture through moto's EventBridge
// with the production patterns, one rule each: exactly the NON_COMPLIANT
// events of the deployed rules (and of the rules Security Hub, conformance
// packs and Control Tower deployed, when that is on) arrive, each once.
// moto 5.2.1 evaluates the operators the patterns use (exact strings and
// "prefix") as AWS does.
func TestEventPatternOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	events := fixtureEvents(t)
	deployed := DefaultRuleNames()
	publicWrite := "s3-bucket-public-write-prohibited"

	cases := []struct {
		name       string
		deployed   []string
		generated  []string // managed rules whose generated names are matched
		mustArrive []string
		mustNot    []string
	}{
		{"default", deployed, deployed,
			[]string{"s3-public-read-noncompliant", "s3-public-write-securityhub-noncompliant", "ec2-imdsv2-noncompliant",
				"s3-kms-conformance-pack-noncompliant", "conformance-pack-public-read", "controltower-public-read", "controltower-restricted-ssh",
				"org-rule-public-read", "ec2-imdsv2-org-config-rule-noncompliant"},
			[]string{"s3-public-read-compliant", "s3-public-read-not-applicable", "unknown-rule-noncompliant", "other-source", "securityhub-lookalike",
				"rule-name-extended", "controltower-unhandled", "controltower-extended", "conformance-pack-inside", "conformance-pack-no-dash",
				"org-rule-other-name", "org-rule-no-suffix", "org-rule-lower-case", "org-rule-name-extended"}},
		{"without-generated-names", deployed, nil,
			[]string{"s3-public-read-noncompliant"},
			[]string{"s3-public-write-securityhub-noncompliant", "s3-kms-conformance-pack-noncompliant", "controltower-public-read",
				"org-rule-public-read", "ec2-imdsv2-org-config-rule-noncompliant"}},
		{"only-imds-rule", []string{"ec2-imdsv2-check"}, []string{publicWrite},
			[]string{"ec2-imdsv2-noncompliant", "s3-public-write-securityhub-noncompliant"},
			[]string{"s3-public-read-noncompliant", "s3-sse-noncompliant", "controltower-public-read", "conformance-pack-public-read",
				"org-rule-public-read", "ec2-imdsv2-org-config-rule-noncompliant"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var generated []remediation.ManagedRule
			for _, r := range rulesOf(remediators.Catalog(remediators.Definitions()).Names()...) {
				if slices.Contains(tc.generated, r.Name) {
					generated = append(generated, r)
				}
			}
			patterns, err := EventPatterns(tc.deployed, generated)
			if err != nil {
				t.Fatal(err)
			}
			got := deliver(t, ctx, srv, fmt.Sprint(i), patterns, events)
			var want []string
			for _, e := range events {
				if shouldMatch(e, tc.deployed, tc.generated) {
					want = append(want, e.name)
				}
			}
			sort.Strings(want)
			checkDelivered(t, got, want, tc.mustArrive, tc.mustNot, patterns)
		})
	}

	// A pattern that lost its complianceType filter lets COMPLIANT events
	// through: the comparison above notices.
	t.Run("mutation-is-caught", func(t *testing.T) {
		mutated := strings.Replace(EventPatternTemplate, `"complianceType": ["NON_COMPLIANT"]`, `"complianceType": [{"exists": true}]`, 1)
		if mutated == EventPatternTemplate {
			t.Fatal("the pattern template no longer has the complianceType filter: update the mutation")
		}
		list, _ := json.Marshal(deployed)
		pattern, err := Render(mutated, map[string]string{"config_rule_names": string(list)})
		if err != nil {
			t.Fatal(err)
		}
		got := deliver(t, ctx, srv, "mutated", map[string][]byte{KindDeployed: pattern}, events)
		if !slices.Contains(got, "s3-public-read-compliant") {
			t.Errorf("the mutated pattern should deliver the COMPLIANT fixture; got %v", got)
		}
	})

	// The single pattern the demo uses delivers what the production rules
	// deliver together.
	t.Run("demo-pattern", func(t *testing.T) {
		one, err := EventPattern(deployed, true)
		if err != nil {
			t.Fatal(err)
		}
		got := deliver(t, ctx, srv, "demo", map[string][]byte{"all": one}, events)
		var want []string
		for _, e := range events {
			if shouldMatch(e, deployed, deployed) {
				want = append(want, e.name)
			}
		}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("delivered %v\nwant      %v", got, want)
		}
	})
}

// TestTerraformUsesPatternFile: each EventBridge rule's pattern is the
// template file Go renders, filled with one kind's matchers.
func TestTerraformUsesPatternFile(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	rule := m.block(t, "resource", "aws_cloudwatch_event_rule", "compliance_change")
	if refs := referencedLocals(rule.Body.Attributes["for_each"].Expr); !slices.Equal(refs, []string{"event_patterns"}) {
		t.Errorf("aws_cloudwatch_event_rule.compliance_change has one instance per %v, want local.event_patterns", refs)
	}
	if got := rule.Body.Attributes["event_pattern"].Expr.Variables(); len(got) != 1 || got[0].RootName() != "each" {
		t.Errorf("aws_cloudwatch_event_rule.compliance_change.event_pattern is not each.value")
	}
	var call *hclsyntax.FunctionCallExpr
	hclsyntax.VisitAll(m.local(t, "event_patterns"), func(n hclsyntax.Node) hcl.Diagnostics {
		if c, ok := n.(*hclsyntax.FunctionCallExpr); ok && c.Name == "templatefile" {
			call = c
		}
		return nil
	})
	if call == nil {
		t.Fatal("local.event_patterns does not call templatefile")
	}
	path, diags := call.Args[0].(*hclsyntax.TemplateExpr).Parts[1].Value(nil)
	if diags.HasErrors() || path.AsString() != "/templates/event_pattern.json.tftpl" {
		t.Errorf("local.event_patterns renders %v, want ${path.module}/templates/event_pattern.json.tftpl", path)
	}
	vars := objectItems(t, "templatefile variables", call.Args[1])
	if d := sameSet(sortedKeys(vars), TemplateVariables(EventPatternTemplate)); d != "" {
		t.Errorf("event pattern template variables: %s", d)
	}
	// The patterns themselves: TestTerraformPatternsEqualGo.
}

// TestEventRulesShareTheirTarget: every EventBridge rule of the module
// (Config's and CloudTrail's) is in local.event_rules, and each of those
// invokes the remediate function through a target and a Lambda permission
// of its own (the same target resource for all, so the same retries and
// dead-letter queue), and the dead-letter queue accepts the events of every
// rule.
func TestEventRulesShareTheirTarget(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	var rules []string
	for _, b := range m.blocks("resource", "aws_cloudwatch_event_rule") {
		rules = append(rules, b.Labels[1])
	}
	var merged []string
	for _, tr := range m.local(t, "event_rules").Variables() {
		if a, ok := tr[1].(hcl.TraverseAttr); ok && tr.RootName() == "aws_cloudwatch_event_rule" {
			merged = append(merged, a.Name)
		}
	}
	if len(rules) < 2 {
		t.Fatalf("EventBridge rule resources %v: want Config's and CloudTrail's", rules)
	}
	if d := sameSet(merged, rules); d != "" {
		t.Errorf("local.event_rules vs the aws_cloudwatch_event_rule resources (\"in Terraform\" = merged into local.event_rules): %s", d)
	}
	for _, typ := range []string{"aws_cloudwatch_event_target", "aws_lambda_permission"} {
		bs := m.blocks("resource", typ)
		if len(bs) != 1 {
			t.Errorf("%d %s resources, want one for every rule", len(bs), typ)
		}
		for _, b := range bs {
			fe, ok := b.Body.Attributes["for_each"]
			if !ok || !slices.Equal(referencedLocals(fe.Expr), []string{"event_rules"}) {
				t.Errorf("%s.%s is not one per local.event_rules", typ, b.Labels[1])
			}
		}
	}
	e := newEval(t, m, nil)
	dlq := m.block(t, "data", "aws_iam_policy_document", "dead_letters")
	found := false
	for _, s := range dlq.Body.Blocks {
		for _, c := range s.Body.Blocks {
			if v, _ := e.attr(c.Body, "variable", nil); c.Type != "condition" || v.AsString() != "aws:SourceArn" {
				continue
			}
			found = true
			fe, ok := c.Body.Attributes["values"].Expr.(*hclsyntax.ForExpr)
			if !ok || fe.ValExpr == nil || !strings.HasSuffix(m.source(t, fe.ValExpr.Range()), ".arn") ||
				m.source(t, fe.CollExpr.Range()) != "local.event_rules" {
				t.Errorf("the dead-letter queue accepts %s, want [for r in local.event_rules : r.arn]", m.source(t, c.Body.Attributes["values"].Expr.Range()))
			}
		}
	}
	if !found {
		t.Error("the dead-letter queue's policy has no aws:SourceArn condition")
	}
}

// checkDelivered compares the events the emulator delivered with the
// oracle's list of those that should arrive, and checks that the oracle is
// not vacuous: the events a case names must (not) be in its list.
func checkDelivered(t *testing.T, got, want, mustArrive, mustNot []string, patterns any) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v\nwant      %v\npatterns %s", got, want, patterns)
	}
	for _, n := range mustArrive {
		if !slices.Contains(want, n) {
			t.Errorf("oracle: %s should arrive", n)
		}
	}
	for _, n := range mustNot {
		if slices.Contains(want, n) {
			t.Errorf("oracle: %s should not arrive", n)
		}
	}
}

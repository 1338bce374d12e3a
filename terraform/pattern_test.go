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
// pattern: AWS Config compliance changes to NON_COMPLIANT for exactly the
// deployed rule names, or a securityhub-<managed rule>-<suffix> name.
func shouldMatch(e testEvent, deployed, securityHub []string) bool {
	if e.source != "aws.config" || e.detailType != "Config Rules Compliance Change" ||
		e.messageType != "ComplianceChangeNotification" || e.typ != "NON_COMPLIANT" {
		return false
	}
	if slices.Contains(deployed, e.rule) {
		return true
	}
	for _, m := range securityHub {
		if p := "securityhub-" + m + "-"; strings.HasPrefix(e.rule, p) && len(e.rule) > len(p) {
			return true
		}
	}
	return false
}

// bus is an EventBridge rule with an SQS target on the emulator.
type bus struct {
	eb       *eventbridge.Client
	sqs      *sqs.Client
	queueURL string
}

// deliver puts pattern on a fresh rule of the emulator's default bus with an
// SQS queue as target, sends every event and returns the names of the events
// that reached the queue.
func deliver(t *testing.T, ctx context.Context, srv *emulator.Server, id string, pattern []byte, events []testEvent) []string {
	t.Helper()
	cfg := srv.AWSConfig()
	b := bus{eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	q, err := b.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("pattern-" + id)})
	if err != nil {
		t.Fatalf("creating queue: %v", err)
	}
	b.queueURL = *q.QueueUrl
	attrs, err := b.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading queue ARN: %v", err)
	}
	rule := "remediate-" + id
	if _, err := b.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventPattern: aws.String(string(pattern))}); err != nil {
		t.Fatalf("putting rule with the production pattern: %v\n%s", err, pattern)
	}
	if _, err := b.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
		t.Fatalf("putting SQS target: %v", err)
	}
	defer func() {
		_, _ = b.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), Ids: []string{"queue"}})
		_, _ = b.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rule)})
	}()
	for _, e := range events {
		out, err := b.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
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
		msgs, err := b.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
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
			if _, err := b.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("deleting message: %v", err)
			}
		}
	}
	sort.Strings(got)
	return got
}

// TestEventPatternOnEmulator sends every fixture through moto's EventBridge
// with the production pattern: exactly the NON_COMPLIANT events of the
// deployed rules (and of Security Hub's rules when that is on) arrive.
// moto 5.2.1 evaluates the operators the pattern uses (exact strings and
// "prefix") as AWS does.
func TestEventPatternOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	events := fixtureEvents(t)
	deployed := DefaultRuleNames()

	cases := []struct {
		name        string
		deployed    []string
		securityHub []string
		mustArrive  []string
		mustNot     []string
	}{
		{"default", deployed, deployed,
			[]string{"s3-public-read-noncompliant", "s3-public-write-securityhub-noncompliant", "ec2-imdsv2-noncompliant"},
			// Conformance packs name their rules <managed>-conformance-pack-<id>:
			// not deployed by the module, so not matched (RULE_MAP and
			// rule_map add such names).
			[]string{"s3-public-read-compliant", "s3-public-read-not-applicable", "unknown-rule-noncompliant", "s3-kms-conformance-pack-noncompliant", "other-source", "securityhub-lookalike"}},
		{"without-security-hub", deployed, nil,
			[]string{"s3-public-read-noncompliant"},
			[]string{"s3-public-write-securityhub-noncompliant"}},
		{"only-imds-rule", []string{"ec2-imdsv2-check"}, []string{"s3-bucket-public-write-prohibited"},
			[]string{"ec2-imdsv2-noncompliant", "s3-public-write-securityhub-noncompliant"},
			[]string{"s3-public-read-noncompliant", "s3-sse-noncompliant"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pattern, err := EventPatternFor(tc.deployed, tc.securityHub)
			if err != nil {
				t.Fatal(err)
			}
			got := deliver(t, ctx, srv, fmt.Sprint(i), pattern, events)
			var want []string
			for _, e := range events {
				if shouldMatch(e, tc.deployed, tc.securityHub) {
					want = append(want, e.name)
				}
			}
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("delivered %v\nwant      %v\npattern %s", got, want, pattern)
			}
			// The oracle itself is not vacuous.
			for _, n := range tc.mustArrive {
				if !slices.Contains(want, n) {
					t.Errorf("oracle: %s should arrive", n)
				}
			}
			for _, n := range tc.mustNot {
				if slices.Contains(want, n) {
					t.Errorf("oracle: %s should not arrive", n)
				}
			}
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
		got := deliver(t, ctx, srv, "mutated", pattern, events)
		if !slices.Contains(got, "s3-public-read-compliant") {
			t.Errorf("the mutated pattern should deliver the COMPLIANT fixture; got %v", got)
		}
	})
}

// TestTerraformUsesPatternFile: the EventBridge rule's pattern is the
// template file Go renders, filled with local.rule_name_matchers.
func TestTerraformUsesPatternFile(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	rule := m.block(t, "resource", "aws_cloudwatch_event_rule", "compliance_change")
	if refs := referencedLocals(rule.Body.Attributes["event_pattern"].Expr); !slices.Equal(refs, []string{"event_pattern"}) {
		t.Errorf("aws_cloudwatch_event_rule.compliance_change.event_pattern uses %v, want local.event_pattern", refs)
	}
	var call *hclsyntax.FunctionCallExpr
	hclsyntax.VisitAll(m.local(t, "event_pattern"), func(n hclsyntax.Node) hcl.Diagnostics {
		if c, ok := n.(*hclsyntax.FunctionCallExpr); ok && c.Name == "templatefile" {
			call = c
		}
		return nil
	})
	if call == nil {
		t.Fatal("local.event_pattern does not call templatefile")
	}
	path, diags := call.Args[0].(*hclsyntax.TemplateExpr).Parts[1].Value(nil)
	if diags.HasErrors() || path.AsString() != "/templates/event_pattern.json.tftpl" {
		t.Errorf("local.event_pattern renders %v, want ${path.module}/templates/event_pattern.json.tftpl", path)
	}
	vars := objectItems(t, "templatefile variables", call.Args[1])
	if d := sameSet(sortedKeys(vars), TemplateVariables(EventPatternTemplate)); d != "" {
		t.Errorf("event pattern template variables: %s", d)
	}
	if refs := referencedLocals(vars["config_rule_names"]); !slices.Equal(refs, []string{"rule_name_matchers"}) {
		t.Errorf("config_rule_names is built from %v, want local.rule_name_matchers", refs)
	}
	// The matchers themselves: TestTerraformMatchersEqualGo.
}

func TestEventPatternShape(t *testing.T) {
	p, err := EventPattern([]string{"b-rule", "a-rule"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Source     []string `json:"source"`
		DetailType []string `json:"detail-type"`
		Detail     struct {
			MessageType    []string `json:"messageType"`
			ConfigRuleName []any    `json:"configRuleName"`
			New            struct {
				ComplianceType []string `json:"complianceType"`
			} `json:"newEvaluationResult"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(p, &v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v.Detail.ConfigRuleName)
	want := `["b-rule","a-rule",{"prefix":"securityhub-b-rule-"},{"prefix":"securityhub-a-rule-"}]`
	if string(got) != want || !slices.Equal(v.Source, []string{"aws.config"}) ||
		!slices.Equal(v.Detail.New.ComplianceType, []string{"NON_COMPLIANT"}) ||
		!slices.Equal(v.Detail.MessageType, []string{"ComplianceChangeNotification"}) ||
		!slices.Equal(v.DetailType, []string{"Config Rules Compliance Change"}) {
		t.Errorf("pattern %s", p)
	}
	if _, err := EventPattern(nil, true); err == nil {
		t.Error("an empty rule list rendered a pattern that matches no rule name")
	}
}

package sweep_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/sweep"
)

// queueRemediator is a throwaway remediator: it fixes "queues" and records
// what it was asked.
type queueRemediator struct{ seen []remediation.Request }

func (q *queueRemediator) Name() string            { return "sqs-queue-encryption" }
func (q *queueRemediator) ResourceTypes() []string { return []string{"AWS::SQS::Queue"} }
func (q *queueRemediator) Remediate(_ context.Context, req remediation.Request) remediation.Result {
	q.seen = append(q.seen, req)
	return remediation.Result{Action: remediation.ActionRemediated, Reason: "encrypted"}
}

// A sixth remediator needs its definition and one registry line: this test
// defines one here and checks that settings, the registry, the rule
// resolver, the event handler, the sweep, the permission lists and the
// generated Terraform inputs all pick it up with no other change.
func TestThrowawayDefinitionIsPickedUpEverywhere(t *testing.T) {
	rem := &queueRemediator{}
	throwaway := remediators.Definition{
		Spec: remediation.Spec{
			Name:          "sqs-queue-encryption",
			Aliases:       []string{"sqs-sse"},
			Summary:       "Turns on server-side encryption of the queue.",
			ResourceTypes: []string{"AWS::SQS::Queue"},
			Rules:         []remediation.ManagedRule{{Name: "sqs-queue-encrypted", Identifier: "SQS_QUEUE_ENCRYPTED", ResourceTypes: []string{"AWS::SQS::Queue"}}},
			Controls:      []string{"SQS.1"},
			Triggers:      []remediation.APICall{{Source: "sqs.amazonaws.com", Name: "SetQueueAttributes"}},
			Permissions: []remediation.Permission{{Sid: "SQSQueueEncryption", Actions: []string{"sqs:GetQueueAttributes", "sqs:SetQueueAttributes"},
				Resources: []string{"arn:{partition}:sqs:{region}:{account}:*"}}},
		},
		Sweep: []remediators.SweepCheck{{Rule: "sqs-queue-encrypted", Lister: remediators.Lister{
			Key: "sqs-queues", ResourceType: "AWS::SQS::Queue",
			Permissions: []remediation.Permission{{Sid: "SweepListQueues", Actions: []string{"sqs:ListQueues"}, Resources: []string{"*"}}},
			List: func(context.Context, remediators.Clients, string, string) ([]string, error) {
				return []string{"https://sqs.us-east-1.amazonaws.com/123456789012/orders"}, nil
			},
		}}},
		New: func(remediators.Clients, remediators.Options) remediation.Remediator { return rem },
	}
	defs := append(remediators.Definitions(), throwaway)

	// settings: its name and alias are known
	cfg, err := app.LoadWith(func(k string) string {
		return map[string]string{"ENABLED_REMEDIATORS": "sqs-sse", "REMEDIATOR_MODES": "sqs-queue-encryption=enforce", "METRICS_MODE": "off"}[k]
	}, defs)
	if err != nil {
		t.Fatalf("settings do not know the new remediator: %v", err)
	}
	// the registry and the resolver (a Security Hub generated name too)
	h, err := app.NewHandler(cfg, app.NewClients(aws.Config{Region: "us-east-1"}), app.NewLogger(io.Discard, slog.LevelError))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Registry.Names(); !slices.Equal(got, []string{"sqs-queue-encryption"}) {
		t.Errorf("registry = %v", got)
	}
	// Its own account only, without asking STS (or assuming member roles)
	// which account that is.
	h.Scopes, h.OwnAccount = nil, func(context.Context) (string, error) { return "123456789012", nil }
	if rem, managed, ok := h.Rules.Resolve("securityhub-sqs-queue-encrypted-1a2b3c"); !ok || rem != "sqs-queue-encryption" || managed != "sqs-queue-encrypted" {
		t.Errorf("resolver: %q %q %t", rem, managed, ok)
	}
	// the event path
	ev := `{"version":"0","id":"e1","detail-type":"Config Rules Compliance Change","source":"aws.config","account":"123456789012",
	  "time":"2026-11-20T09:14:05Z","region":"us-east-1","resources":[],"detail":{"resourceId":"orders","awsRegion":"us-east-1",
	  "awsAccountId":"123456789012","configRuleName":"sqs-queue-encrypted","messageType":"ComplianceChangeNotification",
	  "resourceType":"AWS::SQS::Queue","newEvaluationResult":{"complianceType":"NON_COMPLIANT"}}}`
	if o, err := h.Handle(context.Background(), json.RawMessage(ev)); err != nil || o.Action != remediation.ActionRemediated || o.Remediator != "sqs-queue-encryption" {
		t.Errorf("event: %s %s %v", o.Remediator, o.Action, err)
	}
	// the sweep
	sw := &sweep.Sweeper{Definitions: defs, Account: "123456789012", Region: "us-east-1", Handler: h}
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 1 || rep.Outcomes[0].Rule != "sqs-queue-encrypted" || !strings.HasSuffix(rep.Outcomes[0].ResourceID, "/orders") {
		t.Errorf("sweep outcomes %+v", rep.Outcomes)
	}
	if len(rem.seen) != 2 {
		t.Errorf("the remediator saw %d requests, want the event's and the sweep's", len(rem.seen))
	}
	// the permission lists
	if got := remediators.Permissions(defs)["sqs-queue-encryption"]; len(got) != 1 || got[0].Sid != "SQSQueueEncryption" {
		t.Errorf("remediator permissions %+v", got)
	}
	if !slices.Contains(remediation.PermissionActions(sweep.Permissions(defs)), "sqs:ListQueues") {
		t.Errorf("sweep permissions lack the new listing: %v", remediation.PermissionActions(sweep.Permissions(defs)))
	}
	// the generated Terraform inputs
	b, err := remediators.TerraformInputs(defs)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Names        []string `json:"names"`
		ManagedRules map[string]struct {
			Remediator, Identifier string
		} `json:"managed_rules"`
		Remediators map[string]struct {
			Controls    []string                     `json:"controls"`
			Permissions map[string][]json.RawMessage `json:"permissions"`
		} `json:"remediators"`
		SweepPermissions []struct{ Actions []string } `json:"sweep_permissions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	r := doc.Remediators["sqs-queue-encryption"]
	if !slices.Contains(doc.Names, "sqs-queue-encryption") || doc.ManagedRules["sqs-queue-encrypted"].Identifier != "SQS_QUEUE_ENCRYPTED" ||
		!slices.Equal(r.Controls, []string{"SQS.1"}) || len(r.Permissions["patterns"]) != 1 {
		t.Errorf("generated inputs: %s", b)
	}
	listed := false
	for _, p := range doc.SweepPermissions {
		listed = listed || slices.Contains(p.Actions, "sqs:ListQueues")
	}
	if !listed {
		t.Error("generated sweep permissions lack the new listing")
	}
}

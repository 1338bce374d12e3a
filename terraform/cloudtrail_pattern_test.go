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

	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// ctEvent is a CloudTrail event to send through the bus, with its whole
// envelope, which the oracle parses as the handler does.
type ctEvent struct {
	testEvent
	raw []byte
}

// Principals of the variations below, besides the fixtures' own (role
// Admin, role ci/deploy of another account, IAM user Mateo, root).
const (
	ctAutomationUser = "arn:aws:iam::123456789012:user/ci-bot"
	ctAutomationRole = "arn:aws:iam::123456789012:role/automation/terraform-apply"
)

func newCTEvent(t *testing.T, name string, env map[string]any) ctEvent {
	t.Helper()
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	detail, err := json.Marshal(env["detail"])
	if err != nil {
		t.Fatal(err)
	}
	src, _ := env["source"].(string)
	dt, _ := env["detail-type"].(string)
	return ctEvent{testEvent: testEvent{name: name, source: src, detailType: dt, detail: detail}, raw: raw}
}

// assumedRole is the userIdentity of a call made with a session of role
// (an IAM role ARN, path included).
func assumedRole(role, session string) map[string]any {
	name := role[strings.LastIndexByte(role, '/')+1:]
	acct := strings.Split(role, ":")[4]
	return map[string]any{
		"type": "AssumedRole", "principalId": "AROAEXAMPLEROLE00001:" + session,
		"arn":       "arn:aws:sts::" + acct + ":assumed-role/" + name + "/" + session,
		"accountId": acct, "accessKeyId": "ASIAEXAMPLEKEY000001",
		"sessionContext": map[string]any{
			"sessionIssuer":       map[string]any{"type": "Role", "principalId": "AROAEXAMPLEROLE00001", "arn": role, "accountId": acct, "userName": name},
			"webIdFederationData": map[string]any{},
			"attributes":          map[string]any{"creationDate": "2024-05-14T10:00:00Z", "mfaAuthenticated": "false"},
		},
	}
}

// cloudTrailEvents reads events/testdata/cloudtrail and adds variations of
// its fixtures: read-only, failed and unknown calls, the pipeline's own
// roles, the user's other automation, identities without a session issuer
// ARN, another source and another detail type.
func cloudTrailEvents(t *testing.T, pipelineRoles []string) []ctEvent {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "events", "testdata", "cloudtrail", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in ../events/testdata/cloudtrail (%v)", err)
	}
	envs := map[string][]byte{}
	var out []ctEvent
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]any
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		envs[name] = b
		out = append(out, newCTEvent(t, name, env))
	}
	vary := func(from, name string, edit func(env, detail map[string]any)) {
		b, ok := envs[from]
		if !ok {
			t.Fatalf("no fixture %s.json in events/testdata/cloudtrail", from)
		}
		var env map[string]any
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		edit(env, env["detail"].(map[string]any))
		out = append(out, newCTEvent(t, name, env))
	}
	readOnly := func(call string) func(env, d map[string]any) {
		return func(env, d map[string]any) {
			d["eventName"], d["readOnly"], d["responseElements"] = call, true, nil
		}
	}
	vary("s3-put-bucket-policy", "s3-get-bucket-policy-read-only", readOnly("GetBucketPolicy"))
	vary("ec2-run-instances", "ec2-describe-instances-read-only", readOnly("DescribeInstances"))
	vary("ec2-run-instances", "ec2-run-instances-failed", func(env, d map[string]any) {
		d["errorCode"], d["errorMessage"], d["responseElements"] = "Client.UnauthorizedOperation", "You are not authorized to perform this operation.", nil
	})
	for i, role := range pipelineRoles {
		vary([]string{"s3-put-bucket-policy", "ec2-run-instances", "ec2-modify-instance-metadata-options"}[i%3], fmt.Sprintf("pipeline-role-%d", i), func(env, d map[string]any) {
			d["userIdentity"] = assumedRole(role, role[strings.LastIndexByte(role, '/')+1:])
		})
	}
	vary("s3-put-bucket-public-access-block", "pipeline-lookalike-role", func(env, d map[string]any) {
		d["userIdentity"] = assumedRole(pipelineRoles[0]+"-copy", "copy")
	})
	vary("s3-put-bucket-acl", "ignored-automation-user", func(env, d map[string]any) {
		id := d["userIdentity"].(map[string]any)
		id["arn"], id["userName"] = ctAutomationUser, "ci-bot"
	})
	vary("ec2-create-volume", "ignored-automation-role-with-path", func(env, d map[string]any) {
		d["userIdentity"] = assumedRole(ctAutomationRole, "apply-1234")
	})
	// IAM users' calls may carry an empty sessionIssuer (console, or
	// temporary credentials of the user), root's have no issuer ARN either.
	vary("s3-put-bucket-acl", "iam-user-empty-session-issuer", func(env, d map[string]any) {
		d["userIdentity"].(map[string]any)["sessionContext"] = map[string]any{"sessionIssuer": map[string]any{}, "webIdFederationData": map[string]any{},
			"attributes": map[string]any{"creationDate": "2024-05-14T10:00:00Z", "mfaAuthenticated": "true"}}
	})
	vary("ec2-disable-ebs-encryption-by-default", "root-without-session-context", func(env, d map[string]any) {
		delete(d["userIdentity"].(map[string]any), "sessionContext")
	})
	// A call an AWS service made itself: no ARN at all.
	vary("ec2-create-volume", "aws-service-call", func(env, d map[string]any) {
		d["userIdentity"] = map[string]any{"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}
	})
	vary("s3-put-bucket-policy", "other-source", func(env, d map[string]any) { env["source"] = "aws.iam" })
	vary("s3-put-bucket-policy", "other-detail-type", func(env, d map[string]any) { env["detail-type"] = "AWS Service Event via CloudTrail" })
	return out
}

// cloudTrailShouldMatch is the oracle, from the issue and the handler's
// parser rather than from the pattern: an "AWS API Call via CloudTrail"
// event the handler parses, of a call among calls, that succeeded, whose
// principal (events.CloudTrailEvent.Principal, what IGNORE_ACTOR_ARNS
// lists) is not ignored.
func cloudTrailShouldMatch(t *testing.T, e ctEvent, calls []remediation.APICall, ignore []string) bool {
	t.Helper()
	ev, err := events.ParseCloudTrail(e.raw)
	if err != nil {
		return false
	}
	return !ev.Failed() && slices.Contains(calls, remediation.APICall{Source: ev.Call.EventSource, Name: ev.Call.EventName}) &&
		!slices.Contains(ignore, ev.Principal())
}

// ignoreList is the module's list of ignored actors (local.ignore_actor_arns)
// with vars, and with the ARNs of the user's other automation.
func ignoreList(t *testing.T, m *module, vars map[string]cty.Value) []string {
	t.Helper()
	return ctyStrings(t, "local.ignore_actor_arns", newEval(t, m, vars).local("ignore_actor_arns"))
}

// TestCloudTrailPatternOnEmulator sends the CloudTrail fixtures and their
// variations through moto's EventBridge with the production patterns, one
// rule per service: exactly the successful calls the enabled remediators
// are triggered by arrive, each once, whoever made them (assumed role, IAM
// user with or without a session issuer, root, an AWS service) unless the
// principal is one of the pipeline's roles or ignore_actor_arns.
//
// moto 5.2.1 evaluates the operators the pattern uses as AWS documents
// them (moto/events/models.py, EventPattern): "$or" at any depth, an
// anything-but list that does not match a missing field, and "exists":
// false on a leaf that is missing, including under an empty object
// ("sessionIssuer": {}). What moto does not check, and AWS does: the
// pattern's size (2048 characters by default; terraform.CloudTrailPatterns
// and the rule's precondition check it) and that "$or" has at least two
// elements (event-ruler's rule; the template has three).
func TestCloudTrailPatternOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	m := loadModule(t, moduleDir(t))
	extra := map[string]cty.Value{"ignore_actor_arns": strs(ctAutomationUser, ctAutomationRole)}
	ignore := ignoreList(t, m, extra)
	var pipeline []string
	for _, a := range ignore {
		if a != ctAutomationUser && a != ctAutomationRole {
			pipeline = append(pipeline, a)
		}
	}
	evs := cloudTrailEvents(t, pipeline)
	sse := remediators.S3EncryptionDefinition().Name

	cases := []struct {
		name       string
		calls      []remediation.APICall
		mustArrive []string
		mustNot    []string
	}{
		{"every remediator", TriggerCalls(nil),
			[]string{"s3-put-bucket-policy", "s3-put-bucket-acl", "s3-delete-bucket-public-access-block", "ec2-run-instances",
				"ec2-modify-instance-metadata-options", "ec2-disable-ebs-encryption-by-default", "ec2-create-volume",
				"iam-user-empty-session-issuer", "root-without-session-context", "aws-service-call", "pipeline-lookalike-role"},
			[]string{"s3-put-bucket-policy-access-denied", "ec2-run-instances-failed", "ec2-create-tags-unknown",
				"s3-get-bucket-policy-read-only", "ec2-describe-instances-read-only", "pipeline-role-0", "pipeline-role-1", "pipeline-role-2",
				"ignored-automation-user", "ignored-automation-role-with-path", "other-source", "other-detail-type"}},
		{"one remediator", TriggerCalls([]string{sse}),
			[]string{"s3-create-bucket", "s3-put-bucket-encryption", "s3-delete-bucket-encryption"},
			[]string{"s3-put-bucket-policy", "ec2-run-instances", "ec2-create-volume"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			patterns, err := CloudTrailPatterns(tc.calls, ignore)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range evs {
				if cloudTrailShouldMatch(t, e, tc.calls, ignore) {
					want = append(want, e.name)
				}
			}
			sort.Strings(want)
			got := deliver(t, ctx, srv, fmt.Sprint("ct", i), patterns, ctTestEvents(evs))
			checkDelivered(t, got, want, tc.mustArrive, tc.mustNot, patterns)
		})
	}

	// Why the template needs its "$or": anything-but does not match a
	// missing field, so the session issuer's ARN alone would drop every
	// call of an IAM user or root, which have none.
	t.Run("anything-but-alone-drops-users-and-root", func(t *testing.T) {
		tpl := CloudTrailPatternTemplate
		i := strings.Index(tpl, `"$or": [`)
		j := strings.Index(tpl[i:], "\n    ]")
		if i < 0 || j < 0 {
			t.Fatal("the template has no \"$or\" list: update the mutation")
		}
		first := strings.TrimSpace(strings.Split(tpl[i:], "\n")[1])
		first = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(first, ","), "{"), "}")
		mutated := tpl[:i] + first + tpl[i+j+len("\n    ]"):]
		got := deliverTemplate(t, ctx, srv, "ct-anything-but", mutated, TriggerCalls(nil), ignore, evs)
		for _, n := range []string{"s3-put-bucket-acl", "iam-user-empty-session-issuer", "s3-delete-bucket-public-access-block", "root-without-session-context"} {
			if slices.Contains(got, n) {
				t.Errorf("%s arrived through a pattern matching the session issuer's ARN only: moto no longer behaves as AWS (see the test's comment)", n)
			}
		}
		if !slices.Contains(got, "s3-put-bucket-policy") {
			t.Errorf("the assumed-role call did not arrive through the mutated pattern: %v", got)
		}
	})

	t.Run("mutation-without-errorCode-is-caught", func(t *testing.T) {
		line := `"errorCode": [{"exists": false}],`
		if !strings.Contains(CloudTrailPatternTemplate, line) {
			t.Fatal("the template no longer has the errorCode filter: update the mutation")
		}
		got := deliverTemplate(t, ctx, srv, "ct-errorcode", strings.Replace(CloudTrailPatternTemplate, line, "", 1), TriggerCalls(nil), ignore, evs)
		if !slices.Contains(got, "s3-put-bucket-policy-access-denied") {
			t.Errorf("the failed call did not arrive through a pattern without the errorCode filter; got %v", got)
		}
	})

	// The single pattern the demo can use delivers what the rules deliver.
	t.Run("demo-pattern", func(t *testing.T) {
		one, err := CloudTrailPattern(TriggerCalls(nil), ignore)
		if err != nil {
			t.Fatal(err)
		}
		got := deliver(t, ctx, srv, "ct-demo", map[string][]byte{"all": one}, ctTestEvents(evs))
		var want []string
		for _, e := range evs {
			if cloudTrailShouldMatch(t, e, TriggerCalls(nil), ignore) {
				want = append(want, e.name)
			}
		}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("delivered %v\nwant      %v", got, want)
		}
	})
}

func ctTestEvents(evs []ctEvent) []testEvent {
	var out []testEvent
	for _, e := range evs {
		out = append(out, e.testEvent)
	}
	return out
}

// deliverTemplate renders a (mutated) CloudTrail template per service and
// delivers the events through it.
func deliverTemplate(t *testing.T, ctx context.Context, srv *emulator.Server, id, tpl string, calls []remediation.APICall, ignore []string, evs []ctEvent) []string {
	t.Helper()
	byService := map[string][]remediation.APICall{}
	for _, c := range calls {
		svc, err := CloudTrailService(c.Source)
		if err != nil {
			t.Fatal(err)
		}
		byService[svc] = append(byService[svc], c)
	}
	patterns := map[string][]byte{}
	for svc, cs := range byService {
		p, err := renderCloudTrailTemplate(tpl, cs, ignore)
		if err != nil {
			t.Fatalf("rendering the mutated template: %v\n%s", err, tpl)
		}
		patterns[svc] = p
	}
	return deliver(t, ctx, srv, id, patterns, ctTestEvents(evs))
}

package terraform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

// memberAccount returns an SDK configuration for account on the emulator:
// moto gives the credentials of an assumed role the role's account.
func memberAccount(t *testing.T, ctx context.Context, srv *emulator.Server, account, region string) aws.Config {
	t.Helper()
	cfg := srv.AWSConfig()
	cfg.Region = region
	if account == emulator.Account {
		return cfg
	}
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("member-test"),
	})
	if err != nil {
		t.Fatalf("assuming a role in account %s: %v", account, err)
	}
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != account {
		t.Fatalf("the assumed role's credentials are of account %v (%v), want %s", id, err, account)
	}
	return cfg
}

// cloudFormation calls the CloudFormation query API (the repository has no
// SDK module for it), signed as the SDK signs: moto finds the account by
// the access key.
func cloudFormation(ctx context.Context, cfg aws.Config, endpoint string, params url.Values, out any) error {
	params.Set("Version", "2010-05-15")
	body := []byte(params.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "cloudformation", cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("CloudFormation %s: %w", params.Get("Action"), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CloudFormation %s: HTTP %d: %s", params.Get("Action"), resp.StatusCode, b)
	}
	if out != nil {
		return xml.Unmarshal(b, out)
	}
	return nil
}

// createStack creates the member stack with params in cfg's account and
// region and returns its outputs once it is complete.
func createStack(t *testing.T, ctx context.Context, cfg aws.Config, endpoint, template string, params map[string]string) map[string]string {
	t.Helper()
	v := url.Values{"Action": {"CreateStack"}, "StackName": {"autoremediate-member"}, "TemplateBody": {template},
		"Capabilities.member.1": {"CAPABILITY_NAMED_IAM"}}
	for i, k := range sortedKeys(params) {
		v.Set(fmt.Sprintf("Parameters.member.%d.ParameterKey", i+1), k)
		v.Set(fmt.Sprintf("Parameters.member.%d.ParameterValue", i+1), params[k])
	}
	if err := cloudFormation(ctx, cfg, endpoint, v, nil); err != nil {
		t.Fatalf("creating the member stack in %s: %v", cfg.Region, err)
	}
	var out struct {
		Stacks []struct {
			StackStatus       string
			StackStatusReason string
			Outputs           []struct{ OutputKey, OutputValue string } `xml:"Outputs>member"`
		} `xml:"DescribeStacksResult>Stacks>member"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := cloudFormation(ctx, cfg, endpoint, url.Values{"Action": {"DescribeStacks"}, "StackName": {"autoremediate-member"}}, &out); err != nil {
			t.Fatalf("describing the member stack in %s: %v", cfg.Region, err)
		}
		if len(out.Stacks) == 1 && !strings.HasSuffix(out.Stacks[0].StackStatus, "_IN_PROGRESS") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(out.Stacks) != 1 || out.Stacks[0].StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("the member stack in %s: %+v", cfg.Region, out.Stacks)
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[o.OutputKey] = o.OutputValue
	}
	return outputs
}

// memberStack is one stack of the StackSet: an account and a region.
type memberStack struct {
	account, region string
	ignore          []string // IgnoreActorArns
}

// TestMemberTemplateOnEmulator deploys the StackSet template as
// CloudFormation deploys it (moto resolves the parameters, conditions and
// intrinsic functions) in a member account and in the central account,
// in the role's region and another one, and compares what each stack
// created with what the member module plans for the same account and
// region: the member role with the same trust and policy (so the template
// grants exactly the Go definitions' permissions, which the module is
// tested against), the forwarding role, and the same rules with the same
// patterns and targets. Then events put in the member's regions reach the
// central bus, except those the patterns leave out (a COMPLIANT change,
// the member role's own calls).
func TestMemberTemplateOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	template, err := os.ReadFile(filepath.Join(moduleDir(t), MemberTemplatePath))
	if err != nil {
		t.Fatal(err)
	}
	m := loadModule(t, memberDir(t))
	stacks := []memberStack{
		{testMember, testRegion, nil},
		{testMember, testOtherRegion, []string{"arn:aws:iam::" + testMember + ":role/member-pipeline"}},
		{testAccount, testRegion, nil},
		{testAccount, testOtherRegion, nil},
	}
	for _, s := range stacks {
		cfg := memberAccount(t, ctx, srv, s.account, s.region)
		outputs := createStack(t, ctx, cfg, srv.URL, string(template), map[string]string{
			"CentralAccountId": testAccount, "CentralRegion": testRegion, "CentralRoleArns": strings.Join(centralRoles, ","),
			"ExternalId": testExternalID, "RoleRegion": testRegion, "IgnoreActorArns": strings.Join(s.ignore, ","),
		})
		vars := map[string]cty.Value{
			"external_id": cty.StringVal(testExternalID),
			"create_role": cty.BoolVal(s.region == testRegion),
		}
		if s.ignore != nil {
			vars["ignore_actor_arns"] = strs(s.ignore...)
		}
		e := memberEval(t, m, s.account, s.region, memberVars(vars))
		where := fmt.Sprintf("account %s, %s", s.account, s.region)

		// The roles (IAM is global: the member role is checked in its
		// region's stack, and must not be in the central account).
		c := iam.NewFromConfig(cfg)
		role := func(name, policy string) (trust, inline string, found bool) {
			r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
			if err != nil {
				return "", "", false
			}
			p, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(policy)})
			if err != nil {
				t.Fatalf("%s: role %s has no policy %s: %v", where, name, policy, err)
			}
			return canonicalPolicy(t, unescape(t, aws.ToString(r.Role.AssumeRolePolicyDocument))), canonicalPolicy(t, unescape(t, aws.ToString(p.PolicyDocument))), true
		}
		wantRole := e.local("create_role").True()
		if wantRole != (outputs["MemberRoleArn"] != "") {
			t.Errorf("%s: the stack's MemberRoleArn is %q, the module creates the role: %t", where, outputs["MemberRoleArn"], wantRole)
		}
		if trust, policy, found := role(testMemberRole, "least-privilege"); wantRole || s.account == testAccount {
			if found != wantRole {
				t.Errorf("%s: member role found %t, want %t", where, found, wantRole)
			}
			if found && trust != policyDocument(t, e, "trust") {
				t.Errorf("%s: the stack's member role trusts\n%s\nthe module's\n%s", where, trust, policyDocument(t, e, "trust"))
			}
			if found && policy != policyDocument(t, e, "member") {
				t.Errorf("%s: the stack's member role grants\n%s\nthe module's\n%s", where, policy, policyDocument(t, e, "member"))
			}
		}
		forwardRole := "autoremediate-forward-" + s.region
		trust, policy, found := role(forwardRole, "put-events")
		switch wantForward := e.local("forward").True(); {
		case found != wantForward:
			t.Errorf("%s: forwarding role found %t, want %t", where, found, wantForward)
		case found && (trust != policyDocument(t, e, "forward_assume") || policy != policyDocument(t, e, "forward")):
			t.Errorf("%s: the stack's forwarding role trusts\n%s\nand grants\n%s\nthe module's trusts\n%s\nand grants\n%s", where, trust, policy,
				policyDocument(t, e, "forward_assume"), policyDocument(t, e, "forward"))
		}

		// The rules, their patterns and targets.
		eb := eventbridge.NewFromConfig(cfg)
		rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String("autoremediate-forward-")})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range rules.Rules {
			got[aws.ToString(r.Name)] = aws.ToString(r.EventPattern)
			targets, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
			if err != nil {
				t.Fatal(err)
			}
			bus := "arn:aws:events:" + testRegion + ":" + testAccount + ":event-bus/default"
			if len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != bus ||
				aws.ToString(targets.Targets[0].RoleArn) != "arn:aws:iam::"+s.account+":role/"+forwardRole {
				t.Errorf("%s: rule %s sends to %+v, want the central bus %s with the forwarding role", where, aws.ToString(r.Name), targets.Targets, bus)
			}
		}
		want := map[string]string{}
		if e.local("forward").True() {
			for k, p := range e.local("forward_patterns").AsValueMap() {
				want["autoremediate-forward-"+k] = p.AsString()
			}
		}
		if d := sameSet(sortedKeys(got), sortedKeys(want)); d != "" {
			t.Errorf("%s: rules (\"in Terraform\" = in the stack): %s", where, d)
		}
		for name, p := range want {
			if g, ok := got[name]; ok && mustJSON(t, decodeJSON(t, g)) != mustJSON(t, decodeJSON(t, p)) {
				t.Errorf("%s: rule %s matches\n%s\nin the stack, the module's\n%s", where, name, g, p)
			}
		}
	}

	forwarded := forwardedEvents(t, ctx, srv, stacks[:2])
	want := []string{
		testMember + " " + testOtherRegion + " aws.config s3-bucket-public-read-prohibited NON_COMPLIANT",
		testMember + " " + testOtherRegion + " aws.s3 CreateBucket by arn:aws:iam::" + testMember + ":user/alice",
		testMember + " " + testRegion + " aws.config s3-bucket-public-read-prohibited NON_COMPLIANT",
		testMember + " " + testRegion + " aws.s3 CreateBucket by arn:aws:iam::" + testMember + ":user/alice",
	}
	sort.Strings(want)
	if !slices.Equal(forwarded, want) {
		t.Errorf("the central bus received\n  %s\nwant\n  %s", strings.Join(forwarded, "\n  "), strings.Join(want, "\n  "))
	}
}

// unescape decodes a policy document IAM returns URL-encoded. moto 5.2.1
// returns the inline policies CloudFormation created as Python's repr of
// the document (single quotes): those documents hold no quote of their own
// (an apostrophe would fail the decoding), so swapping the quotes is exact.
func unescape(t *testing.T, doc string) string {
	t.Helper()
	if strings.HasPrefix(doc, "{'") {
		return strings.ReplaceAll(doc, "'", `"`)
	}
	if strings.HasPrefix(doc, "{") {
		return doc
	}
	d, err := url.QueryUnescape(doc)
	if err != nil {
		t.Fatalf("decoding policy %q: %v", doc, err)
	}
	return d
}

// forwardedEvents puts, in each stack's account and region, a
// NON_COMPLIANT and a COMPLIANT compliance change and a CreateBucket call
// by a user and by the member role, and returns what reached the central
// bus (a rule there sends everything to a queue), as "account region
// source what". moto does not keep the sender's account in a forwarded
// event, so the test marks each event with it.
func forwardedEvents(t *testing.T, ctx context.Context, srv *emulator.Server, stacks []memberStack) []string {
	t.Helper()
	central := memberAccount(t, ctx, srv, testAccount, testRegion)
	eb, sq := eventbridge.NewFromConfig(central), sqs.NewFromConfig(central)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("central-bus")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("everything"), EventPattern: aws.String(`{"source":["aws.config","aws.s3"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("everything"), Targets: []ebtypes.Target{{
		Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:" + testRegion + ":" + testAccount + ":central-bus"),
	}}}); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile(filepath.Join("..", "events", "testdata", "s3-public-read-noncompliant.json"))
	if err != nil {
		t.Fatal(err)
	}
	var base struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(fixture, &base); err != nil {
		t.Fatal(err)
	}
	for _, s := range stacks {
		cfg := memberAccount(t, ctx, srv, s.account, s.region)
		mark := s.account + " " + s.region
		var entries []ebtypes.PutEventsRequestEntry
		for _, typ := range []string{"NON_COMPLIANT", "COMPLIANT"} {
			var d map[string]any
			if err := json.Unmarshal(base.Detail, &d); err != nil {
				t.Fatal(err)
			}
			d["newEvaluationResult"].(map[string]any)["complianceType"] = typ
			d["awsAccountId"], d["awsRegion"] = s.account, s.region
			entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String("aws.config"), DetailType: aws.String("Config Rules Compliance Change"), Detail: aws.String(mustJSON(t, d))})
		}
		for _, who := range []map[string]any{
			{"type": "IAMUser", "arn": "arn:aws:iam::" + s.account + ":user/alice"},
			{"type": "AssumedRole", "arn": "arn:aws:sts::" + s.account + ":assumed-role/" + testMemberRole + "/autoremediate-3f1a",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws:iam::" + s.account + ":role/" + testMemberRole}}},
		} {
			d := map[string]any{"eventSource": "s3.amazonaws.com", "eventName": "CreateBucket", "userIdentity": who, "recipientAccountId": s.account, "awsRegion": s.region}
			entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String("aws.s3"), DetailType: aws.String("AWS API Call via CloudTrail"), Detail: aws.String(mustJSON(t, d))})
		}
		out, err := eventbridge.NewFromConfig(cfg).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil || out.FailedEntryCount > 0 {
			t.Fatalf("%s: putting events: %v %+v", mark, err, out)
		}
	}
	var got []string
	for {
		msgs, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs.Messages) == 0 {
			break
		}
		for _, msg := range msgs.Messages {
			var ev struct {
				Source string `json:"source"`
				Detail struct {
					ConfigRuleName, AwsAccountID, AwsRegion, EventName, RecipientAccountID string
					NewEvaluationResult                                                    struct{ ComplianceType string }
					UserIdentity                                                           struct{ Arn string }
				} `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &ev); err != nil {
				t.Fatal(err)
			}
			dt := ev.Detail
			if ev.Source == "aws.config" {
				got = append(got, fmt.Sprintf("%s %s %s %s %s", dt.AwsAccountID, dt.AwsRegion, ev.Source, dt.ConfigRuleName, dt.NewEvaluationResult.ComplianceType))
			} else {
				got = append(got, fmt.Sprintf("%s %s %s %s by %s", dt.RecipientAccountID, dt.AwsRegion, ev.Source, dt.EventName, dt.UserIdentity.Arn))
			}
			if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: msg.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sort.Strings(got)
	return got
}

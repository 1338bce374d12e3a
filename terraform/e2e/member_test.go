package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

// The organisation of the member deployment: the central account is moto's
// default one, in memberCentralRegion; the member is reached by assuming a
// role in it, as Terraform reaches a member account.
const (
	memberAccount       = "222233334444"
	memberCentralRegion = "eu-west-1"
	memberOtherRegion   = "us-east-1"
	memberExternalID    = "e2e-external-id"
)

var memberCentralRoles = []string{
	"arn:aws:iam::" + emulator.Account + ":role/autoremediate-remediate",
	"arn:aws:iam::" + emulator.Account + ":role/autoremediate-sweep",
}

// memberConfig calls terraform/modules/member as README.md shows, for a
// member account in two regions and for the central account's two regions.
func memberConfig() string {
	roles, _ := json.Marshal(memberCentralRoles)
	var b strings.Builder
	b.WriteString(`locals {
  member = "arn:aws:iam::` + memberAccount + `:role/OrganizationAccountAccessRole"
  central = {
    central_account_id = "` + emulator.Account + `"
    central_region     = "` + memberCentralRegion + `"
    central_role_arns  = ` + string(roles) + `
    external_id        = "` + memberExternalID + `"
  }
}
`)
	for _, p := range []struct{ name, region, assume string }{
		{"member_eu", memberCentralRegion, "local.member"}, {"member_us", memberOtherRegion, "local.member"},
		{"central_eu", memberCentralRegion, ""}, {"central_us", memberOtherRegion, ""},
	} {
		b.WriteString(`
provider "aws" {
  alias                       = "` + p.name + `"
  region                      = "` + p.region + `"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
`)
		if p.assume != "" {
			b.WriteString("  assume_role {\n    role_arn = " + p.assume + "\n  }\n")
		}
		b.WriteString("}\n")
		createRole := "true"
		if p.region != memberCentralRegion {
			createRole = "false"
		}
		b.WriteString(`
module "` + p.name + `" {
  source    = "../terraform/modules/member"
  providers = { aws = aws.` + p.name + ` }

  create_role        = ` + createRole + `
  central_account_id = local.central.central_account_id
  central_region     = local.central.central_region
  central_role_arns  = local.central.central_role_arns
  external_id        = local.central.external_id
}

output "` + p.name + `" {
  value = module.` + p.name + `
}
`)
	}
	return b.String()
}

// TestDeployMember applies terraform/modules/member to moto_server in a
// member account (eu-west-1, which creates the role, and us-east-1) and in
// the central account (its own region, which gets nothing, and us-east-1),
// reads back what was deployed, forwards an event from the member to the
// central bus, requires a second plan to show no changes, and destroys.
func TestDeployMember(t *testing.T) {
	if os.Getenv("E2E") == "" {
		t.Skip("deploys the member module to moto_server with Terraform: run it with make e2e (E2E=1)")
	}
	s := newSetup(t)
	srv := emulator.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	work := t.TempDir()
	copyModule(t, s.module, filepath.Join(work, "terraform"))
	dir := filepath.Join(work, "member")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(memberConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	tf := s.newTerraform(t, dir, srv.Env())
	log := &bytes.Buffer{}
	tf.SetStdout(log)
	tf.SetStderr(log)
	fail := func(step string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nlast lines of Terraform's output:\n%s\nmoto_server:\n%s", step, err, tail(log.String(), 60), tail(srv.Log(), 30))
	}
	start := time.Now()
	if err := tf.Init(ctx); err != nil {
		fail("terraform init", err)
	}
	applyStart := time.Now()
	if err := tf.Apply(ctx); err != nil {
		fail("terraform apply", err)
	}
	applied := time.Since(applyStart)
	state, err := tf.Show(ctx)
	if err != nil {
		fail("terraform show", err)
	}
	outputs, err := tf.Output(ctx)
	if err != nil {
		fail("terraform output", err)
	}
	st := newStateIndex(state)
	t.Logf("applied %d resources in %s", st.count, secs(applied))

	member := assumeMember(t, ctx, srv)
	central := srv.AWSConfig()

	// The member role, once, in the member account only.
	roles := st.attr("aws_iam_role", "name")
	wantRoles := []string{"autoremediate-forward-" + memberCentralRegion, "autoremediate-forward-" + memberOtherRegion, "autoremediate-forward-" + memberOtherRegion, "autoremediate-member"}
	if !slices.Equal(roles, wantRoles) {
		t.Errorf("roles %q deployed, want %q (the member role once; a forwarding role per region but the central one's)", roles, wantRoles)
	}
	var out struct {
		RoleARN string `json:"role_arn"`
	}
	if err := json.Unmarshal(outputs["member_eu"].Value, &out); err != nil || out.RoleARN != "arn:aws:iam::"+memberAccount+":role/autoremediate-member" {
		t.Errorf("module member_eu's role_arn output: %s (%v)", outputs["member_eu"].Value, err)
	}
	c := iam.NewFromConfig(member)
	r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("autoremediate-member")})
	if err != nil {
		t.Fatalf("the member role in account %s: %v", memberAccount, err)
	}
	var trust struct {
		Statement []struct {
			Principal struct{ AWS stringOrList }
			Condition map[string]map[string]stringOrList
		}
	}
	doc := aws.ToString(r.Role.AssumeRolePolicyDocument)
	if err := json.Unmarshal([]byte(unescapePolicy(t, doc)), &trust); err != nil || len(trust.Statement) != 1 {
		t.Fatalf("the member role's trust policy %s: %v", doc, err)
	}
	ts := trust.Statement[0]
	if !slices.Equal(ts.Principal.AWS, []string{"arn:aws:iam::" + emulator.Account + ":root"}) ||
		!slices.Equal(ts.Condition["ArnEquals"]["aws:PrincipalArn"], memberCentralRoles) ||
		!slices.Equal(ts.Condition["StringEquals"]["sts:ExternalId"], []string{memberExternalID}) {
		t.Errorf("the member role trusts %s; want the central account with aws:PrincipalArn %q and the external ID", doc, memberCentralRoles)
	}
	p, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("autoremediate-member"), PolicyName: aws.String("least-privilege")})
	if err != nil {
		t.Fatalf("the member role's policy: %v", err)
	}
	pol := policySet(decodePolicy(t, aws.ToString(p.PolicyDocument)).Statement)
	for _, name := range s.catalog.Names {
		for _, a := range s.catalog.actions(t, name) {
			if !pol.allowsAnywhere(a) {
				t.Errorf("the member role does not allow %s, which remediator %s needs", a, name)
			}
		}
	}
	for _, region := range []string{memberCentralRegion, memberOtherRegion, "ap-southeast-2"} {
		if !pol.allows("ec2:ModifyInstanceMetadataOptions", "arn:aws:ec2:"+region+":"+memberAccount+":instance/i-0abc") {
			t.Errorf("the member role cannot fix an instance of its account in %s", region)
		}
	}
	if pol.allows("ec2:ModifyInstanceMetadataOptions", "arn:aws:ec2:"+memberOtherRegion+":999999999999:instance/i-0abc") {
		t.Error("the member role may modify the instances of another account")
	}
	// `remediate org check` asks IAM's policy simulator about the member
	// role, as the member role.
	if len(s.catalog.OrgCheckPermissions) == 0 {
		t.Error("remediators.json has no org_check_permissions")
	}
	for _, p := range s.catalog.OrgCheckPermissions {
		for _, a := range p.Actions {
			if !pol.allows(a, aws.ToString(r.Role.Arn)) {
				t.Errorf("the member role may not %s on itself, which `remediate org check` needs", a)
			}
			if pol.allows(a, "arn:aws:iam::999999999999:role/autoremediate-member") {
				t.Errorf("the member role may %s on another account's role", a)
			}
		}
	}
	if _, err := iam.NewFromConfig(central).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("autoremediate-member")}); err == nil {
		t.Error("the central account got a member role: its functions act there with their own roles")
	}

	// The forwarding rules: in both member regions and the central
	// account's other region, none in the central region.
	for _, where := range []struct {
		account string
		cfg     aws.Config
		region  string
		want    bool
	}{{"member", member, memberCentralRegion, true}, {"member", member, memberOtherRegion, true}, {"central", central, memberCentralRegion, false}, {"central", central, memberOtherRegion, true}} {
		cfg := where.cfg
		cfg.Region = where.region
		eb := eventbridge.NewFromConfig(cfg)
		rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String("autoremediate-forward-")})
		if err != nil {
			t.Fatal(err)
		}
		if (len(rules.Rules) > 0) != where.want {
			t.Errorf("%d forwarding rules in %s of the %s account, want them: %t", len(rules.Rules), where.region, where.account, where.want)
		}
		for _, rule := range rules.Rules {
			targets, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: rule.Name})
			if err != nil {
				t.Fatal(err)
			}
			bus := "arn:aws:events:" + memberCentralRegion + ":" + emulator.Account + ":event-bus/default"
			if len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != bus || !strings.HasSuffix(aws.ToString(targets.Targets[0].RoleArn), ":role/autoremediate-forward-"+where.region) {
				t.Errorf("rule %s in %s sends to %+v, want %s with the region's forwarding role", aws.ToString(rule.Name), where.region, targets.Targets, bus)
			}
		}
	}
	checkForwarding(t, ctx, member, central)

	planFile := filepath.Join(dir, "replan")
	changes, err := tf.Plan(ctx, tfexec.Out(planFile))
	if err != nil {
		fail("terraform plan", err)
	}
	if changes {
		shown, _ := tf.ShowPlanFileRaw(ctx, planFile)
		t.Errorf("a second plan right after apply wants changes:\n%s", shown)
	}
	if err := tf.Destroy(ctx); err != nil {
		fail("terraform destroy", err)
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("autoremediate-member")}); err == nil {
		t.Error("the member role is still there after destroy")
	}
	t.Logf("member module: %d resources, apply %s, all %s", st.count, secs(applied), secs(time.Since(start)))
}

// assumeMember returns an SDK configuration for the member account: moto
// gives an assumed role's credentials the role's account.
func assumeMember(t *testing.T, ctx context.Context, srv *emulator.Server) aws.Config {
	t.Helper()
	cfg := srv.AWSConfig()
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + memberAccount + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("e2e-member"),
	})
	if err != nil {
		t.Fatalf("assuming a role in the member account: %v", err)
	}
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg
}

// checkForwarding puts a NON_COMPLIANT compliance change in the member's
// other region and finds it on the central bus (a rule there sends the
// Config events to a queue).
func checkForwarding(t *testing.T, ctx context.Context, member, central aws.Config) {
	t.Helper()
	central.Region = memberCentralRegion
	eb, sq := eventbridge.NewFromConfig(central), sqs.NewFromConfig(central)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("e2e-central-bus")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("e2e-config-events"), EventPattern: aws.String(`{"source":["aws.config"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("e2e-config-events"), Targets: []ebtypes.Target{{
		Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:" + memberCentralRegion + ":" + emulator.Account + ":e2e-central-bus"),
	}}}); err != nil {
		t.Fatal(err)
	}
	detail := `{"configRuleName":"s3-bucket-public-read-prohibited","messageType":"ComplianceChangeNotification","resourceType":"AWS::S3::Bucket",` +
		`"resourceId":"member-bucket","awsAccountId":"` + memberAccount + `","newEvaluationResult":{"complianceType":"NON_COMPLIANT"}}`
	member.Region = memberOtherRegion
	res, err := eventbridge.NewFromConfig(member).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.config"), DetailType: aws.String("Config Rules Compliance Change"), Detail: aws.String(detail),
	}}})
	if err != nil || res.FailedEntryCount > 0 {
		t.Fatalf("putting a compliance change in the member: %v %+v", err, res)
	}
	msgs, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 || !strings.Contains(aws.ToString(msgs.Messages[0].Body), `"member-bucket"`) {
		t.Errorf("the central bus received %d events (%v), want the member's compliance change", len(msgs.Messages), msgs.Messages)
	}
}

// unescapePolicy decodes a policy document IAM returns URL-encoded.
func unescapePolicy(t *testing.T, doc string) string {
	t.Helper()
	if strings.HasPrefix(doc, "{") {
		return doc
	}
	d, err := url.QueryUnescape(doc)
	if err != nil {
		t.Fatalf("decoding policy %q: %v", doc, err)
	}
	return d
}

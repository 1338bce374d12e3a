package app_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/orgproxy"
	"github.com/autoremediate/autoremediate/internal/syncbuf"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/state"
	"github.com/autoremediate/autoremediate/sweep"
)

// sweepRole is the central sweep function's role in the organisation sweep
// tests: the member roles trust it.
const sweepRole = "arn:aws:iam::123456789012:role/autoremediate-sweep"

// orgSweepRig is an organisation on its own emulator (ListAccounts sees
// only its accounts): the central account, moto's default, is the
// management account; every call of the code under test goes through the
// organisation proxy, signed with the sweep function's key.
type orgSweepRig struct {
	orgAccounts
	srv   *emulator.Server
	proxy *orgproxy.Server
	logs  *syncbuf.Buffer
}

func newOrgSweepRig(t *testing.T, members int) (*orgSweepRig, []string) {
	t.Helper()
	r := &orgSweepRig{orgAccounts: orgAccounts{t: t}, srv: emulator.StartT(t), logs: &syncbuf.Buffer{}}
	ids, err := orgproxy.CreateMembers(ctx(t), r.srv.AWSConfig(), "sweep", members)
	if err != nil {
		t.Fatal(err)
	}
	r.in = map[string]aws.Config{centralAcct: r.srv.AWSConfig()}
	for _, a := range ids {
		if r.in[a], err = orgproxy.InAccount(ctx(t), r.srv.AWSConfig(), a); err != nil {
			t.Fatal(err)
		}
	}
	r.proxy, err = orgproxy.Start(orgproxy.Options{Target: r.srv.URL, Central: centralAcct,
		Identities: map[string]cloudtrailproxy.Identity{pipelineKey: cloudtrailproxy.AssumedRole(sweepRole, "autoremediate-sweep")},
		OnError:    func(err error) { t.Errorf("organisation proxy: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.proxy.Close()
		if t.Failed() {
			t.Logf("pipeline log:\n%s", r.logs.String())
		}
	})
	return r, ids
}

// wire builds the organisation sweep from settings as the CLI does, its
// calls through the proxy.
func (r *orgSweepRig) wire(env map[string]string) (app.Config, *app.Clients, *remediation.Handler) {
	r.t.Helper()
	cfg, err := app.Load(func(k string) string { return env[k] })
	if err != nil {
		r.t.Fatal(err)
	}
	awsCfg := r.srv.AWSConfig()
	awsCfg.BaseEndpoint = aws.String(r.proxy.URL)
	awsCfg.Credentials = credentials.NewStaticCredentialsProvider(pipelineKey, "secret", "")
	clients := app.NewClients(awsCfg)
	clients.PathStyleS3 = true
	h, err := app.NewHandler(cfg, clients, app.NewLogger(r.logs, slog.LevelDebug))
	if err != nil {
		r.t.Fatal(err)
	}
	return cfg, clients, h
}

// TestOrganizationSweep sweeps an organisation of three accounts with their
// member roles (the central account, which ListAccounts lists too, and two
// members) and a member without its role, in two regions: each
// account-region is swept in parallel with its own member role session
// and fixed in its own account and region (read back with that account's
// credentials, and every write signed there by its member role, or by the
// sweep's own role in the central account, from the proxy's record); the
// member without its role is reported not swept, with the fix, and the
// others go on; each member role is assumed once for all its regions. A
// second sweep with the central account in EXCLUDED_ACCOUNTS leaves it
// alone.
func TestOrganizationSweep(t *testing.T) {
	r, members := newOrgSweepRig(t, 3)
	a, b, broken := members[0], members[1], members[2]
	const extID = "o-sweep:autoremediate"
	trust := orgproxy.MemberTrustPolicy(centralAcct, []string{sweepRole}, extID)
	for _, m := range []string{a, b} {
		if err := orgproxy.CreateRole(ctx(t), r.in[m], app.DefaultMemberRoleName, trust); err != nil {
			t.Fatal(err)
		}
	}
	swept := []string{centralAcct, a, b}
	instances := map[string]string{}
	for _, acct := range swept {
		for _, region := range orgRegions {
			instances[acct+"/"+region] = r.launchIMDSv1(acct, region)
			r.setEBSDefault(acct, region, false)
		}
	}
	r.setEBSDefault(broken, emulator.Region, false)
	buckets := map[string][2]string{ // bucket -> account, region
		"sweep-central-bucket": {centralAcct, emulator.Region}, "sweep-a-bucket": {a, emulator.Region}, "sweep-b-bucket": {b, otherRegion}}
	for name, where := range buckets {
		r.bucket(where[0], where[1], name)
	}

	env := map[string]string{"MEMBER_ROLE_EXTERNAL_ID": extID, "IMDS_LOOKBACK_DAYS": "0", "METRICS_MODE": app.MetricsOff}
	cfg, clients, h := r.wire(env)
	targets, skipped, err := app.NewSweepPlanner(cfg, clients).Plan(ctx(t), app.All, strings.Join(orgRegions, ","))
	if err != nil || len(skipped) > 0 {
		t.Fatalf("planning: %v (skipped %v)", err, skipped)
	}
	var planned []string
	for _, tg := range targets {
		planned = append(planned, tg.String())
	}
	var want []string
	for _, acct := range slices.Sorted(slices.Values(append([]string{broken}, swept...))) {
		for _, region := range slices.Sorted(slices.Values(orgRegions)) {
			want = append(want, acct+"/"+region)
		}
	}
	if !slices.Equal(planned, want) {
		t.Fatalf("planned %v, want every ACTIVE account (the central one too) in both regions: %v", planned, want)
	}
	const runID = "sweep-orgtest"
	org := app.NewOrgSweeper(cfg, clients, h)
	scopesDone := 0
	org.ScopeDone = func(sweep.ScopeReport, int, int) { scopesDone++ }
	rep := org.Run(ctx(t), runID, targets)
	if scopesDone != len(targets) {
		t.Errorf("ScopeDone called %d times for %d account-regions", scopesDone, len(targets))
	}

	for _, s := range rep.Scopes {
		where := s.AccountRegion.String()
		if s.Account == broken {
			if s.Err == nil {
				t.Errorf("%s: swept without its member role", where)
				continue
			}
			for _, want := range []string{"arn:aws:iam::" + broken + ":role/" + app.DefaultMemberRoleName, "account " + broken, "sts:AssumeRole", "deploy or update the member stack", "remediate org check --accounts " + broken} {
				if !strings.Contains(s.Err.Error(), want) {
					t.Errorf("%s: error %q lacks %q", where, s.Err, want)
				}
			}
			continue
		}
		if s.Err != nil || s.Report == nil {
			t.Errorf("%s: not swept: %v", where, s.Err)
			continue
		}
		if len(s.Report.ListErrors) > 0 || len(s.Report.PublishErrors) > 0 {
			t.Errorf("%s: listing or delivery errors %v %v", where, s.Report.ListErrors, s.Report.PublishErrors)
		}
		wantActedAs := ""
		if s.Account != centralAcct {
			wantActedAs = "arn:aws:sts::" + s.Account + ":assumed-role/" + app.DefaultMemberRoleName + "/autoremediate-" + runID
		}
		fixed := map[string]bool{}
		for _, o := range s.Report.Outcomes {
			if o.Account != s.Account || o.Region != s.Region {
				t.Errorf("%s: an outcome for %s %s: %+v", where, o.Account, o.Region, o)
			}
			if o.Action == remediation.ActionFailed {
				t.Errorf("%s: %s on %s failed: %s", where, o.Remediator, o.ResourceID, o.Error)
			}
			if o.ActedAs != wantActedAs {
				t.Errorf("%s: %s on %s acted as %q, want %q", where, o.Remediator, o.ResourceID, o.ActedAs, wantActedAs)
			}
			if o.Action == remediation.ActionRemediated {
				fixed[o.Remediator+" "+o.ResourceID] = true
			}
		}
		wantFixed := []string{"ec2-imdsv2 " + instances[where], "ebs-encryption " + s.Account}
		for name, w := range buckets {
			if w[0] == s.Account && w[1] == s.Region {
				wantFixed = append(wantFixed, "s3-public-access-block "+name)
			}
		}
		for _, f := range wantFixed {
			if !fixed[f] {
				t.Errorf("%s: %s not remediated (remediated: %v)", where, f, slices.Sorted(maps.Keys(fixed)))
			}
		}
	}

	// Read back with each account's own credentials.
	for _, acct := range swept {
		for _, region := range orgRegions {
			if id := instances[acct+"/"+region]; r.httpTokens(acct, region, id) != ec2types.HttpTokensStateRequired {
				t.Errorf("instance %s in %s %s still accepts IMDSv1", id, acct, region)
			}
			if !r.ebsDefault(acct, region) {
				t.Errorf("EBS encryption by default still off in %s %s", acct, region)
			}
		}
	}
	for name, w := range buckets {
		if !r.blocked(w[0], w[1], name) {
			t.Errorf("bucket %s of %s not blocked", name, w[0])
		}
	}
	if r.ebsDefault(broken, emulator.Region) {
		t.Errorf("EBS encryption by default turned on in %s, whose member role is missing", broken)
	}

	// Who signed what.
	roles := map[string]string{centralAcct: sweepRole, a: "arn:aws:iam::" + a + ":role/" + app.DefaultMemberRoleName, b: "arn:aws:iam::" + b + ":role/" + app.DefaultMemberRoleName}
	type write struct{ account, region, op, resource string }
	var wantWrites []write
	for _, acct := range swept {
		for _, region := range orgRegions {
			wantWrites = append(wantWrites, write{acct, region, "ModifyInstanceMetadataOptions", instances[acct+"/"+region]}, write{acct, region, "EnableEbsEncryptionByDefault", ""})
		}
	}
	for name, w := range buckets {
		wantWrites = append(wantWrites, write{w[0], "", "PUT ?publicAccessBlock", name})
	}
	found := make([]bool, len(wantWrites))
	granted, denied := map[string]int{}, map[string]int{}
	for _, c := range r.proxy.Calls() {
		if role := c.RoleARN(); role != "" {
			if c.Denied {
				denied[role]++
			} else {
				granted[role]++
				if got := c.Params.Get("RoleSessionName"); got != "autoremediate-"+runID {
					t.Errorf("AssumeRole of %s with session %q, want autoremediate-%s", role, got, runID)
				}
			}
			continue
		}
		if !c.Write() {
			continue
		}
		what := fmt.Sprintf("%s %s (bucket %q, %v) signed by %s in %s %s as %q", c.Service, c.Operation, c.Bucket, c.Params, c.AccessKeyID, c.Account, c.Region, c.Role)
		if role, ok := roles[c.Account]; !ok || c.Role != role {
			t.Errorf("a write not signed by its account's member role (or the sweep's own role in the central account): %s", what)
		}
		if w, ok := buckets[c.Bucket]; ok && w[0] != c.Account {
			t.Errorf("a write to bucket %s of account %s: %s", c.Bucket, w[0], what)
		}
		for i, w := range wantWrites {
			if c.Account == w.account && (w.region == "" || c.Region == w.region) && c.Operation == w.op && c.Status == 200 &&
				(w.resource == "" || c.Bucket == w.resource || slices.Contains(paramValues(c.Params), w.resource)) {
				found[i] = true
			}
		}
	}
	for i, w := range wantWrites {
		if !found[i] {
			t.Errorf("no %s of %q in %s %s signed there", w.op, w.resource, w.account, w.region)
		}
	}
	for _, m := range []string{a, b} {
		if n := granted[roles[m]]; n != 1 {
			t.Errorf("member role of %s assumed %d times for its %d regions, want once", m, n, len(orgRegions))
		}
	}
	if n := denied["arn:aws:iam::"+broken+":role/"+app.DefaultMemberRoleName]; n < 1 || n > len(orgRegions) {
		t.Errorf("the missing member role was tried %d times, want once per region at most", n)
	}

	// The summary: the broken member's regions are its problems.
	res := rep.Result()
	if res.Scopes != 8 || res.FailedScopes != 2 || len(res.Accounts) != 4 {
		t.Errorf("summary: %d account-regions, %d failed, %d accounts; want 8, 2 (the member without its role), 4", res.Scopes, res.FailedScopes, len(res.Accounts))
	}
	var text strings.Builder
	rep.WriteSummary(&text)
	for _, acct := range append([]string{broken}, swept...) {
		if !strings.Contains(text.String(), "== account "+acct+" (eu-west-1, us-east-1)") {
			t.Errorf("no table for account %s:\n%s", acct, text.String())
		}
	}

	// Excluded: the central account is left out, whatever is wrong there.
	again := r.launchIMDSv1(centralAcct, emulator.Region)
	env["EXCLUDED_ACCOUNTS"] = centralAcct
	cfg, clients, h = r.wire(env)
	targets, skipped, err = app.NewSweepPlanner(cfg, clients).Plan(ctx(t), app.All, strings.Join(orgRegions, ","))
	if err != nil || !slices.Equal(skipped, []string{"account " + centralAcct + " is excluded (EXCLUDED_ACCOUNTS)"}) || len(targets) != 6 {
		t.Fatalf("planning with the central account excluded: %d account-regions, skipped %v, %v", len(targets), skipped, err)
	}
	rep = app.NewOrgSweeper(cfg, clients, h).Run(ctx(t), runID+"-2", targets)
	for _, o := range rep.Outcomes() {
		if o.Account == centralAcct {
			t.Errorf("an outcome in the excluded central account: %+v", o)
		}
	}
	if r.httpTokens(centralAcct, emulator.Region, again) != ec2types.HttpTokensStateOptional {
		t.Errorf("the excluded central account's instance %s was changed", again)
	}
}

func paramValues(p map[string][]string) []string {
	var out []string
	for _, vs := range p {
		out = append(out, vs...)
	}
	return out
}

// TestScheduledOrganizationSweepFansOut runs the scheduled organisation
// sweep as deployed: the planner (the sweep function with SWEEP_ACCOUNTS
// and SWEEP_REGIONS) sends one message per account-region to the sweep
// queue; each is handed to the worker as Lambda's event source mapping
// would (one record per invocation, in another order, one of them twice);
// every account-region is swept in its account, the member without its
// role is reported, and the worker that finishes the last one publishes
// the summary to the topic, once, with the breakdown per account.
func TestScheduledOrganizationSweepFansOut(t *testing.T) {
	r, members := newOrgSweepRig(t, 2)
	a, broken := members[0], members[1]
	const extID = "o-fanout:autoremediate"
	if err := orgproxy.CreateRole(ctx(t), r.in[a], app.DefaultMemberRoleName, orgproxy.MemberTrustPolicy(centralAcct, []string{sweepRole}, extID)); err != nil {
		t.Fatal(err)
	}
	instances := map[string]string{}
	for _, acct := range []string{centralAcct, a} {
		for _, region := range orgRegions {
			instances[acct+"/"+region] = r.launchIMDSv1(acct, region)
		}
	}
	direct := r.srv.AWSConfig()
	table := "sweep-fanout-state"
	if _, err := state.Init(ctx(t), dynamodb.NewFromConfig(direct), table); err != nil {
		t.Fatal(err)
	}
	sqsc, snsc := sqs.NewFromConfig(direct), sns.NewFromConfig(direct)
	queue, err := sqsc.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("autoremediate-sweep")})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := snsc.CreateTopic(ctx(t), &sns.CreateTopicInput{Name: aws.String("autoremediate-notifications")})
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := sqsc.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("inbox")})
	if err != nil {
		t.Fatal(err)
	}
	inboxARN := "arn:aws:sqs:" + emulator.Region + ":" + centralAcct + ":inbox"
	if _, err := snsc.Subscribe(ctx(t), &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(inboxARN),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"MEMBER_ROLE_EXTERNAL_ID": extID, "IMDS_LOOKBACK_DAYS": "0", "METRICS_MODE": app.MetricsOff, "ENABLED_REMEDIATORS": "ec2-imdsv2",
		"STATE_TABLE": table, "SNS_TOPIC_ARN": aws.ToString(topic.TopicArn),
		"SWEEP_ACCOUNTS": app.All, "SWEEP_REGIONS": strings.Join(orgRegions, ","), "SWEEP_QUEUE_URL": aws.ToString(queue.QueueUrl)}
	cfg, clients, _ := r.wire(env)
	sc, err := app.LoadSweep(func(k string) string { return env[k] })
	if err != nil || !sc.Org() {
		t.Fatalf("LoadSweep: %+v %v", sc, err)
	}
	planner, err := app.NewSweepFanOut(cfg, sc, clients, r.logs)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planner.Run(ctx(t), "sweep-fanout-1")
	if err != nil || plan.Scopes != 6 || plan.Accounts != 3 {
		t.Fatalf("plan %+v, %v: want 3 accounts (the central one, a member, a member without its role) in 2 regions", plan, err)
	}
	var records []lambdaevents.SQSMessage
	for deadline := time.Now().Add(10 * time.Second); len(records) < plan.Scopes && time.Now().Before(deadline); {
		out, err := sqsc.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			records = append(records, lambdaevents.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body)})
		}
	}
	if len(records) != plan.Scopes {
		t.Fatalf("%d messages on the sweep queue, want %d", len(records), plan.Scopes)
	}
	worker, err := app.NewSweepWorker(cfg, clients, app.NewLogger(r.logs, slog.LevelDebug), r.logs)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(records)
	records = slices.Insert(records, 2, records[0]) // delivered twice
	for _, rec := range records {
		resp, err := worker.LambdaHandler()(ctx(t), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{rec}})
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("worker on %s: %v %+v", rec.Body, err, resp)
		}
	}
	for where, id := range instances {
		acct, region, _ := strings.Cut(where, "/")
		if r.httpTokens(acct, region, id) != ec2types.HttpTokensStateRequired {
			t.Errorf("instance %s in %s still accepts IMDSv1", id, where)
		}
	}
	var summaries []sweep.LambdaResult
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		out, err := sqsc.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: inbox.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 && len(summaries) > 0 {
			break
		}
		for _, m := range out.Messages {
			if aws.ToString(m.MessageAttributes["type"].StringValue) != "sweep-summary" {
				continue // an outcome
			}
			var s sweep.LambdaResult
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &s); err != nil {
				t.Fatalf("summary %q: %v", aws.ToString(m.Body), err)
			}
			summaries = append(summaries, s)
		}
	}
	if len(summaries) != 1 {
		t.Fatalf("%d summaries on the topic, want 1", len(summaries))
	}
	s := summaries[0]
	if s.RunID != "sweep-fanout-1" || s.Scopes != 6 || s.FailedScopes != 2 || s.Checked != 4 || s.Counts[remediation.ActionRemediated] != 4 || len(s.Accounts) != 3 {
		t.Errorf("summary %+v", s)
	}
	for _, acct := range s.Accounts {
		if !slices.Equal(acct.Regions, slices.Sorted(slices.Values(orgRegions))) {
			t.Errorf("account %s: regions %v", acct.Account, acct.Regions)
		}
		failed := acct.Account == broken
		if failed != (len(acct.FailedRegions) == 2) || failed && !strings.Contains(strings.Join(acct.Problems, "\n"), "cannot assume the member role") {
			t.Errorf("account %s: %+v", acct.Account, acct)
		}
	}
}

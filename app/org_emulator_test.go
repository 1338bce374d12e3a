package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/orgproxy"
	"github.com/autoremediate/autoremediate/internal/syncbuf"
	"github.com/autoremediate/autoremediate/remediation"
)

// The organisation the event path is tested in: the central account
// (moto's default, where the function runs) and members created with
// Organizations. Two members have the member role; one has it but is
// excluded; one lacks it.
const (
	orgExternalID = "o-test:autoremediate"
	centralAcct   = emulator.Account
	otherRegion   = "eu-west-1"
	outsideRegion = "ap-southeast-2" // not in REGIONS
)

var orgRegions = []string{emulator.Region, otherRegion}

// orgRig is the central function's handler, built from settings as the
// Lambda function builds it, whose every AWS call goes through the
// organisation proxy (signed with the central function's key), and the
// emulator's accounts with credentials straight to moto for setting up
// and reading back.
type orgRig struct {
	orgAccounts
	proxy   *orgproxy.Server
	handler *remediation.Handler
	cfg     app.Config
	clients *app.Clients // the central function's, through the proxy
	logs    *syncbuf.Buffer
}

func newOrgRig(t *testing.T, env map[string]string, accounts []string) *orgRig {
	t.Helper()
	srv := emu(t)
	r := &orgRig{orgAccounts: orgAccounts{t: t, in: map[string]aws.Config{centralAcct: srv.AWSConfig()}}, logs: &syncbuf.Buffer{}}
	var err error
	r.proxy, err = orgproxy.Start(orgproxy.Options{Target: srv.URL, Central: centralAcct,
		Identities: map[string]cloudtrailproxy.Identity{pipelineKey: cloudtrailproxy.AssumedRole(pipelineRole, "autoremediate-remediate")},
		OnError:    func(err error) { t.Errorf("organisation proxy: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.proxy.Close() })
	for _, a := range accounts {
		if r.in[a], err = orgproxy.InAccount(ctx(t), srv.AWSConfig(), a); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := app.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("app.Load(%v): %v", env, err)
	}
	awsCfg := srv.AWSConfig()
	awsCfg.BaseEndpoint = aws.String(r.proxy.URL)
	awsCfg.Credentials = credentials.NewStaticCredentialsProvider(pipelineKey, "secret", "")
	clients := app.NewClients(awsCfg)
	clients.PathStyleS3 = true
	r.cfg, r.clients = cfg, clients
	if r.handler, err = app.NewHandler(cfg, clients, app.NewLogger(r.logs, slog.LevelDebug)); err != nil {
		t.Fatalf("app.NewHandler: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline log:\n%s", r.logs.String())
		}
	})
	return r
}

// launchIMDSv1 starts an instance that accepts IMDSv1 in account and
// region; one in the central account is terminated when the test ends.
func (r *orgRig) launchIMDSv1(account, region string) string {
	r.t.Helper()
	id := r.orgAccounts.launchIMDSv1(account, region)
	if account == centralAcct {
		// The package's other tests share the central account.
		r.t.Cleanup(func() {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = r.ec2(account, region).TerminateInstances(c, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		})
	}
	return id
}

// retarget rewrites a fixture (events/testdata/NAME) for account and
// region, naming resource instead of the fixture's own: the fixtures'
// account 123456789012 and region us-east-1 appear in the envelope, the
// detail and its ARNs. Each event gets its own ID.
func retarget(t *testing.T, name, fixtureResource, resource, account, region string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "events", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ ID string }
	if err := json.Unmarshal(raw, &env); err != nil || env.ID == "" {
		t.Fatalf("fixture %s has no id (%v)", name, err)
	}
	s := string(raw)
	for _, sub := range [][2]string{{env.ID, fmt.Sprintf("%s-%s", account, uniqueName("ev"))}, {`"` + fixtureResource + `"`, `"` + resource + `"`},
		{centralAcct, account}, {emulator.Region, region}} {
		if !strings.Contains(s, sub[0]) {
			t.Fatalf("fixture %s does not mention %s", name, sub[0])
		}
		s = strings.ReplaceAll(s, sub[0], sub[1])
	}
	return json.RawMessage(s)
}

// invoke runs an event through the function's entry point and returns its
// outcomes.
func (r *orgRig) invoke(ev json.RawMessage) []remediation.Outcome {
	r.t.Helper()
	v, err := r.handler.Invoke(ctx(r.t), ev)
	switch o := v.(type) {
	case remediation.Outcome:
		return []remediation.Outcome{o}
	case []remediation.Outcome:
		return o
	}
	r.t.Fatalf("Invoke: %T %v (%v)", v, v, err)
	return nil
}

// TestOrganizationEventsFixedInTheirAccounts sends Config and CloudTrail
// events of two member accounts and two regions through the central
// function and reads back, with each account's own credentials, that
// each was fixed in its account and region, and from the proxy's record
// that every write was signed by that account's member role (moto lets
// any account's keys write any bucket, so the bucket's state alone would
// not show it). The central account's own misconfigurations, an excluded
// member and a region outside REGIONS are left alone; a member without
// its role fails with what to do; each member role is assumed once for
// all its events.
func TestOrganizationEventsFixedInTheirAccounts(t *testing.T) {
	srv := emu(t)
	members, err := orgproxy.CreateMembers(ctx(t), srv.AWSConfig(), uniqueName("org"), 4)
	if err != nil {
		t.Fatal(err)
	}
	a, b, excluded, broken := members[0], members[1], members[2], members[3]
	r := newOrgRig(t, map[string]string{"MEMBER_ROLE_EXTERNAL_ID": orgExternalID, "EXCLUDED_ACCOUNTS": excluded,
		"REGIONS": strings.Join(orgRegions, ","), "METRICS_MODE": app.MetricsAPI}, members)
	roleARN := func(account string) string { return "arn:aws:iam::" + account + ":role/" + app.DefaultMemberRoleName }
	trust := orgproxy.MemberTrustPolicy(centralAcct, []string{pipelineRole}, orgExternalID)
	for _, m := range []string{a, b, excluded} { // not broken: its member stack was never deployed
		if err := orgproxy.CreateRole(ctx(t), r.in[m], app.DefaultMemberRoleName, trust); err != nil {
			t.Fatal(err)
		}
	}

	// The same misconfigurations in every account and both regions, the
	// central account's included; a member's region outside REGIONS too.
	for _, acct := range []string{centralAcct, a, b} {
		for _, region := range orgRegions {
			r.setEBSDefault(acct, region, false)
		}
	}
	r.setEBSDefault(excluded, emulator.Region, false)
	r.setEBSDefault(broken, emulator.Region, false)
	r.setEBSDefault(a, outsideRegion, false)
	instances := map[string]string{} // account/region -> IMDSv1 instance
	for _, acct := range []string{centralAcct, a, b} {
		for _, region := range orgRegions {
			instances[acct+"/"+region] = r.launchIMDSv1(acct, region)
		}
	}
	prefix := uniqueName("org")
	buckets := map[string]string{centralAcct: prefix + "-central", a: prefix + "-a", b: prefix + "-b"}
	bucketRegions := map[string]string{centralAcct: emulator.Region, a: emulator.Region, b: otherRegion}
	for _, acct := range []string{centralAcct, a, b} {
		r.bucket(acct, bucketRegions[acct], buckets[acct])
	}

	type sent struct {
		what     string
		account  string
		region   string
		event    json.RawMessage
		want     remediation.Action
		resource string
	}
	var evs []sent
	add := func(what, account, region string, ev json.RawMessage, want remediation.Action, resource string) {
		evs = append(evs, sent{what, account, region, ev, want, resource})
	}
	const (
		ctIMDS = "cloudtrail/ec2-modify-instance-metadata-options.json"
		ctPAB  = "cloudtrail/s3-delete-bucket-public-access-block.json"
	)
	for _, acct := range []string{a, b} {
		for _, region := range orgRegions {
			add("Config: EBS encryption by default", acct, region, retarget(t, fixtureEBSDefault, centralAcct, acct, acct, region), remediation.ActionRemediated, acct)
		}
		// The instance in the first region through Config, the other's
		// through CloudTrail (a developer in the member account made it
		// accept IMDSv1).
		id := instances[acct+"/"+emulator.Region]
		add("Config: IMDSv2", acct, emulator.Region, retarget(t, fixtureIMDSv2, "i-0abcd1234ef567890", id, acct, emulator.Region), remediation.ActionRemediated, id)
		id = instances[acct+"/"+otherRegion]
		add("CloudTrail: ModifyInstanceMetadataOptions", acct, otherRegion, retarget(t, ctIMDS, "i-0a1b2c3d4e5f60001", id, acct, otherRegion), remediation.ActionRemediated, id)
	}
	add("Config: public access", a, emulator.Region, retarget(t, "s3-level-public-access-first-evaluation.json", "example-public-bucket", buckets[a], a, emulator.Region),
		remediation.ActionRemediated, buckets[a])
	add("CloudTrail: DeleteBucketPublicAccessBlock", b, otherRegion, retarget(t, ctPAB, "example-data", buckets[b], b, otherRegion), remediation.ActionRemediated, buckets[b])
	add("Config: EBS encryption by default", excluded, emulator.Region, retarget(t, fixtureEBSDefault, centralAcct, excluded, excluded, emulator.Region), remediation.ActionIgnored, excluded)
	add("Config: EBS encryption by default", a, outsideRegion, retarget(t, fixtureEBSDefault, centralAcct, a, a, outsideRegion), remediation.ActionIgnored, a)
	add("Config: EBS encryption by default", broken, emulator.Region, retarget(t, fixtureEBSDefault, centralAcct, broken, broken, emulator.Region), remediation.ActionFailed, broken)
	add("Config: IMDSv2", broken, otherRegion, retarget(t, fixtureIMDSv2, "i-0abcd1234ef567890", "i-0abcd1234ef567890", broken, otherRegion), remediation.ActionFailed, "i-0abcd1234ef567890")

	for _, e := range evs {
		outs := r.invoke(e.event)
		var got *remediation.Outcome
		for i, o := range outs {
			if o.ResourceID == e.resource {
				got = &outs[i]
			} else if o.Action != remediation.ActionIgnored && o.Action != remediation.ActionCompliant {
				t.Errorf("%s in %s %s: an outcome for another resource: %+v", e.what, e.account, e.region, o)
			}
		}
		if got == nil {
			t.Errorf("%s in %s %s: no outcome for %s in %+v", e.what, e.account, e.region, e.resource, outs)
			continue
		}
		o := *got
		if o.Action != e.want || o.Account != e.account || o.Region != e.region {
			t.Errorf("%s in %s %s: %s in %s %s (%s), want %s", e.what, e.account, e.region, o.Action, o.Account, o.Region, o.Reason, e.want)
		}
		switch {
		case e.want == remediation.ActionRemediated:
			if want := "arn:aws:sts::" + e.account + ":assumed-role/" + app.DefaultMemberRoleName + "/autoremediate-"; !strings.HasPrefix(o.ActedAs, want) {
				t.Errorf("%s in %s %s: acted as %q, want a session %s...", e.what, e.account, e.region, o.ActedAs, want)
			}
		case e.account == excluded:
			if !strings.Contains(o.Reason, "EXCLUDED_ACCOUNTS") {
				t.Errorf("excluded account: reason %q does not name EXCLUDED_ACCOUNTS", o.Reason)
			}
		case e.region == outsideRegion:
			if !strings.Contains(o.Reason, "REGIONS") {
				t.Errorf("region outside REGIONS: reason %q does not name REGIONS", o.Reason)
			}
		case e.account == broken:
			for _, want := range []string{"account " + broken, roleARN(broken), "sts:AssumeRole", "deploy or update the member stack", "remediate org check --accounts " + broken} {
				if !strings.Contains(o.Error, want) {
					t.Errorf("member without its role: error %q lacks %q", o.Error, want)
				}
			}
		}
	}

	// Read back with each account's own credentials.
	for _, acct := range []string{a, b} {
		for _, region := range orgRegions {
			if !r.ebsDefault(acct, region) {
				t.Errorf("EBS encryption by default still off in member %s %s", acct, region)
			}
			if id := instances[acct+"/"+region]; r.httpTokens(acct, region, id) != ec2types.HttpTokensStateRequired {
				t.Errorf("instance %s in member %s %s still accepts IMDSv1", id, acct, region)
			}
		}
		if !r.blocked(acct, bucketRegions[acct], buckets[acct]) {
			t.Errorf("bucket %s of member %s not blocked", buckets[acct], acct)
		}
	}
	for _, ar := range [][2]string{{centralAcct, emulator.Region}, {centralAcct, otherRegion}, {excluded, emulator.Region}, {broken, emulator.Region}, {a, outsideRegion}} {
		if r.ebsDefault(ar[0], ar[1]) {
			t.Errorf("EBS encryption by default turned on in %s %s, which no event may fix", ar[0], ar[1])
		}
	}
	for _, region := range orgRegions {
		if id := instances[centralAcct+"/"+region]; r.httpTokens(centralAcct, region, id) != ec2types.HttpTokensStateOptional {
			t.Errorf("the central account's instance %s in %s was changed", id, region)
		}
	}
	if r.blocked(centralAcct, bucketRegions[centralAcct], buckets[centralAcct]) {
		t.Errorf("the central account's bucket %s was changed", buckets[centralAcct])
	}

	// Who signed what, from the proxy's record.
	checkOrgWrites(t, r.proxy.Calls(), orgWrites{
		central: centralAcct,
		members: map[string]string{a: roleARN(a), b: roleARN(b)},
		want: []wantWrite{
			{a, emulator.Region, "EnableEbsEncryptionByDefault", ""}, {a, otherRegion, "EnableEbsEncryptionByDefault", ""},
			{b, emulator.Region, "EnableEbsEncryptionByDefault", ""}, {b, otherRegion, "EnableEbsEncryptionByDefault", ""},
			{a, emulator.Region, "ModifyInstanceMetadataOptions", instances[a+"/"+emulator.Region]},
			{a, otherRegion, "ModifyInstanceMetadataOptions", instances[a+"/"+otherRegion]},
			{b, emulator.Region, "ModifyInstanceMetadataOptions", instances[b+"/"+emulator.Region]},
			{b, otherRegion, "ModifyInstanceMetadataOptions", instances[b+"/"+otherRegion]},
			{a, "", "PUT ?publicAccessBlock", buckets[a]}, {b, "", "PUT ?publicAccessBlock", buckets[b]},
		},
		buckets: map[string]string{buckets[a]: a, buckets[b]: b, buckets[centralAcct]: centralAcct},
	})

	// One AssumeRole per member for all its events; none for the excluded
	// member; the broken member's denied at each of its events.
	granted, denied := map[string]int{}, map[string]int{}
	for _, c := range r.proxy.Calls() {
		if role := c.RoleARN(); role != "" {
			if c.Account != centralAcct || c.Role != pipelineRole {
				t.Errorf("AssumeRole of %s signed by %s in %s (role %q), want the central function's role", role, c.AccessKeyID, c.Account, c.Role)
			}
			if c.Params.Get("ExternalId") != orgExternalID {
				t.Errorf("AssumeRole of %s with external ID %q, want %q", role, c.Params.Get("ExternalId"), orgExternalID)
			}
			if c.Denied {
				denied[role]++
			} else {
				granted[role]++
			}
		}
	}
	perAccount := map[string]int{}
	for _, e := range evs {
		perAccount[e.account]++
	}
	t.Logf("events per account %v; AssumeRole granted %v, denied %v", perAccount, granted, denied)
	if granted[roleARN(a)] != 1 || granted[roleARN(b)] != 1 || len(granted) != 2 {
		t.Errorf("AssumeRole granted %v, want once for each of %s and %s (for %d and %d events)", granted, a, b, perAccount[a], perAccount[b])
	}
	if denied[roleARN(broken)] != perAccount[broken] || len(denied) != 1 {
		t.Errorf("AssumeRole denied %v, want %d for %s (one per event: a member fixed later works at its next event)", denied, perAccount[broken], broken)
	}
}

type wantWrite struct{ account, region, operation, resource string }

type orgWrites struct {
	central string
	// members are the member accounts acted in and their roles.
	members map[string]string
	want    []wantWrite
	// buckets are the buckets whose writes only their account may sign.
	buckets map[string]string
}

// checkOrgWrites holds the proxy's record to what the organisation test
// expects: every wanted write signed in its account (and region) by the
// member role; every write of the central account a metric; no write by
// any other account; every write to a bucket signed in its owner's
// account.
func checkOrgWrites(t *testing.T, calls []orgproxy.Call, w orgWrites) {
	t.Helper()
	found := make([]bool, len(w.want))
	for _, c := range calls {
		if !c.Write() {
			continue
		}
		what := fmt.Sprintf("%s %s (bucket %q, %v) signed by %s in %s %s", c.Service, c.Operation, c.Bucket, c.Params, c.AccessKeyID, c.Account, c.Region)
		switch role, member := w.members[c.Account]; {
		case c.Account == w.central:
			if c.Service != "monitoring" {
				t.Errorf("the central account's credentials wrote: %s", what)
			}
		case !member:
			t.Errorf("a write in an account not acted in: %s", what)
		case c.Role != role:
			t.Errorf("a write in member %s not signed by its member role %s: %s (role %q)", c.Account, role, what, c.Role)
		case c.Service == "ec2" && !slices.Contains(orgRegions, c.Region):
			t.Errorf("a write outside REGIONS: %s", what)
		}
		if owner, ok := w.buckets[c.Bucket]; ok && c.Account != owner {
			t.Errorf("a write to bucket %s of account %s: %s", c.Bucket, owner, what)
		}
		for i, ww := range w.want {
			if c.Account == ww.account && (ww.region == "" || c.Region == ww.region) && c.Operation == ww.operation && c.Status == 200 &&
				(ww.resource == "" || c.Bucket == ww.resource || c.Params.Get("InstanceId") == ww.resource) {
				found[i] = true
			}
		}
	}
	for i, ww := range w.want {
		if !found[i] {
			t.Errorf("no successful %s on %q in %s %s in the proxy's record", ww.operation, ww.resource, ww.account, ww.region)
		}
	}
}

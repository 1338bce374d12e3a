package remediation

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestResolveManagedRules(t *testing.T) {
	r := NewRuleResolver(testCatalog(), nil)
	check := func(t *testing.T, rule, want string) {
		t.Helper()
		rem, managed, ok := r.Resolve(rule)
		if !ok || rem != want || managed != rule {
			t.Errorf("Resolve(%q) = %q, %q, %t; want %q, %q, true", rule, rem, managed, ok, want, rule)
		}
	}
	for rule, want := range testCatalog().ManagedRules() {
		t.Run("managed/"+rule, func(t *testing.T) { check(t, rule, want) })
	}
}

func TestResolveGeneratedNames(t *testing.T) {
	r := NewRuleResolver(testCatalog(), nil)
	cases := []struct{ rule, rem, managed string }{
		{"securityhub-s3-bucket-public-write-prohibited-baa2cf8c", S3PublicAccessBlock, "s3-bucket-public-write-prohibited"},
		{"securityhub-s3-bucket-public-read-prohibited-1a2b3c4d", S3PublicAccessBlock, "s3-bucket-public-read-prohibited"},
		{"securityhub-s3-bucket-level-public-access-prohibited-x1", S3PublicAccessBlock, "s3-bucket-level-public-access-prohibited"},
		{"securityhub-s3-bucket-server-side-encryption-enabled-0f9e8d7c", S3Encryption, "s3-bucket-server-side-encryption-enabled"},
		{"securityhub-ec2-imdsv2-check-4e5f6a7b", EC2IMDSv2, "ec2-imdsv2-check"},
		{"securityhub-encrypted-volumes-deadbeef", EBSEncryption, "encrypted-volumes"},
		{"securityhub-ec2-ebs-encryption-by-default-abc", EBSEncryption, "ec2-ebs-encryption-by-default"},
		{"s3-default-encryption-kms-conformance-pack-mz2p5rt1", S3Encryption, "s3-default-encryption-kms"},
		{"s3-bucket-public-read-prohibited-conformance-pack-x1y2z3", S3PublicAccessBlock, "s3-bucket-public-read-prohibited"},
		{"encrypted-volumes-conformance-pack-abcdef", EBSEncryption, "encrypted-volumes"},
		// organisation rules (PutOrganizationConfigRule) named after the
		// managed rule, as AWS Config names them in the member accounts
		{"OrgConfigRule-s3-bucket-public-read-prohibited-dbgzf8ba", S3PublicAccessBlock, "s3-bucket-public-read-prohibited"},
		{"OrgConfigRule-ec2-imdsv2-check-k3x9q2w1", EC2IMDSv2, "ec2-imdsv2-check"},
		{"OrgConfigRule-restricted-ssh-a1b2c3d4", EBSEncryption, "restricted-ssh"},
		{"OrgConfigRule-s3-default-encryption-kms-mz2p5rt1", S3Encryption, "s3-default-encryption-kms"},
		// AWS Control Tower: by identifier, or by the name in upper snake case
		{"AWSControlTower_AWS-GR_S3_BUCKET_PUBLIC_READ_PROHIBITED", S3PublicAccessBlock, "s3-bucket-public-read-prohibited"},
		{"AWSControlTower_AWS-GR_ENCRYPTED_VOLUMES", EBSEncryption, "encrypted-volumes"},
		{"AWSControlTower_AWS-GR_INCOMING_SSH_DISABLED", EBSEncryption, "restricted-ssh"},
		{"AWSControlTower_AWS-GR_RESTRICTED_SSH", EBSEncryption, "restricted-ssh"},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			rem, managed, ok := r.Resolve(tc.rule)
			if !ok || rem != tc.rem || managed != tc.managed {
				t.Errorf("Resolve = %q, %q, %t; want %q, %q, true", rem, managed, ok, tc.rem, tc.managed)
			}
		})
	}
}

func TestResolveRejectsPartialWords(t *testing.T) {
	r := NewRuleResolver(testCatalog(), nil)
	for _, rule := range []string{
		"xs3-bucket-public-read-prohibited",
		"s3-bucket-public-read-prohibitedx",
		"s3-bucket-public-read-prohibited2",
		"my_s3-bucket-public-read-prohibited",
		"s3-bucket-public-read-prohibited_v2",
		"not-encrypted-volumesx",
		"ec2-imdsv2-checks",
		"s3-bucket-public-read",
		"iam-password-policy",
		"S3-BUCKET-PUBLIC-READ-PROHIBITED",
		"AWSControlTower_AWS-GR_S3_BUCKET_PUBLIC_READ",
		// only the forms the event patterns deliver: a Security Hub rule that
		// merely contains a managed name (other parameters) is another rule
		"securityhub-vpc-sg-restricted-ssh-1a2b3c4d",
		"securityhub-s3-bucket-public-read-prohibited-",
		"securityhub-s3-bucket-public-read-prohibited",
		"my-s3-bucket-public-read-prohibited-rule",
		"xs3-bucket-public-read-prohibited-s3-bucket-public-read-prohibited",
		"s3-bucket-public-read-prohibited-conformance-pack-",
		"OrgConfigRule-s3-bucket-public-read-prohibited",
		"OrgConfigRule-s3-bucket-public-read-prohibited-",
		"OrgConfigRule-s3-bucket-public-read-prohibitedx-dbgzf8ba",
		"OrgConfigRule-corp-s3-bucket-public-read-prohibited-dbgzf8ba",
		"orgconfigrule-s3-bucket-public-read-prohibited-dbgzf8ba",
		"OrgConfigRule_s3-bucket-public-read-prohibited-dbgzf8ba",
		"xOrgConfigRule-s3-bucket-public-read-prohibited-dbgzf8ba",
		"OrgConfigRule-iam-password-policy-dbgzf8ba",
		"s3-bucket-public-read-prohibited-v2",
		"AWSControlTower_AWS-GR_s3-bucket-public-read-prohibited",
		"AWSControlTower_AWS-GR_IAM_PASSWORD_POLICY",
		"",
	} {
		if rem, managed, ok := r.Resolve(rule); ok {
			t.Errorf("Resolve(%q) = %q, %q, true; want no match", rule, rem, managed)
		}
	}
}

func TestResolveOverrides(t *testing.T) {
	r := NewRuleResolver(testCatalog(), map[string]string{
		"s3-bucket-public-read-prohibited": S3Encryption, // overrides a managed name
		"my-company-imds-rule":             "imdsv2",     // alias
		"custom-bucket-check":              S3PublicAccessBlock,
	})
	cases := []struct{ rule, rem, managed string }{
		{"s3-bucket-public-read-prohibited", S3Encryption, ""},
		{"my-company-imds-rule", EC2IMDSv2, ""},
		{"custom-bucket-check", S3PublicAccessBlock, ""},
		// other names still resolve as before
		{"s3-bucket-public-write-prohibited", S3PublicAccessBlock, "s3-bucket-public-write-prohibited"},
		// overrides are exact names: a generated name still resolves as managed
		{"securityhub-s3-bucket-public-read-prohibited-1", S3PublicAccessBlock, "s3-bucket-public-read-prohibited"},
		{"OrgConfigRule-s3-bucket-public-read-prohibited-dbgzf8ba", S3PublicAccessBlock, "s3-bucket-public-read-prohibited"},
	}
	for _, tc := range cases {
		rem, managed, ok := r.Resolve(tc.rule)
		if !ok || rem != tc.rem || managed != tc.managed {
			t.Errorf("Resolve(%q) = %q, %q, %t; want %q, %q, true", tc.rule, rem, managed, ok, tc.rem, tc.managed)
		}
	}
	if _, _, ok := r.Resolve("custom-bucket-check-2"); ok {
		t.Error("an override matched a longer name")
	}
}

func TestParseRuleMap(t *testing.T) {
	known := testCatalog()
	got, err := ParseRuleMap(" a=s3-encryption, ,b = imdsv2,c=ebs-encryption-by-default,", known)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": S3Encryption, "b": EC2IMDSv2, "c": EBSEncryption}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := ParseRuleMap("", known); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
	for in, msg := range map[string]string{
		"a":            `entry "a": want rule-name=remediator`,
		"=s3":          `want rule-name=remediator`,
		"a=":           `want rule-name=remediator`,
		"a=s3-magic":   `unknown remediator "s3-magic"`,
		"a=imdsv2,b=x": `unknown remediator "x"`,
	} {
		_, err := ParseRuleMap(in, known)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseRuleMap(%q) error = %v, want it to contain %q", in, err, msg)
		}
	}
	if got, err := ParseRuleMap("x=anything", nil); err != nil || got["x"] != "anything" {
		t.Errorf("nil known: %v, %v", got, err)
	}
}

func TestParseModes(t *testing.T) {
	got, err := ParseModes(" imdsv2=dry-run, s3-encryption = enforce ,", testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]Mode{EC2IMDSv2: ModeDryRun, S3Encryption: ModeEnforce}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for in, msg := range map[string]string{
		"imdsv2":           `entry "imdsv2": want remediator=mode`,
		"imdsv2=off":       `entry "imdsv2=off": mode "off" is not one of enforce, dry-run`,
		"s3-magic=dry-run": `unknown remediator "s3-magic" (known: s3-public-access-block, s3-encryption, ec2-imdsv2, ebs-encryption)`,
		"=dry-run":         `want remediator=mode`,
	} {
		if _, err := ParseModes(in, testCatalog()); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseModes(%q) error = %v, want it to contain %q", in, err, msg)
		}
	}
}

func TestParseModeAndCanonicalName(t *testing.T) {
	for in, want := range map[string]Mode{"enforce": ModeEnforce, " dry-run ": ModeDryRun} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "dryrun", "ENFORCE", "off"} {
		if _, err := ParseMode(in); err == nil || !strings.Contains(err.Error(), "enforce, dry-run") {
			t.Errorf("ParseMode(%q) error = %v", in, err)
		}
	}
	for in, want := range map[string]string{
		"s3-default-encryption": S3Encryption, "s3-bucket-encryption": S3Encryption, " imdsv2 ": EC2IMDSv2,
		"ebs-encryption-by-default": EBSEncryption, "s3-public-access-block": S3PublicAccessBlock, "other": "other",
	} {
		if got, ok := testCatalog().Canonical(in); got != want || ok != (want != "other") {
			t.Errorf("Canonical(%q) = %q, %t; want %q", in, got, ok, want)
		}
	}
}

func TestModesFor(t *testing.T) {
	if got := (Modes{}).For(S3Encryption); got != ModeEnforce {
		t.Errorf("zero Modes: %q", got)
	}
	m := Modes{Default: ModeDryRun, Per: map[string]Mode{EC2IMDSv2: ModeEnforce}}
	if m.For(S3Encryption) != ModeDryRun || m.For(EC2IMDSv2) != ModeEnforce {
		t.Errorf("For: %q %q", m.For(S3Encryption), m.For(EC2IMDSv2))
	}
}

func TestRegistry(t *testing.T) {
	a := &fakeRemediator{name: S3Encryption, types: []string{"AWS::S3::Bucket"}}
	b := &fakeRemediator{name: EC2IMDSv2, types: []string{"AWS::EC2::Instance"}}
	reg, err := NewRegistry(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Names(); !reflect.DeepEqual(got, []string{S3Encryption, EC2IMDSv2}) {
		t.Errorf("Names = %v", got)
	}
	if r, ok := reg.Get(S3Encryption); !ok || r != a {
		t.Error("Get failed")
	}
	if !reg.Has(EC2IMDSv2) || reg.Has(EBSEncryption) {
		t.Error("Has is wrong")
	}
	all := reg.All()
	all[0] = nil
	if reg.All()[0] != a {
		t.Error("All exposes the registry's slice")
	}
	if _, err := NewRegistry(a, &fakeRemediator{name: S3Encryption}); err == nil || !strings.Contains(err.Error(), `"s3-encryption" registered twice`) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestLazyBuildsOnceOnFirstUse(t *testing.T) {
	var builds atomic.Int32
	inner := &fakeRemediator{name: S3Encryption, types: []string{"AWS::S3::Bucket"}, result: Result{Action: ActionCompliant}}
	l := Lazy(S3Encryption, []string{"AWS::S3::Bucket"}, func() Remediator { builds.Add(1); return inner })
	if l.Name() != S3Encryption || !reflect.DeepEqual(l.ResourceTypes(), []string{"AWS::S3::Bucket"}) {
		t.Error("Name/ResourceTypes wrong")
	}
	if builds.Load() != 0 {
		t.Fatal("built before first use")
	}
	if res := l.Remediate(context.Background(), Request{ResourceID: "b"}); res.Action != ActionCompliant {
		t.Errorf("Remediate = %+v", res)
	}
	l.Remediate(context.Background(), Request{ResourceID: "c"})
	if builds.Load() != 1 {
		t.Errorf("built %d times, want 1", builds.Load())
	}
	if len(inner.requests()) != 2 {
		t.Errorf("inner saw %d requests", len(inner.requests()))
	}
}

func TestActionsAndSeverity(t *testing.T) {
	want := map[Action]string{
		ActionRemediated: "low", ActionCompliant: "info", ActionExempt: "info", ActionDryRun: "low", ActionDeferred: "medium",
		ActionNeedsManual: "medium", ActionGone: "info", ActionIgnored: "info", ActionEscalated: "high", ActionFailed: "high",
		ActionInProgress: "info", ActionReverted: "low",
	}
	acts := Actions()
	if len(acts) != len(want) {
		t.Fatalf("Actions() has %d actions, want %d", len(acts), len(want))
	}
	for _, a := range acts {
		sev, ok := want[a]
		if !ok {
			t.Errorf("unexpected action %q", a)
		}
		if a.Severity() != sev {
			t.Errorf("%s.Severity() = %q, want %q", a, a.Severity(), sev)
		}
	}
}

// outcomeFields are the documented fields of the outcome JSON.
var outcomeFields = []string{"remediator", "rule", "resourceType", "resourceId", "account", "region", "action",
	"reason", "before", "after", "durationMs", "error", "eventId", "trigger", "actor"} // and detectedAt, completedAt when set

func TestOutcomeJSON(t *testing.T) {
	b, err := json.Marshal(Outcome{Remediator: "r", Action: ActionIgnored})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := append([]string(nil), outcomeFields...)
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("outcome JSON keys = %v, want %v", keys, want)
	}
	for _, k := range []string{"before", "after"} {
		if v, ok := m[k].(map[string]any); !ok || len(v) != 0 {
			t.Errorf("%s = %#v, want {}", k, m[k])
		}
	}
}

// The times are in the JSON (RFC 3339, UTC, milliseconds) and read back.
func TestOutcomeJSONTimes(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 4, 5, 678_900_000, time.FixedZone("CET", 3600))
	o := Outcome{Remediator: "r", Action: ActionRemediated, DetectedAt: at.Add(-time.Minute), CompletedAt: at}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"completedAt":"2026-12-03T09:04:05.678Z"`) || !strings.Contains(string(b), `"detectedAt":"2026-12-03T09:03:05.678Z"`) {
		t.Errorf("JSON %s lacks the UTC millisecond times", b)
	}
	var back Outcome
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.CompletedAt.Equal(at.Truncate(time.Millisecond)) || !back.DetectedAt.Equal(at.Add(-time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("read back %v / %v", back.DetectedAt, back.CompletedAt)
	}
	if err := json.Unmarshal([]byte(`{"completedAt":"yesterday"}`), &back); err == nil {
		t.Error("a time that is not RFC 3339 was accepted")
	}
}

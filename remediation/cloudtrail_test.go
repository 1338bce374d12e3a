package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/events"
)

func cloudTrailFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", "testdata", "cloudtrail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func invokeCloudTrail(t *testing.T, h *Handler, raw []byte) ([]Outcome, error) {
	t.Helper()
	v, err := h.Invoke(context.Background(), raw)
	outs, ok := v.([]Outcome)
	if !ok {
		t.Fatalf("Invoke returned %T, want []Outcome (err %v)", v, err)
	}
	return outs, err
}

// TestCloudTrailFixtures runs every real-shaped CloudTrail fixture through
// Invoke and checks which remediators looked at which resources.
func TestCloudTrailFixtures(t *testing.T) {
	type look struct{ remediator, typ, id string }
	cases := []struct {
		fixture string
		want    []look // nil: one ignored outcome
		reason  string // for ignored outcomes
	}{
		{"s3-create-bucket.json", []look{{S3PublicAccessBlock, "AWS::S3::Bucket", "example-bucket-logs"}, {S3Encryption, "AWS::S3::Bucket", "example-bucket-logs"}}, ""},
		{"s3-put-bucket-policy.json", []look{{S3PublicAccessBlock, "AWS::S3::Bucket", ""}}, ""},
		{"s3-delete-bucket-encryption.json", []look{{S3Encryption, "AWS::S3::Bucket", ""}}, ""},
		{"ec2-run-instances.json", []look{
			{EC2IMDSv2, "AWS::EC2::Instance", "i-0a1b2c3d4e5f60001"},
			{EC2IMDSv2, "AWS::EC2::Instance", "i-0a1b2c3d4e5f60002"},
			{EC2IMDSv2, "AWS::EC2::Instance", "i-0a1b2c3d4e5f60003"}}, ""},
		{"ec2-modify-instance-metadata-options.json", []look{{EC2IMDSv2, "AWS::EC2::Instance", ""}}, ""},
		{"ec2-disable-ebs-encryption-by-default.json", []look{{EBSEncryption, "AWS::::Account", ""}}, ""},
		{"ec2-create-volume.json", []look{{EBSEncryption, "AWS::EC2::Volume", ""}}, ""},
		{"s3-put-bucket-policy-access-denied.json", nil, "failed with AccessDenied: nothing changed"},
		{"ec2-create-tags-unknown.json", nil, "no remediator checks what ec2.amazonaws.com CreateTags changes"},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			f := newFakes(t, nil)
			raw := cloudTrailFixture(t, tc.fixture)
			ev, err := events.ParseCloudTrail(raw)
			if err != nil {
				t.Fatal(err)
			}
			outs, err := invokeCloudTrail(t, f.h, raw)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if len(f.pub.outcomes) != len(outs) {
				t.Errorf("published %d outcomes, returned %d", len(f.pub.outcomes), len(outs))
			}
			for _, o := range outs {
				if o.Trigger != TriggerCloudTrail || o.Actor != ev.Actor() || !o.DetectedAt.Equal(ev.Call.EventTime) {
					t.Errorf("outcome trigger %q actor %q detected %v; want cloudtrail, %q, %v", o.Trigger, o.Actor, o.DetectedAt, ev.Actor(), ev.Call.EventTime)
				}
				if o.Account != ev.Call.RecipientAccountID || o.Region != ev.Call.AWSRegion || o.EventID != ev.ID {
					t.Errorf("outcome account %q region %q event %q; want the record's %q, %q, %q", o.Account, o.Region, o.EventID, ev.Call.RecipientAccountID, ev.Call.AWSRegion, ev.ID)
				}
			}
			if tc.want == nil {
				if len(outs) != 1 || outs[0].Action != ActionIgnored || !strings.Contains(outs[0].Reason, tc.reason) {
					t.Fatalf("outcomes = %+v, want one ignored: %q", outs, tc.reason)
				}
				for _, r := range all(f) {
					if n := len(r.requests()); n != 0 {
						t.Errorf("%s was asked %d times", r.name, n)
					}
				}
				return
			}
			var got []look
			for _, o := range outs {
				if o.Action != ActionRemediated {
					t.Errorf("%s on %s: %s (%s)", o.Remediator, o.ResourceID, o.Action, o.Reason)
				}
				got = append(got, look{o.Remediator, o.ResourceType, o.ResourceID})
			}
			for i := range tc.want {
				if tc.want[i].id == "" { // the fixture's only resource, whatever its name
					tc.want[i].id = ev.Resources()[0].ID
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("looked at %v, want %v", got, tc.want)
			}
			for _, r := range all(f) {
				for _, req := range r.requests() {
					if req.Rule != "" || req.ManagedRule != "" || req.Mode != ModeEnforce {
						t.Errorf("%s request %+v: a CloudTrail request names no rule and runs in the configured mode", r.name, req)
					}
				}
			}
		})
	}
}

func TestCloudTrailIgnoresThePipelinesOwnCalls(t *testing.T) {
	raw := cloudTrailFixture(t, "s3-put-bucket-policy.json")
	ev, err := events.ParseCloudTrail(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Principal() == "" {
		t.Fatal("fixture has no principal")
	}
	f := newFakes(t, nil)
	f.h.IgnoreActors = []string{"arn:aws:iam::123456789012:role/other", ev.Principal()}
	outs, err := invokeCloudTrail(t, f.h, raw)
	if err != nil || len(outs) != 1 || outs[0].Action != ActionIgnored || !strings.HasPrefix(outs[0].Reason, "caused by this pipeline") {
		t.Fatalf("outcomes = %+v, %v; want one ignored, caused by this pipeline", outs, err)
	}
	if n := len(f.pab.requests()); n != 0 {
		t.Errorf("the remediator was asked %d times", n)
	}

	// Another principal's call is acted on.
	f = newFakes(t, nil)
	f.h.IgnoreActors = []string{"arn:aws:iam::123456789012:role/other"}
	if outs, err := invokeCloudTrail(t, f.h, raw); err != nil || outs[0].Action != ActionRemediated {
		t.Fatalf("outcomes = %+v, %v; want remediated", outs, err)
	}
}

func TestCloudTrailOtherAccountIsIgnored(t *testing.T) {
	f := newFakes(t, nil)
	f.h.OwnAccount = func(context.Context) (string, error) { return "210987654321", nil }
	outs, err := invokeCloudTrail(t, f.h, cloudTrailFixture(t, "ec2-run-instances.json"))
	if err != nil || len(outs) != 3 {
		t.Fatalf("outcomes = %+v, %v", outs, err)
	}
	for _, o := range outs {
		if o.Action != ActionIgnored || !strings.Contains(o.Reason, "acts only in its own account") {
			t.Errorf("%s: %s (%s)", o.ResourceID, o.Action, o.Reason)
		}
	}
	if n := len(f.imds.requests()); n != 0 {
		t.Errorf("the remediator was asked %d times", n)
	}
}

func TestInvokeRoutesConfigEvents(t *testing.T) {
	f := newFakes(t, nil)
	v, err := f.h.Invoke(context.Background(), fixture(t, "s3-public-read-noncompliant.json"))
	o, ok := v.(Outcome)
	if err != nil || !ok || o.Action != ActionRemediated || o.Trigger != TriggerConfig || o.Actor != "" {
		t.Fatalf("Invoke = %#v, %v; want a remediated config outcome", v, err)
	}
	if _, err := f.h.Invoke(context.Background(), json.RawMessage(`{"source":"aws.s3","detail-type":"AWS API Call via CloudTrail"}`)); !errors.As(err, new(*events.ParseError)) {
		t.Errorf("an incomplete CloudTrail event: err = %v, want a ParseError", err)
	}
}

// flapClock is a settable clock for the flap tests.
type flapClock struct{ t time.Time }

func (c *flapClock) now() time.Time { return c.t }

// TestIgnoredActorForms: the principal may be listed as its role ARN (what
// Terraform sets), as the actor outcomes show, or as a session ARN, which
// stands for every session of the role.
func TestIgnoredActorForms(t *testing.T) {
	ev, err := events.ParseCloudTrail(cloudTrailFixture(t, "ec2-run-instances.json")) // Admin/alice
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		listed string
		want   bool
	}{
		{"arn:aws:iam::123456789012:role/Admin", true},
		{"arn:aws:iam::123456789012:role/Admin/alice", true},
		{"arn:aws:sts::123456789012:assumed-role/Admin/alice", true},
		{"arn:aws:sts::123456789012:assumed-role/Admin/bob", true},
		{"arn:aws:sts::123456789012:assumed-role/Admin", true},
		{"arn:aws:sts::123456789012:assumed-role/AdminX/alice", false},
		{"arn:aws:sts::210987654321:assumed-role/Admin/alice", false},
		{"arn:aws:iam::123456789012:role/Other", false},
		{"arn:aws:iam::123456789012:user/alice", false},
	}
	for _, tc := range cases {
		if _, got := ignoredActor([]string{tc.listed}, ev); got != tc.want {
			t.Errorf("IGNORE_ACTOR_ARNS=%s: ignored %t, want %t", tc.listed, got, tc.want)
		}
	}
}

// TestCloudTrailOtherServiceIsIgnored: a call of a service no remediator
// watches is an unknown call: ignored, never an error.
func TestCloudTrailOtherServiceIsIgnored(t *testing.T) {
	raw := strings.NewReplacer(`"source": "aws.ec2"`, `"source": "aws.iam"`, `"eventSource": "ec2.amazonaws.com"`, `"eventSource": "iam.amazonaws.com"`,
		`"eventName": "CreateTags"`, `"eventName": "CreateUser"`).Replace(string(cloudTrailFixture(t, "ec2-create-tags-unknown.json")))
	f := newFakes(t, nil)
	outs, err := invokeCloudTrail(t, f.h, []byte(raw))
	if err != nil || len(outs) != 1 || outs[0].Action != ActionIgnored || !strings.Contains(outs[0].Reason, "iam.amazonaws.com CreateUser") {
		t.Fatalf("%+v, %v; want one ignored outcome naming the call", outs, err)
	}
}

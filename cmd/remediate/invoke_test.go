package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compact puts a fixture on one line, for JSON lines input.
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "events.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInvokeHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		c, out, errOut := testCLI("", nil)
		if code := run(context.Background(), []string{"invoke", arg}, c); code != exitOK {
			t.Errorf("%s: exit %d, want 0", arg, code)
		}
		help := out.String() + errOut.String()
		for _, s := range []string{
			"--event FILE", "--dry-run",
			"one event, a JSON array of events, or one event per line", `"-" reads standard input`,
			"if one is not a valid compliance change or CloudTrail event, nothing\nruns",
			"Exit status: 0 when no outcome is failed; 1 when an outcome is failed", "when interrupted before the last event",
			"2 for\nbad flags, bad settings (a missing region too) or input that is not a valid\nevent",
		} {
			if !strings.Contains(help, s) {
				t.Errorf("%s: help does not contain %q:\n%s", arg, s, help)
			}
		}
	}
}

func TestInvokeBadArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"missing --event", []string{"invoke"}, "--event FILE is required"},
		{"empty --event", []string{"invoke", "--event", ""}, "--event FILE is required"},
		{"extra argument", []string{"invoke", "--event", "x.json", "more"}, "--event FILE is required"},
		{"unknown flag", []string{"invoke", "--events", "x.json"}, "flag provided but not defined: -events"},
		{"missing file", []string{"invoke", "--event", filepath.Join(t.TempDir(), "nope.json")}, "reading events"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, out, errOut := testCLI("", nil)
			if code := run(context.Background(), tc.args, c); code != exitBadArgs {
				t.Errorf("exit %d, want %d", code, exitBadArgs)
			}
			if !strings.Contains(errOut.String(), tc.msg) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q", out.String())
			}
		})
	}
}

// TestInvokeInvalidEventRunsNothing: one bad event among good ones stops
// everything before any handler is built (no outcome is printed, and the
// AWS configuration, which would fail here for want of a region, is never
// loaded).
func TestInvokeInvalidEventRunsNothing(t *testing.T) {
	noRegion(t)
	good := compact(t, fixture(t, "s3-public-read-noncompliant.json"))
	bad := strings.Replace(good, `"resourceId":"example-public-bucket",`, ``, 1)
	bad = strings.ReplaceAll(bad, `"resourceId":"example-public-bucket"`, `"resourceId":""`)
	cases := []struct {
		name, input string
		msg         []string
	}{
		{"JSON lines", good + "\n" + bad + "\n" + good, []string{"event 2: invalid Config compliance change event: detail.resourceId is missing or empty"}},
		{"array", "[" + good + "," + strings.Replace(good, `"source":"aws.config"`, `"source":"aws.s3"`, 1) + "]", []string{`event 2: `, `source is "aws.s3"`}},
		{"not JSON", "resourceId=bucket", []string{"event 1", "invalid"}},
		{"two problems", bad + "\n" + `{"source":"aws.config"}`, []string{"event 1: ", "detail.resourceId", "event 2: ", "detail-type"}},
		{"empty", "  \n", []string{"no events in input"}},
		{"empty array", "[]", []string{"no events in input"}},
	}
	for _, tc := range cases {
		for _, viaStdin := range []bool{false, true} {
			name := tc.name + map[bool]string{false: " (file)", true: " (stdin)"}[viaStdin]
			t.Run(name, func(t *testing.T) {
				c, out, errOut := testCLI("", nil)
				args := []string{"invoke", "--event"}
				if viaStdin {
					c.stdin = strings.NewReader(tc.input)
					args = append(args, "-")
				} else {
					args = append(args, writeFile(t, tc.input))
				}
				if code := run(context.Background(), args, c); code != exitBadArgs {
					t.Errorf("exit %d, want %d; stderr %s", code, exitBadArgs, errOut.String())
				}
				for _, s := range tc.msg {
					if !strings.Contains(errOut.String(), s) {
						t.Errorf("stderr %q does not contain %q", errOut.String(), s)
					}
				}
				if strings.Contains(errOut.String(), "region") {
					t.Errorf("AWS configuration loaded before the events were validated: %s", errOut.String())
				}
				if out.Len() != 0 {
					t.Errorf("outcomes printed: %s", out.String())
				}
			})
		}
	}
}

func TestInvokeBadConfiguration(t *testing.T) {
	c, out, errOut := testCLI("", map[string]string{"RULE_MAP": "x=nope"})
	code := run(context.Background(), []string{"invoke", "--event", writeFile(t, string(fixture(t, "s3-sse-noncompliant.json")))}, c)
	if code != exitBadArgs || !strings.Contains(errOut.String(), "configuration: RULE_MAP") || out.Len() != 0 {
		t.Errorf("exit %d, stderr %q, stdout %q", code, errOut.String(), out.String())
	}
}

func TestParseEvents(t *testing.T) {
	one := fixture(t, "s3-public-read-noncompliant.json")
	two := fixture(t, "ec2-imdsv2-noncompliant.json")
	three := fixture(t, "ebs-encrypted-volumes-noncompliant.json")
	cases := []struct {
		name  string
		input string
		ids   []string
	}{
		{"one pretty-printed event", string(one), []string{"example-public-bucket"}},
		{"JSON array", "[\n" + string(one) + ",\n" + string(two) + "\n]", []string{"example-public-bucket", "i-0abcd1234ef567890"}},
		{"JSON lines", compact(t, one) + "\n" + compact(t, two) + "\n" + compact(t, three) + "\n", []string{"example-public-bucket", "i-0abcd1234ef567890", "vol-0123456789abcdef0"}},
		{"JSON lines with blank lines and CRLF", "\r\n" + compact(t, two) + "\r\n\r\n" + compact(t, one), []string{"i-0abcd1234ef567890", "example-public-bucket"}},
		{"concatenated pretty-printed events", string(three) + string(one), []string{"vol-0123456789abcdef0", "example-public-bucket"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := parseEvents([]byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, ev := range evs {
				ids = append(ids, ev.(*events.ComplianceChangeEvent).Change.ResourceID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("resource IDs %v, want %v (in input order)", ids, tc.ids)
			}
		})
	}
	for _, bad := range []string{"", "[", "[1,", `{"a":`, compact(t, one) + "\n{", "[" + string(one) + "] x"} {
		if evs, err := parseEvents([]byte(bad)); err == nil {
			t.Errorf("parseEvents(%.40q) = %d events, want an error", bad, len(evs))
		}
	}
	// a syntax error in JSON lines is reported as a ParseError with the event number
	_, err := parseEvents([]byte(compact(t, one) + "\n{\"source\": }\n"))
	var pe *events.ParseError
	if !errors.As(err, &pe) || pe.Kind != events.ErrNotJSON || !strings.Contains(err.Error(), "event 2") {
		t.Errorf("err = %v", err)
	}
}

func TestReadInputStdin(t *testing.T) {
	c, _, _ := testCLI(string(fixture(t, "s3-sse-noncompliant.json")), nil)
	b, err := readInput(c, "-")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := parseEvents(b)
	if err != nil || len(evs) != 1 || evs[0].(*events.ComplianceChangeEvent).Change.ConfigRuleName != "s3-bucket-server-side-encryption-enabled" {
		t.Errorf("stdin: %v, %v", evs, err)
	}
	c.stdin = errReader{}
	if _, err := readInput(c, "-"); err == nil || !strings.Contains(err.Error(), "reading standard input") {
		t.Errorf("err = %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }

// stubRemediator answers by resource ID.
type stubRemediator struct{ results map[string]remediation.Result }

func (s *stubRemediator) Name() string            { return remediators.S3PublicAccessBlockName }
func (s *stubRemediator) ResourceTypes() []string { return []string{"AWS::S3::Bucket"} }
func (s *stubRemediator) Remediate(_ context.Context, req remediation.Request) remediation.Result {
	return s.results[req.ResourceID]
}

type stubPublisher struct{ err error }

func (p stubPublisher) Publish(context.Context, remediation.Outcome) error { return p.err }

// TestInvokeAllExitCodes runs parsed events through a handler on a stub
// remediator: one outcome per event on stdout, in order; exit 1 when one
// failed or could not be published.
func TestInvokeAllExitCodes(t *testing.T) {
	mk := func(bucket string) string {
		return strings.ReplaceAll(compact(t, fixture(t, "s3-public-read-noncompliant.json")), "example-public-bucket", bucket)
	}
	evs, err := parseEvents([]byte(mk("ok-bucket") + "\n" + mk("bad-bucket") + "\n" + mk("fine-bucket")))
	if err != nil {
		t.Fatal(err)
	}
	rem := &stubRemediator{results: map[string]remediation.Result{
		"ok-bucket":   {Action: remediation.ActionRemediated, Reason: "turned on all"},
		"fine-bucket": {Action: remediation.ActionCompliant},
		"bad-bucket": remediation.Failed(nil, errors.Join(errors.New(`putting public access block on bucket "bad-bucket"`),
			&smithy.GenericAPIError{Code: "AccessDenied", Message: "denied"})),
	}}
	reg, err := remediation.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	h := &remediation.Handler{Registry: reg, Rules: remediation.NewRuleResolver(remediators.Catalog(remediators.Definitions()), nil), Publisher: stubPublisher{}}

	run := func(evs []events.Event) (int, []remediation.Outcome, string) {
		c, out, errOut := testCLI("", nil)
		code := invokeAll(context.Background(), c, h, evs)
		var outcomes []remediation.Outcome
		dec := json.NewDecoder(out)
		for dec.More() {
			var o remediation.Outcome
			if err := dec.Decode(&o); err != nil {
				t.Fatalf("stdout is not JSON outcomes: %v\n%s", err, out.String())
			}
			outcomes = append(outcomes, o)
		}
		return code, outcomes, errOut.String()
	}

	code, outs, _ := run([]events.Event{evs[0], evs[2]})
	if code != exitOK || len(outs) != 2 || outs[0].Action != remediation.ActionRemediated || outs[1].Action != remediation.ActionCompliant {
		t.Errorf("all good: exit %d, outcomes %+v", code, outs)
	}

	code, outs, _ = run(evs)
	if code != exitFailed || len(outs) != 3 {
		t.Fatalf("with a failure: exit %d, %d outcomes", code, len(outs))
	}
	if outs[1].ResourceID != "bad-bucket" || outs[1].Action != remediation.ActionFailed || !strings.Contains(outs[1].Error, "AccessDenied") {
		t.Errorf("failed outcome = %+v", outs[1])
	}
	if outs[2].ResourceID != "fine-bucket" {
		t.Error("events after a failure were not run")
	}

	// CloudTrail events mix with Config events: a call yields one outcome
	// per remediator that checks it (only s3-public-access-block is
	// registered here), a failed call one ignored outcome.
	ct := strings.ReplaceAll(compact(t, fixture(t, "cloudtrail/s3-put-bucket-acl.json")), "example-public-site", "bad-bucket")
	ctEvs, err := parseEvents([]byte(mk("ok-bucket") + "\n" + ct + "\n" + compact(t, fixture(t, "cloudtrail/s3-put-bucket-policy-access-denied.json"))))
	if err != nil {
		t.Fatal(err)
	}
	code, outs, stderr := run(ctEvs)
	if code != exitFailed || len(outs) != 3 || stderr != "" {
		t.Fatalf("mixed events: exit %d, %d outcomes, stderr %q; want 1, 3 outcomes, no message beyond them", code, len(outs), stderr)
	}
	if outs[0].Trigger != remediation.TriggerConfig || outs[1].Trigger != remediation.TriggerCloudTrail || outs[1].Action != remediation.ActionFailed ||
		outs[1].ResourceID != "bad-bucket" || outs[1].Actor == "" || outs[2].Action != remediation.ActionIgnored {
		t.Errorf("mixed events: outcomes %+v", outs)
	}

	h.Publisher = stubPublisher{err: errors.New("SNS unreachable")}
	code, outs, stderr = run(evs[:1])
	if code != exitFailed || len(outs) != 1 || !strings.Contains(stderr, "SNS unreachable") {
		t.Errorf("publish failure: exit %d, outcomes %d, stderr %q", code, len(outs), stderr)
	}
}

// cancellingRemediator remediates and then cancels the run, like a Ctrl-C
// during the first event.
type cancellingRemediator struct {
	stubRemediator
	cancel context.CancelFunc
}

// Remediate is interrupted in the middle of its work: the event in hand must
// still finish, so its context stays live.
func (r *cancellingRemediator) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	r.cancel()
	if err := ctx.Err(); err != nil {
		return remediation.Failed(nil, fmt.Errorf("putting public access block on bucket %q: %w", req.ResourceID, err))
	}
	return r.stubRemediator.Remediate(ctx, req)
}

// livePublisher fails a delivery whose context was cancelled.
type livePublisher struct{}

func (livePublisher) Publish(ctx context.Context, _ remediation.Outcome) error { return ctx.Err() }

// Ctrl-C: the event in hand gets its outcome; the others are reported as
// not attempted, not run into failed outcomes.
func TestInvokeInterruptedLeavesTheRestNotAttempted(t *testing.T) {
	var lines []string
	for i := range 5 {
		lines = append(lines, strings.ReplaceAll(compact(t, fixture(t, "s3-public-read-noncompliant.json")), "example-public-bucket", fmt.Sprintf("bucket-%d", i)))
	}
	evs, err := parseEvents([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rem := &cancellingRemediator{stubRemediator{results: map[string]remediation.Result{"bucket-0": {Action: remediation.ActionRemediated}}}, cancel}
	reg, err := remediation.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	h := &remediation.Handler{Registry: reg, Rules: remediation.NewRuleResolver(remediators.Catalog(remediators.Definitions()), nil), Publisher: livePublisher{}}
	c, out, errOut := testCLI("", nil)
	if code := invokeAll(ctx, c, h, evs); code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), `"bucket-0"`) || !strings.Contains(out.String(), `"action":"remediated"`) {
		t.Errorf("want the one outcome of the event in hand, got:\n%s", out.String())
	}
	if got := errOut.String(); got != "remediate invoke: interrupted: 4 of 5 events not attempted (events 2 to 5 of the input): context canceled\n" {
		t.Errorf("stderr %q", got)
	}
}

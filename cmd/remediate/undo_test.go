package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// sampleOutcome is a remediated outcome with every field set.
func sampleOutcome(bucket, eventID string) remediation.Outcome {
	return remediation.Outcome{Remediator: remediators.S3PublicAccessBlockName, Rule: "s3-bucket-public-read-prohibited",
		ResourceType: "AWS::S3::Bucket", ResourceID: bucket, Account: "111122223333", Region: "eu-west-1",
		Action: remediation.ActionRemediated, Reason: "turned on BlockPublicAcls",
		Before:     map[string]any{"configured": false, "blockPublicAcls": false, "hops": 2.0},
		After:      map[string]any{"configured": true, "blockPublicAcls": true, "rules": []any{map[string]any{"fromPort": 22.0}}},
		DurationMs: 41, EventID: eventID, Trigger: remediation.TriggerConfig, Actor: "arn:aws:iam::111122223333:role/x",
		ActedAs:    "arn:aws:sts::111122223333:assumed-role/member/s",
		DetectedAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), CompletedAt: time.Date(2026, 11, 20, 9, 0, 1, 500e6, time.UTC)}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The forms the pipeline prints and sends outcomes in, each made by the
// code that makes it in production.
func TestParseOutcomesForms(t *testing.T) {
	o := sampleOutcome("b1", "e1")
	plain := mustJSON(t, o)

	var logLine bytes.Buffer
	pub := &publish.OutcomePublisher{Logger: app.NewLogger(&logLine, 0), EMF: true}
	if err := pub.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	line := ""
	for _, l := range strings.Split(logLine.String(), "\n") {
		if strings.Contains(l, `"msg":"outcome"`) {
			line = l
		}
	}
	if !strings.Contains(line, `"_aws"`) {
		t.Fatalf("no EMF outcome line in %s", logLine.String())
	}
	sns := publish.SNSMessage("arn:aws:sns:eu-west-1:111122223333:outcomes", o)
	notification := mustJSON(t, map[string]any{"Type": "Notification", "MessageId": "m1", "TopicArn": *sns.TopicArn,
		"Subject": *sns.Subject, "Message": *sns.Message, "Timestamp": "2026-11-20T09:00:02.000Z"})
	sqsMessage := mustJSON(t, map[string]any{"MessageId": "q1", "ReceiptHandle": "r", "Body": notification})
	receive := mustJSON(t, map[string]any{"Messages": []any{json.RawMessage(sqsMessage)}})
	lambdaSNS := mustJSON(t, map[string]any{"Records": []any{map[string]any{"EventSource": "aws:sns",
		"Sns": map[string]any{"Type": "Notification", "Message": *sns.Message}}}})
	logEvents := mustJSON(t, map[string]any{"events": []any{map[string]any{"timestamp": 1, "message": line}}})

	for name, input := range map[string]string{
		"one object":             plain,
		"indented":               func() string { b, _ := json.MarshalIndent(o, "", "  "); return string(b) }(),
		"array":                  "[" + plain + "]",
		"SNS notification":       notification,
		"SQS-delivered SNS":      sqsMessage,
		"sqs receive-message":    receive,
		"Lambda SNS event":       lambdaSNS,
		"log line with EMF":      line,
		"logs filter-log-events": logEvents,
	} {
		t.Run(name, func(t *testing.T) {
			outs, err := parseOutcomes([]byte(input))
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != 1 || !reflect.DeepEqual(outs[0], o) {
				t.Errorf("read back\n%+v\nwant\n%+v", outs, o)
			}
		})
	}

	// JSON lines mixing the forms, as a pasted log excerpt would.
	outs, err := parseOutcomes([]byte(plain + "\n" + line + "\n" + notification + "\n"))
	if err != nil || len(outs) != 3 {
		t.Fatalf("JSON lines: %d outcomes, %v", len(outs), err)
	}
}

func TestParseOutcomesRejects(t *testing.T) {
	for name, c := range map[string]struct{ input, says string }{
		"empty":           {"  \n", "no outcomes"},
		"not JSON":        {`{"action":"remediated"` + "\nnot json", "not JSON"},
		"an event":        {`{"detail-type":"Config Rules Compliance Change","detail":{}}`, "value 1: neither an outcome"},
		"no resource":     {`{"action":"remediated","remediator":"x"}`, "no resourceId"},
		"bad SNS message": {`{"Type":"Notification","Message":"hello"}`, "Message: neither"},
		"second is bad":   {mustJSON(t, sampleOutcome("b1", "e1")) + "\n" + `{"hello":1}`, "value 2"},
		"bad time":        {`{"action":"remediated","resourceId":"b","completedAt":"yesterday"}`, "not RFC 3339"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseOutcomes([]byte(c.input)); err == nil || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %v, want one saying %q", err, c.says)
			}
		})
	}
}

// stubReverter answers reverts by bucket.
type stubReverter struct {
	stubRemediator
	reverts map[string]remediation.Result
	got     []remediation.RevertRequest
}

func (s *stubReverter) Revert(_ context.Context, req remediation.RevertRequest) remediation.Result {
	s.got = append(s.got, req)
	return s.reverts[req.Outcome.ResourceID]
}

func TestUndoAll(t *testing.T) {
	rev := &stubReverter{reverts: map[string]remediation.Result{
		"ok":      {Action: remediation.ActionReverted, Reason: "restored"},
		"changed": {Action: remediation.ActionNeedsManual, Reason: "not reverted: changed since"},
	}}
	reg, err := remediation.NewRegistry(rev)
	if err != nil {
		t.Fatal(err)
	}
	h := &remediation.Handler{Registry: reg, Publisher: stubPublisher{}}
	run := func(u undoRun, outs ...remediation.Outcome) (int, []remediation.Outcome, string) {
		t.Helper()
		rev.got = nil
		c, stdout, stderr := testCLI("", nil)
		code := u.all(context.Background(), c, h, outs)
		var got []remediation.Outcome
		dec := json.NewDecoder(stdout)
		for dec.More() {
			var o remediation.Outcome
			if err := dec.Decode(&o); err != nil {
				t.Fatalf("stdout: %v", err)
			}
			got = append(got, o)
		}
		return code, got, stderr.String()
	}

	compliant := sampleOutcome("other", "e0")
	compliant.Action = remediation.ActionCompliant
	older := sampleOutcome("ok", "e1")
	older.CompletedAt = older.CompletedAt.Add(-time.Hour)
	latest := sampleOutcome("ok", "e2")
	code, outs, stderr := run(undoRun{mode: remediation.ModeEnforce, actor: "me", exemptKey: "keep"}, latest, compliant, older, latest)
	if code != exitOK || len(outs) != 1 || outs[0].Action != remediation.ActionReverted || outs[0].EventID != "undo-e2" || outs[0].Actor != "me" {
		t.Fatalf("exit %d, outcomes %+v", code, outs)
	}
	if len(rev.got) != 1 || rev.got[0].Outcome.EventID != "e2" || rev.got[0].Force {
		t.Errorf("reverts %+v, want only the latest outcome's", rev.got)
	}
	for _, want := range []string{"outcome 2 (s3-public-access-block on AWS::S3::Bucket \"other\", event e0) is compliant, not remediated: skipped",
		"outcome 3 ", "is older than outcome 1", "outcome 1 (", "is outcome 4 again", "tag it keep=off"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}

	code, outs, stderr = run(undoRun{mode: remediation.ModeEnforce, force: true}, sampleOutcome("changed", "e3"), latest)
	if code != exitFailed || len(outs) != 2 || outs[0].Action != remediation.ActionNeedsManual || !rev.got[0].Force {
		t.Errorf("refused: exit %d, outcomes %+v", code, outs)
	}
	if !strings.Contains(stderr, "tag it auto-remediation=off") {
		t.Errorf("stderr %q", stderr)
	}

	rev.reverts["ok"] = remediation.Result{Action: remediation.ActionDryRun, Reason: "would restore"}
	code, outs, stderr = run(undoRun{mode: remediation.ModeDryRun}, latest)
	if code != exitOK || len(outs) != 1 || rev.got[0].Mode != remediation.ModeDryRun || strings.Contains(stderr, "note:") {
		t.Errorf("dry-run: exit %d, outcomes %+v, stderr %q", code, outs, stderr)
	}

	code, outs, stderr = run(undoRun{mode: remediation.ModeEnforce}, compliant)
	if code != exitOK || len(outs) != 0 || !strings.Contains(stderr, "nothing to undo") {
		t.Errorf("nothing remediated: exit %d, outcomes %d, stderr %q", code, len(outs), stderr)
	}
}

func TestUndoBadInputExits2(t *testing.T) {
	for _, a := range [][]string{{"undo"}, {"undo", "--outcome", "-", "extra"}, {"undo", "--outcome", "-"}} {
		c, stdout, stderr := testCLI(`{"hello":"world"}`, map[string]string{"AWS_REGION": "eu-west-1"})
		if code := run(context.Background(), a, c); code != exitBadArgs || stdout.Len() > 0 || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", a, code, stdout.String(), stderr.String())
		}
	}
}

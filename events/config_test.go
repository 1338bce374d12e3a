package events

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureNames(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found %d fixtures in testdata, want at least 10", len(names))
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestParseFixtures checks that every fixture parses and that the fields each
// one carries land where the remediation core reads them.
func TestParseFixtures(t *testing.T) {
	type want struct {
		id, rule, resourceType, resourceID, compliance, oldCompliance string
	}
	wants := map[string]want{
		"config-restricted-ssh-noncompliant.json":       {"3f1a0013-6c2e-4b1d-9a8e-0c5d2b7e0013", "restricted-ssh", "AWS::EC2::SecurityGroup", "sg-0a1b2c3d4e5f60718", "NON_COMPLIANT", "COMPLIANT"},
		"ebs-encrypted-volumes-noncompliant.json":       {"3f1a0007-6c2e-4b1d-9a8e-0c5d2b7e0007", "encrypted-volumes", "AWS::EC2::Volume", "vol-0123456789abcdef0", "NON_COMPLIANT", "COMPLIANT"},
		"ebs-encryption-by-default-noncompliant.json":   {"3f1a0008-6c2e-4b1d-9a8e-0c5d2b7e0008", "ec2-ebs-encryption-by-default", "AWS::::Account", "123456789012", "NON_COMPLIANT", "COMPLIANT"},
		"ec2-imdsv2-noncompliant.json":                  {"3f1a0006-6c2e-4b1d-9a8e-0c5d2b7e0006", "ec2-imdsv2-check", "AWS::EC2::Instance", "i-0abcd1234ef567890", "NON_COMPLIANT", "COMPLIANT"},
		"s3-kms-conformance-pack-noncompliant.json":     {"3f1a0005-6c2e-4b1d-9a8e-0c5d2b7e0005", "s3-default-encryption-kms-conformance-pack-mz2p5rt1", "AWS::S3::Bucket", "example-unencrypted-bucket", "NON_COMPLIANT", "COMPLIANT"},
		"s3-level-public-access-first-evaluation.json":  {"3f1a0003-6c2e-4b1d-9a8e-0c5d2b7e0003", "s3-bucket-level-public-access-prohibited", "AWS::S3::Bucket", "example-public-bucket", "NON_COMPLIANT", ""},
		"s3-public-read-compliant.json":                 {"3f1a0009-6c2e-4b1d-9a8e-0c5d2b7e0009", "s3-bucket-public-read-prohibited", "AWS::S3::Bucket", "example-public-bucket", "COMPLIANT", "NON_COMPLIANT"},
		"s3-public-read-noncompliant.json":              {"3f1a0001-6c2e-4b1d-9a8e-0c5d2b7e0001", "s3-bucket-public-read-prohibited", "AWS::S3::Bucket", "example-public-bucket", "NON_COMPLIANT", "COMPLIANT"},
		"s3-public-read-not-applicable.json":            {"3f1a0010-6c2e-4b1d-9a8e-0c5d2b7e0010", "s3-bucket-public-read-prohibited", "AWS::S3::Bucket", "deleted-bucket", "NOT_APPLICABLE", "COMPLIANT"},
		"s3-public-write-securityhub-noncompliant.json": {"3f1a0002-6c2e-4b1d-9a8e-0c5d2b7e0002", "securityhub-s3-bucket-public-write-prohibited-baa2cf8c", "AWS::S3::Bucket", "example-public-bucket", "NON_COMPLIANT", "COMPLIANT"},
		"s3-sse-noncompliant.json":                      {"3f1a0004-6c2e-4b1d-9a8e-0c5d2b7e0004", "s3-bucket-server-side-encryption-enabled", "AWS::S3::Bucket", "example-unencrypted-bucket", "NON_COMPLIANT", "COMPLIANT"},
		"unknown-rule-noncompliant.json":                {"3f1a0011-6c2e-4b1d-9a8e-0c5d2b7e0011", "iam-password-policy", "AWS::::Account", "123456789012", "NON_COMPLIANT", "COMPLIANT"},
		// forwarded to a central account's bus: the resource is in the member account of detail.awsAccountId
		"org-bus-ebs-encryption-by-default-member-account.json": {"3f1a0012-6c2e-4b1d-9a8e-0c5d2b7e0012", "ec2-ebs-encryption-by-default", "AWS::::Account", "444455556666", "NON_COMPLIANT", "COMPLIANT"},

		"config-s3-bucket-ssl-requests-only-noncompliant.json": {"3f1a0055-6c2e-4b1d-9a8e-0c5d2b7e0055", "s3-bucket-ssl-requests-only", "AWS::S3::Bucket", "example-http-bucket", "NON_COMPLIANT", "COMPLIANT"},
	}
	for _, name := range fixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			ev, err := ParseComplianceChange(readFixture(t, name))
			if err != nil {
				t.Fatalf("ParseComplianceChange: %v", err)
			}
			w, ok := wants[name]
			if !ok {
				// A new remediator's golden event needs no line here: its
				// top-level fields must agree with the evaluation's own
				// qualifier, which Config fills in independently.
				q := ev.Change.NewEvaluationResult.EvaluationResultIdentifier.EvaluationResultQualifier
				w = want{id: ev.ID, rule: q.ConfigRuleName, resourceType: q.ResourceType, resourceID: q.ResourceID,
					compliance: ev.Change.NewEvaluationResult.ComplianceType}
				if ev.Change.OldEvaluationResult != nil {
					w.oldCompliance = ev.Change.OldEvaluationResult.ComplianceType
				}
				if w.id == "" || w.rule == "" || w.resourceID == "" {
					t.Fatalf("fixture %s lacks the id or the evaluation qualifier", name)
				}
			}
			c := ev.Change
			// the account of the resource; an organisation bus delivers
			// member accounts' events to the central account
			account := "123456789012"
			if strings.HasPrefix(name, "org-bus-") {
				account = "444455556666"
				if ev.Envelope.Account != "111122223333" {
					t.Errorf("envelope account %q, want the central account 111122223333", ev.Envelope.Account)
				}
			}
			checks := []struct{ field, got, want string }{
				{"id", ev.ID, w.id},
				{"source", ev.Source, SourceConfig},
				{"detail-type", ev.DetailType, DetailTypeComplianceChange},
				{"configRuleName", c.ConfigRuleName, w.rule},
				{"resourceType", c.ResourceType, w.resourceType},
				{"resourceId", c.ResourceID, w.resourceID},
				{"awsAccountId", c.AWSAccountID, account},
				{"Account()", ev.Account(), account},
				{"awsRegion", c.AWSRegion, "us-east-1"},
				{"Region()", ev.Region(), "us-east-1"},
				{"messageType", c.MessageType, MessageTypeComplianceChange},
				{"newEvaluationResult.complianceType", c.NewEvaluationResult.ComplianceType, w.compliance},
				{"qualifier.configRuleName", c.NewEvaluationResult.EvaluationResultIdentifier.EvaluationResultQualifier.ConfigRuleName, w.rule},
				{"qualifier.resourceType", c.NewEvaluationResult.EvaluationResultIdentifier.EvaluationResultQualifier.ResourceType, w.resourceType},
				{"qualifier.resourceId", c.NewEvaluationResult.EvaluationResultIdentifier.EvaluationResultQualifier.ResourceID, w.resourceID},
				{"qualifier.evaluationMode", c.NewEvaluationResult.EvaluationResultIdentifier.EvaluationResultQualifier.EvaluationMode, "DETECTIVE"},
			}
			for _, ck := range checks {
				if ck.got != ck.want {
					t.Errorf("%s = %q, want %q", ck.field, ck.got, ck.want)
				}
			}
			wantARN := "arn:aws:config:us-east-1:" + account + ":config-rule/config-rule-"
			switch {
			case strings.HasPrefix(c.ConfigRuleName, "securityhub-"):
				wantARN = "arn:aws:config:us-east-1:" + account + ":config-rule/aws-service-rule/securityhub.amazonaws.com/config-rule-"
			case strings.HasPrefix(c.ConfigRuleName, "OrgConfigRule-"):
				// an organisation rule's rule in the member account is
				// AWS Config's multi-account setup's service-linked rule
				wantARN = "arn:aws:config:us-east-1:" + account + ":config-rule/aws-service-rule/config-multiaccountsetup.amazonaws.com/config-rule-"
			}
			if !strings.HasPrefix(c.ConfigRuleARN, wantARN) {
				t.Errorf("configRuleARN = %q", c.ConfigRuleARN)
			}
			if ev.Resources == nil || len(ev.Resources) != 0 {
				t.Errorf("resources = %#v, want an empty (non-nil) slice", ev.Resources)
			}
			if got, want := c.NotificationCreationTime, mustTime(t, "2026-11-20T09:14:05.475Z"); !got.Equal(want) {
				t.Errorf("notificationCreationTime = %v, want %v", got, want)
			}
			if got, want := ev.Time, mustTime(t, "2026-11-20T09:14:05Z"); !got.Equal(want) {
				t.Errorf("time = %v, want %v", got, want)
			}
			ord := c.NewEvaluationResult.EvaluationResultIdentifier.OrderingTimestamp
			if ord == nil || !ord.Equal(mustTime(t, "2026-11-20T09:13:58.917Z")) {
				t.Errorf("orderingTimestamp = %v", ord)
			}
			if r := c.NewEvaluationResult.ResultRecordedTime; r == nil || !r.Equal(mustTime(t, "2026-11-20T09:14:04.885Z")) {
				t.Errorf("resultRecordedTime = %v", r)
			}
			if w.oldCompliance == "" {
				if c.OldEvaluationResult != nil {
					t.Errorf("oldEvaluationResult = %+v, want nil on a first evaluation", c.OldEvaluationResult)
				}
			} else {
				if c.OldEvaluationResult == nil {
					t.Fatal("oldEvaluationResult is nil")
				}
				if got := c.OldEvaluationResult.ComplianceType; got != w.oldCompliance {
					t.Errorf("oldEvaluationResult.complianceType = %q, want %q", got, w.oldCompliance)
				}
				if got := c.OldEvaluationResult.EvaluationResultIdentifier.EvaluationResultQualifier.ResourceID; got != w.resourceID {
					t.Errorf("oldEvaluationResult qualifier resourceId = %q, want %q", got, w.resourceID)
				}
			}
		})
	}
}

// validEvent is a minimal valid event that the error cases below break one
// piece at a time.
const validEvent = `{
  "version": "0",
  "id": "e-1",
  "detail-type": "Config Rules Compliance Change",
  "source": "aws.config",
  "account": "111122223333",
  "time": "2026-11-20T09:14:05Z",
  "region": "eu-west-1",
  "resources": [],
  "detail": {
    "resourceId": "bucket-1",
    "awsRegion": "eu-west-1",
    "awsAccountId": "111122223333",
    "configRuleName": "s3-bucket-public-read-prohibited",
    "messageType": "ComplianceChangeNotification",
    "newEvaluationResult": {
      "evaluationResultIdentifier": {
        "evaluationResultQualifier": {"configRuleName": "s3-bucket-public-read-prohibited", "resourceType": "AWS::S3::Bucket", "resourceId": "bucket-1"},
        "orderingTimestamp": "2026-11-20T09:13:58.917Z"
      },
      "complianceType": "NON_COMPLIANT",
      "resultRecordedTime": "2026-11-20T09:14:04.885Z"
    },
    "notificationCreationTime": "2026-11-20T09:14:05.475Z",
    "resourceType": "AWS::S3::Bucket"
  }
}`

// edit returns validEvent with old replaced by new (exactly once).
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if strings.Count(validEvent, old) != 1 {
		t.Fatalf("%q occurs %d times in validEvent", old, strings.Count(validEvent, old))
	}
	return strings.Replace(validEvent, old, new, 1)
}

func TestParseValidEvent(t *testing.T) {
	ev, err := ParseComplianceChange([]byte(validEvent))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Change.ResourceID != "bucket-1" || ev.Region() != "eu-west-1" || ev.Account() != "111122223333" {
		t.Errorf("parsed %+v", ev.Change)
	}
	if ev.Change.OldEvaluationResult != nil {
		t.Error("oldEvaluationResult should be nil when absent")
	}
}

func TestParseFallbacks(t *testing.T) {
	t.Run("the qualifier does not stand in for a missing top-level resourceId", func(t *testing.T) {
		in := edit(t, `"resourceId": "bucket-1",`, ``)
		_, err := ParseComplianceChange([]byte(in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Kind != ErrMissingField || pe.Field != "detail.resourceId" {
			t.Fatalf("err = %v, want missing detail.resourceId", err)
		}
	})
	t.Run("envelope account and region stand in", func(t *testing.T) {
		in := edit(t, `"awsRegion": "eu-west-1",`, ``)
		in = strings.Replace(in, `"awsAccountId": "111122223333",`, ``, 1)
		ev, err := ParseComplianceChange([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Region() != "eu-west-1" || ev.Account() != "111122223333" {
			t.Errorf("Region()=%q Account()=%q", ev.Region(), ev.Account())
		}
	})
	t.Run("detail region wins over envelope region", func(t *testing.T) {
		in := edit(t, `"awsRegion": "eu-west-1",`, `"awsRegion": "ap-south-1",`)
		ev, err := ParseComplianceChange([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Region() != "ap-south-1" {
			t.Errorf("Region() = %q", ev.Region())
		}
	})
	t.Run("messageType absent is accepted", func(t *testing.T) {
		if _, err := ParseComplianceChange([]byte(edit(t, `"messageType": "ComplianceChangeNotification",`, ``))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("surrounding whitespace", func(t *testing.T) {
		if _, err := ParseComplianceChange([]byte("\n\t " + validEvent + "\n\n")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name  string
		input string
		kind  ErrorKind
		field string   // ParseError.Field, when the case has one
		msg   []string // substrings of Error()
	}{
		{"empty", ``, ErrNotJSON, "", []string{"not a JSON object", "empty input"}},
		{"whitespace only", " \n\t ", ErrNotJSON, "", []string{"empty input"}},
		{"not JSON", `hello`, ErrNotJSON, "", []string{"not a JSON object", "not valid JSON"}},
		{"truncated object", `{"source": "aws.config"`, ErrNotJSON, "", []string{"not a JSON object", "unexpected end"}},
		{"broken object", `{"source": aws.config}`, ErrNotJSON, "", []string{"invalid character"}},
		{"JSON array", `[` + validEvent + `]`, ErrNotJSON, "", []string{"JSON array"}},
		{"JSON number", `42`, ErrNotJSON, "", []string{"JSON number"}},
		{"JSON string", `"aws.config"`, ErrNotJSON, "", []string{"JSON string"}},
		{"JSON null", `null`, ErrNotJSON, "", []string{"null"}},
		{"JSON bool", `true`, ErrNotJSON, "", []string{"boolean"}},
		{"other source", edit(t, `"source": "aws.config"`, `"source": "aws.ec2"`), ErrOtherSource, "source", []string{`source is "aws.ec2"`, `want "aws.config"`}},
		{"source missing", edit(t, `"source": "aws.config",`, ``), ErrOtherSource, "source", []string{`source is ""`}},
		{"other detail-type", edit(t, `"detail-type": "Config Rules Compliance Change"`, `"detail-type": "Config Configuration Item Change"`), ErrOtherDetailType, "detail-type", []string{`detail-type is "Config Configuration Item Change"`}},
		{"detail missing", `{"source":"aws.config","detail-type":"Config Rules Compliance Change"}`, ErrMissingDetail, "detail", []string{"detail is missing or not an object"}},
		{"detail null", `{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":null}`, ErrMissingDetail, "detail", []string{"detail is missing"}},
		{"detail string", `{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":"x"}`, ErrMissingDetail, "detail", []string{"not an object"}},
		{"detail array", `{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":[{}]}`, ErrMissingDetail, "detail", []string{"not an object"}},
		{"detail empty object", `{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":{}}`, ErrMissingField, "detail.configRuleName", []string{"detail.configRuleName is missing or empty"}},
		{"other messageType", edit(t, `"messageType": "ComplianceChangeNotification"`, `"messageType": "OversizedConfigurationItemChangeNotification"`), ErrOtherMessageType, "detail.messageType", []string{"OversizedConfigurationItemChangeNotification"}},
		{"missing resourceId", strings.Replace(edit(t, `"resourceId": "bucket-1",`, ``), `"resourceId": "bucket-1"}`, `"resourceId": ""}`, 1), ErrMissingField, "detail.resourceId", []string{"detail.resourceId is missing or empty"}},
		{"blank resourceId", strings.Replace(edit(t, `"resourceId": "bucket-1",`, `"resourceId": "   ",`), `"resourceId": "bucket-1"}`, `"resourceId": ""}`, 1), ErrMissingField, "detail.resourceId", []string{"detail.resourceId"}},
		{"missing resourceType", strings.Replace(edit(t, `"resourceType": "AWS::S3::Bucket", "resourceId"`, `"resourceId"`), `,
    "resourceType": "AWS::S3::Bucket"`, ``, 1), ErrMissingField, "detail.resourceType", []string{"detail.resourceType is missing or empty"}},
		{"missing configRuleName", strings.Replace(edit(t, `"evaluationResultQualifier": {"configRuleName": "s3-bucket-public-read-prohibited", `, `"evaluationResultQualifier": {`), `"configRuleName": "s3-bucket-public-read-prohibited",`, ``, 1), ErrMissingField, "detail.configRuleName", []string{"detail.configRuleName is missing or empty"}},
		{"missing complianceType", edit(t, `"complianceType": "NON_COMPLIANT",`, ``), ErrMissingField, "detail.newEvaluationResult.complianceType", []string{"complianceType is missing or empty"}},
		{"missing newEvaluationResult", `{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":{"resourceId":"b","resourceType":"AWS::S3::Bucket","configRuleName":"r","awsRegion":"us-east-1"}}`, ErrMissingField, "detail.newEvaluationResult.complianceType", []string{"complianceType"}},
		{"missing region", strings.Replace(edit(t, `"awsRegion": "eu-west-1",`, ``), `"region": "eu-west-1",`, ``, 1), ErrMissingField, "detail.awsRegion", []string{"detail.awsRegion is missing"}},
		{"unknown complianceType", edit(t, `"complianceType": "NON_COMPLIANT"`, `"complianceType": "non_compliant"`), ErrInvalidField, "detail.newEvaluationResult.complianceType", []string{`"non_compliant" is not one of`, "NON_COMPLIANT"}},
		{"resourceId number", edit(t, `"resourceId": "bucket-1",`, `"resourceId": 12,`), ErrInvalidField, "detail.resourceId", []string{"detail.resourceId is invalid", "got JSON number, want string"}},
		{"source number", edit(t, `"source": "aws.config"`, `"source": 7`), ErrInvalidField, "source", []string{"source is invalid", "number"}},
		{"resources not array", edit(t, `"resources": []`, `"resources": "none"`), ErrInvalidField, "resources", []string{"resources is invalid"}},
		{"newEvaluationResult string", edit(t, `"newEvaluationResult": {`, `"newEvaluationResult": "x", "ignored": {`), ErrInvalidField, "detail.newEvaluationResult", []string{"detail.newEvaluationResult is invalid", "got JSON string"}},
		{"complianceType bool", edit(t, `"complianceType": "NON_COMPLIANT"`, `"complianceType": true`), ErrInvalidField, "detail.newEvaluationResult.complianceType", []string{"bool"}},
		{"bad envelope time", edit(t, `"time": "2026-11-20T09:14:05Z"`, `"time": "yesterday"`), ErrInvalidField, "time", []string{"time is invalid", "RFC 3339"}},
		{"envelope time number", edit(t, `"time": "2026-11-20T09:14:05Z"`, `"time": 1763630045`), ErrInvalidField, "time", []string{"time is invalid"}},
		{"bad notificationCreationTime", edit(t, `"notificationCreationTime": "2026-11-20T09:14:05.475Z"`, `"notificationCreationTime": "2026-11-20 09:14:05"`), ErrInvalidField, "detail.notificationCreationTime", []string{"detail.notificationCreationTime is invalid", "RFC 3339"}},
		{"notificationCreationTime number", edit(t, `"notificationCreationTime": "2026-11-20T09:14:05.475Z"`, `"notificationCreationTime": 1763630045475`), ErrInvalidField, "detail.notificationCreationTime", []string{"detail.notificationCreationTime is invalid"}},
		{"bad resultRecordedTime", edit(t, `"resultRecordedTime": "2026-11-20T09:14:04.885Z"`, `"resultRecordedTime": "2026-13-40T09:14:04Z"`), ErrInvalidField, "detail.newEvaluationResult.resultRecordedTime", []string{"detail.newEvaluationResult.resultRecordedTime is invalid"}},
		{"bad orderingTimestamp", edit(t, `"orderingTimestamp": "2026-11-20T09:13:58.917Z"`, `"orderingTimestamp": "soon"`), ErrInvalidField, "detail.newEvaluationResult.evaluationResultIdentifier.orderingTimestamp", []string{"orderingTimestamp is invalid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseComplianceChange([]byte(tc.input))
			if err == nil {
				t.Fatalf("got event %+v, want an error", ev)
			}
			checkParseError(t, err, ev != nil, "invalid Config compliance change event: ", tc.kind, tc.field, tc.msg)
		})
	}
}

// checkParseError checks a parser's refusal: no event beside the error, a
// *ParseError of the kind (and field, when one is given), a message with
// the parser's prefix and every part of msg.
func checkParseError(t *testing.T, err error, gotEvent bool, prefix string, kind ErrorKind, field string, msg []string) {
	t.Helper()
	if gotEvent {
		t.Error("got a non-nil event with the error")
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *ParseError", err, err)
	}
	if pe.Kind != kind || (field != "" && pe.Field != field) {
		t.Errorf("Kind %q Field %q, want %q %q (error: %v)", pe.Kind, pe.Field, kind, field, err)
	}
	text := err.Error()
	if !strings.HasPrefix(text, prefix) {
		t.Errorf("message %q lacks the prefix %q", text, prefix)
	}
	for _, s := range msg {
		if !strings.Contains(text, s) {
			t.Errorf("message %q does not contain %q", text, s)
		}
	}
}

func TestParseErrorUnwrap(t *testing.T) {
	_, err := ParseComplianceChange([]byte(`{"source": `))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Err == nil {
		t.Fatalf("got %v, want a ParseError wrapping the decoder's error", err)
	}
	if errors.Unwrap(err) != pe.Err {
		t.Error("Unwrap does not return the decoding error")
	}
	if got := (&ParseError{Kind: "something-new"}).Error(); !strings.Contains(got, "something-new") {
		t.Errorf("unknown kind renders as %q", got)
	}
}

// fuzzSeeds are broken inputs that the fuzzer starts from, besides the
// fixtures.
var fuzzSeeds = []string{
	``, `{}`, `[]`, `null`, `"x"`, `0`, `{"source":"aws.config"}`,
	`{"source":"aws.config","detail-type":"Config Rules Compliance Change"}`,
	`{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":{}}`,
	`{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":{"resourceId":"b","resourceType":"t","configRuleName":"r","awsRegion":"x","newEvaluationResult":{"complianceType":"NON_COMPLIANT"}}}`,
	`{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":{"notificationCreationTime":5}}`,
	`{"time":"bad"}`, `{"detail":[]}`, `{"source":"aws.config","detail-type":"Config Rules Compliance Change","detail":{"resourceId":" "}}`,
}

// FuzzParseComplianceChange: the parser never panics; what it accepts has
// every required field; what it rejects it rejects with a *ParseError.
func FuzzParseComplianceChange(f *testing.F) {
	for _, name := range fixtureNames(f) {
		f.Add(readFixture(f, name))
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(validEvent))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ParseComplianceChange(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if ev != nil {
				t.Fatal("event returned with an error")
			}
			if pe.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		c := ev.Change
		for name, v := range map[string]string{
			"configRuleName": c.ConfigRuleName, "resourceType": c.ResourceType, "resourceId": c.ResourceID,
			"complianceType": c.NewEvaluationResult.ComplianceType, "region": ev.Region(),
		} {
			if strings.TrimSpace(v) == "" {
				t.Fatalf("accepted an event with empty %s", name)
			}
		}
		if ev.Source != SourceConfig || ev.DetailType != DetailTypeComplianceChange {
			t.Fatalf("accepted source %q detail-type %q", ev.Source, ev.DetailType)
		}
		switch c.NewEvaluationResult.ComplianceType {
		case ComplianceTypeCompliant, ComplianceTypeNonCompliant, ComplianceTypeNotApplicable, ComplianceTypeInsufficientData:
		default:
			t.Fatalf("accepted complianceType %q", c.NewEvaluationResult.ComplianceType)
		}
	})
}

package events

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func cloudTrailFixtureNames(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "cloudtrail", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 18 {
		t.Fatalf("found %d fixtures in testdata/cloudtrail, want at least 18", len(names))
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// TestParseCloudTrailFixtures: every fixture parses, and the resources, actor
// and account come out as the fixture's README says.
func TestParseCloudTrailFixtures(t *testing.T) {
	const (
		alice = "arn:aws:iam::123456789012:role/Admin/alice"
		mateo = "arn:aws:iam::123456789012:user/Mateo"
		root  = "arn:aws:iam::123456789012:root"
	)
	bucket := func(id string) []Resource { return []Resource{{"AWS::S3::Bucket", id}} }
	want := map[string]struct {
		source, eventName string
		resources         []Resource
		actor             string
		account, region   string
		failed            bool
	}{
		"s3-create-bucket.json":                     {"aws.s3", "CreateBucket", bucket("example-bucket-logs"), alice, "123456789012", "us-east-1", false},
		"s3-put-bucket-acl.json":                    {"aws.s3", "PutBucketAcl", bucket("example-public-site"), mateo, "123456789012", "us-east-1", false},
		"s3-put-bucket-policy.json":                 {"aws.s3", "PutBucketPolicy", bucket("example-public-site"), "arn:aws:iam::111122223333:role/ci/deploy/gitlab-ci-4821", "123456789012", "us-east-1", false},
		"s3-put-bucket-policy-access-denied.json":   {"aws.s3", "PutBucketPolicy", bucket("example-locked"), alice, "123456789012", "us-east-1", true},
		"s3-delete-bucket-policy.json":              {"aws.s3", "DeleteBucketPolicy", bucket("example-data"), alice, "123456789012", "us-east-1", false},
		"s3-put-bucket-public-access-block.json":    {"aws.s3", "PutBucketPublicAccessBlock", bucket("example-data"), alice, "123456789012", "us-east-1", false},
		"s3-delete-bucket-public-access-block.json": {"aws.s3", "DeleteBucketPublicAccessBlock", bucket("example-data"), root, "123456789012", "us-east-1", false},
		"s3-put-bucket-encryption.json":             {"aws.s3", "PutBucketEncryption", bucket("example-data"), alice, "123456789012", "us-east-1", false},
		"s3-delete-bucket-encryption.json":          {"aws.s3", "DeleteBucketEncryption", bucket("example-data"), alice, "123456789012", "us-east-1", false},
		"ec2-run-instances.json": {"aws.ec2", "RunInstances", []Resource{
			{"AWS::EC2::Instance", "i-0a1b2c3d4e5f60001"},
			{"AWS::EC2::Instance", "i-0a1b2c3d4e5f60002"},
			{"AWS::EC2::Instance", "i-0a1b2c3d4e5f60003"},
		}, alice, "123456789012", "us-east-1", false},
		"ec2-modify-instance-metadata-options.json":         {"aws.ec2", "ModifyInstanceMetadataOptions", []Resource{{"AWS::EC2::Instance", "i-0a1b2c3d4e5f60001"}}, mateo, "123456789012", "us-east-1", false},
		"ec2-disable-ebs-encryption-by-default.json":        {"aws.ec2", "DisableEbsEncryptionByDefault", []Resource{{"AWS::::Account", "123456789012"}}, root, "123456789012", "eu-west-1", false},
		"ec2-modify-ebs-default-kms-key-id.json":            {"aws.ec2", "ModifyEbsDefaultKmsKeyId", []Resource{{"AWS::::Account", "123456789012"}}, alice, "123456789012", "us-east-1", false},
		"ec2-reset-ebs-default-kms-key-id.json":             {"aws.ec2", "ResetEbsDefaultKmsKeyId", []Resource{{"AWS::::Account", "123456789012"}}, alice, "123456789012", "us-east-1", false},
		"ec2-create-volume.json":                            {"aws.ec2", "CreateVolume", []Resource{{"AWS::EC2::Volume", "vol-0a1b2c3d4e5f67890"}}, alice, "123456789012", "us-east-1", false},
		"ec2-authorize-security-group-ingress.json":         {"aws.ec2", "AuthorizeSecurityGroupIngress", []Resource{{"AWS::EC2::SecurityGroup", "sg-0123456789abcdef0"}}, alice, "123456789012", "us-east-1", false},
		"ec2-authorize-security-group-ingress-by-name.json": {"aws.ec2", "AuthorizeSecurityGroupIngress", []Resource{{"AWS::EC2::SecurityGroup", "sg-0fedcba9876543210"}}, mateo, "123456789012", "us-east-1", false},
		"ec2-modify-security-group-rules.json":              {"aws.ec2", "ModifySecurityGroupRules", []Resource{{"AWS::EC2::SecurityGroup", "sg-0123456789abcdef0"}}, alice, "123456789012", "us-east-1", false},
		"ec2-create-tags-unknown.json":                      {"aws.ec2", "CreateTags", nil, alice, "123456789012", "us-east-1", false},
	}
	for _, name := range cloudTrailFixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("fixture %s has no expectations in this test", name)
			}
			ev, err := ParseCloudTrail(readFixture(t, filepath.Join("cloudtrail", name)))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Source != w.source || ev.Call.EventName != w.eventName {
				t.Errorf("source %q eventName %q, want %q %q", ev.Source, ev.Call.EventName, w.source, w.eventName)
			}
			if got := ev.Resources(); !reflect.DeepEqual(got, w.resources) {
				t.Errorf("Resources() = %v, want %v", got, w.resources)
			}
			if got := ev.Actor(); got != w.actor {
				t.Errorf("Actor() = %q, want %q", got, w.actor)
			}
			if ev.Account() != w.account || ev.Region() != w.region {
				t.Errorf("Account() %q Region() %q, want %q %q", ev.Account(), ev.Region(), w.account, w.region)
			}
			if ev.Failed() != w.failed {
				t.Errorf("Failed() = %v, want %v", ev.Failed(), w.failed)
			}
			if ev.Call.EventTime.IsZero() || ev.ID == "" || ev.Call.EventID == "" || ev.Detail != nil {
				t.Errorf("eventTime %v id %q eventID %q detail %d bytes", ev.Call.EventTime, ev.ID, ev.Call.EventID, len(ev.Detail))
			}
		})
	}
	if n := len(cloudTrailFixtureNames(t)); n != len(want) {
		t.Errorf("%d fixtures, %d expectations: a fixture is missing", n, len(want))
	}
}

// TestParseCloudTrailDetailFields: the fields the pipeline will read land in
// the typed struct (one fixture, read field by field).
func TestParseCloudTrailDetailFields(t *testing.T) {
	ev, err := ParseCloudTrail(readFixture(t, "cloudtrail/s3-put-bucket-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := ev.Call
	id := c.UserIdentity
	if id.Type != "AssumedRole" || id.AccountID != "111122223333" || id.SessionContext == nil {
		t.Fatalf("userIdentity = %+v", id)
	}
	iss := id.SessionContext.SessionIssuer
	if iss.Type != "Role" || iss.UserName != "deploy" || iss.ARN != "arn:aws:iam::111122223333:role/ci/deploy" || iss.AccountID != "111122223333" || iss.PrincipalID == "" {
		t.Errorf("sessionIssuer = %+v", iss)
	}
	if a := id.SessionContext.Attributes; a.MFAAuthenticated != "false" || a.CreationDate != "2024-05-14T08:55:40Z" {
		t.Errorf("attributes = %+v", a)
	}
	// The caller's account is not the resource's.
	if ev.Account() != "123456789012" || ev.Account() == id.AccountID {
		t.Errorf("Account() = %q, caller account %q", ev.Account(), id.AccountID)
	}
	if c.EventVersion == "" || c.SourceIPAddress != "203.0.113.17" || !strings.HasPrefix(c.UserAgent, "[aws-sdk-go-v2") ||
		c.RequestID == "" || bool(c.ReadOnly) || c.EventType != "AwsApiCall" || !bool(c.ManagementEvent) {
		t.Errorf("detail = %+v", c)
	}
	if !strings.Contains(string(c.RequestParameters), `"bucketPolicy"`) || string(c.ResponseElements) != "null" {
		t.Errorf("requestParameters %s responseElements %s", c.RequestParameters, c.ResponseElements)
	}

	failed, err := ParseCloudTrail(readFixture(t, "cloudtrail/s3-put-bucket-policy-access-denied.json"))
	if err != nil {
		t.Fatal(err)
	}
	if failed.Call.ErrorCode != "AccessDenied" || failed.Call.ErrorMessage != "Access Denied" {
		t.Errorf("errorCode %q errorMessage %q", failed.Call.ErrorCode, failed.Call.ErrorMessage)
	}
}

// validCall is a minimal CloudTrail event the edit cases start from.
const validCall = `{
  "version": "0", "id": "e-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
  "account": "123456789012", "time": "2024-05-14T10:00:00Z", "region": "us-east-1", "resources": [],
  "detail": {
    "eventVersion": "1.09",
    "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
      "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/Admin"}}},
    "eventTime": "2024-05-14T10:00:00Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "PutBucketAcl",
    "awsRegion": "us-east-1",
    "requestParameters": {"bucketName": "b1"},
    "responseElements": null,
    "recipientAccountId": "123456789012"
  }
}`

func ctEdit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := validCall
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.Count(s, pairs[i]) != 1 {
			t.Fatalf("%q occurs %d times in validCall", pairs[i], strings.Count(s, pairs[i]))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestCloudTrailActor(t *testing.T) {
	identity := `"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
      "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/Admin"}}}`
	cases := []struct{ name, identity, want string }{
		{"assumed role", identity, "arn:aws:iam::123456789012:role/Admin/alice"},
		{"assumed role with a path keeps the path", `"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/deploy/ci",
			"sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/team/deploy"}}}`,
			"arn:aws:iam::123456789012:role/team/deploy/ci"},
		{"assumed role without sessionIssuer", `"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice"}`,
			"arn:aws:sts::123456789012:assumed-role/Admin/alice"},
		{"IAM user with an empty sessionIssuer", `"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/Mateo",
			"sessionContext": {"sessionIssuer": {}, "attributes": {"mfaAuthenticated": "true"}}}`, "arn:aws:iam::123456789012:user/Mateo"},
		{"root", `"userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}`, "arn:aws:iam::123456789012:root"},
		{"federated user", `"userIdentity": {"type": "FederatedUser", "arn": "arn:aws:sts::123456789012:federated-user/Bob",
			"sessionContext": {"sessionIssuer": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/Bob"}}}`, "arn:aws:sts::123456789012:federated-user/Bob"},
		{"AWS service", `"userIdentity": {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}`, ""},
		{"no identity", `"userIdentity": {}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseCloudTrail([]byte(ctEdit(t, identity, tc.identity)))
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.Actor(); got != tc.want {
				t.Errorf("Actor() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCloudTrailResourcesEdges(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  []Resource
	}{
		{"unknown S3 call", ctEdit(t, `"PutBucketAcl"`, `"PutBucketTagging"`), nil},
		{"unknown call with odd parameters", ctEdit(t, `"PutBucketAcl"`, `"PutBucketTagging"`, `{"bucketName": "b1"}`, `{"bucketName": 7}`), nil},
		{"known S3 call without bucketName", ctEdit(t, `{"bucketName": "b1"}`, `{}`), nil},
		{"known S3 call with null requestParameters", ctEdit(t, `{"bucketName": "b1"}`, `null`), nil},
		{"failed RunInstances has no instances", ctEdit(t, `"source": "aws.s3"`, `"source": "aws.ec2"`, `"s3.amazonaws.com"`, `"ec2.amazonaws.com"`,
			`"PutBucketAcl"`, `"RunInstances"`, `"eventVersion": "1.09",`, `"eventVersion": "1.08", "errorCode": "Client.UnauthorizedOperation",`), nil},
		{"an S3 name under the EC2 source is unknown", ctEdit(t, `"source": "aws.s3"`, `"source": "aws.ec2"`, `"s3.amazonaws.com"`, `"ec2.amazonaws.com"`), nil},
		{"account-level call takes the envelope account without recipientAccountId", ctEdit(t, `"source": "aws.s3"`, `"source": "aws.ec2"`, `"s3.amazonaws.com"`, `"ec2.amazonaws.com"`,
			`"PutBucketAcl"`, `"DisableEbsEncryptionByDefault"`, `,
    "recipientAccountId": "123456789012"`, ``), []Resource{{"AWS::::Account", "123456789012"}}},
		{"security group by name without a rule set", ctEdit(t, `"source": "aws.s3"`, `"source": "aws.ec2"`, `"s3.amazonaws.com"`, `"ec2.amazonaws.com"`,
			`"PutBucketAcl"`, `"AuthorizeSecurityGroupIngress"`, `{"bucketName": "b1"}`, `{"groupName": "default"}`), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseCloudTrail([]byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.Resources(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Resources() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseCloudTrailErrors(t *testing.T) {
	cases := []struct {
		name  string
		input string
		kind  ErrorKind
		field string
		msg   []string
	}{
		{"empty", ``, ErrNotJSON, "", []string{"empty input"}},
		{"not JSON", `hello`, ErrNotJSON, "", []string{"not valid JSON"}},
		{"truncated", validCall[:40], ErrNotJSON, "", []string{"unexpected end"}},
		{"array", `[` + validCall + `]`, ErrNotJSON, "", []string{"JSON array"}},
		{"Config event", string(readFixture(t, "s3-public-read-noncompliant.json")), ErrOtherDetailType, "detail-type", []string{`"Config Rules Compliance Change"`}},
		{"not an AWS source", ctEdit(t, `"source": "aws.s3"`, `"source": "com.example.app"`), ErrOtherSource, "source", []string{`"com.example.app"`, `an AWS service's source such as "aws.s3"`}},
		{"other detail-type", ctEdit(t, `"AWS API Call via CloudTrail"`, `"Object Created"`), ErrOtherDetailType, "detail-type", []string{`detail-type is "Object Created", want "AWS API Call via CloudTrail"`}},
		{"detail missing", `{"source":"aws.s3","detail-type":"AWS API Call via CloudTrail"}`, ErrMissingDetail, "detail", []string{"detail is missing"}},
		{"detail null", `{"source":"aws.s3","detail-type":"AWS API Call via CloudTrail","detail":null}`, ErrMissingDetail, "detail", nil},
		{"detail array", `{"source":"aws.s3","detail-type":"AWS API Call via CloudTrail","detail":[]}`, ErrMissingDetail, "detail", nil},
		{"detail empty", `{"source":"aws.s3","detail-type":"AWS API Call via CloudTrail","detail":{}}`, ErrMissingField, "detail.eventSource", nil},
		{"eventName missing", ctEdit(t, `"eventName": "PutBucketAcl",`, ``), ErrMissingField, "detail.eventName", []string{"detail.eventName is missing or empty"}},
		{"eventName blank", ctEdit(t, `"PutBucketAcl"`, `" "`), ErrMissingField, "detail.eventName", nil},
		{"eventSource missing", ctEdit(t, `"eventSource": "s3.amazonaws.com",`, ``), ErrMissingField, "detail.eventSource", nil},
		{"eventTime missing", ctEdit(t, `"eventTime": "2024-05-14T10:00:00Z",`, ``), ErrMissingField, "detail.eventTime", nil},
		{"eventTime not RFC 3339", ctEdit(t, `"eventTime": "2024-05-14T10:00:00Z"`, `"eventTime": "May 14, 2024"`), ErrInvalidField, "detail.eventTime", []string{"RFC 3339"}},
		{"eventTime number", ctEdit(t, `"eventTime": "2024-05-14T10:00:00Z"`, `"eventTime": 1715680800`), ErrInvalidField, "detail.eventTime", nil},
		{"bad envelope time", ctEdit(t, `"time": "2024-05-14T10:00:00Z"`, `"time": "now"`), ErrInvalidField, "time", nil},
		{"region missing", ctEdit(t, `"awsRegion": "us-east-1",`, ``, `"region": "us-east-1",`, ``), ErrMissingField, "detail.awsRegion", nil},
		{"account missing", ctEdit(t, `,
    "recipientAccountId": "123456789012"`, ``, `"account": "123456789012",`, ``), ErrMissingField, "detail.recipientAccountId", nil},
		{"eventSource of another service", ctEdit(t, `"s3.amazonaws.com"`, `"ec2.amazonaws.com"`), ErrInvalidField, "detail.eventSource", []string{`does not belong to source "aws.s3"`}},
		{"userIdentity string", ctEdit(t, `"userIdentity": {"type"`, `"userIdentity": "alice", "x": {"type"`), ErrInvalidField, "detail.userIdentity", nil},
		{"bucketName number", ctEdit(t, `{"bucketName": "b1"}`, `{"bucketName": 7}`), ErrInvalidField, "detail.requestParameters.bucketName", []string{"got JSON number, want string"}},
		{"requestParameters string", ctEdit(t, `{"bucketName": "b1"}`, `"b1"`), ErrInvalidField, "detail.requestParameters", nil},
		{"instancesSet items not an array", ctEdit(t, `"source": "aws.s3"`, `"source": "aws.ec2"`, `"s3.amazonaws.com"`, `"ec2.amazonaws.com"`,
			`"PutBucketAcl"`, `"RunInstances"`, `"responseElements": null`, `"responseElements": {"instancesSet": {"items": {"instanceId": "i-1"}}}`),
			ErrInvalidField, "detail.responseElements.instancesSet.items", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseCloudTrail([]byte(tc.input))
			if err == nil {
				t.Fatalf("got event %+v, want an error", ev)
			}
			checkParseError(t, err, ev != nil, "invalid CloudTrail API call event: ", tc.kind, tc.field, tc.msg)
		})
	}
}

// TestParseComplianceChangeRefusesCloudTrail: the Config parser names what it
// wants, not the CloudTrail detail-type, for a CloudTrail event.
func TestParseComplianceChangeRefusesCloudTrail(t *testing.T) {
	_, err := ParseComplianceChange(readFixture(t, "cloudtrail/s3-put-bucket-acl.json"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Kind != ErrOtherSource {
		t.Fatalf("err = %v, want other-source", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `want "aws.config"`) || strings.Contains(msg, "CloudTrail") {
		t.Errorf("message %q", msg)
	}
}

// FuzzParseCloudTrail: the parser never panics; what it accepts has the
// required fields and resources it can compute; what it rejects it rejects
// with a *ParseError.
func FuzzParseCloudTrail(f *testing.F) {
	for _, name := range cloudTrailFixtureNames(f) {
		f.Add(readFixture(f, filepath.Join("cloudtrail", name)))
	}
	for _, s := range []string{``, `{}`, `null`, validCall,
		`{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","eventTime":"2024-01-01T00:00:00Z","awsRegion":"r","recipientAccountId":"1","responseElements":{"instancesSet":{"items":[{"instanceId":"i-1"},{}]}}}}`,
		`{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"ec2.amazonaws.com","eventName":"ModifySecurityGroupRules","eventTime":"2024-01-01T00:00:00Z","awsRegion":"r","recipientAccountId":"1","requestParameters":{"ModifySecurityGroupRulesRequest":{"GroupId":"sg-1"}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ParseCloudTrail(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if ev != nil {
				t.Fatal("event returned with an error")
			}
			if !strings.HasPrefix(pe.Error(), "invalid CloudTrail API call event: ") {
				t.Fatalf("message %q", pe.Error())
			}
			return
		}
		c := ev.Call
		if strings.TrimSpace(c.EventName) == "" || c.EventTime.IsZero() || ev.Region() == "" || ev.Account() == "" {
			t.Fatalf("accepted %+v", c)
		}
		if (ev.Source != SourceS3 && ev.Source != SourceEC2) || ev.DetailType != DetailTypeCloudTrailCall {
			t.Fatalf("accepted source %q detail-type %q", ev.Source, ev.DetailType)
		}
		if _, err := ev.resources(); err != nil {
			t.Fatalf("accepted an event whose resources do not decode: %v", err)
		}
		for _, r := range ev.Resources() {
			if r.Type == "" || strings.TrimSpace(r.ID) == "" {
				t.Fatalf("resource %+v", r)
			}
		}
		ev.Actor()
	})
}

func TestPrincipal(t *testing.T) {
	mk := func(identity string) *CloudTrailEvent {
		t.Helper()
		start, end := strings.Index(validCall, `"userIdentity"`), strings.Index(validCall, `"eventTime"`)
		raw := validCall[:start] + `"userIdentity":` + identity + ",\n" + validCall[end:]
		ev, err := ParseCloudTrail([]byte(raw))
		if err != nil {
			t.Fatalf("%v\n%s", err, raw)
		}
		return ev
	}
	cases := []struct{ identity, want string }{
		{`{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/ops/alice","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/team/ops"}}}`, "arn:aws:iam::1:role/team/ops"},
		{`{"type":"FederatedUser","arn":"arn:aws:sts::1:federated-user/bob","sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::1:user/broker"}}}`, "arn:aws:iam::1:user/broker"},
		{`{"type":"IAMUser","arn":"arn:aws:iam::1:user/ci","sessionContext":{"sessionIssuer":{}}}`, "arn:aws:iam::1:user/ci"},
		{`{"type":"Root","arn":"arn:aws:iam::1:root"}`, "arn:aws:iam::1:root"},
		{`{"type":"AWSService","invokedBy":"cloudformation.amazonaws.com"}`, ""},
	}
	for _, tc := range cases {
		if got := mk(tc.identity).Principal(); got != tc.want {
			t.Errorf("Principal of %s = %q, want %q", tc.identity, got, tc.want)
		}
	}
}

// TestLenientUnusedFields: fields the pipeline does not act on may carry
// another JSON type in records from other tools and published samples
// (mfaAuthenticated as a boolean, readOnly as a string); the event is still
// read.
func TestLenientUnusedFields(t *testing.T) {
	raw := strings.Replace(validCall, `"sessionContext": {"sessionIssuer"`, `"sessionContext": {"attributes": {"mfaAuthenticated": false, "creationDate": 1715680000}, "sessionIssuer"`, 1)
	raw = strings.Replace(raw, `"eventName": "PutBucketAcl",`, `"eventName": "PutBucketAcl", "readOnly": "false", "managementEvent": "true",`, 1)
	ev, err := ParseCloudTrail([]byte(raw))
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	a := ev.Call.UserIdentity.SessionContext.Attributes
	if a.MFAAuthenticated != "false" || a.CreationDate != "1715680000" || ev.Call.ReadOnly || !ev.Call.ManagementEvent {
		t.Errorf("attributes %+v, readOnly %t, managementEvent %t", a, ev.Call.ReadOnly, ev.Call.ManagementEvent)
	}
	if rs := ev.Resources(); len(rs) != 1 || rs[0].ID != "b1" {
		t.Errorf("resources %v", rs)
	}
}

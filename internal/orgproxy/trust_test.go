package orgproxy

import (
	"net/url"
	"testing"
)

const (
	central      = "123456789012"
	centralRole  = "arn:aws:iam::123456789012:role/service-role/autoremediate-remediate"
	centralSweep = "arn:aws:iam::123456789012:role/service-role/autoremediate-sweep"
)

// memberTrust is the trust policy terraform/modules/member writes, as IAM
// stores it (the central account as principal, the central roles by
// aws:PrincipalArn, the external ID when one is set).
const memberTrust = `{"Version":"2012-10-17","Statement":[{"Sid":"CentralFunctions","Effect":"Allow","Action":"sts:AssumeRole",
 "Principal":{"AWS":"arn:aws:iam::123456789012:root"},
 "Condition":{"ArnEquals":{"aws:PrincipalArn":["arn:aws:iam::123456789012:role/service-role/autoremediate-remediate","arn:aws:iam::123456789012:role/service-role/autoremediate-sweep"]},
  "StringEquals":{"sts:ExternalId":"s3cret"}}}]}`

func sessionOf(role, name string) caller {
	return caller{Account: arnAccount(role), PrincipalARN: role, ARN: sessionARN(role, name)}
}

func TestTrustPolicy(t *testing.T) {
	fn := sessionOf(centralRole, "autoremediate-remediate")
	developer := sessionOf("arn:aws:iam::123456789012:role/developer", "alice")
	foreign := sessionOf("arn:aws:iam::999999999999:role/service-role/autoremediate-remediate", "x")
	cases := []struct {
		name   string
		policy string
		who    caller
		req    assumeRequest
		want   bool
	}{
		{"member module: central function, right external ID", memberTrust, fn, assumeRequest{ExternalID: "s3cret"}, true},
		{"member module: the sweep's role too", memberTrust, sessionOf(centralSweep, "sweep"), assumeRequest{ExternalID: "s3cret"}, true},
		{"member module: no external ID", memberTrust, fn, assumeRequest{}, false},
		{"member module: wrong external ID", memberTrust, fn, assumeRequest{ExternalID: "guess"}, false},
		{"member module: another role of the central account", memberTrust, developer, assumeRequest{ExternalID: "s3cret"}, false},
		{"member module: same role name in another account", memberTrust, foreign, assumeRequest{ExternalID: "s3cret"}, false},
		{"account ID as principal, ArnLike on the path",
			`{"Statement":{"Effect":"Allow","Action":["sts:TagSession","sts:AssumeRole"],"Principal":{"AWS":"123456789012"},
			 "Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/service-role/autoremediate-*"}}}}`,
			fn, assumeRequest{}, true},
		{"ArnLike does not match another path",
			`{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"123456789012"},
			 "Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/autoremediate-*"}}}}`,
			fn, assumeRequest{}, false},
		{"role ARN as principal admits its sessions",
			`{"Statement":[{"Effect":"Allow","Action":"sts:*","Principal":{"AWS":["arn:aws:iam::123456789012:role/service-role/autoremediate-remediate"]}}]}`,
			fn, assumeRequest{}, true},
		{"a stale unique ID as principal (the role was recreated) admits no one",
			`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"AROAEXAMPLEEXAMPLE1"}}]}`,
			fn, assumeRequest{}, false},
		{"an explicit Deny wins",
			`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"*"},
			 {"Effect":"Deny","Action":"*","Principal":{"AWS":"*"},"Condition":{"StringNotEquals":{"aws:PrincipalAccount":"555555555555"}}}]}`,
			fn, assumeRequest{}, false},
		{"another action only", `{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Principal":"*"}]}`, fn, assumeRequest{}, false},
		{"a service principal does not admit a role", `{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"lambda.amazonaws.com"}}]}`, fn, assumeRequest{}, false},
		{"NotPrincipal is not evaluated: it admits no one", `{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","NotPrincipal":{"AWS":"arn:aws:iam::1:root"}}]}`, fn, assumeRequest{}, false},
		{"ExternalId IfExists holds without one",
			`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"*","Condition":{"StringEqualsIfExists":{"sts:ExternalId":"x"}}}]}`,
			fn, assumeRequest{}, true},
		{"an unknown operator admits no one",
			`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`,
			fn, assumeRequest{}, false},
		{"no statement", `{"Statement":[]}`, fn, assumeRequest{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseTrustPolicy(c.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.admits(c.who, c.req); got != c.want {
				t.Errorf("admits(%+v, %+v) = %t, want %t", c.who, c.req, got, c.want)
			}
		})
	}
}

func TestTrustPolicyURLEncoded(t *testing.T) {
	// GetRole answers with the document URL-encoded.
	p, err := parseTrustPolicy(url.QueryEscape(memberTrust))
	if err != nil {
		t.Fatal(err)
	}
	if !p.admits(sessionOf(centralRole, "s"), assumeRequest{ExternalID: "s3cret"}) {
		t.Error("the URL-encoded member trust policy does not admit the central function")
	}
	if _, err := parseTrustPolicy("%zz"); err == nil {
		t.Error("a document that is neither JSON nor URL-encoded was read")
	}
}

func TestSessionARN(t *testing.T) {
	if got, want := sessionARN(centralRole, "run-1"), "arn:aws:sts::123456789012:assumed-role/autoremediate-remediate/run-1"; got != want {
		t.Errorf("sessionARN = %q, want %q (the path is not part of it)", got, want)
	}
	if got, want := sessionARN("arn:aws-cn:iam::123456789012:role/r", "s"), "arn:aws-cn:sts::123456789012:assumed-role/r/s"; got != want {
		t.Errorf("sessionARN = %q, want %q", got, want)
	}
}

func TestCallWrite(t *testing.T) {
	cases := []struct {
		c    Call
		want bool
	}{
		{Call{Service: "s3", Method: "PUT", Operation: "PUT ?publicAccessBlock"}, true},
		{Call{Service: "s3", Method: "GET", Operation: "GET ?publicAccessBlock"}, false},
		{Call{Service: "s3", Method: "HEAD", Operation: "HEAD"}, false},
		{Call{Service: "ec2", Operation: "ModifyInstanceMetadataOptions"}, true},
		{Call{Service: "ec2", Operation: "EnableEbsEncryptionByDefault"}, true},
		{Call{Service: "ec2", Operation: "DescribeInstances"}, false},
		{Call{Service: "ec2", Operation: "GetEbsEncryptionByDefault"}, false},
		{Call{Service: "sts", Operation: "AssumeRole"}, false},
		{Call{Service: "monitoring", Operation: "PutMetricData"}, true},
		{Call{Service: "dynamodb", Operation: "Query"}, false},
		{Call{Service: "iam", Operation: "SimulatePrincipalPolicy"}, false},
	}
	for _, c := range cases {
		if got := c.c.Write(); got != c.want {
			t.Errorf("%s %s: Write() = %t, want %t", c.c.Service, c.c.Operation, got, c.want)
		}
	}
}

// The policy the helpers give the emulator's member roles is the one the
// evaluation is tested with.
func TestMemberTrustPolicy(t *testing.T) {
	for _, ext := range []string{"s3cret", ""} {
		p, err := parseTrustPolicy(MemberTrustPolicy(central, []string{centralRole, centralSweep}, ext))
		if err != nil {
			t.Fatal(err)
		}
		if !p.admits(sessionOf(centralRole, "s"), assumeRequest{ExternalID: ext}) || !p.admits(sessionOf(centralSweep, "s"), assumeRequest{ExternalID: ext}) {
			t.Errorf("external ID %q: the central roles are not admitted", ext)
		}
		if p.admits(sessionOf("arn:aws:iam::123456789012:role/developer", "s"), assumeRequest{ExternalID: ext}) {
			t.Errorf("external ID %q: another central role is admitted", ext)
		}
		if ext != "" && p.admits(sessionOf(centralRole, "s"), assumeRequest{}) {
			t.Error("the central role is admitted without the external ID")
		}
	}
}

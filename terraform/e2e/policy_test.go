package e2e

import (
	"encoding/json"
	"net/url"
	"path"
	"strings"
	"testing"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

type iamAttached = iamtypes.AttachedPolicy

// policyDoc is an IAM policy document; Action, Resource and Principal may
// be a string or a list in JSON.
type policyDoc struct {
	Statement []statement
}

type statement struct {
	Effect    string
	Action    stringOrList
	Resource  stringOrList
	Principal any
}

type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// decodePolicy reads a policy document as IAM returns it: URL-encoded
// JSON (GetRole, GetRolePolicy), or plain JSON.
func decodePolicy(t *testing.T, doc string) policyDoc {
	t.Helper()
	if strings.HasPrefix(doc, "%7B") || strings.HasPrefix(doc, "%7b") {
		d, err := url.QueryUnescape(doc)
		if err != nil {
			t.Fatalf("policy %q: %v", doc, err)
		}
		doc = d
	}
	var p policyDoc
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		// A single statement object instead of a list.
		var one struct{ Statement statement }
		if err2 := json.Unmarshal([]byte(doc), &one); err2 != nil {
			t.Fatalf("policy %s: %v", doc, err)
		}
		p.Statement = []statement{one.Statement}
	}
	return p
}

// policySet is the statements of a principal's identity policies.
type policySet []statement

// allows reports whether the statements allow action on resource: an Allow
// matches and no Deny does (conditions are not evaluated).
func (p policySet) allows(action, resource string) bool {
	allowed := false
	for _, s := range p {
		if !matchAny(s.Action, action, true) || !matchAny(s.Resource, resource, false) {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		if s.Effect == "Allow" {
			allowed = true
		}
	}
	return allowed
}

// allowsAnywhere reports whether some Allow statement grants action, on
// whatever resource.
func (p policySet) allowsAnywhere(action string) bool {
	for _, s := range p {
		if s.Effect == "Allow" && matchAny(s.Action, action, true) {
			return true
		}
	}
	return false
}

// matchAny matches value against IAM patterns (* and ?); actions match
// case-insensitively.
func matchAny(patterns []string, value string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, value = strings.ToLower(p), strings.ToLower(value)
		}
		if globMatch(p, value) {
			return true
		}
	}
	return false
}

// globMatch is IAM's wildcard matching: * is any run of characters
// (slashes too), ? one character.
func globMatch(pattern, value string) bool {
	// path.Match treats / specially and [ as a class: swap them for
	// characters neither side contains.
	r := strings.NewReplacer("/", "\x00", "[", "\x01", "\\", "\x02")
	ok, err := path.Match(r.Replace(pattern), r.Replace(value))
	return err == nil && ok
}

func TestPolicyEvaluation(t *testing.T) {
	doc := decodePolicy(t, url.QueryEscape(`{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["s3:Get*","logs:PutLogEvents"],"Resource":["arn:aws:s3:::b/*","arn:aws:logs:r:1:log-group:/aws/lambda/f:log-stream:*"]},
  {"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:r:1:q"},
  {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret/*"}]}`))
	p := policySet(doc.Statement)
	for _, c := range []struct {
		action, resource string
		want             bool
	}{
		{"s3:GetObject", "arn:aws:s3:::b/x/y", true},
		{"S3:getobject", "arn:aws:s3:::b/x", true},
		{"s3:GetObject", "arn:aws:s3:::c/x", false},
		{"s3:GetObject", "arn:aws:s3:::b/secret/k", false},
		{"s3:PutObject", "arn:aws:s3:::b/x", false},
		{"logs:PutLogEvents", "arn:aws:logs:r:1:log-group:/aws/lambda/f:log-stream:2026/01/01/[$LATEST]a", true},
		{"logs:PutLogEvents", "arn:aws:logs:r:1:log-group:/aws/lambda/g:log-stream:s", false},
		{"sqs:SendMessage", "arn:aws:sqs:r:1:q", true},
		{"sqs:SendMessage", "arn:aws:sqs:r:1:q2", false},
	} {
		if got := p.allows(c.action, c.resource); got != c.want {
			t.Errorf("allows(%s, %s) = %v, want %v", c.action, c.resource, got, c.want)
		}
	}
	if !p.allowsAnywhere("sqs:SendMessage") || p.allowsAnywhere("sqs:DeleteMessage") {
		t.Error("allowsAnywhere")
	}
}

package remediators

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// fakePolicyS3 is fakeS3 with a bucket policy: GetBucketPolicy returns the
// stored document as it is, PutBucketPolicy stores the document it is sent
// (unless dropWrites) after checking it is JSON and carries no extra
// request fields.
type fakePolicyS3 struct {
	*fakeS3
	policy *string
	// stale is how many reads after a write still return the previous
	// policy (bucket configuration is eventually consistent).
	stale    int
	previous *string
	puts     []string
}

func newFakePolicyS3(t testing.TB) *fakePolicyS3 { return &fakePolicyS3{fakeS3: newFakeS3(t)} }

func (f *fakePolicyS3) withPolicy(doc string) *fakePolicyS3 { f.policy = &doc; return f }

func (f *fakePolicyS3) GetBucketPolicy(_ context.Context, in *s3.GetBucketPolicyInput, optFns ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error) {
	if err := f.begin("GetBucketPolicy", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if in.ExpectedBucketOwner != nil {
		f.t.Errorf("GetBucketPolicy: unexpected ExpectedBucketOwner %q", aws.ToString(in.ExpectedBucketOwner))
	}
	p := f.policy
	if len(f.puts) > 0 && f.stale > 0 {
		f.stale--
		p = f.previous
	}
	if p == nil {
		return nil, apiErr("NoSuchBucketPolicy")
	}
	return &s3.GetBucketPolicyOutput{Policy: aws.String(*p)}, nil
}

func (f *fakePolicyS3) PutBucketPolicy(_ context.Context, in *s3.PutBucketPolicyInput, optFns ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error) {
	doc := aws.ToString(in.Policy)
	f.puts = append(f.puts, doc)
	if !json.Valid([]byte(doc)) {
		f.t.Errorf("PutBucketPolicy: the policy is not JSON: %s", doc)
	}
	if in.ConfirmRemoveSelfBucketAccess != nil || in.ExpectedBucketOwner != nil || in.ChecksumAlgorithm != "" || in.ContentMD5 != nil {
		f.t.Errorf("PutBucketPolicy: unexpected extra request fields: %+v", in)
	}
	if err := f.begin("PutBucketPolicy", in.Bucket, optFns); err != nil {
		return nil, err
	}
	if !f.dropWrites {
		f.previous, f.policy = f.policy, &doc
	}
	return &s3.PutBucketPolicyOutput{}, nil
}

// awsTLSDeny is the statement of AWS's s3-bucket-ssl-requests-only example
// for the test bucket, as the remediator must write it.
const awsTLSDeny = `{"Sid":"AllowSSLRequestsOnly","Effect":"Deny","Principal":"*","Action":"s3:*",` +
	`"Resource":["arn:aws:s3:::example-public-bucket","arn:aws:s3:::example-public-bucket/*"],` +
	`"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`

// partnerRead is a policy as S3 returns it: another account may read.
const partnerRead = `{"Version":"2012-10-17","Id":"PartnerAccess","Statement":[` +
	`{"Sid":"PartnerRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::example-public-bucket","arn:aws:s3:::example-public-bucket/*"]},` +
	`{"Sid":"DenyUnencryptedUploads","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::example-public-bucket/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}]}`

func runSSL(t *testing.T, f *fakePolicyS3, opts Options, mode remediation.Mode) remediation.Result {
	t.Helper()
	return NewS3SSLRequestsOnly(f, opts).Remediate(context.Background(), request(sslRequestsOnlyRule, ResourceTypeBucket, testBucket, mode))
}

// statementsOf reads a policy's statements as the exact bytes it holds.
func statementsOf(t *testing.T, doc string) []string {
	t.Helper()
	var p struct{ Statement []json.RawMessage }
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	out := make([]string, len(p.Statement))
	for i, s := range p.Statement {
		out[i] = string(s)
	}
	return out
}

func TestSSLCreatesPolicy(t *testing.T) {
	f := newFakePolicyS3(t)
	res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	want := `{"Version":"2012-10-17","Statement":[` + awsTLSDeny + `]}`
	if len(f.puts) != 1 || f.puts[0] != want {
		t.Fatalf("PutBucketPolicy calls %q, want one with\n%s", f.puts, want)
	}
	if got := f.names(); !reflect.DeepEqual(got, []string{"GetBucketPolicy", "GetBucketTagging", "GetBucketWebsite", "PutBucketPolicy", "GetBucketPolicy"}) {
		t.Errorf("calls = %v (read, exempt and website checks, write, verify)", got)
	}
	if p, ok := res.Before["policy"]; !ok || p != nil {
		t.Errorf("Before = %v, want policy null (no policy: undo deletes it)", res.Before)
	}
	if res.After["policy"] != want {
		t.Errorf("After = %v, want the policy read back", res.After)
	}
	if !strings.HasPrefix(res.Reason, `created a bucket policy with statement "AllowSSLRequestsOnly"`) {
		t.Errorf("Reason = %q", res.Reason)
	}

	// The same event again: compliant, no second write.
	f.calls = calls{}
	res = runSSL(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || len(f.puts) != 1 || !reflect.DeepEqual(f.names(), []string{"GetBucketPolicy"}) {
		t.Errorf("second run: %+v, calls %v, %d puts", res, f.names(), len(f.puts))
	}
	if !strings.Contains(res.Reason, `statement "AllowSSLRequestsOnly" already denies`) {
		t.Errorf("second run reason %q", res.Reason)
	}
}

func TestSSLMergesExistingPolicy(t *testing.T) {
	f := newFakePolicyS3(t).withPolicy(partnerRead)
	res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	if len(f.puts) != 1 {
		t.Fatalf("%d PutBucketPolicy calls, want 1", len(f.puts))
	}
	// Every byte of the policy is kept; the statement goes after the last.
	want := strings.TrimSuffix(partnerRead, "]}") + "," + awsTLSDeny + "]}"
	if f.puts[0] != want {
		t.Errorf("policy written:\n%s\nwant:\n%s", f.puts[0], want)
	}
	old, got := statementsOf(t, partnerRead), statementsOf(t, f.puts[0])
	if len(got) != 3 || got[0] != old[0] || got[1] != old[1] || got[2] != awsTLSDeny {
		t.Errorf("statements written %q", got)
	}
	if res.Before["policy"] != partnerRead || res.After["policy"] != want {
		t.Errorf("Before %v After %v: both must hold the whole policy", res.Before, res.After)
	}
	if !strings.Contains(res.Reason, "keeping its 2 statements") {
		t.Errorf("Reason = %q", res.Reason)
	}
}

// A policy written with whitespace (S3 may return it as it was put) keeps
// its layout; a single statement (not a list) becomes a list of two.
func TestSSLMergeKeepsLayout(t *testing.T) {
	cases := []struct{ name, policy, want string }{
		{"indented list",
			"{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"A\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"111122223333\"}, \"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::example-public-bucket/*\"}\n  ]\n}\n",
			"{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"A\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"111122223333\"}, \"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::example-public-bucket/*\"}," + awsTLSDeny + "\n  ]\n}\n"},
		{"single statement object",
			`{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-public-bucket/*"},"Id":"legacy"}`,
			`{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-public-bucket/*"},` + awsTLSDeny + `],"Id":"legacy"}`},
		{"empty list",
			`{"Version":"2012-10-17","Statement":[ ]}`,
			`{"Version":"2012-10-17","Statement":[` + awsTLSDeny + ` ]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePolicyS3(t).withPolicy(tc.policy)
			res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
			if res.Action != remediation.ActionRemediated || len(f.puts) != 1 {
				t.Fatalf("result %+v, %d puts", res, len(f.puts))
			}
			if f.puts[0] != tc.want {
				t.Errorf("policy written:\n%s\nwant:\n%s", f.puts[0], tc.want)
			}
		})
	}
}

// S3 refuses statements that share a Sid.
func TestSSLSidClash(t *testing.T) {
	f := newFakePolicyS3(t).withPolicy(`{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"AllowSSLRequestsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::example-public-bucket/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},` +
		`{"Sid":"AllowSSLRequestsOnly2","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::example-public-bucket/*"}]}`)
	res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || len(f.puts) != 1 {
		t.Fatalf("result %+v (a deny on the objects only does not deny ListBucket over HTTP)", res)
	}
	got := statementsOf(t, f.puts[0])
	want := strings.Replace(awsTLSDeny, `"Sid":"AllowSSLRequestsOnly"`, `"Sid":"AllowSSLRequestsOnly3"`, 1)
	if len(got) != 3 || got[2] != want {
		t.Errorf("statement added %q, want %s", got[len(got)-1], want)
	}
}

// What counts as the deny Config wants, in the spellings found in real
// policies, and what does not.
func TestSSLEquivalentDeny(t *testing.T) {
	const b, o = `"arn:aws:s3:::example-public-bucket"`, `"arn:aws:s3:::example-public-bucket/*"`
	deny := func(principal, action, resource, condition string) string {
		return `{"Sid":"EnforceTLS","Effect":"Deny","Principal":` + principal + `,"Action":` + action + `,"Resource":` + resource + `,"Condition":` + condition + `}`
	}
	tls := `{"Bool":{"aws:SecureTransport":"false"}}`
	both := `[` + b + `,` + o + `]`
	allow := `{"Sid":"PartnerRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":` + o + `}`
	compliant := map[string]string{
		"AWS's example":                   deny(`"*"`, `"s3:*"`, both, tls),
		"principal AWS *":                 deny(`{"AWS":"*"}`, `"s3:*"`, both, tls),
		"principal AWS list with *":       deny(`{"AWS":["arn:aws:iam::111122223333:root","*"]}`, `"s3:*"`, both, tls),
		"action *":                        deny(`"*"`, `"*"`, both, tls),
		"action list with s3:*":           deny(`"*"`, `["s3:GetObject","s3:*"]`, both, tls),
		"resources reversed":              deny(`"*"`, `"s3:*"`, `[`+o+`,`+b+`]`, tls),
		"Terraform's jsonencode layout":   `{"Action":"s3:*","Condition":{"Bool":{"aws:SecureTransport":"false"}},"Effect":"Deny","Principal":"*","Resource":[` + o + `,` + b + `],"Sid":"AllowSSLRequestsOnly"}`,
		"without a Sid":                   strings.Replace(deny(`"*"`, `"s3:*"`, both, tls), `"Sid":"EnforceTLS",`, ``, 1),
		"principal AWS * with a Service":  deny(`{"AWS":"*","Service":"cloudfront.amazonaws.com"}`, `"s3:*"`, both, tls),
		"resources with a further prefix": deny(`"*"`, `"s3:*"`, `[`+b+`,`+o+`,"arn:aws:s3:::example-public-bucket/logs/*"]`, tls),
		// Condition values may always be a list; context key names are
		// not case-sensitive (IAM's Condition element reference).
		"condition value a list":      deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":["false"]}}`),
		"condition key in lower case": deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:securetransport":"false"}}`),
		"condition key in upper case": deny(`"*"`, `"s3:*"`, both, `{"Bool":{"AWS:SECURETRANSPORT":["false"]}}`),
	}
	for name, stmt := range compliant {
		t.Run("compliant/"+name, func(t *testing.T) {
			for _, doc := range []string{
				`{"Version":"2012-10-17","Statement":[` + allow + `,` + stmt + `]}`,
				`{"Version":"2012-10-17","Statement":` + stmt + `}`,
			} {
				f := newFakePolicyS3(t).withPolicy(doc)
				res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
				if res.Action != remediation.ActionCompliant || len(f.writes()) != 0 || !reflect.DeepEqual(f.names(), []string{"GetBucketPolicy"}) {
					t.Errorf("policy %s: result %+v, calls %v", doc, res, f.names())
				}
				if res.Before["policy"] != doc || !reflect.DeepEqual(res.Before, res.After) {
					t.Errorf("Before %v After %v", res.Before, res.After)
				}
			}
		})
	}
	notCompliant := map[string]string{
		"objects only (CIS example)":       deny(`"*"`, `"s3:*"`, o, tls),
		"bucket only":                      deny(`"*"`, `"s3:*"`, `[`+b+`]`, tls),
		"one account":                      deny(`{"AWS":"arn:aws:iam::111122223333:root"}`, `"s3:*"`, both, tls),
		"some actions":                     deny(`"*"`, `["s3:GetObject","s3:PutObject"]`, both, tls),
		"another bucket":                   deny(`"*"`, `"s3:*"`, `["arn:aws:s3:::other","arn:aws:s3:::other/*"]`, tls),
		"another partition":                deny(`"*"`, `"s3:*"`, `["arn:aws-cn:s3:::example-public-bucket","arn:aws-cn:s3:::example-public-bucket/*"]`, tls),
		"narrowed by a second condition":   deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":"false"},"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`),
		"narrowed by a second key":         deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":"false","aws:ViaAWSService":"false"}}`),
		"BoolIfExists":                     deny(`"*"`, `"s3:*"`, both, `{"BoolIfExists":{"aws:SecureTransport":"false"}}`),
		"TLS version only":                 deny(`"*"`, `"s3:*"`, both, `{"NumericLessThan":{"s3:TlsVersion":"1.2"}}`),
		"allow only over TLS":              strings.Replace(deny(`"*"`, `"s3:GetObject"`, both, `{"Bool":{"aws:SecureTransport":"true"}}`), `"Deny"`, `"Allow"`, 1),
		"true":                             deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":"true"}}`),
		"NotPrincipal":                     strings.Replace(deny(`"*"`, `"s3:*"`, both, tls), `"Principal":"*"`, `"NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"}`, 1),
		"NotAction":                        strings.Replace(deny(`"*"`, `"s3:*"`, both, tls), `"Action":"s3:*"`, `"NotAction":"s3:GetObject"`, 1),
		"no condition":                     strings.Replace(deny(`"*"`, `"s3:*"`, both, tls), `,"Condition":`+tls, ``, 1),
		"condition value not the string":   deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":false}}`),
		"condition values false and true":  deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":["false","true"]}}`),
		"condition value an empty list":    deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":[]}}`),
		"condition key another key":        deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransports":"false"}}`),
		"condition operator in lower case": deny(`"*"`, `"s3:*"`, both, `{"bool":{"aws:SecureTransport":"false"}}`),
		"the key twice, differently cased": deny(`"*"`, `"s3:*"`, both, `{"Bool":{"aws:SecureTransport":"false","aws:securetransport":"true"}}`),
	}
	for name, stmt := range notCompliant {
		t.Run("not compliant/"+name, func(t *testing.T) {
			doc := `{"Version":"2012-10-17","Statement":[` + allow + `,` + stmt + `]}`
			f := newFakePolicyS3(t).withPolicy(doc)
			res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
			if res.Action != remediation.ActionRemediated || len(f.puts) != 1 {
				t.Fatalf("policy %s: result %+v", doc, res)
			}
			got := statementsOf(t, f.puts[0])
			if len(got) != 3 || got[0] != allow || got[1] != stmt || got[2] != awsTLSDeny {
				t.Errorf("statements written %q", got)
			}
		})
	}
}

// The bucket and its objects may be covered by two statements, each a deny
// that would count but for its resources; each must deny every request
// without TLS.
func TestSSLDenySplitAcrossStatements(t *testing.T) {
	const b, o = `"arn:aws:s3:::example-public-bucket"`, `"arn:aws:s3:::example-public-bucket/*"`
	deny := func(sid, resource, condition string) string {
		return `{"Sid":"` + sid + `","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":` + resource + `,"Condition":` + condition + `}`
	}
	tls := `{"Bool":{"aws:SecureTransport":"false"}}`
	allow := `{"Sid":"PartnerRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":` + o + `}`
	policy := func(stmts ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	}

	t.Run("compliant", func(t *testing.T) {
		for name, tc := range map[string]struct{ doc, reason string }{
			"bucket then objects": {policy(deny("DenyHTTPBucket", b, tls), allow, deny("DenyHTTPObjects", `[`+o+`]`, tls)),
				`statements "DenyHTTPBucket" and "DenyHTTPObjects" already deny`},
			"objects then bucket, other spellings": {policy(allow, deny("DenyHTTPObjects", o, `{"Bool":{"aws:securetransport":["false"]}}`), deny("", b, tls)),
				`statements "DenyHTTPObjects" and #3 already deny`},
		} {
			t.Run(name, func(t *testing.T) {
				f := newFakePolicyS3(t).withPolicy(tc.doc)
				res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
				if res.Action != remediation.ActionCompliant || len(f.writes()) != 0 || !reflect.DeepEqual(f.names(), []string{"GetBucketPolicy"}) {
					t.Fatalf("policy %s: result %+v, calls %v", tc.doc, res, f.names())
				}
				if !strings.HasPrefix(res.Reason, tc.reason) {
					t.Errorf("Reason %q, want it to start %q", res.Reason, tc.reason)
				}
				if res.Before["policy"] != tc.doc || !reflect.DeepEqual(res.Before, res.After) {
					t.Errorf("Before %v After %v", res.Before, res.After)
				}
			})
		}
	})

	t.Run("not compliant", func(t *testing.T) {
		for name, doc := range map[string]string{
			"objects narrowed by a second condition": policy(deny("DenyHTTPBucket", b, tls),
				deny("DenyHTTPObjects", o, `{"Bool":{"aws:SecureTransport":"false"},"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}`)),
			"bucket deny for one account": policy(strings.Replace(deny("DenyHTTPBucket", b, tls), `"Principal":"*"`, `"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`, 1),
				deny("DenyHTTPObjects", o, tls)),
			"objects allowed rather than denied": policy(deny("DenyHTTPBucket", b, tls),
				strings.Replace(deny("DenyHTTPObjects", o, tls), `"Deny"`, `"Allow"`, 1)),
			"objects deny of some actions": policy(deny("DenyHTTPBucket", b, tls),
				strings.Replace(deny("DenyHTTPObjects", o, tls), `"s3:*"`, `["s3:GetObject","s3:PutObject"]`, 1)),
			"two bucket statements": policy(deny("DenyHTTPBucket", b, tls), deny("DenyHTTPBucketAgain", `[`+b+`]`, tls)),
		} {
			t.Run(name, func(t *testing.T) {
				f := newFakePolicyS3(t).withPolicy(doc)
				res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
				if res.Action != remediation.ActionRemediated || len(f.puts) != 1 {
					t.Fatalf("policy %s: result %+v", doc, res)
				}
				if got := statementsOf(t, f.puts[0]); len(got) != 3 || got[2] != awsTLSDeny {
					t.Errorf("statements written %q", got)
				}
			})
		}
	})
}

// bigPolicy returns a policy of statements whose compact size is exactly
// size bytes.
func bigPolicy(t testing.TB, size int) string {
	t.Helper()
	stmt := func(i int, pad string) string {
		return fmt.Sprintf(`{"Sid":"Partner%04d%s","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::example-public-bucket/partner-%04d/*"}`, i, pad, i)
	}
	var b strings.Builder
	b.WriteString(`{"Version":"2012-10-17","Statement":[`)
	for i := 0; ; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		s := stmt(i, "")
		if rest := size - b.Len() - len(s) - len(`]}`); rest < len(s)+1 {
			// the last statement takes up the rest in its Sid
			b.WriteString(stmt(i, strings.Repeat("x", rest)))
			break
		}
		b.WriteString(s)
	}
	b.WriteString(`]}`)
	if b.Len() != size {
		t.Fatalf("built a policy of %d bytes, want %d", b.Len(), size)
	}
	return b.String()
}

func TestSSLPolicySizeLimit(t *testing.T) {
	// The merged policy is the existing one, a comma and the statement.
	fits := MaxBucketPolicyBytes - 1 - len(awsTLSDeny)

	t.Run("at the limit", func(t *testing.T) {
		f := newFakePolicyS3(t).withPolicy(bigPolicy(t, fits))
		res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
		if res.Action != remediation.ActionRemediated || len(f.puts) != 1 || len(f.puts[0]) != MaxBucketPolicyBytes {
			t.Fatalf("result %+v, %d puts", res, len(f.puts))
		}
	})
	t.Run("one byte over", func(t *testing.T) {
		doc := bigPolicy(t, fits+1)
		for _, mode := range []remediation.Mode{remediation.ModeEnforce, remediation.ModeDryRun} {
			f := newFakePolicyS3(t).withPolicy(doc)
			res := runSSL(t, f, testOptions(), mode)
			checkFailed(t, res, "", `bucket "example-public-bucket"`, "20481 bytes", "limit of 20480 bytes")
			if len(f.writes()) != 0 {
				t.Errorf("%s: writes %v over the limit", mode, f.writes())
			}
			if res.Before["policy"] != doc {
				t.Errorf("%s: Before lost on failure", mode)
			}
		}
	})
	t.Run("whitespace does not count", func(t *testing.T) {
		var indented bytes.Buffer
		if err := json.Indent(&indented, []byte(bigPolicy(t, fits)), "", "    "); err != nil {
			t.Fatal(err)
		}
		if indented.Len() <= MaxBucketPolicyBytes {
			t.Fatalf("precondition: the indented policy is only %d bytes", indented.Len())
		}
		f := newFakePolicyS3(t).withPolicy(indented.String())
		if res := runSSL(t, f, testOptions(), remediation.ModeEnforce); res.Action != remediation.ActionRemediated {
			t.Fatalf("result %+v", res)
		}
	})
}

func TestSSLExemptTag(t *testing.T) {
	f := newFakePolicyS3(t).withPolicy(partnerRead)
	f.tags = []s3types.Tag{tag("team", "data"), tag("auto-remediation", "off")}
	res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionExempt || !strings.Contains(res.Reason, "auto-remediation=off") {
		t.Fatalf("result %+v", res)
	}
	if len(f.writes()) != 0 || f.count("GetBucketWebsite") != 0 {
		t.Errorf("calls %v on an exempt bucket", f.names())
	}
	if res.Before["policy"] != partnerRead {
		t.Errorf("Before %v", res.Before)
	}
}

func TestSSLWebsiteGuard(t *testing.T) {
	f := newFakePolicyS3(t)
	f.website = &s3.GetBucketWebsiteOutput{IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}}
	res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionExempt || !strings.Contains(res.Reason, "serve HTTP only") || !strings.Contains(res.Reason, "S3_WEBSITE_GUARD=false") {
		t.Fatalf("result %+v", res)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes %v on a website bucket", f.writes())
	}

	opts := testOptions()
	opts.WebsiteGuard = false
	f = newFakePolicyS3(t)
	f.website = &s3.GetBucketWebsiteOutput{IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}}
	if res := runSSL(t, f, opts, remediation.ModeEnforce); res.Action != remediation.ActionRemediated || f.count("GetBucketWebsite") != 0 {
		t.Errorf("guard off: %+v, calls %v", res, f.names())
	}
}

func TestSSLDryRun(t *testing.T) {
	f := newFakePolicyS3(t).withPolicy(partnerRead)
	res := runSSL(t, f, testOptions(), remediation.ModeDryRun)
	if res.Action != remediation.ActionDryRun || !strings.HasPrefix(res.Reason, `would add statement "AllowSSLRequestsOnly"`) {
		t.Fatalf("result %+v", res)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes %v in dry-run", f.writes())
	}
	if res.Before["policy"] != partnerRead || res.After["policy"] != strings.TrimSuffix(partnerRead, "]}")+","+awsTLSDeny+"]}" {
		t.Errorf("Before %v\nAfter %v", res.Before, res.After)
	}
	f = newFakePolicyS3(t)
	if res := runSSL(t, f, testOptions(), remediation.ModeDryRun); res.Action != remediation.ActionDryRun ||
		!strings.HasPrefix(res.Reason, "would create a bucket policy") || res.Before["policy"] != nil {
		t.Errorf("no policy: %+v", res)
	}
}

func TestSSLGone(t *testing.T) {
	for _, at := range []string{"GetBucketPolicy", "GetBucketTagging", "GetBucketWebsite", "PutBucketPolicy"} {
		t.Run(at, func(t *testing.T) {
			f := newFakePolicyS3(t)
			f.errs[at] = apiErr("NoSuchBucket")
			res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
			if res.Action != remediation.ActionGone || res.Err != nil || !strings.Contains(res.Reason, testBucket) {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

// A resource ID that is no bucket name is an input error, not a gone
// bucket, and never reaches a policy's ARNs.
func TestSSLMalformedID(t *testing.T) {
	for _, id := range []string{"", "example-public-bucket/*", `a"b`, "arn:aws:s3:::example-public-bucket", strings.Repeat("a", 256)} {
		f := newFakePolicyS3(t)
		res := NewS3SSLRequestsOnly(f, testOptions()).Remediate(context.Background(), request(sslRequestsOnlyRule, ResourceTypeBucket, id, remediation.ModeEnforce))
		if res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "not an S3 bucket name") || len(f.names()) != 0 {
			t.Errorf("ID %q: %+v, calls %v", id, res, f.names())
		}
	}
	f := newFakePolicyS3(t)
	f.errs["GetBucketPolicy"] = apiErr("InvalidBucketName")
	checkFailed(t, runSSL(t, f, testOptions(), remediation.ModeEnforce), "InvalidBucketName", "not a valid bucket name")
}

func TestSSLVerify(t *testing.T) {
	t.Run("write not visible", func(t *testing.T) {
		f := newFakePolicyS3(t).withPolicy(partnerRead)
		f.dropWrites = true
		opts := testOptions()
		opts.VerifyAttempts = 3
		res := runSSL(t, f, opts, remediation.ModeEnforce)
		checkFailed(t, res, "", `verifying bucket policy of bucket "example-public-bucket"`, "no statement denies requests without TLS")
		if len(f.puts) != 1 || f.count("GetBucketPolicy") != 1+3 {
			t.Errorf("%d puts, calls %v: want one write and three read-backs", len(f.puts), f.names())
		}
		if res.Before["policy"] != partnerRead {
			t.Errorf("Before lost: %v", res.Before)
		}
	})
	t.Run("eventually consistent", func(t *testing.T) {
		f := newFakePolicyS3(t).withPolicy(partnerRead)
		f.stale = 2
		res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
		if res.Action != remediation.ActionRemediated || f.count("GetBucketPolicy") != 1+3 {
			t.Errorf("result %+v, calls %v", res, f.names())
		}
	})
	t.Run("unreadable policy", func(t *testing.T) {
		f := newFakePolicyS3(t).withPolicy(`{"Version":"2012-10-17","Statement":"nope"}`)
		checkFailed(t, runSSL(t, f, testOptions(), remediation.ModeEnforce), "", "reading bucket policy", "neither a statement nor a list")
		if len(f.writes()) != 0 {
			t.Errorf("writes %v", f.writes())
		}
	})
}

func TestSSLAPIErrors(t *testing.T) {
	cases := []struct{ at, code, want string }{
		{"GetBucketPolicy", "AccessDenied", "reading bucket policy of bucket"},
		{"GetBucketTagging", "AccessDenied", "reading tags of bucket"},
		{"GetBucketWebsite", "AccessDenied", "reading website configuration of bucket"},
		{"PutBucketPolicy", "AccessDenied", "BlockPublicPolicy refuses the policy because an existing statement grants public access"},
		{"PutBucketPolicy", "MalformedPolicy", "unique ID such as AROA"},
		{"PutBucketPolicy", "OperationAborted", "putting bucket policy on bucket"},
		{"GetBucketPolicy#2", "AccessDenied", "verifying bucket policy of bucket"},
	}
	for _, tc := range cases {
		t.Run(tc.at+" "+tc.code, func(t *testing.T) {
			f := newFakePolicyS3(t).withPolicy(partnerRead)
			f.errs[tc.at] = apiErr(tc.code)
			res := runSSL(t, f, testOptions(), remediation.ModeEnforce)
			checkFailed(t, res, tc.code, tc.want, `"`+testBucket+`"`)
			if tc.at != "GetBucketPolicy" && res.Before["policy"] != partnerRead {
				t.Error("Before lost on failure")
			}
		})
	}
}

// The ARNs carry the bucket's partition.
func TestSSLPartition(t *testing.T) {
	f := newFakePolicyS3(t)
	f.region = "cn-north-1"
	req := request(sslRequestsOnlyRule, ResourceTypeBucket, testBucket, remediation.ModeEnforce)
	req.Region = "cn-north-1"
	res := NewS3SSLRequestsOnly(f, testOptions()).Remediate(context.Background(), req)
	if res.Action != remediation.ActionRemediated || len(f.puts) != 1 {
		t.Fatalf("result %+v", res)
	}
	want := strings.ReplaceAll(awsTLSDeny, "arn:aws:s3", "arn:aws-cn:s3")
	if got := statementsOf(t, f.puts[0]); len(got) != 1 || got[0] != want {
		t.Errorf("statement %q, want %s", got, want)
	}
	for region, want := range map[string]string{"us-east-1": "aws", "us-gov-west-1": "aws-us-gov", "cn-northwest-1": "aws-cn",
		"us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "eu-isoe-west-1": "aws-iso-e", "us-isof-south-1": "aws-iso-f", "eusc-de-east-1": "aws-eusc"} {
		if got := Partition(region); got != want {
			t.Errorf("Partition(%q) = %q, want %q", region, got, want)
		}
	}
}

func TestSSLDescribe(t *testing.T) {
	r := NewS3SSLRequestsOnly(nil, Options{})
	if r.Name() != S3SSLRequestsOnlyName || !reflect.DeepEqual(r.ResourceTypes(), []string{"AWS::S3::Bucket"}) {
		t.Errorf("Name %q ResourceTypes %v", r.Name(), r.ResourceTypes())
	}
	checkPermissionsCover(t, S3SSLRequestsOnlyDefinition(), reflect.TypeFor[S3SSLRequestsOnlyAPI]())
}

// A policy just under S3's limit, already compliant (the common case of a
// repeated event) and not (the merge).
func BenchmarkSSLNearLimitPolicy(b *testing.B) {
	doc := bigPolicy(b, MaxBucketPolicyBytes-1-len(awsTLSDeny))
	merged := strings.TrimSuffix(doc, "]}") + "," + awsTLSDeny + "]}"
	for _, bc := range []struct{ name, policy string }{{"compliant", merged}, {"merge", doc}} {
		b.Run(bc.name, func(b *testing.B) {
			r := NewS3SSLRequestsOnly(nil, testOptions())
			b.ReportAllocs()
			for b.Loop() {
				f := newFakePolicyS3(b).withPolicy(bc.policy)
				r.Client = f
				if res := r.Remediate(context.Background(), request(sslRequestsOnlyRule, ResourceTypeBucket, testBucket, remediation.ModeEnforce)); res.Action == remediation.ActionFailed {
					b.Fatal(res.Reason)
				}
			}
		})
	}
}

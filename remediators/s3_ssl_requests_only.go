package remediators

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// S3SSLRequestsOnlyAPI is the part of the S3 client the TLS-only bucket
// policy remediator uses.
type S3SSLRequestsOnlyAPI interface {
	GetBucketPolicy(ctx context.Context, params *s3.GetBucketPolicyInput, optFns ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	PutBucketPolicy(ctx context.Context, params *s3.PutBucketPolicyInput, optFns ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error)
	GetBucketTagging(ctx context.Context, params *s3.GetBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
	GetBucketWebsite(ctx context.Context, params *s3.GetBucketWebsiteInput, optFns ...func(*s3.Options)) (*s3.GetBucketWebsiteOutput, error)
}

// S3SSLRequestsOnly adds to a bucket's policy one statement that denies
// every S3 action on the bucket and its objects to requests not sent over
// TLS, keeping every existing statement as it is.
type S3SSLRequestsOnly struct {
	Client S3SSLRequestsOnlyAPI
	Opts   Options
}

// NewS3SSLRequestsOnly returns the remediator.
func NewS3SSLRequestsOnly(client S3SSLRequestsOnlyAPI, opts Options) *S3SSLRequestsOnly {
	return &S3SSLRequestsOnly{Client: client, Opts: opts}
}

// S3SSLRequestsOnlyName names the remediator in outcomes and settings.
const S3SSLRequestsOnlyName = "s3-ssl-requests-only"

// sslRequestsOnlyRule is the managed rule the remediator answers for.
const sslRequestsOnlyRule = "s3-bucket-ssl-requests-only"

// TLSDenySid is the Sid of the statement the remediator adds: the name AWS
// gives it in its s3-bucket-ssl-requests-only examples (the Knowledge
// Center article and the AWSConfigRemediation-RestrictBucketSSLRequestsOnly
// runbook), although the statement is a Deny.
const TLSDenySid = "AllowSSLRequestsOnly"

// MaxBucketPolicyBytes is S3's limit on the size of a bucket policy
// ("Bucket policies are limited to 20 KB in size"). S3 measures the policy
// without its insignificant whitespace, so a document is checked compacted.
const MaxBucketPolicyBytes = 20 * 1024

// S3SSLRequestsOnlyDefinition declares the TLS-only bucket policy
// remediator.
func S3SSLRequestsOnlyDefinition() Definition {
	return Definition{
		Spec: remediation.Spec{
			Name:          S3SSLRequestsOnlyName,
			Summary:       "Adds to the bucket policy a statement denying s3:* on the bucket and its objects when aws:SecureTransport is false, keeping every existing statement (creates the policy if there is none); website buckets are left alone unless S3_WEBSITE_GUARD=false.",
			ResourceTypes: []string{ResourceTypeBucket},
			Rules: []remediation.ManagedRule{
				{Name: sslRequestsOnlyRule, Identifier: "S3_BUCKET_SSL_REQUESTS_ONLY", ResourceTypes: []string{ResourceTypeBucket}},
			},
			Controls: []string{"S3.5"},
			Triggers: s3Calls("CreateBucket", "PutBucketPolicy", "DeleteBucketPolicy"),
			Permissions: []remediation.Permission{{
				Sid:       "S3SSLRequestsOnly",
				Actions:   []string{"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:GetBucketTagging", "s3:GetBucketWebsite"},
				Resources: []string{AnyBucket},
			}},
		},
		Sweep: []SweepCheck{{Rule: sslRequestsOnlyRule, Lister: BucketLister()}},
		New:   func(c Clients, o Options) remediation.Remediator { return NewS3SSLRequestsOnly(c.S3(), o) },
	}
}

// Name implements remediation.Remediator.
func (r *S3SSLRequestsOnly) Name() string { return S3SSLRequestsOnlyName }

// ResourceTypes implements remediation.Remediator.
func (r *S3SSLRequestsOnly) ResourceTypes() []string { return []string{ResourceTypeBucket} }

// bucketPolicy is a bucket's policy exactly as GetBucketPolicy returned it;
// a bucket without one has exists false.
type bucketPolicy struct {
	exists bool
	doc    string
}

// state is the policy for before/after: the whole document as a string (so
// that PutBucketPolicy with it restores it exactly), or null when the
// bucket had no policy (restored by DeleteBucketPolicy).
func (p bucketPolicy) state() map[string]any {
	if !p.exists {
		return map[string]any{"policy": nil}
	}
	return map[string]any{"policy": p.doc}
}

func (r *S3SSLRequestsOnly) read(ctx context.Context, bucket, region string) (bucketPolicy, error) {
	out, err := r.Client.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)}, s3Region(region))
	if awserr.Is(err, "NoSuchBucketPolicy") {
		return bucketPolicy{}, nil
	}
	if err != nil {
		return bucketPolicy{}, err
	}
	return bucketPolicy{exists: true, doc: aws.ToString(out.Policy)}, nil
}

// Remediate implements remediation.Remediator.
func (r *S3SSLRequestsOnly) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	bucket := req.ResourceID
	if !bucketName.MatchString(bucket) {
		return remediation.Failed(nil, fmt.Errorf("checking the bucket policy of bucket %q: the resource ID is not an S3 bucket name (1-255 letters, digits, dots, hyphens, underscores)", bucket))
	}
	arns := bucketARNs(Partition(req.Region), bucket)
	cur, err := r.read(ctx, bucket, req.Region)
	switch {
	case isNoSuchBucket(err):
		return goneBucket(bucket)
	case awserr.Is(err, "InvalidBucketName"):
		return remediation.Failed(nil, fmt.Errorf("reading bucket policy of bucket %q: the resource ID is not a valid bucket name: %w", bucket, err))
	case err != nil:
		return remediation.Failed(nil, fmt.Errorf("reading bucket policy of bucket %q: %w", bucket, err))
	}
	before := cur.state()
	var stmts []json.RawMessage
	if cur.exists {
		if stmts, err = policyStatements([]byte(cur.doc)); err != nil {
			return remediation.Failed(before, fmt.Errorf("reading bucket policy of bucket %q: %w", bucket, err))
		}
		if found := tlsDenies(stmts, arns); found != nil {
			return remediation.Result{Action: remediation.ActionCompliant, Before: before, After: before,
				Reason: describeTLSDenies(stmts, found) + " every S3 action on the bucket and its objects without TLS"}
		}
	}
	if res, done := bucketExempt(ctx, r.Client, r.Opts, bucket, req.Region, before); done {
		return res
	}
	// S3 website endpoints serve HTTP only: the deny would answer every
	// request to the website (and to a CloudFront origin on the website
	// endpoint) with 403.
	if res, done := websiteGuard(ctx, r.Client, r.Opts, bucket, req.Region, before,
		"S3 website endpoints serve HTTP only, so denying requests without TLS would take it offline (set S3_WEBSITE_GUARD=false to add the statement anyway)"); done {
		return res
	}

	sid := freeSid(stmts, TLSDenySid)
	stmt, err := json.Marshal(tlsDenyStatement(sid, arns))
	if err != nil {
		return remediation.Failed(before, fmt.Errorf("encoding the TLS deny statement for bucket %q: %w", bucket, err))
	}
	want, err := appendStatement([]byte(cur.doc), stmt)
	if err != nil {
		return remediation.Failed(before, fmt.Errorf("adding the TLS deny statement to the bucket policy of bucket %q: %w", bucket, err))
	}
	if n := compactSize(want); n > MaxBucketPolicyBytes {
		return remediation.Failed(before, fmt.Errorf("adding the TLS deny statement to the bucket policy of bucket %q: the policy would be %d bytes (whitespace excluded), over S3's bucket policy limit of %d bytes; shorten the policy and the next event adds the statement", bucket, n, MaxBucketPolicyBytes))
	}
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: bucketPolicy{exists: true, doc: string(want)}.state(),
			Reason: "would " + describeTLSChange(!cur.exists, sid, len(stmts), false)}
	}
	_, err = r.Client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(want))}, s3Region(req.Region))
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(before, putPolicyError(bucket, err))
	}
	// Bucket configuration is eventually consistent: the read-back may
	// briefly return the previous policy.
	var got bucketPolicy
	for attempt := 0; ; attempt++ {
		got, err = r.read(ctx, bucket, req.Region)
		if err != nil {
			return remediation.Unverified(before, fmt.Errorf("verifying bucket policy of bucket %q: %w", bucket, err))
		}
		if got.exists {
			gotStmts, err := policyStatements([]byte(got.doc))
			if err != nil {
				return remediation.Unverified(before, fmt.Errorf("verifying bucket policy of bucket %q: %w", bucket, err))
			}
			if tlsDenies(gotStmts, arns) != nil {
				break
			}
		}
		if attempt+1 >= max(r.Opts.VerifyAttempts, 1) {
			return remediation.Unverified(before, fmt.Errorf("verifying bucket policy of bucket %q: no statement denies requests without TLS after the write", bucket))
		}
		select {
		case <-ctx.Done():
			return remediation.Unverified(before, fmt.Errorf("verifying bucket policy of bucket %q: %w", bucket, ctx.Err()))
		case <-time.After(r.Opts.VerifyInterval):
		}
	}
	return remediation.Result{Action: remediation.ActionRemediated, Before: before, After: got.state(), Reason: describeTLSChange(!cur.exists, sid, len(stmts), true)}
}

// describeTLSChange says what the remediator does (past) or would do.
func describeTLSChange(created bool, sid string, kept int, past bool) string {
	stmt := fmt.Sprintf("statement %q (Deny s3:* on the bucket and its objects when aws:SecureTransport is false)", sid)
	switch {
	case created && past:
		return "created a bucket policy with " + stmt
	case created:
		return "create a bucket policy with " + stmt
	case past:
		return fmt.Sprintf("added %s to the bucket policy, keeping its %d statements", stmt, kept)
	}
	return fmt.Sprintf("add %s to the bucket policy, keeping its %d statements", stmt, kept)
}

// putPolicyError names what S3's refusals of a bucket policy usually mean.
func putPolicyError(bucket string, err error) error {
	switch awserr.Code(err) {
	case "AccessDenied":
		return fmt.Errorf("putting bucket policy on bucket %q: %w (AccessDenied: the function's role lacks s3:PutBucketPolicy on the bucket, "+
			"a service control policy or permissions boundary denies it, or Block Public Access's BlockPublicPolicy refuses the policy "+
			"because an existing statement grants public access; the added statement is a Deny and never makes a policy public)", bucket, err)
	case "MalformedPolicy":
		return fmt.Errorf("putting bucket policy on bucket %q: %w (MalformedPolicy: S3 refused the existing statements with the added one; "+
			"a statement may name a principal that no longer exists, which GetBucketPolicy shows as its unique ID such as AROA... "+
			"and PutBucketPolicy refuses: fix the policy and the next event adds the statement)", bucket, err)
	}
	return fmt.Errorf("putting bucket policy on bucket %q: %w", bucket, err)
}

// partitionOf is the partition of a region, as the SDK's partitions.json
// matches them.
// Partition is the ARN partition of a region (aws, aws-cn, aws-us-gov,
// the ISO partitions, aws-eusc).
func Partition(region string) string {
	for _, p := range []struct{ prefix, partition string }{
		{"cn-", "aws-cn"}, {"us-gov-", "aws-us-gov"}, {"us-iso-", "aws-iso"}, {"us-isob-", "aws-iso-b"},
		{"eu-isoe-", "aws-iso-e"}, {"us-isof-", "aws-iso-f"}, {"eusc-", "aws-eusc"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.partition
		}
	}
	return "aws"
}

// tlsARNs are the resources the deny must cover: the bucket (ListBucket and
// the bucket's configuration) and its objects.
type tlsARNs struct{ bucket, objects string }

func bucketARNs(partition, bucket string) tlsARNs {
	b := "arn:" + partition + ":s3:::" + bucket
	return tlsARNs{bucket: b, objects: b + "/*"}
}

// policyStatement is a statement with its elements in AWS's documented
// order, for the statement the remediator writes.
type policyStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal string                       `json:"Principal"`
	Action    string                       `json:"Action"`
	Resource  []string                     `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition"`
}

// tlsDenyStatement is AWS's documented statement for the rule
// s3-bucket-ssl-requests-only.
func tlsDenyStatement(sid string, arns tlsARNs) policyStatement {
	return policyStatement{Sid: sid, Effect: "Deny", Principal: "*", Action: "s3:*",
		Resource:  []string{arns.bucket, arns.objects},
		Condition: map[string]map[string]string{"Bool": {"aws:SecureTransport": "false"}}}
}

// policyStatements returns the statements of a policy document, each as
// the exact bytes the document holds. A policy's Statement may be one
// statement rather than a list.
func policyStatements(doc []byte) ([]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, fmt.Errorf("the policy is not a JSON object: %w", err)
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, errors.New("the policy has no Statement")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return []json.RawMessage{raw}, nil
	}
	var stmts []json.RawMessage
	if err := json.Unmarshal(raw, &stmts); err != nil {
		return nil, fmt.Errorf("the policy's Statement is neither a statement nor a list of them: %w", err)
	}
	return stmts, nil
}

// appendStatement returns the policy document with stmt added after its
// last statement. Every other byte of the document is kept, so the
// existing statements, Version, Id and even the layout stay exactly as
// they were. An empty document becomes a new policy.
func appendStatement(doc, stmt []byte) ([]byte, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return []byte(`{"Version":"2012-10-17","Statement":[` + string(stmt) + `]}`), nil
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("the policy is not a JSON object")
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("reading the policy: %w", err)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("reading the policy: %w", err)
		}
		if key != "Statement" {
			continue
		}
		// Decode leaves the decoder just after the value and returns its
		// bytes without surrounding whitespace.
		end := int(dec.InputOffset())
		start := end - len(val)
		var out bytes.Buffer
		switch val[0] {
		case '[':
			// after the last non-space byte before the closing bracket
			at := end - 1
			for at > start && isJSONSpace(doc[at-1]) {
				at--
			}
			out.Write(doc[:at])
			if doc[at-1] != '[' {
				out.WriteByte(',')
			}
			out.Write(stmt)
			out.Write(doc[at:])
		case '{':
			out.Write(doc[:start])
			out.WriteByte('[')
			out.Write(val)
			out.WriteByte(',')
			out.Write(stmt)
			out.WriteByte(']')
			out.Write(doc[end:])
		default:
			return nil, errors.New("the policy's Statement is neither a statement nor a list of them")
		}
		return out.Bytes(), nil
	}
	return nil, errors.New("the policy has no Statement")
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// compactSize is the size S3 checks against its limit: the document
// without insignificant whitespace.
func compactSize(doc []byte) int {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return len(doc)
	}
	return b.Len()
}

// freeSid returns want, or want with the smallest number appended that no
// statement uses: S3 refuses a policy whose statements share a Sid.
func freeSid(stmts []json.RawMessage, want string) string {
	used := map[string]bool{}
	for _, s := range stmts {
		var v struct {
			Sid string `json:"Sid"`
		}
		_ = json.Unmarshal(s, &v)
		used[v.Sid] = true
	}
	sid := want
	for n := 2; used[sid]; n++ {
		sid = want + strconv.Itoa(n)
	}
	return sid
}

func describeStatement(stmt json.RawMessage, i int) string {
	var v struct {
		Sid string `json:"Sid"`
	}
	if json.Unmarshal(stmt, &v) == nil && v.Sid != "" {
		return strconv.Quote(v.Sid)
	}
	return fmt.Sprintf("#%d", i+1)
}

// tlsDenies returns the indexes of the statements that deny every S3
// action on the bucket and its objects without TLS: the first statement
// that covers both, or else the first that covers the bucket and the first
// that covers its objects, in policy order; nil when either is uncovered.
func tlsDenies(stmts []json.RawMessage, arns tlsARNs) []int {
	bucket, objects := -1, -1
	for i, s := range stmts {
		b, o := deniesInsecureTransport(s, arns)
		if b && o {
			return []int{i}
		}
		if b && bucket < 0 {
			bucket = i
		}
		if o && objects < 0 {
			objects = i
		}
	}
	if bucket < 0 || objects < 0 {
		return nil
	}
	return []int{min(bucket, objects), max(bucket, objects)}
}

// describeTLSDenies names the statements tlsDenies found, with the verb.
func describeTLSDenies(stmts []json.RawMessage, found []int) string {
	if len(found) == 1 {
		return "statement " + describeStatement(stmts[found[0]], found[0]) + " already denies"
	}
	return "statements " + describeStatement(stmts[found[0]], found[0]) + " and " + describeStatement(stmts[found[1]], found[1]) + " already deny"
}

// deniesInsecureTransport reports whether a statement denies every request
// without TLS to the bucket and to its objects. It follows the check of the
// Config rule s3-bucket-ssl-requests-only as AWS's own cdk-nag rule for it
// (S3BucketSSLRequestsOnly) spells it out: Effect Deny; Principal "*" or
// {"AWS": "*"} (or a list holding "*"); Action "s3:*" or "*" (or a list
// holding one); Resource holding the bucket's ARN, its objects' ARN or both
// (two statements may share the two ARNs); Condition Bool
// "aws:SecureTransport": "false". Condition values may be given as a list,
// so ["false"] counts (a list holding anything but "false" does not), and
// IAM compares context key names case-insensitively, so
// "aws:securetransport" counts; condition operator names are matched as
// IAM's policy grammar spells them ("Bool"), not folded. AWS documents no
// more of the rule's evaluation; where unsure, the check is the stricter,
// because a statement Config does not accept would leave the finding open
// while the remediator reports compliant, and a redundant statement costs
// nothing. It is also stricter than cdk-nag where a statement would not
// deny every request without TLS: any other condition narrows the deny.
// (A statement with NotPrincipal, NotAction or NotResource has no
// Principal, Action or Resource, so it never counts.)
func deniesInsecureTransport(stmt json.RawMessage, arns tlsARNs) (bucket, objects bool) {
	var s struct {
		Effect    string
		Principal json.RawMessage
		Action    json.RawMessage
		Resource  json.RawMessage
		Condition map[string]map[string]json.RawMessage
	}
	if json.Unmarshal(stmt, &s) != nil || s.Effect != "Deny" || !allPrincipals(s.Principal) {
		return false, false
	}
	actions := stringOrList(s.Action)
	if !slices.Contains(actions, "s3:*") && !slices.Contains(actions, "*") {
		return false, false
	}
	if len(s.Condition) != 1 || len(s.Condition["Bool"]) != 1 {
		return false, false
	}
	for key, raw := range s.Condition["Bool"] {
		values := stringOrList(raw)
		if !strings.EqualFold(key, "aws:SecureTransport") || len(values) == 0 ||
			slices.ContainsFunc(values, func(v string) bool { return v != "false" }) {
			return false, false
		}
	}
	resources := stringOrList(s.Resource)
	return slices.Contains(resources, arns.bucket), slices.Contains(resources, arns.objects)
}

// allPrincipals reports whether a Principal element is everyone: "*" or
// {"AWS": "*"} (or {"AWS": [..., "*", ...]}).
func allPrincipals(p json.RawMessage) bool {
	var one string
	if json.Unmarshal(p, &one) == nil {
		return one == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(p, &m) != nil {
		return false
	}
	return slices.Contains(stringOrList(m["AWS"]), "*")
}

// stringOrList reads a policy element that is a string or a list of
// strings; anything else reads as nothing.
func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

// bucketPolicyDeleter is what Revert needs beyond the remediator's own
// calls, to remove a policy the bucket did not have before: it needs
// s3:DeleteBucketPolicy, which the remediator's role is not granted (see
// docs/undo.md).
type bucketPolicyDeleter interface {
	DeleteBucketPolicy(ctx context.Context, params *s3.DeleteBucketPolicyInput, optFns ...func(*s3.Options)) (*s3.DeleteBucketPolicyOutput, error)
}

// samePolicy reports whether two policy documents say the same: S3 may
// return a policy with other whitespace or key order than it was given.
func samePolicy(a, b string) bool {
	if a == b {
		return true
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// policyFrom reads the policy of a state map (an outcome's before or
// after): a document, or none when the value is null.
func policyFrom(m map[string]any) (bucketPolicy, bool) {
	v, ok := m["policy"]
	if !ok {
		return bucketPolicy{}, false
	}
	if v == nil {
		return bucketPolicy{}, true
	}
	doc, ok := v.(string)
	if !ok || !json.Valid([]byte(doc)) {
		return bucketPolicy{}, false
	}
	return bucketPolicy{exists: true, doc: doc}, true
}

func (p bucketPolicy) same(q bucketPolicy) bool {
	return p.exists == q.exists && (!p.exists || samePolicy(p.doc, q.doc))
}

// Revert implements remediation.Reverter: it puts the whole previous bucket
// policy back, exactly as the outcome's before recorded it, or deletes the
// policy when the bucket had none. Any other change to the policy since the
// fix (the added statement edited, another statement added) counts as a
// change, so the revert refuses it unless forced: a forced revert
// discards that change too.
func (r *S3SSLRequestsOnly) Revert(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	o := req.Outcome
	bucket := o.ResourceID
	if !bucketName.MatchString(bucket) {
		return malformedID("S3 bucket", bucket)
	}
	want, ok := policyFrom(o.Before)
	if !ok {
		return missingBefore(r.Name(), o, "policy (the previous policy document, or null for none)")
	}
	cur, err := r.read(ctx, bucket, o.Region)
	switch {
	case isNoSuchBucket(err):
		return goneBucket(bucket)
	case err != nil:
		return remediation.Failed(nil, fmt.Errorf("reading bucket policy of bucket %q: %w", bucket, err))
	}
	now := cur.state()
	left, ok := policyFrom(o.After)
	if !cur.same(left) || !ok {
		if !req.Force {
			what := "the policy differs from the one the outcome left"
			if !cur.exists {
				what = "the bucket has no policy now"
			}
			return refuseChanged("the bucket policy", now, []string{what})
		}
	}
	if cur.same(want) {
		return remediation.Result{Action: remediation.ActionReverted, Before: now, After: now,
			Reason: "the bucket policy is already as before the outcome: nothing written"}
	}
	what := "the previous bucket policy"
	if !want.exists {
		what = "no bucket policy (the bucket had none)"
	}
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: want.state(), Reason: "would restore " + what}
	}
	if want.exists {
		_, err = r.Client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(want.doc)}, s3Region(o.Region))
		if err != nil && !isNoSuchBucket(err) {
			err = putPolicyError(bucket, err)
		}
	} else {
		del, ok := r.Client.(bucketPolicyDeleter)
		if !ok {
			return remediation.Failed(now, fmt.Errorf("deleting bucket policy of bucket %q: the S3 client cannot delete it", bucket))
		}
		_, err = del.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)}, s3Region(o.Region))
		if err != nil && !isNoSuchBucket(err) {
			err = fmt.Errorf("deleting bucket policy of bucket %q: %w", bucket, err)
		}
	}
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(now, err)
	}
	// Eventually consistent, as for the fix.
	var got bucketPolicy
	for attempt := 0; ; attempt++ {
		got, err = r.read(ctx, bucket, o.Region)
		if err != nil {
			return remediation.Unverified(now, fmt.Errorf("verifying bucket policy of bucket %q: %w", bucket, err))
		}
		if got.same(want) {
			break
		}
		if attempt+1 >= max(r.Opts.VerifyAttempts, 1) {
			return remediation.Unverified(now, fmt.Errorf("verifying bucket policy of bucket %q: the policy read back is not %s", bucket, what))
		}
		select {
		case <-ctx.Done():
			return remediation.Unverified(now, fmt.Errorf("verifying bucket policy of bucket %q: %w", bucket, ctx.Err()))
		case <-time.After(r.Opts.VerifyInterval):
		}
	}
	return remediation.Result{Action: remediation.ActionReverted, Before: now, After: got.state(), Reason: "restored " + what}
}

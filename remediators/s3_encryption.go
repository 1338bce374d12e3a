package remediators

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// The S3 default encryption algorithms, weakest first.
const (
	SSEAlgorithmNone   = "none"
	SSEAlgorithmAES256 = "AES256"
	SSEAlgorithmKMS    = "aws:kms"
	SSEAlgorithmDSSE   = "aws:kms:dsse"
)

// kmsRule is the managed rule that requires SSE-KMS: when it fires, AES256
// would never satisfy it, so the remediator asks for SSE-KMS.
const kmsRule = "s3-default-encryption-kms"

func sseStrength(alg string) int {
	switch alg {
	case SSEAlgorithmAES256:
		return 1
	case SSEAlgorithmKMS:
		return 2
	case SSEAlgorithmDSSE:
		return 3
	}
	return 0
}

// S3EncryptionAPI is the part of the S3 client the default encryption
// remediator uses.
type S3EncryptionAPI interface {
	GetBucketEncryption(ctx context.Context, params *s3.GetBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	PutBucketEncryption(ctx context.Context, params *s3.PutBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error)
	GetBucketTagging(ctx context.Context, params *s3.GetBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
}

// S3Encryption sets a bucket's default encryption: SSE-S3 by default, or
// SSE-KMS with the configured key and S3 Bucket Keys on. A bucket with an
// equal or stronger setting is left alone.
type S3Encryption struct {
	Client S3EncryptionAPI
	Opts   Options
}

// NewS3Encryption returns the remediator.
func NewS3Encryption(client S3EncryptionAPI, opts Options) *S3Encryption {
	return &S3Encryption{Client: client, Opts: opts}
}

// S3EncryptionName names the remediator in outcomes and settings.
const S3EncryptionName = "s3-encryption"

// S3EncryptionDefinition declares the bucket default encryption remediator.
func S3EncryptionDefinition() Definition {
	return Definition{
		Spec: remediation.Spec{
			Name:          S3EncryptionName,
			Aliases:       []string{"s3-default-encryption", "s3-bucket-encryption"},
			Summary:       "Sets the bucket's default encryption (SSE-S3, or SSE-KMS with the configured key and S3 Bucket Keys); an equal or stronger setting is left alone.",
			ResourceTypes: []string{ResourceTypeBucket},
			Rules: []remediation.ManagedRule{
				{Name: "s3-bucket-server-side-encryption-enabled", Identifier: "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", ResourceTypes: []string{ResourceTypeBucket}},
				{Name: "s3-default-encryption-kms", Identifier: "S3_DEFAULT_ENCRYPTION_KMS", ResourceTypes: []string{ResourceTypeBucket}},
			},
			// S3.4 is retired in Security Hub (S3 encrypts every bucket since
			// January 2023) but its findings remain in many accounts.
			Controls: []string{"S3.4", "S3.17"},
			Triggers: s3Calls("CreateBucket", "PutBucketEncryption", "DeleteBucketEncryption"),
			// The IAM actions behind Get/PutBucketEncryption are named after
			// the encryption configuration.
			Permissions: []remediation.Permission{{
				Sid:       "S3Encryption",
				Actions:   []string{"s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration", "s3:GetBucketTagging"},
				Resources: []string{AnyBucket},
			}},
		},
		Sweep: []SweepCheck{{Rule: "s3-bucket-server-side-encryption-enabled", Lister: BucketLister()}},
		New:   func(c Clients, o Options) remediation.Remediator { return NewS3Encryption(c.S3(), o) },
	}
}

// Name implements remediation.Remediator.
func (r *S3Encryption) Name() string { return S3EncryptionName }

// ResourceTypes implements remediation.Remediator.
func (r *S3Encryption) ResourceTypes() []string { return []string{ResourceTypeBucket} }

type bucketEncryption struct {
	algorithm string
	kmsKey    string
	bucketKey bool
}

func (e bucketEncryption) state() map[string]any {
	m := map[string]any{"sseAlgorithm": e.algorithm, "bucketKeyEnabled": e.bucketKey}
	if e.kmsKey != "" {
		m["kmsMasterKeyId"] = e.kmsKey
	}
	return m
}

func (r *S3Encryption) read(ctx context.Context, bucket, region string) (bucketEncryption, error) {
	out, err := r.Client.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)}, s3Region(region))
	if awserr.Is(err, "ServerSideEncryptionConfigurationNotFoundError") {
		return bucketEncryption{algorithm: SSEAlgorithmNone}, nil
	}
	if err != nil {
		return bucketEncryption{}, err
	}
	best := bucketEncryption{algorithm: SSEAlgorithmNone}
	if out.ServerSideEncryptionConfiguration != nil {
		for _, rule := range out.ServerSideEncryptionConfiguration.Rules {
			if d := rule.ApplyServerSideEncryptionByDefault; d != nil && sseStrength(string(d.SSEAlgorithm)) > sseStrength(best.algorithm) {
				best = bucketEncryption{algorithm: string(d.SSEAlgorithm), kmsKey: aws.ToString(d.KMSMasterKeyID), bucketKey: aws.ToBool(rule.BucketKeyEnabled)}
			}
		}
	}
	return best, nil
}

// wanted is the setting to apply for this request.
func (r *S3Encryption) wanted(req remediation.Request) bucketEncryption {
	alg := r.Opts.SSEAlgorithm
	if alg == "" {
		alg = SSEAlgorithmAES256
	}
	if req.ManagedRule == kmsRule && sseStrength(alg) < sseStrength(SSEAlgorithmKMS) {
		alg = SSEAlgorithmKMS
	}
	if alg == SSEAlgorithmAES256 {
		return bucketEncryption{algorithm: alg}
	}
	// Without a configured key, SSE-KMS uses the AWS managed key aws/s3.
	// S3 Bucket Keys exist for SSE-KMS only, not for dual-layer DSSE-KMS.
	return bucketEncryption{algorithm: alg, kmsKey: r.Opts.KMSKeyARN, bucketKey: alg == SSEAlgorithmKMS}
}

// Remediate implements remediation.Remediator.
func (r *S3Encryption) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	bucket := req.ResourceID
	if !bucketName.MatchString(bucket) {
		return malformedID("S3 bucket", bucket)
	}
	cur, err := r.read(ctx, bucket, req.Region)
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if awserr.Is(err, "InvalidBucketName") {
		return malformedID("S3 bucket", bucket)
	}
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("reading default encryption of bucket %q: %w", bucket, err))
	}
	before := cur.state()
	want := r.wanted(req)
	if sseStrength(cur.algorithm) >= sseStrength(want.algorithm) {
		return remediation.Result{Action: remediation.ActionCompliant, Before: before, After: before,
			Reason: fmt.Sprintf("default encryption %s is at least as strong as %s", cur.algorithm, want.algorithm)}
	}
	if res, done := bucketExempt(ctx, r.Client, r.Opts, bucket, req.Region, before); done {
		return res
	}
	change := fmt.Sprintf("default encryption from %s to %s", cur.algorithm, describeSSE(want))
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: want.state(), Reason: "would set " + change}
	}
	def := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryption(want.algorithm)}
	if want.kmsKey != "" {
		def.KMSMasterKeyID = aws.String(want.kmsKey)
	}
	rule := s3types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: def}
	if want.bucketKey {
		rule.BucketKeyEnabled = aws.Bool(true)
	}
	_, err = r.Client.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket:                            aws.String(bucket),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{rule}},
	}, s3Region(req.Region))
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(before, fmt.Errorf("putting default encryption %s on bucket %q: %w", want.algorithm, bucket, err))
	}
	got, err := r.read(ctx, bucket, req.Region)
	if err != nil {
		return remediation.Unverified(before, fmt.Errorf("verifying default encryption of bucket %q: %w", bucket, err))
	}
	if got.algorithm != want.algorithm || (want.kmsKey != "" && got.kmsKey != want.kmsKey) {
		return remediation.Unverified(before, fmt.Errorf("verifying default encryption of bucket %q: read back %s, want %s", bucket, describeSSE(got), describeSSE(want)))
	}
	return remediation.Result{Action: remediation.ActionRemediated, Before: before, After: got.state(), Reason: "set " + change}
}

func describeSSE(e bucketEncryption) string {
	if e.algorithm == SSEAlgorithmAES256 || e.algorithm == SSEAlgorithmNone {
		return e.algorithm
	}
	key := "AWS managed key aws/s3"
	if e.kmsKey != "" {
		key = "key " + e.kmsKey
	}
	if e.bucketKey {
		key += ", bucket key on"
	}
	return e.algorithm + " (" + key + ")"
}

// encryptionKeys are the fields of the state a revert compares.
var encryptionKeys = []string{"sseAlgorithm", "kmsMasterKeyId", "bucketKeyEnabled"}

// bucketEncryptionFrom reads a state map (an outcome's before) back.
func bucketEncryptionFrom(m map[string]any) (bucketEncryption, string, bool) {
	alg, ok := stateString(m, "sseAlgorithm")
	if !ok || (alg != SSEAlgorithmNone && sseStrength(alg) == 0) {
		return bucketEncryption{}, "sseAlgorithm (none, AES256, aws:kms or aws:kms:dsse)", false
	}
	e := bucketEncryption{algorithm: alg}
	e.bucketKey, _ = stateBool(m, "bucketKeyEnabled")
	e.kmsKey, _ = stateString(m, "kmsMasterKeyId")
	return e, "", true
}

// Revert implements remediation.Reverter: it puts the bucket's previous
// default encryption back. S3 has encrypted every bucket with SSE-S3 since
// January 2023 and no configuration can turn that off, so a before of
// "none" (a bucket read before then, or an emulator) is restored as SSE-S3,
// and the reason says so.
func (r *S3Encryption) Revert(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	o := req.Outcome
	bucket := o.ResourceID
	if !bucketName.MatchString(bucket) {
		return malformedID("S3 bucket", bucket)
	}
	want, missing, ok := bucketEncryptionFrom(o.Before)
	if !ok {
		return missingBefore(r.Name(), o, missing)
	}
	note := ""
	if want.algorithm == SSEAlgorithmNone {
		want = bucketEncryption{algorithm: SSEAlgorithmAES256}
		note = " (the outcome's before was none, but S3 encrypts every bucket with SSE-S3 at least since January 2023: SSE-S3 is the closest setting there is)"
	}
	cur, err := r.read(ctx, bucket, o.Region)
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("reading default encryption of bucket %q: %w", bucket, err))
	}
	now := cur.state()
	if diffs := changedSince(now, o.After, encryptionKeys...); len(diffs) > 0 && !req.Force {
		return refuseChanged("the bucket's default encryption", now, diffs)
	}
	if cur == want {
		return remediation.Result{Action: remediation.ActionReverted, Before: now, After: now,
			Reason: "default encryption is already " + describeSSE(want) + ", as before the outcome: nothing written" + note}
	}
	change := fmt.Sprintf("default encryption from %s to %s", describeSSE(cur), describeSSE(want))
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: want.state(), Reason: "would restore " + change + note}
	}
	def := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryption(want.algorithm)}
	if want.kmsKey != "" {
		def.KMSMasterKeyID = aws.String(want.kmsKey)
	}
	rule := s3types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: def}
	if want.bucketKey || want.algorithm == SSEAlgorithmKMS {
		// Explicit either way: a bucket key the fix turned on goes off again.
		rule.BucketKeyEnabled = aws.Bool(want.bucketKey)
	}
	_, err = r.Client.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket:                            aws.String(bucket),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{rule}},
	}, s3Region(o.Region))
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(now, fmt.Errorf("putting default encryption %s on bucket %q: %w", want.algorithm, bucket, err))
	}
	got, err := r.read(ctx, bucket, o.Region)
	if err != nil {
		return remediation.Unverified(now, fmt.Errorf("verifying default encryption of bucket %q: %w", bucket, err))
	}
	if got.algorithm != want.algorithm || got.kmsKey != want.kmsKey || (want.algorithm == SSEAlgorithmKMS && got.bucketKey != want.bucketKey) {
		return remediation.Unverified(now, fmt.Errorf("verifying default encryption of bucket %q: read back %s, want %s", bucket, describeSSE(got), describeSSE(want)))
	}
	return remediation.Result{Action: remediation.ActionReverted, Before: now, After: got.state(), Reason: "restored " + change + note}
}

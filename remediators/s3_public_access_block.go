package remediators

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// S3PublicAccessBlockAPI is the part of the S3 client the public access
// block remediator uses.
type S3PublicAccessBlockAPI interface {
	GetPublicAccessBlock(ctx context.Context, params *s3.GetPublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	PutPublicAccessBlock(ctx context.Context, params *s3.PutPublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
	GetBucketTagging(ctx context.Context, params *s3.GetBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
	GetBucketWebsite(ctx context.Context, params *s3.GetBucketWebsiteInput, optFns ...func(*s3.Options)) (*s3.GetBucketWebsiteOutput, error)
}

// S3PublicAccessBlock turns on all four S3 Block Public Access settings on a
// bucket.
type S3PublicAccessBlock struct {
	Client S3PublicAccessBlockAPI
	Opts   Options
}

// NewS3PublicAccessBlock returns the remediator.
func NewS3PublicAccessBlock(client S3PublicAccessBlockAPI, opts Options) *S3PublicAccessBlock {
	return &S3PublicAccessBlock{Client: client, Opts: opts}
}

// S3PublicAccessBlockName names the remediator in outcomes and settings.
const S3PublicAccessBlockName = "s3-public-access-block"

// S3PublicAccessBlockDefinition declares the public access block remediator.
func S3PublicAccessBlockDefinition() Definition {
	buckets := BucketLister()
	return Definition{
		Spec: remediation.Spec{
			Name:          S3PublicAccessBlockName,
			Summary:       "Turns on all four S3 Block Public Access settings on the bucket (website buckets are left alone unless S3_WEBSITE_GUARD=false).",
			ResourceTypes: []string{ResourceTypeBucket},
			Rules: []remediation.ManagedRule{
				{Name: "s3-bucket-public-read-prohibited", Identifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED", ResourceTypes: []string{ResourceTypeBucket}},
				{Name: "s3-bucket-public-write-prohibited", Identifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", ResourceTypes: []string{ResourceTypeBucket}},
				{Name: "s3-bucket-level-public-access-prohibited", Identifier: "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED", ResourceTypes: []string{ResourceTypeBucket}},
			},
			Controls: []string{"S3.2", "S3.3", "S3.8"},
			Triggers: s3Calls("CreateBucket", "PutBucketAcl", "PutBucketPolicy", "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock"),
			Permissions: []remediation.Permission{{
				Sid:       "S3PublicAccessBlock",
				Actions:   []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:GetBucketTagging", "s3:GetBucketWebsite"},
				Resources: []string{AnyBucket},
			}},
		},
		// Config's own bucket-level rule; the read and write rules flag
		// subsets of what it flags.
		Sweep: []SweepCheck{{Rule: "s3-bucket-level-public-access-prohibited", Lister: buckets}},
		New:   func(c Clients, o Options) remediation.Remediator { return NewS3PublicAccessBlock(c.S3(), o) },
	}
}

// Name implements remediation.Remediator.
func (r *S3PublicAccessBlock) Name() string { return S3PublicAccessBlockName }

// ResourceTypes implements remediation.Remediator.
func (r *S3PublicAccessBlock) ResourceTypes() []string { return []string{ResourceTypeBucket} }

// publicAccessBlock is the bucket's setting; a bucket without one has all
// four flags off.
type publicAccessBlock struct {
	configured                                                           bool
	blockPublicAcls, ignorePublicAcls, blockPublicPolicy, restrictPublic bool
}

func (p publicAccessBlock) all() bool {
	return p.blockPublicAcls && p.ignorePublicAcls && p.blockPublicPolicy && p.restrictPublic
}

func (p publicAccessBlock) off() []string {
	var off []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"BlockPublicAcls", p.blockPublicAcls}, {"IgnorePublicAcls", p.ignorePublicAcls},
		{"BlockPublicPolicy", p.blockPublicPolicy}, {"RestrictPublicBuckets", p.restrictPublic}} {
		if !f.on {
			off = append(off, f.name)
		}
	}
	return off
}

func (p publicAccessBlock) state() map[string]any {
	return map[string]any{
		"configured":            p.configured,
		"blockPublicAcls":       p.blockPublicAcls,
		"ignorePublicAcls":      p.ignorePublicAcls,
		"blockPublicPolicy":     p.blockPublicPolicy,
		"restrictPublicBuckets": p.restrictPublic,
	}
}

func (r *S3PublicAccessBlock) read(ctx context.Context, bucket, region string) (publicAccessBlock, error) {
	out, err := r.Client.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)}, s3Region(region))
	if awserr.Is(err, "NoSuchPublicAccessBlockConfiguration") {
		return publicAccessBlock{}, nil
	}
	if err != nil {
		return publicAccessBlock{}, err
	}
	c := out.PublicAccessBlockConfiguration
	if c == nil {
		return publicAccessBlock{}, nil
	}
	return publicAccessBlock{
		configured:        true,
		blockPublicAcls:   aws.ToBool(c.BlockPublicAcls),
		ignorePublicAcls:  aws.ToBool(c.IgnorePublicAcls),
		blockPublicPolicy: aws.ToBool(c.BlockPublicPolicy),
		restrictPublic:    aws.ToBool(c.RestrictPublicBuckets),
	}, nil
}

// Remediate implements remediation.Remediator.
func (r *S3PublicAccessBlock) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
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
		return remediation.Failed(nil, fmt.Errorf("reading public access block of bucket %q: %w", bucket, err))
	}
	before := cur.state()
	if cur.all() {
		return remediation.Result{Action: remediation.ActionCompliant, Reason: "all four public access block settings are on", Before: before, After: before}
	}
	if res, done := bucketExempt(ctx, r.Client, r.Opts, bucket, req.Region, before); done {
		return res
	}
	if res, done := websiteGuard(ctx, r.Client, r.Opts, bucket, req.Region, before,
		"blocking public access would take it offline (set S3_WEBSITE_GUARD=false to block it anyway)"); done {
		return res
	}
	want := publicAccessBlock{configured: true, blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublic: true}
	off := strings.Join(cur.off(), ", ")
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: want.state(),
			Reason: "would turn on " + off}
	}
	_, err = r.Client.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(bucket),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
		},
	}, s3Region(req.Region))
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(before, fmt.Errorf("putting public access block on bucket %q: %w", bucket, err))
	}
	got, err := r.read(ctx, bucket, req.Region)
	if err != nil {
		return remediation.Unverified(before, fmt.Errorf("verifying public access block of bucket %q: %w", bucket, err))
	}
	if !got.all() {
		return remediation.Unverified(before, fmt.Errorf("verifying public access block of bucket %q: still off after the write: %s", bucket, strings.Join(got.off(), ", ")))
	}
	return remediation.Result{Action: remediation.ActionRemediated, Before: before, After: got.state(), Reason: "turned on " + off}
}

func websiteIndex(out *s3.GetBucketWebsiteOutput) string {
	if out != nil && out.IndexDocument != nil {
		return aws.ToString(out.IndexDocument.Suffix)
	}
	if out != nil && out.RedirectAllRequestsTo != nil {
		return "redirect to " + aws.ToString(out.RedirectAllRequestsTo.HostName)
	}
	return ""
}

// s3WebsiteReader is what websiteGuard needs.
type s3WebsiteReader interface {
	GetBucketWebsite(ctx context.Context, params *s3.GetBucketWebsiteInput, optFns ...func(*s3.Options)) (*s3.GetBucketWebsiteOutput, error)
}

// websiteGuard leaves a bucket that hosts a static website alone when
// S3_WEBSITE_GUARD is on: done is true when the result is final (exempt,
// with why the change would take the site offline; gone; or failed).
func websiteGuard(ctx context.Context, c s3WebsiteReader, o Options, bucket, region string, before map[string]any, why string) (remediation.Result, bool) {
	if !o.WebsiteGuard {
		return remediation.Result{}, false
	}
	site, err := c.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: aws.String(bucket)}, s3Region(region))
	switch {
	case err == nil:
		return remediation.Result{Action: remediation.ActionExempt, Before: before, After: before,
			Reason: fmt.Sprintf("bucket hosts a static website (index document %q); %s", websiteIndex(site), why)}, true
	case isNoSuchBucket(err):
		return goneBucket(bucket), true
	case !awserr.Is(err, "NoSuchWebsiteConfiguration"):
		return remediation.Failed(before, fmt.Errorf("reading website configuration of bucket %q: %w", bucket, err)), true
	}
	return remediation.Result{}, false
}

// s3BucketTagger is what bucketExempt needs.
type s3BucketTagger interface {
	GetBucketTagging(ctx context.Context, params *s3.GetBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
}

// bucketExempt reads the bucket's tags; done is true when the result is final
// (exempt, gone or failed).
func bucketExempt(ctx context.Context, c s3BucketTagger, o Options, bucket, region string, before map[string]any) (remediation.Result, bool) {
	out, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)}, s3Region(region))
	switch {
	case awserr.Is(err, "NoSuchTagSet"):
		return remediation.Result{}, false
	case isNoSuchBucket(err):
		return goneBucket(bucket), true
	case err != nil:
		return remediation.Failed(before, fmt.Errorf("reading tags of bucket %q: %w", bucket, err)), true
	}
	key := o.exemptKey()
	for _, t := range out.TagSet {
		if aws.ToString(t.Key) == key && exemptValue(aws.ToString(t.Value)) {
			return remediation.Result{Action: remediation.ActionExempt, Reason: exemptReason(key, aws.ToString(t.Value)), Before: before, After: before}, true
		}
	}
	return remediation.Result{}, false
}

func isNoSuchBucket(err error) bool { return err != nil && awserr.Is(err, "NoSuchBucket") }

func goneBucket(bucket string) remediation.Result {
	return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("bucket %q no longer exists", bucket)}
}

// s3Region sends the call to the resource's region: an event can come from
// another region than the function's (an aggregator, a cross-region rule).
func s3Region(region string) func(*s3.Options) {
	return func(o *s3.Options) {
		if region != "" {
			o.Region = region
		}
	}
}

// publicAccessBlockDeleter is what Revert needs beyond the remediator's
// own calls, to remove a configuration the bucket did not have before. S3
// authorises DeletePublicAccessBlock with s3:PutBucketPublicAccessBlock,
// which the remediator holds already.
type publicAccessBlockDeleter interface {
	DeletePublicAccessBlock(ctx context.Context, params *s3.DeletePublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.DeletePublicAccessBlockOutput, error)
}

// pabKeys are the fields of the state a revert restores and compares.
var pabKeys = []string{"configured", "blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets"}

// publicAccessBlockFrom reads a state map (an outcome's before) back.
func publicAccessBlockFrom(m map[string]any) (publicAccessBlock, string, bool) {
	var p publicAccessBlock
	for _, f := range []struct {
		key string
		to  *bool
	}{{"configured", &p.configured}, {"blockPublicAcls", &p.blockPublicAcls}, {"ignorePublicAcls", &p.ignorePublicAcls},
		{"blockPublicPolicy", &p.blockPublicPolicy}, {"restrictPublicBuckets", &p.restrictPublic}} {
		v, ok := stateBool(m, f.key)
		if !ok {
			return publicAccessBlock{}, f.key, false
		}
		*f.to = v
	}
	if !p.configured && (p.blockPublicAcls || p.ignorePublicAcls || p.blockPublicPolicy || p.restrictPublic) {
		return publicAccessBlock{}, "consistent configured flag (it is false, but settings are on)", false
	}
	return p, "", true
}

func (p publicAccessBlock) describe() string {
	if !p.configured {
		return "no public access block configuration"
	}
	var on []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"BlockPublicAcls", p.blockPublicAcls}, {"IgnorePublicAcls", p.ignorePublicAcls},
		{"BlockPublicPolicy", p.blockPublicPolicy}, {"RestrictPublicBuckets", p.restrictPublic}} {
		if f.on {
			on = append(on, f.name)
		}
	}
	if len(on) == 0 {
		return "a public access block configuration with all four settings off"
	}
	return "a public access block configuration with only " + strings.Join(on, ", ") + " on"
}

// Revert implements remediation.Reverter: it puts the bucket's four
// settings back as the outcome's before recorded them, or deletes the
// configuration when the bucket had none.
func (r *S3PublicAccessBlock) Revert(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	o := req.Outcome
	bucket := o.ResourceID
	if !bucketName.MatchString(bucket) {
		return malformedID("S3 bucket", bucket)
	}
	want, missing, ok := publicAccessBlockFrom(o.Before)
	if !ok {
		return missingBefore(r.Name(), o, missing)
	}
	cur, err := r.read(ctx, bucket, o.Region)
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("reading public access block of bucket %q: %w", bucket, err))
	}
	now := cur.state()
	if diffs := changedSince(now, o.After, pabKeys...); len(diffs) > 0 && !req.Force {
		return refuseChanged("the bucket's public access block", now, diffs)
	}
	if cur == want {
		return remediation.Result{Action: remediation.ActionReverted, Before: now, After: now,
			Reason: "the bucket already has " + want.describe() + ", as before the outcome: nothing written"}
	}
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: want.state(),
			Reason: "would restore " + want.describe()}
	}
	if !want.configured {
		del, ok := r.Client.(publicAccessBlockDeleter)
		if !ok {
			return remediation.Failed(now, fmt.Errorf("deleting public access block of bucket %q: the S3 client cannot delete it", bucket))
		}
		_, err = del.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)}, s3Region(o.Region))
		err = wrapIf(err, "deleting public access block of bucket %q", bucket)
	} else {
		_, err = r.Client.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
			Bucket: aws.String(bucket),
			PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
				BlockPublicAcls: aws.Bool(want.blockPublicAcls), IgnorePublicAcls: aws.Bool(want.ignorePublicAcls),
				BlockPublicPolicy: aws.Bool(want.blockPublicPolicy), RestrictPublicBuckets: aws.Bool(want.restrictPublic),
			},
		}, s3Region(o.Region))
		err = wrapIf(err, "putting public access block on bucket %q", bucket)
	}
	if isNoSuchBucket(err) {
		return goneBucket(bucket)
	}
	if err != nil {
		return remediation.Failed(now, err)
	}
	got, err := r.read(ctx, bucket, o.Region)
	if err != nil {
		return remediation.Unverified(now, fmt.Errorf("verifying public access block of bucket %q: %w", bucket, err))
	}
	if got != want {
		return remediation.Unverified(now, fmt.Errorf("verifying public access block of bucket %q: read back %s after the write, want %s", bucket, got.describe(), want.describe()))
	}
	return remediation.Result{Action: remediation.ActionReverted, Before: now, After: got.state(), Reason: "restored " + want.describe()}
}

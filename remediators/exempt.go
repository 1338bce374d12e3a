package remediators

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// The Exempt methods implement remediation.Exempter: before `remediate
// undo` writes a revert, it tags the resource with the exemption tag, so
// that the pipeline leaves the restored state alone (the revert's own write
// is a CloudTrail trigger of the same remediator).

// TagRevertedAt records, beside the exemption tag, when `remediate undo`
// reverted the resource (RFC 3339, UTC).
const TagRevertedAt = "autoremediate:reverted-at"

// ExemptOffValue is the exemption tag's value undo sets.
const ExemptOffValue = "off"

// maxUserTags is how many tags S3 and EC2 allow on one resource. Tags whose
// key starts with aws: are AWS's own (CloudFormation's, for one) and do
// not count.
const maxUserTags = 50

// BucketTaggingAPI is the part of the S3 client that exempts a bucket.
// S3 authorises the two calls with s3:GetBucketTagging and
// s3:PutBucketTagging; the remediators hold only the first.
type BucketTaggingAPI interface {
	GetBucketTagging(ctx context.Context, params *s3.GetBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
	PutBucketTagging(ctx context.Context, params *s3.PutBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.PutBucketTaggingOutput, error)
}

// EC2TaggingAPI is the part of the EC2 client that exempts an instance, a
// security group or a volume (ec2:CreateTags).
type EC2TaggingAPI interface {
	CreateTags(ctx context.Context, params *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

// Exempt implements remediation.Exempter: the bucket is tagged.
func (r *S3PublicAccessBlock) Exempt(ctx context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	return exemptBucket(ctx, r.Client, r.Opts, req)
}

// Exempt implements remediation.Exempter: the bucket is tagged.
func (r *S3Encryption) Exempt(ctx context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	return exemptBucket(ctx, r.Client, r.Opts, req)
}

// Exempt implements remediation.Exempter: the bucket is tagged.
func (r *S3SSLRequestsOnly) Exempt(ctx context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	return exemptBucket(ctx, r.Client, r.Opts, req)
}

// Exempt implements remediation.Exempter: the instance is tagged.
func (r *EC2IMDSv2) Exempt(ctx context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	return exemptEC2(ctx, r.EC2, r.Opts, req, "instance")
}

// Exempt implements remediation.Exempter: the security group is tagged.
func (r *EC2SecurityGroupIngress) Exempt(ctx context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	return exemptEC2(ctx, r.Client, r.Opts, req, "security group")
}

// Exempt implements remediation.Exempter: a migrated volume (the original,
// in use again after the undo) is tagged. The region's EBS encryption
// default is an account setting, which has no tags: the result says how to
// keep the pipeline off it instead.
func (r *EBSEncryption) Exempt(ctx context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	if req.Outcome.ResourceType != ResourceTypeVolume {
		return remediation.ExemptResult{Reason: fmt.Sprintf("EBS encryption by default is a setting of the account in %s and carries no tag: "+
			"the pipeline turns it on again at its next event or sweep unless %s runs in dry-run (REMEDIATOR_MODES=%s=dry-run) or is left out of ENABLED_REMEDIATORS; "+
			"both apply to every account and region of the deployment (REGIONS without %s keeps every remediator out of that region)",
			orNone(req.Outcome.Region), EBSEncryptionName, EBSEncryptionName, orNone(req.Outcome.Region))}
	}
	return exemptEC2(ctx, r.Volumes, r.Opts, req, "volume")
}

// exemptTags are the tags undo sets: the exemption, and when.
func exemptTags(o Options, at time.Time) (key string, tags map[string]string) {
	key = o.exemptKey()
	return key, map[string]string{key: ExemptOffValue, TagRevertedAt: at.UTC().Format(time.RFC3339)}
}

// describeTags writes tags as key=value, the exemption first.
func describeTags(key string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		if k != key {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if _, ok := tags[key]; ok {
		keys = append([]string{key}, keys...)
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ", ")
}

func tagFailed(err error) remediation.ExemptResult {
	return remediation.ExemptResult{Err: err, Reason: err.Error()}
}

// exemptBucket merges the exemption into the bucket's tags. PutBucketTagging
// replaces the whole set, so the set is read first and written back whole:
// with the aws: tags too, since S3 refuses a set that drops them ("System
// tags cannot be removed by requester"). Between the read and the write
// another writer's change to the tags would be lost: S3 has no conditional
// tagging call.
func exemptBucket(ctx context.Context, client any, o Options, req remediation.ExemptRequest) remediation.ExemptResult {
	bucket := req.Outcome.ResourceID
	key, want := exemptTags(o, req.At)
	if req.Mode == remediation.ModeDryRun {
		return remediation.ExemptResult{Reason: fmt.Sprintf("would tag bucket %q %s first, so that the pipeline leaves it as restored", bucket, describeTags(key, want))}
	}
	c, ok := client.(BucketTaggingAPI)
	if !ok {
		return tagFailed(fmt.Errorf("tagging bucket %q %s=%s: the S3 client cannot put bucket tags", bucket, key, ExemptOffValue))
	}
	out, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)}, s3Region(req.Outcome.Region))
	var current []s3types.Tag
	switch {
	case awserr.Is(err, "NoSuchTagSet"):
		// no tags at all
	case err != nil:
		return tagFailed(fmt.Errorf("reading tags of bucket %q to add %s=%s: %w", bucket, key, ExemptOffValue, err))
	default:
		current = out.TagSet
	}
	var note []string
	has := map[string]string{}
	user := 0
	for _, t := range current {
		k := aws.ToString(t.Key)
		has[k] = aws.ToString(t.Value)
		if !strings.HasPrefix(strings.ToLower(k), "aws:") {
			user++
		}
	}
	if v, ok := has[key]; ok && exemptValue(v) {
		// already exempt: the owner's value stays
		want[key] = v
	} else if ok {
		note = append(note, fmt.Sprintf("it was %s=%s", key, v))
	}
	for _, k := range []string{key, TagRevertedAt} {
		if _, ok := has[k]; ok || user < maxUserTags {
			if !ok {
				user++
			}
			continue
		}
		if k == key {
			return tagFailed(fmt.Errorf("tagging bucket %q %s=%s: the bucket has %d tags, the most S3 allows; remove one, or undo with --no-exempt", bucket, key, ExemptOffValue, maxUserTags))
		}
		delete(want, k)
		note = append(note, fmt.Sprintf("no room for %s (the bucket has %d tags, the most S3 allows)", k, maxUserTags))
	}
	set := make([]s3types.Tag, 0, len(current)+len(want))
	for _, t := range current {
		k := aws.ToString(t.Key)
		if v, ok := want[k]; ok {
			set = append(set, s3types.Tag{Key: aws.String(k), Value: aws.String(v)})
			continue
		}
		set = append(set, s3types.Tag{Key: t.Key, Value: t.Value})
	}
	for _, k := range []string{key, TagRevertedAt} {
		if _, ok := has[k]; ok {
			continue
		}
		if v, ok := want[k]; ok {
			set = append(set, s3types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(bucket), Tagging: &s3types.Tagging{TagSet: set}},
		s3Region(req.Outcome.Region)); err != nil {
		return tagFailed(fmt.Errorf("tagging bucket %q %s: %w", bucket, describeTags(key, want), err))
	}
	reason := fmt.Sprintf("tagged bucket %q %s", bucket, describeTags(key, want))
	if len(note) > 0 {
		reason += " (" + strings.Join(note, "; ") + ")"
	}
	return remediation.ExemptResult{Tags: want, Reason: reason}
}

// exemptEC2 tags an instance, a security group or a volume. CreateTags
// adds to the resource's tags and overwrites the values of keys it has, so
// nothing is read first. When the resource has no room for both tags
// (TagLimitExceeded), the exemption alone is tried.
func exemptEC2(ctx context.Context, client any, o Options, req remediation.ExemptRequest, kind string) remediation.ExemptResult {
	id := req.Outcome.ResourceID
	key, want := exemptTags(o, req.At)
	if req.Mode == remediation.ModeDryRun {
		return remediation.ExemptResult{Reason: fmt.Sprintf("would tag %s %s %s first, so that the pipeline leaves it as restored", kind, id, describeTags(key, want))}
	}
	c, ok := client.(EC2TaggingAPI)
	if !ok {
		return tagFailed(fmt.Errorf("tagging %s %s %s=%s: the EC2 client cannot create tags", kind, id, key, ExemptOffValue))
	}
	create := func(tags map[string]string) error {
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		in := &ec2.CreateTagsInput{Resources: []string{id}}
		for _, k := range keys {
			in.Tags = append(in.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		_, err := c.CreateTags(ctx, in, ec2Region(req.Outcome.Region))
		return err
	}
	err := create(want)
	var note string
	if awserr.Is(err, "TagLimitExceeded") {
		want = map[string]string{key: ExemptOffValue}
		note = fmt.Sprintf(" (no room for %s: the %s has %d tags, the most EC2 allows)", TagRevertedAt, kind, maxUserTags)
		err = create(want)
		if awserr.Is(err, "TagLimitExceeded") {
			return tagFailed(fmt.Errorf("tagging %s %s %s=%s: it has %d tags, the most EC2 allows; remove one, or undo with --no-exempt: %w", kind, id, key, ExemptOffValue, maxUserTags, err))
		}
	}
	if err != nil {
		return tagFailed(fmt.Errorf("tagging %s %s %s: %w", kind, id, describeTags(key, want), err))
	}
	return remediation.ExemptResult{Tags: want, Reason: fmt.Sprintf("tagged %s %s %s%s", kind, id, describeTags(key, want), note)}
}

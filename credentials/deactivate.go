package credentials

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// Remediator is the outcome remediator name of key deactivation.
const Remediator = "iam-unused-access-keys"

// KeyAPI is the part of the IAM client key deactivation uses. The
// credential report names keys only as slots 1 and 2, so the key IDs and
// their last use are read again per user before anything changes.
type KeyAPI interface {
	ListAccessKeys(ctx context.Context, params *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsed(ctx context.Context, params *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	UpdateAccessKey(ctx context.Context, params *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
}

// DeactivationPermissions lists the IAM actions --deactivate-unused-keys
// calls in addition to Permissions.
func DeactivationPermissions() []string {
	return []string{"iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:UpdateAccessKey"}
}

// Deactivator turns off access keys unused for Thresholds.UnusedDays.
type Deactivator struct {
	API        KeyAPI
	Thresholds Thresholds
	// Apply makes the change; false records dry-run outcomes only.
	Apply bool
	Now   func() time.Time
}

// Run deactivates the unused active keys of every user the report flags
// (CIS 1.12) and returns one outcome per key examined. Root keys are never
// touched (only the root user can manage them). For each key it reads the
// key's status and last use, compares with the threshold, changes it only
// when still active and unused, and reads back to verify.
func (d *Deactivator) Run(ctx context.Context, rows []Row, findings []Finding) []remediation.Outcome {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	flagged := map[string]bool{}
	for _, f := range findings {
		if f.Check == CheckUnusedAccessKey && f.User != RootUser {
			flagged[f.User] = true
		}
	}
	var out []remediation.Outcome
	for _, r := range rows {
		if !flagged[r.User] {
			continue
		}
		out = append(out, d.user(ctx, r, now)...)
	}
	return out
}

func (d *Deactivator) outcome(r Row, keyID string, start time.Time, now func() time.Time) remediation.Outcome {
	return remediation.Outcome{
		Remediator: Remediator, Rule: "cis-aws-foundations-benchmark-v3.0.0-1.12", ResourceType: "AWS::IAM::User",
		ResourceID: r.User, Account: r.Account(), Region: "global",
		Before: map[string]any{"accessKeyId": keyID}, After: map[string]any{"accessKeyId": keyID},
		CompletedAt: now(), DurationMs: now().Sub(start).Milliseconds(),
	}
}

func (d *Deactivator) user(ctx context.Context, r Row, now func() time.Time) []remediation.Outcome {
	start := now()
	keys, err := d.API.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(r.User)})
	if err != nil {
		o := d.outcome(r, "", start, now)
		if awserr.Is(err, "NoSuchEntity") {
			o.Action, o.Reason = remediation.ActionGone, "the user no longer exists"
		} else {
			o.Action, o.Error = remediation.ActionFailed, explain(fmt.Sprintf("listing access keys of user %q", r.User), "iam:ListAccessKeys", err).Error()
		}
		return []remediation.Outcome{o}
	}
	var out []remediation.Outcome
	for _, k := range keys.AccessKeyMetadata {
		if k.Status != iamtypes.StatusTypeActive {
			continue
		}
		out = append(out, d.key(ctx, r, k, now))
	}
	return out
}

func (d *Deactivator) key(ctx context.Context, r Row, k iamtypes.AccessKeyMetadata, now func() time.Time) remediation.Outcome {
	start := now()
	id := aws.ToString(k.AccessKeyId)
	o := d.outcome(r, id, start, now)
	lu, err := d.API.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
	if err != nil {
		if awserr.Is(err, "NoSuchEntity") {
			o.Action, o.Reason = remediation.ActionGone, "the access key no longer exists"
			return o
		}
		o.Action, o.Error = remediation.ActionFailed, explain(fmt.Sprintf("reading last use of access key %s of user %q", id, r.User), "iam:GetAccessKeyLastUsed", err).Error()
		return o
	}
	var last time.Time
	if lu.AccessKeyLastUsed != nil {
		last = aws.ToTime(lu.AccessKeyLastUsed.LastUsedDate)
	}
	ref, never := last, last.IsZero()
	if never {
		ref = aws.ToTime(k.CreateDate)
	}
	idle := days(now().Sub(ref))
	o.Before["status"] = string(k.Status)
	o.Before["created"] = aws.ToTime(k.CreateDate).UTC().Format(time.RFC3339)
	if never {
		o.Before["lastUsed"] = "never"
	} else {
		o.Before["lastUsed"] = last.UTC().Format(time.RFC3339)
	}
	o.Before["unusedDays"] = idle
	if idle < d.Thresholds.UnusedDays {
		o.Action = remediation.ActionCompliant
		o.Reason = fmt.Sprintf("used within the last %d days (%d days ago)", d.Thresholds.UnusedDays, idle)
		o.After["status"] = string(k.Status)
		return o
	}
	o.After["status"] = string(iamtypes.StatusTypeInactive)
	reason := fmt.Sprintf("unused for %d days (threshold %d, CIS 1.12)", idle, d.Thresholds.UnusedDays)
	if !d.Apply {
		o.Action, o.Reason = remediation.ActionDryRun, reason+"; would deactivate (add --yes to apply)"
		return o
	}
	if _, err := d.API.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(r.User), AccessKeyId: k.AccessKeyId, Status: iamtypes.StatusTypeInactive}); err != nil {
		if awserr.Is(err, "NoSuchEntity") {
			o.Action, o.Reason, o.After = remediation.ActionGone, "the access key no longer exists", map[string]any{"accessKeyId": id}
			return o
		}
		o.Action, o.Error = remediation.ActionFailed, explain(fmt.Sprintf("deactivating access key %s of user %q", id, r.User), "iam:UpdateAccessKey", err).Error()
		return o
	}
	// Verify: read the key's status back.
	after, err := d.API.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(r.User)})
	if err != nil {
		o.Action, o.Error = remediation.ActionFailed, explain(fmt.Sprintf("verifying access key %s of user %q", id, r.User), "iam:ListAccessKeys", err).Error()
		return o
	}
	for _, ak := range after.AccessKeyMetadata {
		if aws.ToString(ak.AccessKeyId) == id {
			o.After["status"] = string(ak.Status)
			if ak.Status == iamtypes.StatusTypeInactive {
				o.Action, o.Reason = remediation.ActionRemediated, reason+"; deactivated"
			} else {
				o.Action, o.Error = remediation.ActionFailed, fmt.Sprintf("access key %s of user %q is still %s after UpdateAccessKey", id, r.User, ak.Status)
			}
			o.CompletedAt, o.DurationMs = now(), now().Sub(start).Milliseconds()
			return o
		}
	}
	o.Action, o.Reason = remediation.ActionGone, "the access key disappeared while it was being deactivated"
	return o
}

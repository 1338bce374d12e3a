// Package remediators holds one file per remediator. Each declares the
// narrow SDK client interface it needs, reads the resource itself, decides,
// writes only when needed and allowed, and reads back to verify.
package remediators

import (
	"strings"
	"time"
)

// DefaultExemptTagKey is the tag whose value "off" or "false" exempts a
// resource from remediation.
const DefaultExemptTagKey = "auto-remediation"

// Options are the settings the remediators share.
type Options struct {
	// ExemptTagKey names the exemption tag (DefaultExemptTagKey when empty).
	ExemptTagKey string
	// WebsiteGuard leaves buckets that host a static website unblocked.
	WebsiteGuard bool
	// SSEAlgorithm is the default encryption wanted on buckets: "AES256"
	// (SSE-S3) or "aws:kms" (SSE-KMS with KMSKeyARN, or the AWS managed key
	// when empty, and S3 Bucket Keys on).
	SSEAlgorithm string
	KMSKeyARN    string
	// EBSKMSKeyID, when set, becomes the region's default EBS KMS key.
	EBSKMSKeyID string
	// IMDSLookback is how far back IMDSv1 use is looked for before enforcing
	// IMDSv2; 0 turns the check off.
	IMDSLookback time.Duration
	// VerifyAttempts and VerifyInterval bound the read-back after a write
	// for settings AWS applies asynchronously (instance metadata options).
	VerifyAttempts int
	VerifyInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		ExemptTagKey:   DefaultExemptTagKey,
		WebsiteGuard:   true,
		SSEAlgorithm:   SSEAlgorithmAES256,
		IMDSLookback:   14 * 24 * time.Hour,
		VerifyAttempts: 5,
		VerifyInterval: time.Second,
	}
}

func (o Options) exemptKey() string {
	if o.ExemptTagKey == "" {
		return DefaultExemptTagKey
	}
	return o.ExemptTagKey
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// exemptValue reports whether a tag value opts a resource out.
func exemptValue(v string) bool {
	v = strings.TrimSpace(v)
	return strings.EqualFold(v, "off") || strings.EqualFold(v, "false")
}

func exemptReason(key, value string) string {
	return "tag " + key + "=" + value + " exempts this resource from auto-remediation"
}

// Package remediators holds one file per remediator. Each declares the
// narrow SDK client interface it needs, reads the resource itself, decides,
// writes only when needed and allowed, and reads back to verify.
package remediators

import (
	"fmt"
	"slices"
	"strconv"
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
	// EBSKMSKeyID, when set, becomes the region's default EBS KMS key (and
	// encrypts the volumes a migration creates).
	EBSKMSKeyID string
	// EBSMigration says which unencrypted volumes the EBS remediator
	// migrates to an encrypted copy: EBSMigrationOff (none: needs-manual),
	// EBSMigrationUnattached or EBSMigrationAll (attached ones too, on
	// instances tagged TagStopAllowed=true).
	EBSMigration string
	// EBSMigrationDeleteOriginalAfter, when not 0, is how long after a
	// migration a later run deletes the original volume; 0 keeps it.
	EBSMigrationDeleteOriginalAfter time.Duration
	// EBSMigrationStuckAfter is how long a migration may be under way
	// before it fails (DefaultEBSMigrationStuckAfter when 0).
	EBSMigrationStuckAfter time.Duration
	// IMDSLookback is how far back IMDSv1 use is looked for before enforcing
	// IMDSv2; 0 turns the check off.
	IMDSLookback time.Duration
	// BlockedPorts are the TCP ports restricted-common-ports blocks from
	// the internet (DefaultBlockedPorts when nil); they must match the
	// rule's blockedPort parameters.
	BlockedPorts []int
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
		ExemptTagKey:           DefaultExemptTagKey,
		WebsiteGuard:           true,
		SSEAlgorithm:           SSEAlgorithmAES256,
		IMDSLookback:           14 * 24 * time.Hour,
		BlockedPorts:           DefaultBlockedPorts(),
		VerifyAttempts:         5,
		VerifyInterval:         time.Second,
		EBSMigration:           EBSMigrationOff,
		EBSMigrationStuckAfter: DefaultEBSMigrationStuckAfter,
	}
}

func (o Options) exemptKey() string {
	if o.ExemptTagKey == "" {
		return DefaultExemptTagKey
	}
	return o.ExemptTagKey
}

// DefaultBlockedPorts are restricted-common-ports' default blocked ports:
// FTP data and control, RDP, MySQL, and 4333.
func DefaultBlockedPorts() []int { return []int{20, 21, 3389, 3306, 4333} }

func (o Options) blockedPorts() []int {
	if len(o.BlockedPorts) == 0 {
		return DefaultBlockedPorts()
	}
	return o.BlockedPorts
}

// ParsePorts reads a comma-separated list of TCP ports ("20,21,3389"); a
// port listed twice counts once.
func ParsePorts(s string) ([]int, error) {
	var ports []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%q is not a TCP port number from 1 to 65535", f)
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("%q names no port", s)
	}
	return ports, nil
}

// FormatPorts writes ports as ParsePorts reads them.
func FormatPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
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

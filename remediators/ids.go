package remediators

import (
	"fmt"
	"regexp"

	"github.com/autoremediate/autoremediate/remediation"
)

// EC2 resource IDs: a prefix and 8 (older resources) or 17 hexadecimal
// digits. bucketName accepts every name S3 has allowed, including the legacy
// us-east-1 names (up to 255 characters, uppercase letters and
// underscores); it keeps what is not a bucket name out of requests and
// policy ARNs.
var (
	instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	volumeIDPattern   = regexp.MustCompile(`^vol-([0-9a-f]{8}|[0-9a-f]{17})$`)
	bucketName        = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)
	accountIDPattern  = regexp.MustCompile(`^[0-9]{12}$`)
)

// malformedID is the outcome for a resource ID that cannot name a resource
// of its type. It is an input error (the event or the caller is wrong), not
// a resource that no longer exists: reporting it as gone would hide the
// broken producer.
func malformedID(what, id string) remediation.Result {
	err := fmt.Errorf("input error: resource ID %q is not a valid %s ID", id, what)
	return remediation.Failed(nil, err)
}

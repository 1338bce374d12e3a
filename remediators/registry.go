package remediators

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/remediation"
)

// Clients hands out SDK clients, built on first use.
type Clients interface {
	S3() *s3.Client
	EC2() *ec2.Client
	CloudWatch() *cloudwatch.Client
}

// All returns every remediator, one line each, each built (with its SDK
// clients) only when first used.
func All(c Clients, o Options) []remediation.Remediator {
	return []remediation.Remediator{
		remediation.Lazy(remediation.S3PublicAccessBlock, (&S3PublicAccessBlock{}).ResourceTypes(), func() remediation.Remediator { return NewS3PublicAccessBlock(c.S3(), o) }),
		remediation.Lazy(remediation.S3Encryption, (&S3Encryption{}).ResourceTypes(), func() remediation.Remediator { return NewS3Encryption(c.S3(), o) }),
		remediation.Lazy(remediation.EC2IMDSv2, (&EC2IMDSv2{}).ResourceTypes(), func() remediation.Remediator { return NewEC2IMDSv2(c.EC2(), c.CloudWatch(), o) }),
		remediation.Lazy(remediation.EBSEncryption, (&EBSEncryption{}).ResourceTypes(), func() remediation.Remediator { return NewEBSEncryption(c.EC2(), o) }),
	}
}

// Names lists the remediator names in registry order.
func Names() []string {
	return []string{remediation.S3PublicAccessBlock, remediation.S3Encryption, remediation.EC2IMDSv2, remediation.EBSEncryption}
}

// Permissions returns the IAM actions each remediator calls, by name. It
// needs no clients; terraform/ grants exactly these.
func Permissions() map[string][]string {
	return map[string][]string{
		remediation.S3PublicAccessBlock: (&S3PublicAccessBlock{}).Permissions(),
		remediation.S3Encryption:        (&S3Encryption{}).Permissions(),
		remediation.EC2IMDSv2:           (&EC2IMDSv2{}).Permissions(),
		remediation.EBSEncryption:       (&EBSEncryption{}).Permissions(),
	}
}

// Registry returns a registry of the enabled remediators (all when enabled
// is empty).
func Registry(c Clients, o Options, enabled []string) (*remediation.Registry, error) {
	all := All(c, o)
	if len(enabled) == 0 {
		return remediation.NewRegistry(all...)
	}
	byName := map[string]remediation.Remediator{}
	for _, r := range all {
		byName[r.Name()] = r
	}
	var picked []remediation.Remediator
	for _, n := range enabled {
		r, ok := byName[remediation.CanonicalName(n)]
		if !ok {
			return nil, fmt.Errorf("unknown remediator %q (known: %v)", n, Names())
		}
		picked = append(picked, r)
	}
	return remediation.NewRegistry(picked...)
}

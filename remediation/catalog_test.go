package remediation

import "github.com/autoremediate/autoremediate/events"

// The core knows no concrete remediator: its tests run on this catalog of
// stand-ins, named like the real ones so that the real event fixtures in
// events/testdata resolve (package remediators tests the real definitions).
const (
	S3PublicAccessBlock = "s3-public-access-block"
	S3Encryption        = "s3-encryption"
	EC2IMDSv2           = "ec2-imdsv2"
	EBSEncryption       = "ebs-encryption"
)

func calls(source string, names ...string) []APICall {
	out := make([]APICall, len(names))
	for i, n := range names {
		out[i] = APICall{Source: source, Name: n}
	}
	return out
}

func testCatalog() Catalog {
	bucket := []string{"AWS::S3::Bucket"}
	return Catalog{
		{Name: S3PublicAccessBlock, ResourceTypes: bucket, Triggers: calls(events.EventSourceS3, "CreateBucket", "PutBucketAcl", "PutBucketPolicy"), Rules: []ManagedRule{
			{Name: "s3-bucket-public-read-prohibited", Identifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED", ResourceTypes: bucket},
			{Name: "s3-bucket-public-write-prohibited", Identifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", ResourceTypes: bucket},
			{Name: "s3-bucket-level-public-access-prohibited", Identifier: "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED", ResourceTypes: bucket},
		}},
		{Name: S3Encryption, Aliases: []string{"s3-default-encryption", "s3-bucket-encryption"}, ResourceTypes: bucket,
			Triggers: calls(events.EventSourceS3, "CreateBucket", "PutBucketEncryption", "DeleteBucketEncryption"), Rules: []ManagedRule{
				{Name: "s3-bucket-server-side-encryption-enabled", Identifier: "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", ResourceTypes: bucket},
				{Name: "s3-default-encryption-kms", Identifier: "S3_DEFAULT_ENCRYPTION_KMS", ResourceTypes: bucket},
			}},
		{Name: EC2IMDSv2, Aliases: []string{"imdsv2"}, ResourceTypes: []string{"AWS::EC2::Instance"},
			Triggers: calls(events.EventSourceEC2, "RunInstances", "ModifyInstanceMetadataOptions"), Rules: []ManagedRule{
				{Name: "ec2-imdsv2-check", Identifier: "EC2_IMDSV2_CHECK", ResourceTypes: []string{"AWS::EC2::Instance"}},
			}},
		{Name: EBSEncryption, Aliases: []string{"ebs-encryption-by-default"}, ResourceTypes: []string{"AWS::::Account", "AWS::EC2::Volume"},
			Triggers: calls(events.EventSourceEC2, "DisableEbsEncryptionByDefault", "ModifyEbsDefaultKmsKeyId", "CreateVolume"), Rules: []ManagedRule{
				{Name: "encrypted-volumes", Identifier: "ENCRYPTED_VOLUMES", ResourceTypes: []string{"AWS::EC2::Volume"}},
				{Name: "ec2-ebs-encryption-by-default", Identifier: "EC2_EBS_ENCRYPTION_BY_DEFAULT"},
				{Name: "restricted-ssh", Identifier: "INCOMING_SSH_DISABLED"}, // a stand-in whose Control Tower name differs from its identifier
			}},
	}
}

// Package awserr reads the error code AWS returned out of an SDK error.
package awserr

import (
	"errors"
	"regexp"

	"github.com/aws/smithy-go"
)

// Code returns the AWS error code of err (e.g. "NoSuchBucket"), or "" when
// err carries none.
func Code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// Is reports whether err carries one of the AWS error codes; an error
// without a code is none of them.
func Is(err error, codes ...string) bool {
	if err == nil {
		return false
	}
	c := Code(err)
	for _, want := range codes {
		if c != "" && c == want {
			return true
		}
	}
	return false
}

// deniedCodes are the error codes AWS services answer a call the caller's
// policies do not allow with.
var deniedCodes = []string{"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
	"Client.UnauthorizedOperation", "UnauthorizedAccess", "AuthorizationError", "Forbidden"}

// Denied reports whether err says the caller is not allowed the call.
func Denied(err error) bool { return Is(err, deniedCodes...) }

// performs finds the action in AWS's denial messages: "User: ARN is not
// authorized to perform: ec2:ModifyInstanceMetadataOptions on resource: ...".
var performs = regexp.MustCompile(`perform: ([a-z0-9-]+:[A-Za-z0-9*]+)`)

// s3Actions are the IAM actions of the S3 operations whose action is not
// s3:<operation> (Service Authorization Reference, Amazon S3).
var s3Actions = map[string]string{
	"GetPublicAccessBlock":    "s3:GetBucketPublicAccessBlock",
	"PutPublicAccessBlock":    "s3:PutBucketPublicAccessBlock",
	"DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
	"GetBucketEncryption":     "s3:GetEncryptionConfiguration",
	"PutBucketEncryption":     "s3:PutEncryptionConfiguration",
	"DeleteBucketEncryption":  "s3:PutEncryptionConfiguration",
	"HeadBucket":              "s3:ListBucket",
	"ListObjectsV2":           "s3:ListBucket",
	"ListBuckets":             "s3:ListAllMyBuckets",
}

// servicePrefixes are the IAM service prefixes of the SDK's service IDs.
var servicePrefixes = map[string]string{
	"S3": "s3", "EC2": "ec2", "CloudWatch": "cloudwatch", "KMS": "kms", "STS": "sts",
	"SNS": "sns", "DynamoDB": "dynamodb", "Organizations": "organizations", "SQS": "sqs",
}

// Action returns the IAM action a failed call needed: the one AWS's denial
// message names, else the one the SDK operation maps to (for the services
// the pipeline calls); "" when neither tells.
func Action(err error) string {
	if err == nil {
		return ""
	}
	if m := performs.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	var op *smithy.OperationError
	if !errors.As(err, &op) {
		return ""
	}
	if op.ServiceID == "S3" {
		if a, ok := s3Actions[op.OperationName]; ok {
			return a
		}
	}
	if p, ok := servicePrefixes[op.ServiceID]; ok {
		return p + ":" + op.OperationName
	}
	return ""
}

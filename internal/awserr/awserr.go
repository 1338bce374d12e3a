// Package awserr reads the error code AWS returned out of an SDK error.
package awserr

import (
	"errors"

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

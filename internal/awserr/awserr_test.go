package awserr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"
)

func TestCodeAndIs(t *testing.T) {
	wrapped := fmt.Errorf("reading bucket: %w", &smithy.GenericAPIError{Code: "NoSuchBucket", Message: "gone"})
	if got := Code(wrapped); got != "NoSuchBucket" {
		t.Errorf("Code = %q, want NoSuchBucket", got)
	}
	if !Is(wrapped, "AccessDenied", "NoSuchBucket") {
		t.Error("Is did not find NoSuchBucket")
	}
	if Is(wrapped, "AccessDenied") || Is(nil, "NoSuchBucket") || Is(errors.New("plain"), "") {
		t.Error("Is matched what it should not")
	}
	if Code(errors.New("plain")) != "" {
		t.Error("a plain error has a code")
	}
}

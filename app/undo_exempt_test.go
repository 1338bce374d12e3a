package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/remediation"
)

type deniedExempter struct{ deniedRemediator }

func (d deniedExempter) Exempt(context.Context, remediation.ExemptRequest) remediation.ExemptResult {
	err := fmt.Errorf("tagging bucket %q auto-remediation=off: %w", "b1", d.err)
	return remediation.ExemptResult{Err: err, Reason: err.Error()}
}

// A member account's remediator exempts through the member scope, and a
// denied tagging call says that the member role lacks it on purpose and
// what to do.
func TestMemberExemptDeniedIsExplained(t *testing.T) {
	role := "arn:aws:iam::" + memberAccount + ":role/autoremediate-member"
	denied := &smithy.OperationError{ServiceID: "S3", OperationName: "PutBucketTagging", Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}}
	var rem remediation.Remediator = deniedInMember{Remediator: deniedExempter{deniedRemediator{denied}}, account: memberAccount, role: role}
	e, ok := rem.(remediation.Exempter)
	if !ok {
		t.Fatal("a member scope's remediator is not an Exempter: undo could not exempt in member accounts")
	}
	res := e.Exempt(context.Background(), remediation.ExemptRequest{})
	if !errors.Is(res.Err, denied) || res.Tags != nil ||
		!strings.Contains(res.Reason, "is not allowed s3:PutBucketTagging (needed to exempt the reverted resource)") ||
		!strings.Contains(res.Reason, "credentials of account "+memberAccount) || !strings.Contains(res.Reason, "--no-exempt") {
		t.Errorf("result %+v", res)
	}
	other := errors.New("tagging bucket \"b1\": InternalError")
	if res := (deniedInMember{Remediator: deniedExempter{deniedRemediator{other}}, account: memberAccount, role: role}).Exempt(context.Background(), remediation.ExemptRequest{}); !errors.Is(res.Err, other) || strings.Contains(res.Reason, "member role") {
		t.Errorf("an error that is not a denial: %q", res.Reason)
	}
	plain := deniedInMember{Remediator: deniedRemediator{denied}, account: memberAccount, role: role}
	if res := plain.Exempt(context.Background(), remediation.ExemptRequest{}); res.Err != nil || res.Tags != nil || !strings.Contains(res.Reason, "cannot exempt") {
		t.Errorf("a remediator without Exempt: %+v", res)
	}
}

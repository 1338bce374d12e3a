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

type deniedReverter struct{ deniedRemediator }

func (d deniedReverter) Revert(context.Context, remediation.RevertRequest) remediation.Result {
	return remediation.Failed(nil, fmt.Errorf("authorising ingress rules of security group %q again: %w", "sg-0abc", d.err))
}

// A member account's remediator reverts through the member scope, and a
// denied undo call says what to do about it.
func TestMemberRevertDeniedIsExplained(t *testing.T) {
	role := "arn:aws:iam::" + memberAccount + ":role/autoremediate-member"
	denied := &smithy.OperationError{ServiceID: "EC2", OperationName: "AuthorizeSecurityGroupIngress", Err: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}}
	var rem remediation.Remediator = deniedInMember{Remediator: deniedReverter{deniedRemediator{denied}}, account: memberAccount, role: role}
	rev, ok := rem.(remediation.Reverter)
	if !ok {
		t.Fatal("a member scope's remediator is not a Reverter: undo could not act in member accounts")
	}
	res := rev.Revert(context.Background(), remediation.RevertRequest{})
	if res.Action != remediation.ActionFailed || !errors.Is(res.Err, denied) ||
		!strings.Contains(res.Reason, "is not allowed ec2:AuthorizeSecurityGroupIngress (needed to undo ec2-imdsv2)") ||
		!strings.Contains(res.Reason, "credentials of account "+memberAccount) {
		t.Errorf("result %s %q", res.Action, res.Reason)
	}
	plain := deniedInMember{Remediator: deniedRemediator{denied}, account: memberAccount, role: role}
	if res := plain.Revert(context.Background(), remediation.RevertRequest{}); res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "cannot revert") {
		t.Errorf("a remediator without Revert: %s %q", res.Action, res.Reason)
	}
}

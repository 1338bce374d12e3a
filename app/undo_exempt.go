package app

import (
	"context"
	"fmt"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// Exempt implements remediation.Exempter for a member account's
// remediator, so that `remediate undo` tags the reverted resource there as
// the member role, and says what a denied tagging call means: the member
// role is given ec2:CreateTags on volumes only (for the EBS migration),
// and not s3:PutBucketTagging (docs/undo.md).
func (d deniedInMember) Exempt(ctx context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	e, ok := d.Remediator.(remediation.Exempter)
	if !ok {
		return remediation.ExemptResult{Reason: fmt.Sprintf("remediator %s cannot exempt its resources with a tag", d.Name())}
	}
	res := e.Exempt(ctx, req)
	if res.Err == nil || !awserr.Denied(res.Err) {
		return res
	}
	action := awserr.Action(res.Err)
	if action == "" {
		action = "a tagging permission"
	}
	res.Err = fmt.Errorf("the member role %s in account %s is not allowed %s (needed to exempt the reverted resource): undo's tagging is not granted to the member role on purpose; run the undo with credentials of account %s, grant the action for the undo (docs/undo.md), or undo with --no-exempt: %w",
		d.role, d.account, action, d.account, res.Err)
	res.Reason = res.Err.Error()
	return res
}

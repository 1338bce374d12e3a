package app

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// Revert implements remediation.Reverter for a member account's
// remediator, so that `remediate undo` acts there as the member role, and
// says what a denied call means: undo needs a few permissions the member
// role is not given (docs/undo.md).
func (d deniedInMember) Revert(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	r, ok := d.Remediator.(remediation.Reverter)
	if !ok {
		return remediation.Failed(nil, fmt.Errorf("remediator %s cannot revert its outcomes", d.Name()))
	}
	res := r.Revert(ctx, req)
	if res.Err == nil || !awserr.Denied(res.Err) {
		return res
	}
	action := awserr.Action(res.Err)
	if action == "" {
		action = "a permission it needs"
	}
	res.Err = fmt.Errorf("the member role %s in account %s is not allowed %s (needed to undo %s): undo's writes beyond the remediator's own (s3:DeleteBucketPolicy, ec2:AuthorizeSecurityGroupIngress, ec2:CreateTags) are not granted to the member role on purpose; run the undo with credentials of account %s, or grant the action for the undo (docs/undo.md): %w",
		d.role, d.account, action, d.Name(), d.account, res.Err)
	res.Reason = res.Err.Error()
	return res
}

// CallerARN returns the ARN of the credentials' principal (STS
// GetCallerIdentity), the actor of the outcomes `remediate undo`
// publishes; "" when it cannot be had.
func CallerARN(ctx context.Context, c *Clients) string {
	out, err := c.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || out.Arn == nil {
		return ""
	}
	return *out.Arn
}

# One deployment for an AWS Organization (organization_id): the accounts of
# the organisation forward their Config compliance changes and CloudTrail
# API calls, from every region, to this account's default event bus
# (terraform/modules/member, or the StackSet template in
# terraform/cloudformation); the rules of events.tf match them as they
# match this account's own, since a forwarded event keeps its account and
# region and no pattern names an account. The remediate and sweep functions
# act in the event's account by assuming member_role_name there.

locals {
  organization = var.organization_id != ""

  # The default bus, where AWS services put this account's events and where
  # the members forward theirs.
  event_bus_arn = "arn:${local.partition}:events:${local.region}:${local.account}:event-bus/default"

  # The functions that act on resources, and so assume the member roles:
  # every function but the report, which only reads metrics and findings in
  # this account. Their role ARNs are what a member role trusts (spelt like
  # local.function_role_arns, so that they are known at plan time).
  member_access_functions = [for fn in sort(local.functions) : fn if fn != "report"]
  member_trust_role_arns  = [for fn in local.member_access_functions : "arn:${local.partition}:iam::${local.account}:role/${var.name}-${fn}"]
}

# The default bus admits PutEvents from the organisation's principals only.
# A member's forwarding rule sends with its own role (EventBridge requires a
# role on a rule that targets another account's bus when the bus admits an
# organisation), whose session carries the aws:PrincipalOrgID of its account.
# The resource owns the bus's whole policy: a statement someone added
# outside Terraform is replaced.
data "aws_iam_policy_document" "event_bus" {
  count = local.organization ? 1 : 0

  statement {
    sid       = "OrganizationPutEvents"
    actions   = ["events:PutEvents"]
    resources = [local.event_bus_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalOrgID"
      values   = [var.organization_id]
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "organization" {
  count = local.organization ? 1 : 0

  event_bus_name = "default"
  policy         = data.aws_iam_policy_document.event_bus[0].json
}

# What the remediate and sweep functions may do across the organisation:
# assume the member role, in the organisation's accounts only
# (aws:ResourceOrgID is the organisation of the account that owns the role).
# The member role's trust policy names these functions' roles in turn.
data "aws_iam_policy_document" "member_access" {
  dynamic "statement" {
    for_each = local.organization ? [var.member_role_name] : []
    content {
      sid     = "AssumeMemberRoles"
      actions = ["sts:AssumeRole"]
      # The role has one name in every account of the organisation, whose
      # accounts are not known in advance: any account, and the
      # aws:ResourceOrgID condition keeps it to the organisation.
      resources = ["arn:${local.partition}:iam::*:role/${statement.value}"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceOrgID"
        values   = [var.organization_id]
      }
    }
  }
}

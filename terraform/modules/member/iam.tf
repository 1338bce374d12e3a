# The member role: exactly what the enabled remediators need to remediate,
# what the sweep needs to list (remediators.json, as the root module grants
# its functions) and what `remediate org check` needs to ask IAM's policy
# simulator about the role (org_check_permissions), in every region of this
# account, for the central functions' roles only. terraform/member_test.go
# compares it with the Go definitions, and the StackSet template
# (terraform/cloudformation) with it.

locals {
  # The statements of remediators.json with their placeholders filled: this
  # account, and "*" for {region}, as one role serves every region. Grouped
  # by how their resources are scoped after that ("unscoped": "*" for
  # actions without a resource type; "patterns": a wildcard inside an ARN;
  # "scoped": named resources), so that tfsec's wildcard check stays on for
  # the statements that name resources. A resource without placeholders
  # stays a literal, so that tfsec, which cannot know the partition and
  # account, still checks it; it knows no strcontains(), hence regexall().
  member_permissions = concat(
    flatten([for name, r in local.catalog.remediators : concat(r.permissions.scoped, r.permissions.patterns, r.permissions.unscoped) if contains(local.enabled_remediators, name)]),
    local.catalog.sweep_permissions,
    local.catalog.org_check_permissions,
  )
  member_statements = [for p in local.member_permissions : {
    sid     = p.sid
    actions = p.actions
    scope   = contains(p.resources, "*") ? "unscoped" : length(regexall("[*]|[{]region[}]", join(" ", p.resources))) > 0 ? "patterns" : "scoped"
    resources = [for r in p.resources : length(regexall("[{]", r)) == 0 ? r :
      replace(replace(replace(r, "{partition}", local.partition), "{region}", "*"), "{account}", local.account)
    ]
    # Condition values take the same placeholders; a value with {region}
    # sits under a *Like operator (the Go definitions are checked for it),
    # where "*" matches every region.
    conditions = [for c in p.conditions : {
      test     = c.test
      variable = c.variable
      values = [for v in c.values : length(regexall("[{]", v)) == 0 ? v :
        replace(replace(replace(v, "{partition}", local.partition), "{region}", "*"), "{account}", local.account)
      ]
    }]
  }]
}

data "aws_iam_policy_document" "member" {
  dynamic "statement" {
    for_each = [for s in local.member_statements : s if s.scope == "scoped"]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  dynamic "statement" {
    for_each = [for s in local.member_statements : s if s.scope == "patterns"]
    content {
      sid     = statement.value.sid
      actions = statement.value.actions
      #tfsec:ignore:aws-iam-no-policy-wildcards Resources to remediate (any bucket, any instance of the account in any region) are not known in advance; the ARN pattern keeps the resource type and account
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  dynamic "statement" {
    for_each = [for s in local.member_statements : s if s.scope == "unscoped"]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  # GetCallerIdentity needs no permission; it is listed because the sweep
  # calls it (sweep.Permissions()).
  statement {
    sid       = "SweepAccount"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }

  lifecycle {
    precondition {
      condition     = length(setsubtract(local.enabled_remediators, local.catalog.names)) == 0
      error_message = "enabled_remediators: unknown remediator ${join(", ", setsubtract(local.enabled_remediators, local.catalog.names))} (known: ${join(", ", local.catalog.names)})."
    }
  }
}

# Trusted by the central account, for the central functions' roles only:
# the principal is the account and aws:PrincipalArn names the roles. A role
# ARN as the principal would be stored as the role's unique ID, and a
# central role deleted and created again (a redeployment) would no longer
# be trusted until this policy is rewritten.
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "CentralFunctions"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${var.central_account_id}:root"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = var.central_role_arns
    }
    dynamic "condition" {
      for_each = var.external_id == "" ? [] : [var.external_id]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "member" {
  count = local.create_role ? 1 : 0

  name               = var.role_name
  description        = "Assumed by the autoremediate functions of account ${var.central_account_id} to remediate in this account."
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "member" {
  count = local.create_role ? 1 : 0

  name   = "least-privilege"
  role   = aws_iam_role.member[0].id
  policy = data.aws_iam_policy_document.member.json
}

# Least privilege. The actions each remediator and the sweep's listings need
# come from remediators.json (the remediator definitions in Go); the
# publisher's and the scheduled functions' own calls are listed next to the
# Go code (publish.Permissions(), sweep.Permissions(),
# report.Permissions()). terraform/policy_test.go fails when the statements
# below and the Go lists disagree in either direction, and when an action
# AWS can scope to resources is granted on "*".

locals {
  # The functions' log groups (lambda.tf) are /aws/lambda/<name>-<function>.
  log_group_arn_prefix = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name}-"
  # The report writes <prefix>/YYYY-MM-DD/<file> (the prefix without its slashes).
  report_key_prefix = trim(var.report_prefix, "/") == "" ? "" : "${trim(var.report_prefix, "/")}/"

  # The IAM statements of remediators.json with their {partition}, {region}
  # and {account} placeholders filled: the enabled remediators' statements
  # by how their resources are scoped ("scoped": named resources,
  # "patterns": a wildcard inside an ARN, "unscoped": "*" for actions
  # without a resource type), and the sweep's listings. A resource without
  # placeholders stays a literal, so that tfsec, which cannot know the
  # partition, region and account, still checks it ("*" above all); it
  # knows no strcontains() either, hence regexall().
  permission_sets = merge(
    { for scope in ["scoped", "patterns", "unscoped"] : scope => flatten([for name, r in local.catalog.remediators : r.permissions[scope] if contains(local.enabled_remediators, name)]) },
    { sweep = local.catalog.sweep_permissions },
  )
  statements = { for set, ps in local.permission_sets : set => [for p in ps : {
    sid     = p.sid
    actions = p.actions
    resources = [for r in p.resources : length(regexall("[{]", r)) == 0 ? r :
      replace(replace(replace(r, "{partition}", local.partition), "{region}", local.region), "{account}", local.account)
    ]
    # Condition values take the same placeholders (kms:ViaService names
    # the region's EC2 endpoint).
    conditions = [for c in p.conditions : {
      test     = c.test
      variable = c.variable
      values = [for v in c.values : length(regexall("[{]", v)) == 0 ? v :
        replace(replace(replace(v, "{partition}", local.partition), "{region}", local.region), "{account}", local.account)
      ]
    }]
  }] }
}

# The enabled remediators' statements (granted to the remediate and sweep
# functions), one dynamic statement per scope so that tfsec checks the
# statements that name resources or use "*": only wildcards inside ARNs are
# accepted without a finding.
data "aws_iam_policy_document" "remediators" {
  dynamic "statement" {
    for_each = local.statements.scoped
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
    for_each = local.statements.patterns
    content {
      sid     = statement.value.sid
      actions = statement.value.actions
      #tfsec:ignore:aws-iam-no-policy-wildcards Resources to remediate (any bucket, any instance of the account and region) are not known in advance; the ARN pattern keeps the resource type, region and account
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
    for_each = local.statements.unscoped
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

  # The input checks that need remediators.json (variable validations cannot
  # read it before Terraform 1.9).
  lifecycle {
    precondition {
      condition     = length(setsubtract(local.enabled_remediators, local.catalog.names)) == 0
      error_message = "enabled_remediators: unknown remediator ${join(", ", setsubtract(local.enabled_remediators, local.catalog.names))} (known: ${join(", ", local.catalog.names)})."
    }
    precondition {
      condition     = length(setsubtract(keys(var.remediator_modes), local.catalog.names)) == 0
      error_message = "remediator_modes: unknown remediator ${join(", ", setsubtract(keys(var.remediator_modes), local.catalog.names))} (known: ${join(", ", local.catalog.names)})."
    }
    precondition {
      condition     = length(setsubtract(values(var.rule_map), local.catalog.names)) == 0
      error_message = "rule_map: unknown remediator ${join(", ", setsubtract(values(var.rule_map), local.catalog.names))} (known: ${join(", ", local.catalog.names)})."
    }
    precondition {
      condition     = length(local.event_patterns) > 0
      error_message = "No Config rule name to remediate: config_rules switches every rule off, rule_map names no enabled remediator and match_generated_rule_names is false."
    }
    precondition {
      condition     = length(setsubtract(keys(var.config_rules), keys(local.catalog.managed_rules))) == 0
      error_message = "config_rules: ${join(", ", setsubtract(keys(var.config_rules), keys(local.catalog.managed_rules)))} is not a managed rule a remediator handles (those are: ${join(", ", sort(keys(local.catalog.managed_rules)))})."
    }
  }
}

# The outcome publisher: SNS only when outcomes are notified; PutMetricData
# only in the metrics modes that call it (emf needs no API call), limited to
# the namespace by the cloudwatch:namespace condition.
data "aws_iam_policy_document" "publisher" {
  dynamic "statement" {
    for_each = var.notify_outcomes ? [1] : []
    content {
      sid       = "PublishOutcomes"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.notifications.arn]
    }
  }

  # PutMetricData has no resource type; the condition limits it instead.
  dynamic "statement" {
    for_each = contains(["api", "both"], var.metrics_mode) ? [1] : []
    content {
      sid       = "PutOutcomeMetrics"
      actions   = ["cloudwatch:PutMetricData"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "cloudwatch:namespace"
        values   = [var.metrics_namespace]
      }
    }
  }
}

# The state table: exactly the actions the store calls on it
# (state.Actions(), through remediators.json), for the functions whose
# environment names it (STATE_TABLE).
data "aws_iam_policy_document" "state" {
  statement {
    sid       = "StateTable"
    actions   = local.catalog.state.actions
    resources = [aws_dynamodb_table.state.arn]
  }
}

# The sweep's own calls (it remediates with the remediators' and the
# publisher's statements): the listings of remediators.json, which support
# no resource-level permissions, and GetCallerIdentity.
data "aws_iam_policy_document" "sweep_permissions" {
  dynamic "statement" {
    for_each = local.statements.sweep
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
  # calls it.
  statement {
    sid       = "SweepAccount"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }
}

# The compliance report.
data "aws_iam_policy_document" "report_permissions" {
  statement {
    sid       = "ReportFindings"
    actions   = ["securityhub:GetFindings"]
    resources = ["arn:${local.partition}:securityhub:${local.region}:${local.account}:hub/default"]
  }

  statement {
    sid       = "ReportMetrics"
    actions   = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"]
    resources = ["*"]
  }

  statement {
    sid       = "ReportWrite"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.report_bucket}/${local.report_key_prefix}*"]
  }

  # The trends: list the previous runs' directories under the prefix and
  # read their summary.json (the key policy lets the role decrypt through
  # S3).
  statement {
    sid       = "ReportHistoryList"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.report_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.report_key_prefix}*"]
    }
  }

  statement {
    sid       = "ReportHistoryRead"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.report_bucket}/${local.report_key_prefix}*"]
  }

  statement {
    sid       = "ReportAnnounce"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }

  # report_include = "credentials": the IAM credential audit
  # (report.CredentialPermissions()).
  dynamic "statement" {
    for_each = contains(split(",", replace(var.report_include, " ", "")), "credentials") ? ["credentials"] : []
    content {
      sid     = "ReportCredentialAudit"
      actions = ["iam:GenerateCredentialReport", "iam:GetCredentialReport"]
      #tfsec:ignore:aws-iam-no-policy-wildcards The credential report is the account's; IAM supports no resource-level permission for these actions
      resources = ["*"]
    }
  }
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${var.name}-${each.key}"
  description        = "Execution role of the ${var.name}-${each.key} function."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

# One policy document and one role policy per function, referenced
# directly: tfsec only evaluates the policy documents it can follow from a
# role policy (it skips data sources with for_each or count). Each is the
# basics (its log group, X-Ray, the dead-letter queue) plus its permissions.
data "aws_iam_policy_document" "remediate" {
  source_policy_documents = [data.aws_iam_policy_document.remediators.json, data.aws_iam_policy_document.publisher.json, data.aws_iam_policy_document.state.json, data.aws_iam_policy_document.member_access.json]

  statement {
    sid       = "LogStreams"
    actions   = ["logs:CreateLogStream"]
    resources = ["${local.log_group_arn_prefix}remediate"]
  }

  # Lambda names the log streams at run time (date and instance id).
  #tfsec:ignore:aws-iam-no-policy-wildcards Lambda generates the log stream names at run time; the wildcard covers only the streams of this function's log group
  statement {
    sid       = "LogEvents"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.log_group_arn_prefix}remediate:log-stream:*"]
  }

  # X-Ray's write actions support no resource-level permissions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # The asynchronous invocation's on-failure destination.
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

data "aws_iam_policy_document" "sweep" {
  source_policy_documents = [data.aws_iam_policy_document.sweep_permissions.json, data.aws_iam_policy_document.remediators.json, data.aws_iam_policy_document.publisher.json, data.aws_iam_policy_document.state.json, data.aws_iam_policy_document.member_access.json, data.aws_iam_policy_document.sweep_planner.json]

  statement {
    sid       = "LogStreams"
    actions   = ["logs:CreateLogStream"]
    resources = ["${local.log_group_arn_prefix}sweep"]
  }

  # Lambda names the log streams at run time (date and instance id).
  #tfsec:ignore:aws-iam-no-policy-wildcards Lambda generates the log stream names at run time; the wildcard covers only the streams of this function's log group
  statement {
    sid       = "LogEvents"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.log_group_arn_prefix}sweep:log-stream:*"]
  }

  # X-Ray's write actions support no resource-level permissions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # The asynchronous invocation's on-failure destination.
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

data "aws_iam_policy_document" "report" {
  source_policy_documents = [data.aws_iam_policy_document.report_permissions.json]

  statement {
    sid       = "LogStreams"
    actions   = ["logs:CreateLogStream"]
    resources = ["${local.log_group_arn_prefix}report"]
  }

  # Lambda names the log streams at run time (date and instance id).
  #tfsec:ignore:aws-iam-no-policy-wildcards Lambda generates the log stream names at run time; the wildcard covers only the streams of this function's log group
  statement {
    sid       = "LogEvents"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.log_group_arn_prefix}report:log-stream:*"]
  }

  # X-Ray's write actions support no resource-level permissions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # The asynchronous invocation's on-failure destination.
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

resource "aws_iam_role_policy" "remediate" {
  name   = "least-privilege"
  role   = aws_iam_role.function["remediate"].id
  policy = data.aws_iam_policy_document.remediate.json
}

resource "aws_iam_role_policy" "sweep" {
  count = var.enable_sweep ? 1 : 0

  name   = "least-privilege"
  role   = aws_iam_role.function["sweep"].id
  policy = data.aws_iam_policy_document.sweep.json
}

resource "aws_iam_role_policy" "report" {
  count = var.enable_report ? 1 : 0

  name   = "least-privilege"
  role   = aws_iam_role.function["report"].id
  policy = data.aws_iam_policy_document.report.json
}

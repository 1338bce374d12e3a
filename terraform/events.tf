# AWS Config compliance changes and CloudTrail API calls -> EventBridge -> the
# remediate function, with retries and a dead-letter queue at every
# asynchronous hop.

# One rule per kind of Config rule name (local.rule_name_matchers): the
# rules this module deployed, and those Security Hub, conformance packs, AWS
# Config organisation rules and Control Tower deployed for the same managed
# rules. Together they would
# exceed EventBridge's event pattern size quota (2048 characters by
# default); no name matches two kinds, so no event is delivered twice.
resource "aws_cloudwatch_event_rule" "compliance_change" {
  for_each = local.event_patterns

  name        = each.key == "deployed" ? "${var.name}-compliance-change" : "${var.name}-compliance-change-${each.key}"
  description = "AWS Config rules (${each.key}) turning NON_COMPLIANT that a remediator handles."
  # The pattern lives in templates/event_pattern.json.tftpl; Go renders the
  # same file (terraform.EventPatterns) and tests it against moto.
  event_pattern = each.value
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = length(each.value) <= 2048
      error_message = "The event pattern of the ${each.key} rules has ${length(each.value)} characters, more than EventBridge's default quota of 2048: shorten rule_map or split the rule."
    }
  }
}

# The rule of the deployed rules' names was the only one before.
moved {
  from = aws_cloudwatch_event_rule.compliance_change
  to   = aws_cloudwatch_event_rule.compliance_change["deployed"]
}

# The CloudTrail fast path (enable_cloudtrail_path): the API calls that can
# break what a remediator fixes reach EventBridge seconds after they are
# made, where Config's evaluation takes minutes. One rule per service
# (local.cloudtrail_patterns, from templates/cloudtrail_pattern.json.tftpl,
# which Go renders and tests against moto too: terraform.CloudTrailPatterns).
# EventBridge receives these events only while a trail logs the calls
# (create_trail, or an existing trail). The rules stay in the ENABLED state,
# which leaves out most read-only management events (Describe*, Get*,
# List*); the pattern names write calls only anyway.
resource "aws_cloudwatch_event_rule" "cloudtrail" {
  for_each = local.cloudtrail_patterns

  name          = "${var.name}-cloudtrail-${each.key}"
  description   = "Successful ${each.key} API calls that can break what a remediator fixes, by anyone but the pipeline's roles and ignore_actor_arns."
  event_pattern = each.value
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = length(each.value) <= 2048
      error_message = "The event pattern of the ${each.key} CloudTrail rule has ${length(each.value)} characters, more than EventBridge's default quota of 2048: each ARN of ignore_actor_arns appears twice in it, list fewer (or raise the quota and the module's limit)."
    }
  }
}

locals {
  # Every rule that invokes the remediate function: the Config rules by
  # kind and the CloudTrail rules as cloudtrail-<service>. Each gets one
  # target and one Lambda permission below, so that both paths have the
  # same retries and dead-letter queue.
  event_rules = merge(aws_cloudwatch_event_rule.compliance_change, { for svc, r in aws_cloudwatch_event_rule.cloudtrail : "cloudtrail-${svc}" => r })
}

resource "aws_cloudwatch_event_target" "remediate" {
  for_each = local.event_rules

  rule      = each.value.name
  target_id = "remediate"
  arn       = aws_lambda_function.function["remediate"].arn

  retry_policy {
    maximum_retry_attempts       = var.event_retry_attempts
    maximum_event_age_in_seconds = var.event_max_age_seconds
  }

  # Events EventBridge could not deliver (after the retries, or denied).
  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}

moved {
  from = aws_cloudwatch_event_target.remediate
  to   = aws_cloudwatch_event_target.remediate["deployed"]
}

resource "aws_lambda_permission" "events" {
  for_each = local.event_rules

  statement_id  = each.key == "deployed" ? "AllowComplianceChangeRule" : startswith(each.key, "cloudtrail-") ? "AllowCloudTrailRule-${trimprefix(each.key, "cloudtrail-")}" : "AllowComplianceChangeRule-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["remediate"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value.arn
}

moved {
  from = aws_lambda_permission.events
  to   = aws_lambda_permission.events["deployed"]
}

# The dead-letter queue of the whole pipeline: EventBridge target, Lambda
# asynchronous invocations (on-failure destination) and the schedules.
resource "aws_sqs_queue" "dead_letters" {
  name                              = "${var.name}-dead-letters"
  message_retention_seconds         = var.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = local.tags
}

data "aws_iam_policy_document" "dead_letters" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for r in local.event_rules : r.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dead_letters.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy    = data.aws_iam_policy_document.dead_letters.json
}

# AWS Config compliance changes -> EventBridge -> the remediate function, with
# retries and a dead-letter queue at every asynchronous hop.

resource "aws_cloudwatch_event_rule" "compliance_change" {
  name        = "${var.name}-compliance-change"
  description = "AWS Config rules turning NON_COMPLIANT that a remediator handles."
  # The pattern lives in templates/event_pattern.json.tftpl; Go renders the
  # same file (terraform.EventPatternFor) and tests it against moto.
  event_pattern = local.event_pattern
  tags          = local.tags
}

resource "aws_cloudwatch_event_target" "remediate" {
  rule      = aws_cloudwatch_event_rule.compliance_change.name
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

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowComplianceChangeRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["remediate"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.compliance_change.arn
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
      values   = [aws_cloudwatch_event_rule.compliance_change.arn]
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

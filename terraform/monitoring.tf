# The compliance dashboard and the alarms, both on the metrics the code
# publishes (publish.PublishedMetrics(); terraform/dashboard_test.go keeps
# them in step) and on the function's and the queue's own metrics. Every
# outcome metric is in this (the central) account, whichever account the
# outcome is about: Remediations is by Remediator and Action, and again by
# Account and Action for the dashboard's by-account widget and the report.

resource "aws_cloudwatch_dashboard" "compliance" {
  dashboard_name = local.dashboard_name
  # Rendered by Go too (terraform.RenderDashboard): keep it to ${name}
  # interpolations.
  dashboard_body = templatefile("${path.module}/templates/dashboard.json.tftpl", {
    namespace     = var.metrics_namespace
    region        = local.region
    function_name = aws_lambda_function.function["remediate"].function_name
    dlq_name      = aws_sqs_queue.dead_letters.name
  })
}

locals {
  alarm_period = var.alarm_evaluation_minutes * 60
  # Remediator dimension values a failed outcome can carry: the enabled
  # remediators, and "none" (publish.NoRemediator) for events whose rule
  # maps to no remediator.
  failed_dimensions = concat(local.enabled_remediators, ["none"])
}

# The outcomes that need a person, each with its alarm:
#   - failed: read the outcome log line or the SNS notification for the
#     resource and the error. Its Remediator dimension may be "none"
#     (publish.NoRemediator) for events whose rule maps to no remediator.
#   - escalated: a remediator fixed a resource FLAP_LIMIT times within
#     FLAP_WINDOW and someone kept undoing it; it writes nothing more, so a
#     person must settle the fight (the SNS message says with whom).
locals {
  outcome_alarms = {
    failed = {
      dimensions  = local.failed_dimensions
      description = "A remediation failed (outcome `failed`): read the function's outcome log line or the SNS notification for the resource and the error."
    }
    escalated = {
      dimensions  = local.enabled_remediators
      description = "A remediation was escalated (outcome `escalated`): a resource was fixed ${var.flap_limit} times within ${var.flap_window} and changed back each time. Nothing more is written to it; the outcome's reason names who changed it back."
    }
  }
}

# CloudWatch alarms cannot use SEARCH: each remediator's outcomes of one
# action are separate metrics (Remediations, Remediator=<name>,
# Action=<action>), summed with metric math (an alarm takes up to 10
# metrics).
resource "aws_cloudwatch_metric_alarm" "outcome" {
  for_each            = local.outcome_alarms
  alarm_name          = "${var.name}-remediation-${each.key}"
  alarm_description   = each.value.description
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
  tags                = local.tags

  metric_query {
    id          = each.key
    expression  = "SUM([${join(",", [for i, _ in each.value.dimensions : "m${i}"])}])"
    label       = "${each.key} remediations"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.dimensions
    content {
      id = "m${metric_query.key}"
      metric {
        namespace   = var.metrics_namespace
        metric_name = "Remediations"
        dimensions  = { Remediator = metric_query.value, Action = each.key }
        stat        = "Sum"
        period      = local.alarm_period
      }
    }
  }
}

# The failed alarm was a resource of its own before the escalated one came.
moved {
  from = aws_cloudwatch_metric_alarm.failed
  to   = aws_cloudwatch_metric_alarm.outcome["failed"]
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "Events reached the dead-letter queue ${aws_sqs_queue.dead_letters.name}: EventBridge could not deliver them or the function failed every retry. Inspect, fix, then redrive them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letters.name }
  statistic           = "Maximum"
  period              = local.alarm_period
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = aws_lambda_function.function

  alarm_name          = "${each.value.function_name}-errors"
  alarm_description   = "The ${each.value.function_name} function returned errors (Lambda retries them, then sends the event to the dead-letter queue)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = local.alarm_period
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = aws_lambda_function.function

  alarm_name          = "${each.value.function_name}-throttles"
  alarm_description   = "The ${each.value.function_name} function was throttled (its reserved concurrency is reached); events wait and retry, and expire to the dead-letter queue after the maximum event age."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = local.alarm_period
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
  tags                = local.tags
}

# The compliance dashboard and the alarms, both on the metrics the code
# publishes (remediation.PublishedMetrics(); terraform/dashboard_test.go keeps
# them in step) and on the function's and the queue's own metrics.

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
  # remediators, and "none" (remediation.NoRemediator) for events whose rule
  # maps to no remediator.
  failed_dimensions = concat(local.enabled_remediators, ["none"])
}

# CloudWatch alarms cannot use SEARCH: the failures of each remediator are
# separate metrics (Remediations, Remediator=<name>, Action=failed), summed
# with metric math (an alarm takes up to 10 metrics).
resource "aws_cloudwatch_metric_alarm" "failed" {
  alarm_name          = "${var.name}-remediation-failed"
  alarm_description   = "A remediation failed (outcome `failed`): read the function's outcome log line or the SNS notification for the resource and the error."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
  tags                = local.tags

  metric_query {
    id          = "failed"
    expression  = "SUM([${join(",", [for i, _ in local.failed_dimensions : "m${i}"])}])"
    label       = "failed remediations"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = local.failed_dimensions
    content {
      id = "m${metric_query.key}"
      metric {
        namespace   = var.metrics_namespace
        metric_name = "Remediations"
        dimensions  = { Remediator = metric_query.value, Action = "failed" }
        stat        = "Sum"
        period      = local.alarm_period
      }
    }
  }
}

# An escalated outcome: a remediator fixed a resource FLAP_LIMIT times
# within FLAP_WINDOW and someone kept undoing it. It writes nothing more, so
# a person must settle the fight; the SNS message says with whom.
resource "aws_cloudwatch_metric_alarm" "escalated" {
  alarm_name          = "${var.name}-remediation-escalated"
  alarm_description   = "A remediation was escalated (outcome `escalated`): a resource was fixed ${var.flap_limit} times within ${var.flap_window} and changed back each time. Nothing more is written to it; the outcome's reason names who changed it back."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
  tags                = local.tags

  metric_query {
    id          = "escalated"
    expression  = "SUM([${join(",", [for i, _ in local.enabled_remediators : "m${i}"])}])"
    label       = "escalated remediations"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = local.enabled_remediators
    content {
      id = "m${metric_query.key}"
      metric {
        namespace   = var.metrics_namespace
        metric_name = "Remediations"
        dimensions  = { Remediator = metric_query.value, Action = "escalated" }
        stat        = "Sum"
        period      = local.alarm_period
      }
    }
  }
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

# EventBridge Scheduler invokes the sweep and the report.

locals {
  schedules_all = {
    sweep  = { enabled = var.enable_sweep, expression = var.sweep_schedule }
    report = { enabled = var.enable_report, expression = var.report_schedule }
  }
  schedules = { for k, s in local.schedules_all : k => s if s.enabled }
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = length(local.schedules) > 0 ? 1 : 0

  name               = "${var.name}-scheduler"
  description        = "Lets EventBridge Scheduler invoke the ${var.name} scheduled functions."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeScheduledFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [for k, s in local.schedules : aws_lambda_function.function[k].arn]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = length(local.schedules) > 0 ? 1 : 0

  name   = "invoke"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "function" {
  for_each = local.schedules

  name                = "${var.name}-${each.key}"
  description         = "Runs the ${var.name}-${each.key} function."
  schedule_expression = each.value.expression

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 15
  }

  target {
    arn      = aws_lambda_function.function[each.key].arn
    role_arn = aws_iam_role.scheduler[0].arn
    input    = jsonencode({ source = "${var.name}.scheduler", schedule = each.key })

    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 3600
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letters.arn
    }
  }
}

# The organisation sweep (sweep_accounts or sweep_regions set): the scheduled
# sweep function plans, sending one message per account-region to the sweep
# queue; the sweepworker function sweeps one account-region per message
# (batch size 1), so that no Lambda invocation's 15 minutes bound the whole
# organisation; the worker that finishes the run's last account-region
# publishes the summary (log line and the topic), counted in the state
# table. A message that fails sweep_max_receives times goes to the sweep
# dead-letter queue, and its alarm fires. The calls come from Go:
# sweep.PlannerActions() and sweep.WorkerQueueActions() (policy_test.go
# compares them).

variable "sweep_accounts" {
  description = "Accounts the scheduled sweep covers: empty sweeps this account only; `all` every ACTIVE account of the organisation (AWS Organizations ListAccounts: deploy in the management account or a delegated administrator); or comma-separated account IDs. excluded_accounts are left out. Set (or sweep_regions set), the sweep fans out to the sweepworker function through the sweep queue (SWEEP_ACCOUNTS)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|all|,*\\d{12}(,+\\d{12})*,*)$", replace(var.sweep_accounts, " ", "")))
    error_message = "sweep_accounts must be empty, all, or comma-separated 12-digit account IDs."
  }
}

variable "sweep_regions" {
  description = "Regions the scheduled sweep covers: empty sweeps this region only; `all` the enabled regions (EC2 DescribeRegions); or comma-separated regions. Regions outside `regions` are left out (SWEEP_REGIONS)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|all|,*[a-z]{2}(-[a-z]+)+-\\d+(,+[a-z]{2}(-[a-z]+)+-\\d+)*,*)$", replace(var.sweep_regions, " ", "")))
    error_message = "sweep_regions must be empty, all, or comma-separated region names like us-east-1."
  }
}

variable "sweep_worker_concurrency" {
  description = "Account-regions the organisation sweep works on at once: the sweep queue's event source mapping's maximum concurrency (and the worker's reserved concurrency unless reserved_concurrency is -1)."
  type        = number
  default     = 20

  validation {
    condition     = var.sweep_worker_concurrency >= 2 && var.sweep_worker_concurrency <= 1000
    error_message = "sweep_worker_concurrency must be from 2 to 1000 (the event source mapping's maximum concurrency)."
  }
}

variable "sweep_max_receives" {
  description = "Deliveries of one account-region's message before it goes to the sweep dead-letter queue (a worker that could not record its result or publish the summary fails its message)."
  type        = number
  default     = 3

  validation {
    condition     = var.sweep_max_receives >= 1 && var.sweep_max_receives <= 1000
    error_message = "sweep_max_receives must be from 1 to 1000."
  }
}

locals {
  sweep_fanout = var.enable_sweep && (var.sweep_accounts != "" || var.sweep_regions != "")

  # The sweep function's own settings (app.SweepSettings() in Go), on top
  # of local.remediation_environment.
  sweep_environment = {
    SWEEP_ACCOUNTS  = replace(var.sweep_accounts, " ", "")
    SWEEP_REGIONS   = replace(var.sweep_regions, " ", "")
    SWEEP_QUEUE_URL = local.sweep_fanout ? aws_sqs_queue.sweep[0].url : ""
  }

  sweep_queue_name = "${var.name}-sweep"
}

resource "aws_sqs_queue" "sweep_dead_letters" {
  count = local.sweep_fanout ? 1 : 0

  name                              = "${local.sweep_queue_name}-dead-letters"
  message_retention_seconds         = var.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = local.tags
}

resource "aws_sqs_queue" "sweep" {
  count = local.sweep_fanout ? 1 : 0

  name = local.sweep_queue_name
  # Lambda's advice for an SQS event source: six times the function's
  # timeout, so that a message is not delivered again while a throttled
  # batch waits (SQS allows 12 hours at most).
  visibility_timeout_seconds = min(6 * var.sweep_timeout_seconds, 43200)
  # A run's messages are worth sweeping until the next run at most.
  message_retention_seconds         = 86400
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 3600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.sweep_dead_letters[0].arn
    maxReceiveCount     = var.sweep_max_receives
  })

  tags = local.tags
}

# Only the sweep queue may send its failures to the sweep dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "sweep_dead_letters" {
  count = local.sweep_fanout ? 1 : 0

  queue_url = aws_sqs_queue.sweep_dead_letters[0].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.sweep[0].arn]
  })
}

data "aws_iam_policy_document" "sweep_queues" {
  count = local.sweep_fanout ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.sweep[0].arn, aws_sqs_queue.sweep_dead_letters[0].arn]
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

resource "aws_sqs_queue_policy" "sweep" {
  count = local.sweep_fanout ? 1 : 0

  queue_url = aws_sqs_queue.sweep[0].id
  policy    = data.aws_iam_policy_document.sweep_queues[0].json
}

resource "aws_sqs_queue_policy" "sweep_dead_letters" {
  count = local.sweep_fanout ? 1 : 0

  queue_url = aws_sqs_queue.sweep_dead_letters[0].id
  policy    = data.aws_iam_policy_document.sweep_queues[0].json
}

# What the planner (the sweep function) calls besides a single account's
# sweep: the organisation's accounts and the enabled regions, which support
# no resource-level permissions, and the sweep queue. Merged into the sweep
# function's policy (iam.tf); empty unless the sweep fans out.
data "aws_iam_policy_document" "sweep_planner" {
  dynamic "statement" {
    for_each = local.sweep_fanout ? [1] : []
    content {
      sid       = "SweepListAccounts"
      actions   = ["organizations:ListAccounts"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.sweep_fanout ? [1] : []
    content {
      sid       = "SweepListRegions"
      actions   = ["ec2:DescribeRegions"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.sweep_fanout ? [1] : []
    content {
      sid       = "SweepQueueSend"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.sweep[0].arn]
    }
  }
}

# The worker sweeps like the sweep function (listings, remediators,
# publisher, state table, member roles) and takes its messages from the
# sweep queue through Lambda's event source mapping.
data "aws_iam_policy_document" "sweepworker" {
  source_policy_documents = [data.aws_iam_policy_document.sweep_permissions.json, data.aws_iam_policy_document.remediators.json, data.aws_iam_policy_document.publisher.json, data.aws_iam_policy_document.state.json, data.aws_iam_policy_document.member_access.json, data.aws_iam_policy_document.sweep_worker_queue.json]

  statement {
    sid       = "LogStreams"
    actions   = ["logs:CreateLogStream"]
    resources = ["${local.log_group_arn_prefix}sweepworker"]
  }

  # Lambda names the log streams at run time (date and instance id).
  #tfsec:ignore:aws-iam-no-policy-wildcards Lambda generates the log stream names at run time; the wildcard covers only the streams of this function's log group
  statement {
    sid       = "LogEvents"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.log_group_arn_prefix}sweepworker:log-stream:*"]
  }

  # X-Ray's write actions support no resource-level permissions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # The asynchronous invocation's on-failure destination (every function
  # has one; the queue's own failures go to the sweep dead-letter queue).
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

data "aws_iam_policy_document" "sweep_worker_queue" {
  dynamic "statement" {
    for_each = local.sweep_fanout ? [1] : []
    content {
      sid       = "SweepQueueReceive"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      resources = [aws_sqs_queue.sweep[0].arn]
    }
  }
}

resource "aws_iam_role_policy" "sweepworker" {
  count = local.sweep_fanout ? 1 : 0

  name   = "least-privilege"
  role   = aws_iam_role.function["sweepworker"].id
  policy = data.aws_iam_policy_document.sweepworker.json
}

resource "aws_lambda_event_source_mapping" "sweep" {
  count = local.sweep_fanout ? 1 : 0

  event_source_arn = aws_sqs_queue.sweep[0].arn
  function_name    = aws_lambda_function.function["sweepworker"].arn
  # One account-region per invocation, each with a whole timeout; a failed
  # one is delivered again alone.
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.sweep_worker_concurrency
  }

  # Lambda checks the role's queue permissions when the mapping is made.
  depends_on = [aws_iam_role_policy.sweepworker]
}

resource "aws_cloudwatch_metric_alarm" "sweep_dead_letters" {
  count = local.sweep_fanout ? 1 : 0

  alarm_name          = "${var.name}-sweep-dead-letters"
  alarm_description   = "Account-regions of the organisation sweep reached ${aws_sqs_queue.sweep_dead_letters[0].name}: their worker failed every delivery (result not recorded, or summary not published), so the run's summary is missing. Inspect the worker's log, fix, then redrive them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.sweep_dead_letters[0].name }
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

# The functions: remediate (invoked by the EventBridge rule), sweep and report
# (invoked by EventBridge Scheduler), and sweepworker when the sweep fans out
# over the organisation (sweep_worker.tf). Go binaries for provided.al2023 on
# var.architecture, built into dist/<name>.zip by `make build` (arm64) or
# `make build GOARCH=amd64` (x86_64).

locals {
  # The architecture `make build` wrote next to the zips (dist/architecture);
  # zips from elsewhere, without it, are taken to match var.architecture.
  built_architecture = fileexists("${local.dist_dir}/architecture") ? trimspace(file("${local.dist_dir}/architecture")) : var.architecture

  # Which functions are deployed: kept apart from their settings, which
  # refer to resources (the topic) that depend on the roles.
  functions = toset(concat(["remediate"], var.enable_sweep ? ["sweep"] : [], var.enable_report ? ["report"] : [], local.sweep_fanout ? ["sweepworker"] : []))

  function_settings = {
    remediate = {
      description = "Remediates the resources AWS Config reports NON_COMPLIANT."
      timeout     = var.lambda_timeout_seconds
      concurrency = var.reserved_concurrency
      environment = local.remediation_environment
    }
    sweep = {
      description = "Lists the resources of the enabled remediators and remediates the ones no event reached."
      timeout     = var.sweep_timeout_seconds
      # One sweep at a time.
      concurrency = var.reserved_concurrency == -1 ? -1 : 1
      # SWEEP_* make it the organisation sweep's planner (sweep_worker.tf).
      environment = merge(local.remediation_environment, local.sweep_environment)
    }
    sweepworker = {
      description = "Sweeps one account-region of the organisation sweep per message of the sweep queue, and publishes the run's summary."
      timeout     = var.sweep_timeout_seconds
      # As many as the sweep queue's event source mapping runs at once.
      concurrency = var.reserved_concurrency == -1 ? -1 : var.sweep_worker_concurrency
      environment = local.remediation_environment
    }
    report = {
      description = "Writes the compliance report to the report bucket and announces it on the topic."
      timeout     = 300
      concurrency = var.reserved_concurrency == -1 ? -1 : 1
      environment = {
        REPORT_BUCKET       = local.report_bucket
        REPORT_PREFIX       = var.report_prefix
        SNS_TOPIC_ARN       = aws_sns_topic.notifications.arn
        METRICS_NAMESPACE   = var.metrics_namespace
        REPORT_PERIOD_DAYS  = tostring(var.report_period_days)
        REPORT_INCLUDE      = var.report_include
        REPORT_HISTORY_RUNS = tostring(var.report_history_runs)
        LOG_LEVEL           = var.log_level
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  # The name Lambda writes to by default.
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
  tags              = local.tags
}

resource "aws_lambda_function" "function" {
  for_each = local.functions

  function_name    = "${var.name}-${each.key}"
  description      = local.function_settings[each.key].description
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = "${local.dist_dir}/${each.key}.zip"
  source_code_hash = filebase64sha256("${local.dist_dir}/${each.key}.zip")
  memory_size      = var.lambda_memory_mb
  timeout          = local.function_settings[each.key].timeout

  reserved_concurrent_executions = local.function_settings[each.key].concurrency

  environment {
    variables = local.function_settings[each.key].environment
  }

  tracing_config {
    mode = "Active"
  }

  tags = local.tags

  # The log group (with its retention and key) must exist before the first
  # invocation, or Lambda creates one without either; the role's policy
  # before the function can use it.
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.remediate, aws_iam_role_policy.sweep, aws_iam_role_policy.report, aws_iam_role_policy.sweepworker]

  lifecycle {
    # A zip built for the other architecture deploys fine and fails at every
    # invocation (Runtime.InvalidEntrypoint: exec format error).
    precondition {
      condition     = local.built_architecture == var.architecture
      error_message = "The zips in ${local.dist_dir} were built for ${local.built_architecture} (dist/architecture) but architecture is ${var.architecture}: set architecture = \"${local.built_architecture}\", or rebuild with make build GOARCH=${var.architecture == "x86_64" ? "amd64" : "arm64"}."
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "function" {
  for_each = local.functions

  function_name                = aws_lambda_function.function[each.key].function_name
  maximum_retry_attempts       = var.async_retry_attempts
  maximum_event_age_in_seconds = var.async_max_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letters.arn
    }
  }
}

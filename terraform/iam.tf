# Least privilege. The actions each remediator, the outcome publisher and
# the scheduled functions call live next to the Go code
# (remediators.Permissions(), remediation.PublisherPermissions(),
# sweep.Permissions(), report.Permissions()); terraform/policy_test.go fails
# when the statements below and the Go lists disagree in either direction,
# and when an action AWS can scope to resources is granted on "*".

locals {
  all_buckets   = "arn:${local.partition}:s3:::*"
  all_instances = "arn:${local.partition}:ec2:${local.region}:${local.account}:instance/*"
  # The functions' log groups (lambda.tf) are /aws/lambda/<name>-<function>.
  log_group_arn_prefix = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name}-"
  # The report writes <prefix>/YYYY-MM-DD/<file> (the prefix without its slashes).
  report_key_prefix = trim(var.report_prefix, "/") == "" ? "" : "${trim(var.report_prefix, "/")}/"
}

# The enabled remediators' actions, one dynamic statement per remediator
# (granted to the remediate and sweep functions).
data "aws_iam_policy_document" "remediators" {
  # Buckets are not known in advance: any bucket of the account.
  dynamic "statement" {
    for_each = contains(var.enabled_remediators, "s3-public-access-block") ? [1] : []
    content {
      sid     = "S3PublicAccessBlock"
      actions = ["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:GetBucketTagging", "s3:GetBucketWebsite"]
      #tfsec:ignore:aws-iam-no-policy-wildcards Remediated buckets are any bucket of the account, unknown in advance; the actions are bucket-level reads and the public access block write
      resources = [local.all_buckets]
    }
  }

  # s3:GetEncryptionConfiguration and s3:PutEncryptionConfiguration are the
  # IAM actions behind GetBucketEncryption and PutBucketEncryption.
  dynamic "statement" {
    for_each = contains(var.enabled_remediators, "s3-encryption") ? [1] : []
    content {
      sid     = "S3Encryption"
      actions = ["s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration", "s3:GetBucketTagging"]
      #tfsec:ignore:aws-iam-no-policy-wildcards Remediated buckets are any bucket of the account, unknown in advance; the actions are bucket-level encryption settings
      resources = [local.all_buckets]
    }
  }

  dynamic "statement" {
    for_each = contains(var.enabled_remediators, "ec2-imdsv2") ? [1] : []
    content {
      sid     = "EC2IMDSv2Modify"
      actions = ["ec2:ModifyInstanceMetadataOptions"]
      #tfsec:ignore:aws-iam-no-policy-wildcards Any instance of the account and region can be non-compliant; instance IDs are unknown in advance
      resources = [local.all_instances]
    }
  }

  # DescribeInstances and GetMetricData support no resource-level permissions.
  dynamic "statement" {
    for_each = contains(var.enabled_remediators, "ec2-imdsv2") ? [1] : []
    content {
      sid       = "EC2IMDSv2Read"
      actions   = ["ec2:DescribeInstances", "cloudwatch:GetMetricData"]
      resources = ["*"]
    }
  }

  # The region's EBS encryption defaults are account settings: these actions
  # have no resource type.
  dynamic "statement" {
    for_each = contains(var.enabled_remediators, "ebs-encryption") ? [1] : []
    content {
      sid       = "EBSEncryptionByDefault"
      actions   = ["ec2:GetEbsEncryptionByDefault", "ec2:EnableEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId", "ec2:ModifyEbsDefaultKmsKeyId", "ec2:DescribeVolumes"]
      resources = ["*"]
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

# The sweep's own listing calls (it remediates with the remediators' and the
# publisher's statements).
data "aws_iam_policy_document" "sweep_permissions" {
  # These support no resource-level permissions (GetCallerIdentity needs
  # none, it is listed because the sweep calls it).
  statement {
    sid       = "SweepList"
    actions   = ["s3:ListAllMyBuckets", "ec2:DescribeInstances", "ec2:DescribeVolumes", "sts:GetCallerIdentity"]
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
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  statement {
    sid       = "ReportWrite"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.report_bucket}/${local.report_key_prefix}*"]
  }

  statement {
    sid       = "ReportAnnounce"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
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
  source_policy_documents = [data.aws_iam_policy_document.remediators.json, data.aws_iam_policy_document.publisher.json]

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
  source_policy_documents = [data.aws_iam_policy_document.sweep_permissions.json, data.aws_iam_policy_document.remediators.json, data.aws_iam_policy_document.publisher.json]

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

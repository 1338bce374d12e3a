# One customer-managed key for the pipeline's data at rest: the SNS topic, the
# dead-letter queue, the log groups, the buckets, the state table and the
# trail's logs.

data "aws_iam_policy_document" "kms" {
  # The account administers the key through IAM (the AWS default).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  # EventBridge sends to the encrypted queue (dead letters) and topic;
  # CloudWatch alarms publish to the topic.
  statement {
    sid       = "ServicesUseKey"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }

  # CloudWatch Logs encrypts the functions' log groups.
  statement {
    sid       = "LogsUseKey"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name}-*"]
    }
  }

  # The functions publish to the topic, send to the dead-letter queue and
  # write the report, and the scheduler sends to the dead-letter queue, only
  # through those services.
  statement {
    sid       = "FunctionsUseKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = concat([for r in aws_iam_role.function : r.arn], aws_iam_role.scheduler[*].arn)
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com", "sqs.${local.region}.amazonaws.com", "s3.${local.region}.amazonaws.com"]
    }
  }

  # The functions that remediate read and write the state table, encrypted
  # with this key, only through DynamoDB (the actions DynamoDB's
  # documentation and the AWS CDK's grantReadWriteData give a table's users).
  statement {
    sid       = "StateTableUsesKey"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [for k, r in aws_iam_role.function : r.arn if contains(local.state_functions, k)]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  # DynamoDB reads the key's metadata to keep the table usable (the key
  # policy AWS documents for tables with a customer managed key).
  statement {
    sid       = "DynamoDBDescribesKey"
    actions   = ["kms:Describe*", "kms:Get*", "kms:List*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["dynamodb.amazonaws.com"]
    }
  }

  # CloudTrail encrypts the trail's log and digest files (create_trail), for
  # this trail only (aws:SourceArn, as CloudTrail's documentation
  # recommends) and under its encryption context.
  dynamic "statement" {
    for_each = var.create_trail ? [1] : []
    content {
      sid       = "CloudTrailEncryptsLogs"
      actions   = ["kms:GenerateDataKey*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceArn"
        values   = [local.trail_arn]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:cloudtrail:arn"
        values   = ["arn:${local.partition}:cloudtrail:*:${local.account}:trail/*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.create_trail ? [1] : []
    content {
      sid       = "CloudTrailDescribesKey"
      actions   = ["kms:DescribeKey"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceArn"
        values   = [local.trail_arn]
      }
    }
  }

  # AWS Config delivers snapshots and history to its encrypted bucket.
  dynamic "statement" {
    for_each = var.create_config_recorder ? [1] : []
    content {
      sid       = "ConfigUsesKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = [aws_iam_role.config[0].arn]
      }
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${var.name}: SNS topic, dead-letter queue, logs and buckets of the auto-remediation pipeline"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}

# The outcome archive (docs/archive.md): every outcome the functions publish
# to the topic is kept as evidence, without a call on the remediation path.
# An Amazon Data Firehose delivery stream subscribed to the topic buffers
# the outcomes and writes them, GZIP-compressed JSON lines, to
# outcomes/YYYY/MM/DD/ of a bucket that is private, versioned, encrypted
# with the module's key, reachable only over TLS and under S3 Object Lock.

locals {
  archive_bucket = "${var.name}-outcome-archive-${local.account}-${local.region}"
  archive        = var.archive_enabled ? { archive = local.archive_bucket } : {}
  # The date partitions of the archive's layout (package archive), by
  # Firehose's arrival time in UTC.
  archive_prefix       = "outcomes/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/"
  archive_error_prefix = "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/"
}

resource "aws_s3_bucket" "archive" {
  for_each = local.archive

  bucket = each.value
  # Objects under retention cannot be deleted before it ends; with
  # GOVERNANCE mode force_destroy can, as the provider deletes with the
  # governance bypass; COMPLIANCE-mode objects it cannot.
  force_destroy       = var.bucket_force_destroy
  object_lock_enabled = true
  tags                = local.tags
}

resource "aws_s3_bucket_public_access_block" "archive" {
  for_each = aws_s3_bucket.archive

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  for_each = aws_s3_bucket.archive

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Object Lock needs versioning; a bucket created with Object Lock has it on
# and it cannot be suspended.
resource "aws_s3_bucket_versioning" "archive" {
  for_each = aws_s3_bucket.archive

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "archive" {
  for_each = aws_s3_bucket.archive

  bucket = each.value.id
  rule {
    default_retention {
      mode = var.archive_object_lock_mode
      days = var.archive_retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  for_each = aws_s3_bucket.archive

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # One data key per bucket and period instead of one KMS request per
    # object written or read (Athena reads every object of a query).
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "archive" {
  for_each = aws_s3_bucket.archive

  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs["logs"].id
  target_prefix = "archive/"

  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  for_each = aws_s3_bucket.archive

  bucket = each.value.id

  # Firehose writes each object once, so older versions only come from a
  # person's overwrite; Object Lock keeps them until their retention ends
  # whatever this rule says.
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.archive_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]
}

data "aws_iam_policy_document" "archive_bucket" {
  for_each = local.archive

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      "arn:${local.partition}:s3:::${each.value}",
      "arn:${local.partition}:s3:::${each.value}/*",
    ]
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

resource "aws_s3_bucket_policy" "archive" {
  for_each = aws_s3_bucket.archive

  bucket = each.value.id
  policy = data.aws_iam_policy_document.archive_bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.archive]
}

# Firehose writes to the bucket as this role.
data "aws_iam_policy_document" "archive_firehose_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    # Firehose passes the account as the external ID (its documentation's
    # trust policy): no other account's stream can use the role.
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "archive_firehose" {
  for_each = local.archive

  name               = "${var.name}-archive-firehose"
  assume_role_policy = data.aws_iam_policy_document.archive_firehose_trust.json
  tags               = local.tags
}

# The S3 destination's permissions as Firehose documents them, on this
# bucket only and with writes to its two prefixes only.
data "aws_iam_policy_document" "archive_firehose" {
  for_each = local.archive

  statement {
    sid       = "ListBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.archive[each.key].arn]
  }

  statement {
    sid     = "WriteOutcomes"
    actions = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = [
      "${aws_s3_bucket.archive[each.key].arn}/outcomes/*",
      "${aws_s3_bucket.archive[each.key].arn}/errors/*",
    ]
  }

  # The objects are encrypted with the module's key, through S3 only and
  # under this bucket's encryption context.
  statement {
    sid       = "EncryptObjects"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = ["${aws_s3_bucket.archive[each.key].arn}*"]
    }
  }
}

resource "aws_iam_role_policy" "archive_firehose" {
  for_each = local.archive

  name   = "write-archive"
  role   = aws_iam_role.archive_firehose[each.key].id
  policy = data.aws_iam_policy_document.archive_firehose[each.key].json
}

resource "aws_kinesis_firehose_delivery_stream" "archive" {
  for_each = local.archive

  name        = "${var.name}-outcome-archive"
  destination = "extended_s3"

  # The records at rest in the stream's buffer.
  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = aws_kms_key.main.arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.archive_firehose[each.key].arn
    bucket_arn          = aws_s3_bucket.archive[each.key].arn
    prefix              = local.archive_prefix
    error_output_prefix = local.archive_error_prefix
    buffering_size      = var.archive_buffering_mb
    buffering_interval  = var.archive_buffering_seconds
    compression_format  = "GZIP"
    kms_key_arn         = aws_kms_key.main.arn

    # Firehose concatenates records as they come; SNS's records are the
    # outcome JSON without a newline. AppendDelimiterToRecord adds one
    # after each record, which makes the files JSON lines (it no longer
    # needs dynamic partitioning).
    processing_configuration {
      enabled = true
      processors {
        type = "AppendDelimiterToRecord"
      }
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.archive_firehose]
}

# SNS puts the topic's messages into the stream as this role.
data "aws_iam_policy_document" "archive_subscription_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "archive_subscription" {
  for_each = local.archive

  name               = "${var.name}-archive-subscription"
  assume_role_policy = data.aws_iam_policy_document.archive_subscription_trust.json
  tags               = local.tags
}

# The subscription role's permissions as SNS documents them, on the
# archive's stream only.
data "aws_iam_policy_document" "archive_subscription" {
  for_each = local.archive

  statement {
    actions = [
      "firehose:DescribeDeliveryStream",
      "firehose:ListDeliveryStreams",
      "firehose:ListTagsForDeliveryStream",
      "firehose:PutRecord",
      "firehose:PutRecordBatch",
    ]
    resources = [aws_kinesis_firehose_delivery_stream.archive[each.key].arn]
  }
}

resource "aws_iam_role_policy" "archive_subscription" {
  for_each = local.archive

  name   = "put-outcomes"
  role   = aws_iam_role.archive_subscription[each.key].id
  policy = data.aws_iam_policy_document.archive_subscription[each.key].json
}

resource "aws_sns_topic_subscription" "archive" {
  for_each = local.archive

  topic_arn             = aws_sns_topic.notifications.arn
  protocol              = "firehose"
  endpoint              = aws_kinesis_firehose_delivery_stream.archive[each.key].arn
  subscription_role_arn = aws_iam_role.archive_subscription[each.key].arn
  # The record is the message itself, the outcome JSON, not SNS's
  # notification envelope around it.
  raw_message_delivery = true
  # Outcomes only: every outcome carries the remediator attribute
  # (publish.SNSMessage); alarms, the report's and the sweep's summaries
  # share the topic without it.
  filter_policy_scope = "MessageAttributes"
  filter_policy       = jsonencode({ remediator = [{ exists = true }] })

  depends_on = [aws_iam_role_policy.archive_subscription]

  lifecycle {
    precondition {
      condition     = var.notify_outcomes
      error_message = "archive_enabled needs notify_outcomes = true: the archive receives the outcomes the functions publish to the topic."
    }
  }
}

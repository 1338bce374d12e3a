# The module's buckets: the compliance reports, (create_config_recorder) AWS
# Config's delivery bucket and (create_trail) the trail's, all private,
# versioned, encrypted with the module's key and reachable only over TLS;
# their server access logs go to another bucket.

locals {
  report_bucket = "${var.name}-reports-${local.account}-${local.region}"
  config_bucket = "${var.name}-config-${local.account}-${local.region}"
  trail_bucket  = "${var.name}-trail-${local.account}-${local.region}"
  logs_bucket   = "${var.name}-access-logs-${local.account}-${local.region}"

  data_buckets_all = {
    reports = { name = local.report_bucket, enabled = var.enable_report, expire_days = var.report_retention_days }
    config  = { name = local.config_bucket, enabled = var.create_config_recorder, expire_days = 0 }
    trail   = { name = local.trail_bucket, enabled = var.create_trail, expire_days = 0 }
  }
  data_buckets = { for k, b in local.data_buckets_all : k => b if b.enabled }
  # The outcome archive's bucket (archive.tf) logs here too.
  access_logs = length(local.data_buckets) + length(local.archive) > 0 ? { logs = local.logs_bucket } : {}
}

resource "aws_s3_bucket" "data" {
  for_each = local.data_buckets

  bucket        = each.value.name
  force_destroy = var.bucket_force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "data" {
  for_each = aws_s3_bucket.data

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # Not for the trail's bucket: without a Bucket Key, each log file is
    # encrypted with a data key CloudTrail asks for under the trail's
    # encryption context (aws:cloudtrail:arn), which the key policy's
    # CloudTrail statement checks; with one, S3 derives the keys from a
    # bucket-level key instead, and AWS documents that the trail then needs
    # kms:Decrypt as well. CloudTrail writes a few files per region every
    # few minutes: the KMS calls a Bucket Key would save are few.
    bucket_key_enabled = each.key != "trail"
  }
}

resource "aws_s3_bucket_logging" "data" {
  for_each = aws_s3_bucket.data

  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs["logs"].id
  target_prefix = "${each.key}/"

  # S3 checks the target's bucket policy lets the logging service write.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = local.data_buckets[each.key].expire_days > 0 ? [local.data_buckets[each.key].expire_days] : []
    content {
      id     = "expire-current"
      status = "Enabled"
      filter {}
      expiration {
        days = rule.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

data "aws_iam_policy_document" "data_bucket" {
  for_each = local.data_buckets

  # CloudTrail delivers to the trail's bucket, for this trail only
  # (aws:SourceArn), with the bucket-owner-full-control ACL CloudTrail sets
  # (which BucketOwnerEnforced accepts).
  dynamic "statement" {
    for_each = each.key == "trail" ? [1] : []
    content {
      sid       = "CloudTrailAclCheck"
      actions   = ["s3:GetBucketAcl"]
      resources = ["arn:${local.partition}:s3:::${each.value.name}"]
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

  dynamic "statement" {
    for_each = each.key == "trail" ? [1] : []
    content {
      sid       = "CloudTrailWrite"
      actions   = ["s3:PutObject"]
      resources = ["arn:${local.partition}:s3:::${each.value.name}/AWSLogs/${local.account}/*"]
      principals {
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "s3:x-amz-acl"
        values   = ["bucket-owner-full-control"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceArn"
        values   = [local.trail_arn]
      }
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      "arn:${local.partition}:s3:::${each.value.name}",
      "arn:${local.partition}:s3:::${each.value.name}/*",
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

resource "aws_s3_bucket_policy" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  policy = data.aws_iam_policy_document.data_bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.data]
}

# Server access logs of the data buckets.
#tfsec:ignore:aws-s3-enable-bucket-logging This is the access-log bucket itself: logging it into itself would log its own log deliveries forever
resource "aws_s3_bucket" "access_logs" {
  for_each = local.access_logs

  bucket        = each.value
  force_destroy = var.bucket_force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  for_each = aws_s3_bucket.access_logs

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  for_each = aws_s3_bucket.access_logs

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  for_each = aws_s3_bucket.access_logs

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

# S3 server access logging only delivers to buckets whose default encryption
# is SSE-S3: a customer-managed key cannot be used here.
#tfsec:ignore:aws-s3-encryption-customer-key Server access log destination buckets support only SSE-S3 (AES256) default encryption
resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  for_each = aws_s3_bucket.access_logs

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  for_each = aws_s3_bucket.access_logs

  bucket = each.value.id

  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  for_each = local.access_logs

  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${each.value}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }

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

resource "aws_s3_bucket_policy" "access_logs" {
  for_each = aws_s3_bucket.access_logs

  bucket = each.value.id
  policy = data.aws_iam_policy_document.access_logs[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

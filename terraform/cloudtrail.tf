# A trail for accounts without one (create_trail): EventBridge receives
# "AWS API Call via CloudTrail" events only for the calls a trail logs.
#
# Management events, write only: every call a remediator is triggered by is
# a write; read calls (Describe*, Get*, List*, KMS Decrypt, ...) are most of
# an account's management events and would only fill the bucket, and the
# rules (ENABLED state) would not receive them anyway. Multi-region, so that
# one trail logs the calls of every region (EventBridge delivers each to the
# region it was made in, where the module is deployed for that region).

locals {
  trail_name = var.name
  # Spelt out, not read from the trail: the bucket and key policies name it
  # and must exist before CloudTrail accepts the trail. A multi-region
  # trail's ARN has its home region.
  trail_arn = "arn:${local.partition}:cloudtrail:${local.region}:${local.account}:trail/${local.trail_name}"
}

#tfsec:ignore:aws-cloudtrail-ensure-cloudwatch-integration The trail feeds EventBridge, which needs no CloudWatch Logs copy; its logs are in the encrypted bucket
resource "aws_cloudtrail" "this" {
  count = var.create_trail ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.data["trail"].id
  kms_key_id                    = aws_kms_key.main.arn
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  enable_logging                = true

  event_selector {
    read_write_type           = "WriteOnly"
    include_management_events = true
  }

  tags = local.tags

  # CloudTrail checks at creation that the bucket policy lets it write.
  depends_on = [aws_s3_bucket_policy.data]

  lifecycle {
    postcondition {
      condition     = self.arn == local.trail_arn
      error_message = "The trail's ARN is ${coalesce(self.arn, "unknown")}, but the bucket and key policies let ${local.trail_arn} write and encrypt: CloudTrail cannot deliver its logs."
    }
  }
}

# Shared facts and names. The pipeline: AWS Config rules -> EventBridge rule
# (pattern in templates/event_pattern.json.tftpl) -> the remediate function ->
# outcomes as metrics (dashboard, alarms) and SNS notifications.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.id # not .region: it exists from provider 6.0 on
  dist_dir  = coalesce(var.dist_dir, "${path.module}/../dist")

  tags = merge({ "managed-by" = "terraform", "application" = "autoremediate" }, var.tags)

  # The AWS Config managed rules each remediator handles (remediation.ManagedRules()
  # in Go; a test keeps the two equal), with their identifier and scope.
  managed_rules = {
    "s3-bucket-public-read-prohibited"         = { remediator = "s3-public-access-block", identifier = "S3_BUCKET_PUBLIC_READ_PROHIBITED", resource_types = ["AWS::S3::Bucket"] }
    "s3-bucket-public-write-prohibited"        = { remediator = "s3-public-access-block", identifier = "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", resource_types = ["AWS::S3::Bucket"] }
    "s3-bucket-level-public-access-prohibited" = { remediator = "s3-public-access-block", identifier = "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED", resource_types = ["AWS::S3::Bucket"] }
    "s3-bucket-server-side-encryption-enabled" = { remediator = "s3-encryption", identifier = "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", resource_types = ["AWS::S3::Bucket"] }
    "s3-default-encryption-kms"                = { remediator = "s3-encryption", identifier = "S3_DEFAULT_ENCRYPTION_KMS", resource_types = ["AWS::S3::Bucket"] }
    "ec2-imdsv2-check"                         = { remediator = "ec2-imdsv2", identifier = "EC2_IMDSV2_CHECK", resource_types = ["AWS::EC2::Instance"] }
    "encrypted-volumes"                        = { remediator = "ebs-encryption", identifier = "ENCRYPTED_VOLUMES", resource_types = ["AWS::EC2::Volume"] }
    # A periodic rule on the account's setting: it has no resource scope.
    "ec2-ebs-encryption-by-default" = { remediator = "ebs-encryption", identifier = "EC2_EBS_ENCRYPTION_BY_DEFAULT", resource_types = [] }
  }

  # Managed rules whose remediator is enabled; of those, the ones deployed
  # as Config rules by this module.
  handled_rules = { for name, r in local.managed_rules : name => r if contains(var.enabled_remediators, r.remediator) }
  config_rules  = { for name, r in local.handled_rules : name => r if lookup(var.config_rules, name, true) }

  # configRuleName matchers of the event pattern: the deployed rules, the
  # rules named in rule_map, and (match_security_hub_rules) the prefixes of
  # the rules Security Hub deploys for the handled managed rules. The Go
  # function terraform.EventPatternFor builds the same list.
  rule_name_matchers = concat(
    sort(distinct(concat(keys(local.config_rules), [for k, v in var.rule_map : k if contains(var.enabled_remediators, v)]))),
    [for name in(var.match_security_hub_rules ? sort(keys(local.handled_rules)) : []) : { prefix = "securityhub-${name}-" }],
  )
  event_pattern = jsonencode(jsondecode(templatefile("${path.module}/templates/event_pattern.json.tftpl", {
    config_rule_names = jsonencode(local.rule_name_matchers)
  })))

  # Settings shared by the functions that remediate (app.Settings() in Go; a
  # test checks every name is one the code reads).
  remediation_environment = {
    MODE                = var.mode
    REMEDIATOR_MODES    = join(",", [for k in sort(keys(var.remediator_modes)) : "${k}=${var.remediator_modes[k]}"])
    ENABLED_REMEDIATORS = join(",", var.enabled_remediators)
    RULE_MAP            = join(",", [for k in sort(keys(var.rule_map)) : "${k}=${var.rule_map[k]}"])
    EXEMPT_TAG_KEY      = var.exempt_tag_key
    S3_WEBSITE_GUARD    = tostring(var.s3_website_guard)
    S3_SSE_ALGORITHM    = var.s3_sse_algorithm
    S3_KMS_KEY_ARN      = var.s3_kms_key_arn
    EBS_KMS_KEY_ID      = var.ebs_kms_key_id
    IMDS_LOOKBACK_DAYS  = tostring(var.imds_lookback_days)
    SNS_TOPIC_ARN       = var.notify_outcomes ? aws_sns_topic.notifications.arn : ""
    METRICS_NAMESPACE   = var.metrics_namespace
    METRICS_MODE        = var.metrics_mode
    LOG_LEVEL           = var.log_level
  }

  dashboard_name = "${var.name}-compliance"
}

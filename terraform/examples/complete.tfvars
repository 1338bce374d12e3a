# Every setting, for an account without an AWS Config recorder or a trail.
name = "autoremediate"
tags = { team = "platform-security", cost-center = "1234" }

# What to remediate.
mode = "enforce"
# Empty deploys every remediator of the build; or name some, e.g. ["s3-encryption", "ec2-imdsv2"].
enabled_remediators = []
remediator_modes    = { "ec2-imdsv2" = "dry-run" }
rule_map            = { "corp-s3-no-public-buckets" = "s3-public-access-block" }
config_rules = {
  # Security Hub already deploys this one (securityhub-ec2-imdsv2-check-...).
  "ec2-imdsv2-check" = false
}
match_generated_rule_names = true
exempt_tag_key             = "auto-remediation"
s3_website_guard           = true
s3_sse_algorithm           = "aws:kms"
s3_kms_key_arn             = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ebs_kms_key_id             = "alias/aws/ebs"
imds_lookback_days         = 14
sg_blocked_ports           = [20, 21, 3389, 3306, 4333]
metrics_namespace          = "AutoRemediation"
metrics_mode               = "emf"
log_level                  = "info"
notify_outcomes            = true

# An AWS Organization: this is the central account; the members forward
# their events here and the functions assume autoremediate-member in them
# (terraform/modules/member or cloudformation/member.json deploy it).
organization_id         = "o-a1b2c3d4e5"
member_role_name        = "autoremediate-member"
member_role_external_id = "autoremediate-7f3c9a"
excluded_accounts       = ["999988887777"]
regions                 = ["eu-west-1", "us-east-1"]

# The remediate function and its delivery.
lambda_memory_mb            = 256
lambda_timeout_seconds      = 60
reserved_concurrency        = 5
log_retention_days          = 90
event_retry_attempts        = 10
event_max_age_seconds       = 3600
async_retry_attempts        = 2
async_max_event_age_seconds = 21600
dlq_retention_seconds       = 1209600

# The CloudTrail path and the state store. This account has no trail: create
# one (most accounts have one; the README says how to check it suffices).
enable_cloudtrail_path = true
create_trail           = true
ignore_actor_arns      = ["arn:aws:iam::123456789012:role/deploy-pipeline"]
flap_limit             = 3
flap_window            = "1h"

# Notifications and alarms.
notification_emails          = ["security-team@example.com", "oncall@example.com"]
alarm_evaluation_minutes     = 5
kms_key_deletion_window_days = 30

# AWS Config recorder for an account that has none. Null records the
# resource types the deployed Config rules are scoped to; a list must include
# those, e.g. ["AWS::S3::Bucket", "AWS::EC2::Volume", "AWS::EC2::SecurityGroup", "AWS::IAM::Role"].
create_config_recorder         = true
config_recorder_resource_types = null
bucket_force_destroy           = false

# Scheduled functions.
enable_sweep          = true
sweep_schedule        = "cron(0 3 * * ? *)"
sweep_timeout_seconds = 900
enable_report         = true
report_schedule       = "rate(7 days)"
report_prefix         = "soc2-reports"
report_period_days    = 7
report_retention_days = 365

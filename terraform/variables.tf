# Every input of the module. terraform/README.md has the same list as a table
# (a test keeps them equal); the defaults deploy the whole pipeline in enforce mode.

variable "name" {
  description = "Name prefix of every resource (functions, roles, queue, topic, dashboard, buckets)."
  type        = string
  default     = "autoremediate"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 lower-case letters, digits or dashes, starting with a letter (it prefixes bucket and IAM role names)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([for k, v in var.tags :
      length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")
    ])
    error_message = "tags keys must be 1-128 characters not starting with aws:, values at most 256 characters."
  }
}

variable "dist_dir" {
  description = "Directory holding the function zips built by `make build` (remediate.zip, sweep.zip, report.zip); null means ../dist next to this module."
  type        = string
  default     = null

  validation {
    condition     = var.dist_dir == null || try(length(trimspace(var.dist_dir)) > 0, false)
    error_message = "dist_dir must be null (../dist next to the module) or a directory path."
  }
}

# ----------------------------------------------------------------------------
# What to remediate and how (the environment of the functions, see app.Settings)

variable "mode" {
  description = "Global mode: `enforce` (read, decide, write, verify) or `dry-run` (everything but the write). Environment MODE."
  type        = string
  default     = "enforce"

  validation {
    condition     = contains(["enforce", "dry-run"], var.mode)
    error_message = "mode must be enforce or dry-run."
  }
}

# Remediator and rule names are checked against remediators.json by the
# preconditions of data.aws_iam_policy_document.remediators (iam.tf): before
# Terraform 1.9 a validation block can only read its own variable, not a file.

variable "remediator_modes" {
  description = "Per-remediator modes overriding `mode`, by remediator name, e.g. { \"ec2-imdsv2\" = \"dry-run\" }. Environment REMEDIATOR_MODES."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.remediator_modes) : contains(["enforce", "dry-run"], v)])
    error_message = "remediator_modes values must be enforce or dry-run."
  }
}

variable "enabled_remediators" {
  description = "Remediators to deploy, by name: their Config rules, their IAM permissions and ENABLED_REMEDIATORS; empty (the default) deploys every remediator of the build (the names in remediators.json). Events of the others are `ignored`."
  type        = list(string)
  default     = []
}

variable "rule_map" {
  description = "Extra Config rule name => remediator name pairs for rules you deployed yourself under other names (environment RULE_MAP). The event pattern matches these rule names too."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.rule_map) : can(regex("^[A-Za-z0-9_-]{1,128}$", k))])
    error_message = "rule_map keys must be Config rule names (1-128 letters, digits, - and _)."
  }
}

variable "config_rules" {
  description = "Switch individual AWS Config managed rules off (false) or on (true, the default for every rule whose remediator is enabled), by managed rule name, e.g. { \"ec2-imdsv2-check\" = false } when Security Hub already deploys it."
  type        = map(bool)
  default     = {}
}

variable "match_generated_rule_names" {
  description = "Also remediate the Config rules others deployed for the same managed rules under generated names: AWS Security Hub (securityhub-<managed rule>-<suffix>), conformance packs, the organisation's too (<managed rule>-conformance-pack-<suffix>), and AWS Config organisation rules named after the managed rule (OrgConfigRule-<managed rule>-<suffix> in the member accounts), matched by prefix, and AWS Control Tower (AWSControlTower_AWS-GR_<IDENTIFIER>). Each kind has its own EventBridge rule."
  type        = bool
  default     = true
}

variable "exempt_tag_key" {
  description = "Tag key whose value `off` or `false` exempts a resource (outcome `exempt`). Environment EXEMPT_TAG_KEY."
  type        = string
  default     = "auto-remediation"

  validation {
    condition     = can(regex("^[\\w .:/=+@-]{1,128}$", var.exempt_tag_key)) && !startswith(var.exempt_tag_key, "aws:")
    error_message = "exempt_tag_key must be a valid tag key (1-128 characters, not starting with aws:)."
  }
}

variable "s3_website_guard" {
  description = "Leave buckets that host a static website unblocked (outcome `exempt`). Environment S3_WEBSITE_GUARD."
  type        = bool
  default     = true
}

variable "s3_sse_algorithm" {
  description = "Default encryption the s3-encryption remediator applies: `AES256` (SSE-S3), `aws:kms` (SSE-KMS, Bucket Keys on) or `aws:kms:dsse`. Environment S3_SSE_ALGORITHM."
  type        = string
  default     = "AES256"

  validation {
    condition     = contains(["AES256", "aws:kms", "aws:kms:dsse"], var.s3_sse_algorithm)
    error_message = "s3_sse_algorithm must be AES256, aws:kms or aws:kms:dsse."
  }
}

variable "s3_kms_key_arn" {
  description = "KMS key ARN for SSE-KMS; empty uses the AWS managed key aws/s3. Environment S3_KMS_KEY_ARN."
  type        = string
  default     = ""

  validation {
    condition     = var.s3_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.s3_kms_key_arn))
    error_message = "s3_kms_key_arn must be empty or a KMS key ARN."
  }
}

variable "ebs_kms_key_id" {
  description = "KMS key (ID, ARN or alias) to make the region's default EBS key; empty keeps the current default. Environment EBS_KMS_KEY_ID."
  type        = string
  default     = ""

  validation {
    condition     = var.ebs_kms_key_id == "" || can(regex("^(arn:aws[a-z-]*:kms:.+|alias/.+|[0-9a-f-]{36}|mrk-[0-9a-f]{32})$", var.ebs_kms_key_id))
    error_message = "ebs_kms_key_id must be empty, a key ID, a key ARN or alias/<name>."
  }
}

variable "ebs_migration" {
  description = "Unencrypted EBS volumes migrated to an encrypted copy: off (needs-manual), unattached (volumes attached to no instance) or all (attached ones too, on instances tagged autoremediate:stop-allowed=true, which are stopped and started for it). Environment EBS_MIGRATION."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "unattached", "all"], var.ebs_migration)
    error_message = "ebs_migration must be off, unattached or all."
  }
}

variable "ebs_migration_delete_original_after" {
  description = "How long after a migration a later run deletes the original volume, a duration like 168h (at least 1h); empty keeps it for good. Environment EBS_MIGRATION_DELETE_ORIGINAL_AFTER."
  type        = string
  default     = ""

  validation {
    condition     = var.ebs_migration_delete_original_after == "" || can(regex("^([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.ebs_migration_delete_original_after))
    error_message = "ebs_migration_delete_original_after must be empty or a duration like 168h (hours, minutes, seconds)."
  }
}

variable "ebs_migration_stuck_after" {
  description = "How long a migration may be under way before it fails (rolled back if it stopped an instance), a duration like 6h (at least 1m). Environment EBS_MIGRATION_STUCK_AFTER."
  type        = string
  default     = "6h"

  validation {
    condition     = can(regex("^([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.ebs_migration_stuck_after)) && var.ebs_migration_stuck_after != ""
    error_message = "ebs_migration_stuck_after must be a duration like 6h or 90m."
  }
}

variable "imds_lookback_days" {
  description = "Days of the MetadataNoToken metric to check for IMDSv1 use before requiring IMDSv2; 0 turns the check off. Environment IMDS_LOOKBACK_DAYS."
  type        = number
  default     = 14

  validation {
    condition     = var.imds_lookback_days >= 0 && var.imds_lookback_days <= 455 && floor(var.imds_lookback_days) == var.imds_lookback_days
    error_message = "imds_lookback_days must be a whole number from 0 to 455."
  }
}

variable "sg_blocked_ports" {
  description = "TCP ports (at most five) that ec2-security-group-ingress closes to 0.0.0.0/0 and ::/0 on restricted-common-ports events, also set as that Config rule's blockedPort parameters; empty keeps the remediator's default ports. Environment SG_BLOCKED_PORTS."
  type        = list(number)
  default     = []

  validation {
    condition     = length(var.sg_blocked_ports) <= 5 && alltrue([for p in var.sg_blocked_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "sg_blocked_ports must list at most five TCP ports from 1 to 65535 (the Config rule takes five blockedPort parameters)."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the outcome metrics (dashboard and alarms use it). Environment METRICS_NAMESPACE."
  type        = string
  default     = "AutoRemediation"

  validation {
    condition     = can(regex("^[A-Za-z0-9._#:/ -]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 letters, digits, spaces or . _ - # : / and must not start with AWS/."
  }
}

variable "metrics_mode" {
  description = "`emf` (metrics embedded in the log line, no API call), `api` (PutMetricData), `both` or `off`. Environment METRICS_MODE. cloudwatch:PutMetricData is granted only for api and both."
  type        = string
  default     = "emf"

  validation {
    condition     = contains(["emf", "api", "both", "off"], var.metrics_mode)
    error_message = "metrics_mode must be emf, api, both or off."
  }
}

variable "log_level" {
  description = "Log level of the functions: debug, info, warn or error. Environment LOG_LEVEL."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "notify_outcomes" {
  description = "Send every outcome to the SNS topic (environment SNS_TOPIC_ARN); false keeps the topic for alarms only."
  type        = bool
  default     = true
}

# ----------------------------------------------------------------------------
# An AWS Organization: member accounts and regions forward their events here
# (terraform/modules/member or the StackSet template deploy the member side)

variable "organization_id" {
  description = "ID of the AWS Organization (o-...) whose accounts forward their events to this account's default event bus: the bus policy admits events:PutEvents from the organisation's principals only, and the remediate and sweep functions may assume member_role_name in the organisation's accounts. Empty (the default) protects this account only (its other regions can still forward to it)."
  type        = string
  default     = ""

  validation {
    condition     = var.organization_id == "" || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must be empty or an AWS Organizations ID: o- and 10 to 32 lower-case letters or digits, like o-a1b2c3d4e5."
  }
}

variable "member_role_name" {
  description = "Name of the role the functions assume in a member account to act there (created by terraform/modules/member or the StackSet template, without a path). Environment MEMBER_ROLE_NAME."
  type        = string
  default     = "autoremediate-member"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.member_role_name))
    error_message = "member_role_name must be an IAM role name: 1-64 letters, digits or + = , . @ _ -."
  }
}

variable "member_role_external_id" {
  description = "External ID the functions present when they assume member_role_name; the member roles' trust policies require it when it is set. Not a secret (it guards against the confused deputy), so it appears in plans and outputs. Environment MEMBER_ROLE_EXTERNAL_ID."
  type        = string
  default     = ""

  validation {
    # RE2 repeats at most 1000 times: the length is checked apart.
    condition     = var.member_role_external_id == "" || (length(var.member_role_external_id) >= 2 && length(var.member_role_external_id) <= 1224 && can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.member_role_external_id)))
    error_message = "member_role_external_id must be empty or 2-1224 letters, digits or + = , . @ : / _ - (what STS accepts)."
  }
}

variable "excluded_accounts" {
  description = "Account IDs whose events are `ignored` as a whole. Environment EXCLUDED_ACCOUNTS."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.excluded_accounts : can(regex("^[0-9]{12}$", a))])
    error_message = "excluded_accounts must be 12-digit AWS account IDs."
  }
}

variable "regions" {
  description = "Regions the functions act in; events from other regions are `ignored`. Empty (the default) acts in every region an event comes from. Environment REGIONS."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r))])
    error_message = "regions must be AWS region names such as eu-west-1 or us-gov-west-1."
  }
}

# ----------------------------------------------------------------------------
# The remediate function and its delivery

variable "architecture" {
  description = "Instruction set of the functions: `arm64` (Graviton, the zips of `make build`) or `x86_64` (the zips of `make build GOARCH=amd64`). The plan fails when dist/architecture says the zips were built for the other one."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64 (Lambda's names; GOARCH amd64 is x86_64)."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of the functions in MB (CPU scales with it)."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be from 128 to 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of the remediate function in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.lambda_timeout_seconds >= 3 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be from 3 to 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the remediate function, so a burst of events cannot exhaust the account's concurrency or the EC2/S3 API limits; -1 leaves it unreserved (for accounts whose concurrency quota is too low to reserve any)."
  type        = number
  default     = 5

  validation {
    condition     = var.reserved_concurrency == -1 || (var.reserved_concurrency >= 1 && var.reserved_concurrency <= 1000)
    error_message = "reserved_concurrency must be -1 or from 1 to 1000."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups in days."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "event_retry_attempts" {
  description = "How many times EventBridge retries delivering an event to the function (then the event goes to the dead-letter queue)."
  type        = number
  default     = 10

  validation {
    condition     = var.event_retry_attempts >= 0 && var.event_retry_attempts <= 185
    error_message = "event_retry_attempts must be from 0 to 185."
  }
}

variable "event_max_age_seconds" {
  description = "How long EventBridge keeps retrying an event before it goes to the dead-letter queue."
  type        = number
  default     = 3600

  validation {
    condition     = var.event_max_age_seconds >= 60 && var.event_max_age_seconds <= 86400
    error_message = "event_max_age_seconds must be from 60 to 86400."
  }
}

variable "async_retry_attempts" {
  description = "How many times Lambda retries an invocation that returned an error (then the event goes to the dead-letter queue)."
  type        = number
  default     = 2

  validation {
    condition     = var.async_retry_attempts >= 0 && var.async_retry_attempts <= 2
    error_message = "async_retry_attempts must be 0, 1 or 2."
  }
}

variable "async_max_event_age_seconds" {
  description = "How long Lambda keeps an event queued for the function (throttled or retrying) before it goes to the dead-letter queue."
  type        = number
  default     = 21600

  validation {
    condition     = var.async_max_event_age_seconds >= 60 && var.async_max_event_age_seconds <= 21600
    error_message = "async_max_event_age_seconds must be from 60 to 21600."
  }
}

variable "dlq_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (redrive or inspect it before then)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_retention_seconds >= 60 && var.dlq_retention_seconds <= 1209600
    error_message = "dlq_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

# ----------------------------------------------------------------------------
# The CloudTrail fast path, loop prevention and the state store

variable "enable_cloudtrail_path" {
  description = "Also remediate from the \"AWS API Call via CloudTrail\" events of the calls that can break what a remediator fixes (seconds after the call, where AWS Config takes minutes): one EventBridge rule per service (S3, EC2) invoking the remediate function with the same retries and dead-letter queue. EventBridge receives these events only while a trail logs the account's write management events in the region (create_trail, or an existing trail). false removes the rules; IGNORE_ACTOR_ARNS stays set."
  type        = bool
  default     = true
}

variable "create_trail" {
  description = "Create a multi-region CloudTrail trail logging write management events, with log file validation, into a private bucket encrypted with the module's key, for accounts without a trail (most have one: see the README for how to check it suffices)."
  type        = bool
  default     = false
}

variable "ignore_actor_arns" {
  description = "IAM role or user ARNs of your other automation whose API calls must not trigger a remediation, e.g. the role a deployment pipeline applies with; the module's own function roles are always ignored. A role is named by its role ARN (arn:aws:iam::ACCOUNT:role/PATH/NAME), which every session of it shares, not by an assumed-role session ARN. The CloudTrail rules drop these calls before invoking the function, which ignores them too (environment IGNORE_ACTOR_ARNS). Each ARN appears twice in each CloudTrail rule's pattern, whose size EventBridge limits to 2048 characters: about ten ARNs fit."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ignore_actor_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]+$", a))])
    error_message = "ignore_actor_arns must be IAM role or user ARNs, like arn:aws:iam::123456789012:role/NAME; for an assumed role give the role's ARN, not the arn:aws:sts::...:assumed-role/... session ARN."
  }
}

variable "flap_limit" {
  description = "Writes one remediator may make on one resource within flap_window; past that its outcomes are `escalated` (severity high) and nothing is written, so that a human settles the fight with the automation that keeps undoing the fix. Environment FLAP_LIMIT."
  type        = number
  default     = 3

  validation {
    condition     = var.flap_limit >= 1 && floor(var.flap_limit) == var.flap_limit
    error_message = "flap_limit must be a whole number of writes, 1 or more."
  }
}

variable "flap_window" {
  description = "The window of flap_limit, a Go duration such as 30m, 1h or 2h30m, at least a minute. Environment FLAP_WINDOW."
  type        = string
  default     = "1h"

  validation {
    # Go's time.ParseDuration syntax (numbers with units, summed), and the
    # function's minimum of one minute.
    condition = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+$", var.flap_window)) && try(sum([
      for d in regexall("([0-9]+(?:\\.[0-9]+)?)(ns|us|µs|μs|ms|s|m|h)", var.flap_window) :
      tonumber(d[0]) * { ns = 1e-9, us = 1e-6, "µs" = 1e-6, "μs" = 1e-6, ms = 1e-3, s = 1, m = 60, h = 3600 }[d[1]]
    ]) >= 60, false)
    error_message = "flap_window must be a Go duration of at least one minute, such as 30m, 1h or 2h30m."
  }
}

# ----------------------------------------------------------------------------
# Notifications, dashboard and alarms

variable "notification_emails" {
  description = "E-mail addresses subscribed to the SNS topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails must be e-mail addresses."
  }
}

variable "alarm_evaluation_minutes" {
  description = "Period of the alarms in minutes: an alarm fires when its condition holds during one period."
  type        = number
  default     = 5

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.alarm_evaluation_minutes)
    error_message = "alarm_evaluation_minutes must be 1, 5, 10, 15, 30 or 60."
  }
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the module's KMS key is deleted after `terraform destroy`."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30
    error_message = "kms_key_deletion_window_days must be from 7 to 30."
  }
}

# ----------------------------------------------------------------------------
# AWS Config recorder (for accounts without one)

variable "create_config_recorder" {
  description = "Create an AWS Config configuration recorder, its delivery channel and an encrypted bucket, for accounts that have none (a region has at most one recorder)."
  type        = bool
  default     = false
}

variable "config_recorder_resource_types" {
  description = "Resource types the created recorder records (only with create_config_recorder); null means the resource types the deployed Config rules are scoped to. A given list must include those (the plan fails otherwise: a rule whose resource type is not recorded never evaluates) and may add others."
  type        = list(string)
  default     = null

  validation {
    # Both results of a conditional are evaluated, only the chosen one's errors count: this guards length(null).
    condition     = var.config_recorder_resource_types == null ? true : length(var.config_recorder_resource_types) > 0 && alltrue([for t in var.config_recorder_resource_types : can(regex("^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$", t))])
    error_message = "config_recorder_resource_types must be null (the deployed rules' resource types) or a non-empty list of resource types such as AWS::S3::Bucket."
  }
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the module's buckets with their objects: the report bucket, the Config bucket, the trail bucket (create_trail), the outcome archive bucket (archive_enabled; Object Lock GOVERNANCE-mode objects are deleted with the governance bypass, COMPLIANCE-mode ones cannot be before their retention ends) and the access-log bucket, which receives the server access logs of the others and so is never empty. Without it, empty them first."
  type        = bool
  default     = false
}

# ----------------------------------------------------------------------------
# Scheduled functions

variable "enable_sweep" {
  description = "Deploy the sweep function, which lists the resources of every enabled remediator on a schedule and remediates those no event reached."
  type        = bool
  default     = true
}

variable "sweep_schedule" {
  description = "EventBridge Scheduler expression of the sweep, e.g. rate(1 day) or cron(0 3 * * ? *)."
  type        = string
  default     = "rate(1 day)"

  validation {
    condition     = can(regex("^(rate\\(\\d+ (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.sweep_schedule))
    error_message = "sweep_schedule must be a rate(...) or cron(...) expression."
  }
}

variable "sweep_timeout_seconds" {
  description = "Timeout of the sweep function in seconds."
  type        = number
  default     = 900

  validation {
    condition     = var.sweep_timeout_seconds >= 60 && var.sweep_timeout_seconds <= 900
    error_message = "sweep_timeout_seconds must be from 60 to 900."
  }
}

variable "enable_report" {
  description = "Deploy the report function, which writes a compliance report to an encrypted bucket on a schedule and announces it on the topic."
  type        = bool
  default     = true
}

variable "report_schedule" {
  description = "EventBridge Scheduler expression of the compliance report."
  type        = string
  default     = "rate(7 days)"

  validation {
    condition     = can(regex("^(rate\\(\\d+ (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.report_schedule))
    error_message = "report_schedule must be a rate(...) or cron(...) expression."
  }
}

variable "report_prefix" {
  description = "Key prefix of the reports in the report bucket (files go to <prefix>/YYYY-MM-DD/). Environment REPORT_PREFIX."
  type        = string
  default     = "soc2-reports"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.'()/-]{0,200}$", var.report_prefix))
    error_message = "report_prefix must be a safe S3 key prefix: up to 200 letters, digits or ! _ . ' ( ) / -."
  }
}

variable "report_period_days" {
  description = "Days each report covers. Environment REPORT_PERIOD_DAYS."
  type        = number
  default     = 7

  validation {
    condition     = var.report_period_days >= 1 && var.report_period_days <= 455 && floor(var.report_period_days) == var.report_period_days
    error_message = "report_period_days must be a whole number from 1 to 455."
  }
}

variable "report_history_runs" {
  description = "Previous runs whose summary.json the report's trends read, 0 to 100 (0 reads none). Environment REPORT_HISTORY_RUNS."
  type        = number
  default     = 12

  validation {
    condition     = var.report_history_runs >= 0 && var.report_history_runs <= 100 && floor(var.report_history_runs) == var.report_history_runs
    error_message = "report_history_runs must be a whole number from 0 to 100."
  }
}

variable "report_include" {
  description = "Optional sections of the report, comma-separated: \"credentials\" adds the IAM credential audit and grants the report function iam:GenerateCredentialReport and iam:GetCredentialReport. Environment REPORT_INCLUDE."
  type        = string
  default     = ""

  validation {
    condition     = length(setsubtract(split(",", replace(var.report_include, " ", "")), ["", "credentials"])) == 0
    error_message = "report_include must be empty or \"credentials\"."
  }
}

variable "report_retention_days" {
  description = "Days after which reports (and their old versions) expire from the report bucket; 0 keeps them."
  type        = number
  default     = 365

  validation {
    condition     = var.report_retention_days >= 0 && floor(var.report_retention_days) == var.report_retention_days
    error_message = "report_retention_days must be a whole number, 0 or more."
  }
}

# ----------------------------------------------------------------------------
# The outcome archive (archive.tf, docs/archive.md)
# ----------------------------------------------------------------------------

variable "archive_enabled" {
  description = "Keep every outcome as evidence: a Firehose delivery stream subscribed to the topic writes them, GZIP JSON lines under outcomes/YYYY/MM/DD/, to a versioned, KMS-encrypted, TLS-only bucket under S3 Object Lock. Needs notify_outcomes."
  type        = bool
  default     = true
}

variable "archive_object_lock_mode" {
  description = "Default Object Lock retention mode of the archived outcomes: GOVERNANCE (users with s3:BypassGovernanceRetention can shorten or remove it) or COMPLIANCE (nobody can, the root user included, until it ends)."
  type        = string
  default     = "GOVERNANCE"

  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.archive_object_lock_mode)
    error_message = "archive_object_lock_mode must be GOVERNANCE or COMPLIANCE."
  }
}

variable "archive_retention_days" {
  description = "Days each archived outcome file is locked (Object Lock default retention) and old versions are kept."
  type        = number
  default     = 400

  validation {
    condition     = var.archive_retention_days >= 1 && var.archive_retention_days <= 36500 && floor(var.archive_retention_days) == var.archive_retention_days
    error_message = "archive_retention_days must be a whole number of days from 1 to 36500."
  }
}

variable "archive_buffering_seconds" {
  description = "Firehose's buffering interval: the longest an outcome waits before it is written to the archive (one object per interval at most, unless archive_buffering_mb is reached first)."
  type        = number
  default     = 300

  validation {
    condition     = var.archive_buffering_seconds >= 0 && var.archive_buffering_seconds <= 900
    error_message = "archive_buffering_seconds must be from 0 to 900."
  }
}

variable "archive_buffering_mb" {
  description = "Firehose's buffering size in MiB: an object is written when this much has arrived, before the interval ends."
  type        = number
  default     = 5

  validation {
    condition     = var.archive_buffering_mb >= 1 && var.archive_buffering_mb <= 128
    error_message = "archive_buffering_mb must be from 1 to 128."
  }
}

# Shared facts and names. The pipeline: AWS Config rules (pattern in
# templates/event_pattern.json.tftpl) and CloudTrail API calls (pattern in
# templates/cloudtrail_pattern.json.tftpl) -> EventBridge rules -> the
# remediate function, with its state table -> outcomes as metrics
# (dashboard, alarms) and SNS notifications.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.id # not .region: it exists from provider 6.0 on
  dist_dir  = coalesce(var.dist_dir, "${path.module}/../dist")

  tags = merge({ "managed-by" = "terraform", "application" = "autoremediate" }, var.tags)

  # What the remediators declare: names, managed rules, permissions
  # (remediators.json, written from the Go definitions by
  # `go generate ./terraform`; a Go test fails when it is stale). Nothing in
  # this module repeats a remediator's name or permissions.
  # (tfsec 1.28 cannot read a file by ${path.module}, but reads a relative
  # path from the module's directory: the fallback is for it.)
  catalog = jsondecode(try(file("${path.module}/remediators.json"), file("remediators.json")))

  # An empty list (the default) enables every remediator of the build.
  enabled_remediators = coalescelist(var.enabled_remediators, local.catalog.names)

  # Managed rules whose remediator is enabled; of those, the ones deployed
  # as Config rules by this module.
  handled_rules = { for name, r in local.catalog.managed_rules : name => r if contains(local.enabled_remediators, r.remediator) }
  config_rules = { for name, r in local.handled_rules : name => merge(r, {
    input_parameters = local.blocked_port_parameters != null && contains(keys(r.input_parameters), "blockedPort1") ? local.blocked_port_parameters : r.input_parameters
  }) if lookup(var.config_rules, name, true) }

  # The resource types the created recorder records: by default the scopes
  # of the deployed Config rules, as a rule only evaluates resources of a
  # type the recorder records (a precondition on the recorder rejects a
  # given list that lacks one).
  rule_resource_types            = sort(distinct(flatten([for r in values(local.config_rules) : r.resource_types])))
  config_recorder_resource_types = var.config_recorder_resource_types == null ? local.rule_resource_types : var.config_recorder_resource_types

  # sg_blocked_ports as the blockedPort1..5 parameters of the rule that
  # takes them (RESTRICTED_INCOMING_TRAFFIC), so that Config and
  # SG_BLOCKED_PORTS agree. A parameter left out takes its default port, so
  # all five are set: fewer ports repeat the last one.
  blocked_port_parameters = length(var.sg_blocked_ports) == 0 ? null : {
    for i in range(5) : "blockedPort${i + 1}" => tostring(var.sg_blocked_ports[min(i, length(var.sg_blocked_ports) - 1)])
  }

  # configRuleName matchers of the event patterns, one EventBridge rule per
  # kind of rule name so that each pattern stays under EventBridge's
  # 2048-character limit: the rules this module deployed plus rule_map's
  # (exact names), and (match_generated_rule_names) the names others give
  # the handled managed rules: Security Hub (securityhub-<rule>-<suffix>),
  # conformance packs (<rule>-conformance-pack-<suffix>) and AWS Config
  # organisation rules named after the managed rule, in the member accounts
  # (OrgConfigRule-<rule>-<suffix>) by prefix, AWS Control Tower
  # (AWSControlTower_AWS-GR_<SUFFIX>) exactly. The Go function
  # terraform.Matchers builds the same lists.
  rule_name_matchers = {
    "deployed"         = sort(distinct(concat(keys(local.config_rules), [for k, v in var.rule_map : k if contains(local.enabled_remediators, v)])))
    "securityhub"      = [for name in sort(keys(local.handled_rules)) : { prefix = "securityhub-${name}-" } if var.match_generated_rule_names]
    "conformance-pack" = [for name in sort(keys(local.handled_rules)) : { prefix = "${name}-conformance-pack-" } if var.match_generated_rule_names]
    "organization"     = [for name in sort(keys(local.handled_rules)) : { prefix = "OrgConfigRule-${name}-" } if var.match_generated_rule_names]
    "control-tower"    = sort(flatten([for name, r in local.handled_rules : [for s in r.control_tower_suffixes : "AWSControlTower_AWS-GR_${s}"] if var.match_generated_rule_names]))
  }
  event_patterns = { for kind, matchers in local.rule_name_matchers : kind => jsonencode(jsondecode(templatefile("${path.module}/templates/event_pattern.json.tftpl", {
    config_rule_names = jsonencode(matchers)
  }))) if length(matchers) > 0 }

  # The CloudTrail fast path: the API calls the enabled remediators declare
  # as their triggers (remediators.json), one EventBridge rule per service
  # (s3, ec2: the first label of the event source). The pattern,
  # templates/cloudtrail_pattern.json.tftpl (Go renders the same file:
  # terraform.CloudTrailPatterns), drops failed calls and the calls of the
  # ignored actors. The Go function terraform.TriggerCalls lists the same
  # calls.
  trigger_calls   = distinct(flatten([for name, r in local.catalog.remediators : r.triggers if contains(local.enabled_remediators, name)]))
  trigger_sources = { for src in distinct([for c in local.trigger_calls : c.source]) : split(".", src)[0] => src }
  cloudtrail_patterns = { for svc, src in local.trigger_sources : svc => jsonencode(jsondecode(templatefile("${path.module}/templates/cloudtrail_pattern.json.tftpl", {
    sources           = jsonencode(["aws.${svc}"])
    event_sources     = jsonencode([src])
    event_names       = jsonencode(sort(distinct([for c in local.trigger_calls : c.name if c.source == src])))
    ignore_actor_arns = jsonencode(local.ignore_actor_arns)
  }))) if var.enable_cloudtrail_path }

  # Loop prevention: the calls of the pipeline's own roles, those of the
  # functions (aws_iam_role.function, named <name>-<function> without a
  # path; spelt here so that the patterns are known at plan time), and of
  # the user's other automation are ignored, by the patterns and by the
  # function (IGNORE_ACTOR_ARNS). The other roles of the module (Config
  # recorder, scheduler) make no call a remediator is triggered by.
  function_role_arns = [for fn in sort(local.functions) : "arn:${local.partition}:iam::${local.account}:role/${var.name}-${fn}"]
  ignore_actor_arns  = distinct(concat(local.function_role_arns, var.ignore_actor_arns))

  # Settings shared by the functions that remediate (app.Settings() in Go; a
  # test checks every name is one the code reads).
  remediation_environment = {
    MODE                = var.mode
    REMEDIATOR_MODES    = join(",", [for k in sort(keys(var.remediator_modes)) : "${k}=${var.remediator_modes[k]}"])
    ENABLED_REMEDIATORS = join(",", local.enabled_remediators)
    RULE_MAP            = join(",", [for k in sort(keys(var.rule_map)) : "${k}=${var.rule_map[k]}"])
    EXEMPT_TAG_KEY      = var.exempt_tag_key
    S3_WEBSITE_GUARD    = tostring(var.s3_website_guard)
    S3_SSE_ALGORITHM    = var.s3_sse_algorithm
    S3_KMS_KEY_ARN      = var.s3_kms_key_arn
    EBS_KMS_KEY_ID      = var.ebs_kms_key_id
    IMDS_LOOKBACK_DAYS  = tostring(var.imds_lookback_days)
    SG_BLOCKED_PORTS    = join(",", var.sg_blocked_ports)
    SNS_TOPIC_ARN       = var.notify_outcomes ? aws_sns_topic.notifications.arn : ""
    IGNORE_ACTOR_ARNS   = join(",", local.ignore_actor_arns)
    STATE_TABLE         = aws_dynamodb_table.state.name
    FLAP_LIMIT          = tostring(var.flap_limit)
    FLAP_WINDOW         = var.flap_window
    METRICS_NAMESPACE   = var.metrics_namespace
    METRICS_MODE        = var.metrics_mode
    LOG_LEVEL           = var.log_level
    # The EBS volume migration (docs/ebs-migration.md); an empty
    # EBS_MIGRATION_DELETE_ORIGINAL_AFTER keeps the originals.
    EBS_MIGRATION                       = var.ebs_migration
    EBS_MIGRATION_DELETE_ORIGINAL_AFTER = var.ebs_migration_delete_original_after
    EBS_MIGRATION_STUCK_AFTER           = var.ebs_migration_stuck_after
    # The organisation (organization_id): the role the functions assume in
    # a member account, the accounts and regions they leave alone.
    MEMBER_ROLE_NAME        = var.member_role_name
    MEMBER_ROLE_EXTERNAL_ID = var.member_role_external_id
    EXCLUDED_ACCOUNTS       = join(",", var.excluded_accounts)
    REGIONS                 = join(",", var.regions)
    # The local writers of the outcome archive; the functions refuse them:
    # their archive is the topic's Firehose subscription (archive.tf).
    ARCHIVE_DIR    = ""
    ARCHIVE_BUCKET = ""
  }

  dashboard_name = "${var.name}-compliance"
}

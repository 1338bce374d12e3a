# Forwarding: this region's AWS Config compliance changes and CloudTrail API
# calls that the central rules match go to the central account's default
# bus, which admits the organisation (the root module's organization_id).
# A forwarded event keeps its account and region, so the central function
# acts here. The patterns are the root module's, from the same templates
# and inputs (terraform.EventPatterns and terraform.CloudTrailPatterns in
# Go render the same).

locals {
  # The managed rules whose remediator is enabled, and the exact Config
  # rule names to match: the central deployment's deployed rules and
  # rule_map keys (config_rule_names), by default the managed rule names.
  handled_rules = { for name, r in local.catalog.managed_rules : name => r if contains(local.enabled_remediators, r.remediator) }
  rule_name_matchers = {
    "deployed"         = var.config_rule_names == null ? sort(keys(local.handled_rules)) : sort(distinct(var.config_rule_names))
    "securityhub"      = [for name in sort(keys(local.handled_rules)) : { prefix = "securityhub-${name}-" } if var.match_generated_rule_names]
    "conformance-pack" = [for name in sort(keys(local.handled_rules)) : { prefix = "${name}-conformance-pack-" } if var.match_generated_rule_names]
    "organization"     = [for name in sort(keys(local.handled_rules)) : { prefix = "OrgConfigRule-${name}-" } if var.match_generated_rule_names]
    "control-tower"    = sort(flatten([for name, r in local.handled_rules : [for s in r.control_tower_suffixes : "AWSControlTower_AWS-GR_${s}"] if var.match_generated_rule_names]))
  }
  event_patterns = { for kind, matchers in local.rule_name_matchers : kind => jsonencode(jsondecode(templatefile("${local.root}/templates/event_pattern.json.tftpl", {
    config_rule_names = jsonencode(matchers)
  }))) if length(matchers) > 0 }

  # The calls the enabled remediators are triggered by, one rule per
  # service. Loop prevention: the calls the member role makes (the central
  # functions' fixes here) and, in the central account's other regions,
  # those of the central functions' own roles are not forwarded.
  trigger_calls     = distinct(flatten([for name, r in local.catalog.remediators : r.triggers if contains(local.enabled_remediators, name)]))
  trigger_sources   = { for src in distinct([for c in local.trigger_calls : c.source]) : split(".", src)[0] => src }
  ignore_actor_arns = distinct(concat([local.role_arn], var.central_role_arns, var.ignore_actor_arns))
  cloudtrail_patterns = { for svc, src in local.trigger_sources : svc => jsonencode(jsondecode(templatefile("${local.root}/templates/cloudtrail_pattern.json.tftpl", {
    sources           = jsonencode(["aws.${svc}"])
    event_sources     = jsonencode([src])
    event_names       = jsonencode(sort(distinct([for c in local.trigger_calls : c.name if c.source == src])))
    ignore_actor_arns = jsonencode(local.ignore_actor_arns)
  }))) if var.enable_cloudtrail_path }

  # One forwarding rule per pattern: config-<kind> and cloudtrail-<service>.
  forward_patterns = merge(
    { for kind, p in local.event_patterns : "config-${kind}" => p },
    { for svc, p in local.cloudtrail_patterns : "cloudtrail-${svc}" => p },
  )
}

resource "aws_cloudwatch_event_rule" "forward" {
  for_each = local.forward ? local.forward_patterns : {}

  name          = "${var.name}-forward-${each.key}"
  description   = "Forwards ${startswith(each.key, "config-") ? "the AWS Config compliance changes (${trimprefix(each.key, "config-")} rule names)" : "the ${trimprefix(each.key, "cloudtrail-")} API calls"} that autoremediate handles to account ${var.central_account_id}."
  event_pattern = each.value
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = length(each.value) <= 2048
      error_message = "The event pattern of the ${each.key} rule has ${length(each.value)} characters, more than EventBridge's default quota of 2048: list fewer config_rule_names or ignore_actor_arns."
    }
  }
}

# EventBridge requires a role on a rule whose target is an event bus of
# another account when that bus admits an organisation. One role per
# region, so that every region's instance of the module (and every stack
# of the StackSet) stands alone.
data "aws_iam_policy_document" "forward_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "forward" {
  statement {
    sid       = "ForwardToCentralBus"
    actions   = ["events:PutEvents"]
    resources = [local.central_bus_arn]
  }
}

resource "aws_iam_role" "forward" {
  count = local.forward ? 1 : 0

  name               = "${var.name}-forward-${local.region}"
  description        = "Lets EventBridge forward the ${local.region} events autoremediate handles to the bus of account ${var.central_account_id}."
  assume_role_policy = data.aws_iam_policy_document.forward_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "forward" {
  count = local.forward ? 1 : 0

  name   = "put-events"
  role   = aws_iam_role.forward[0].id
  policy = data.aws_iam_policy_document.forward.json
}

resource "aws_cloudwatch_event_target" "forward" {
  for_each = aws_cloudwatch_event_rule.forward

  rule      = each.value.name
  target_id = "central-bus"
  arn       = local.central_bus_arn
  role_arn  = aws_iam_role.forward[0].arn

  # The role must be able to put events before the first one comes.
  depends_on = [aws_iam_role_policy.forward]
}

# AWS Config: the managed rules the enabled remediators handle and, for
# accounts without one, a configuration recorder with its delivery channel.

resource "aws_config_config_rule" "managed" {
  for_each = local.config_rules

  name        = each.key
  description = "Managed rule ${each.value.identifier}; NON_COMPLIANT results are remediated by ${each.value.remediator}."

  source {
    owner             = "AWS"
    source_identifier = each.value.identifier
  }

  # The parameters the remediator's definition gives the rule (a JSON
  # object of strings), if any.
  input_parameters = length(each.value.input_parameters) > 0 ? jsonencode(each.value.input_parameters) : null

  dynamic "scope" {
    for_each = length(each.value.resource_types) > 0 ? [each.value.resource_types] : []
    content {
      compliance_resource_types = scope.value
    }
  }

  tags = local.tags

  # A rule can only be created once the region has a recorder.
  depends_on = [aws_config_configuration_recorder.this]
}

data "aws_iam_policy_document" "config_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "config" {
  count = var.create_config_recorder ? 1 : 0

  name               = "${var.name}-config-recorder"
  description        = "Role of the AWS Config recorder created by ${var.name}."
  assume_role_policy = data.aws_iam_policy_document.config_assume.json
  tags               = local.tags
}

# The AWS managed policy for Config recorders (read-only describe calls).
resource "aws_iam_role_policy_attachment" "config" {
  count = var.create_config_recorder ? 1 : 0

  role       = aws_iam_role.config[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWS_ConfigRole"
}

data "aws_iam_policy_document" "config_delivery" {
  statement {
    sid       = "DeliverToBucket"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.config_bucket}/AWSLogs/${local.account}/Config/*"]
  }
  statement {
    sid       = "CheckBucket"
    actions   = ["s3:GetBucketAcl", "s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.config_bucket}"]
  }
}

resource "aws_iam_role_policy" "config" {
  count = var.create_config_recorder ? 1 : 0

  name   = "delivery"
  role   = aws_iam_role.config[0].id
  policy = data.aws_iam_policy_document.config_delivery.json
}

resource "aws_config_configuration_recorder" "this" {
  count = var.create_config_recorder ? 1 : 0

  name     = var.name
  role_arn = aws_iam_role.config[0].arn

  # Only the resource types the rules evaluate: Config bills per recorded
  # configuration item.
  recording_group {
    all_supported  = false
    resource_types = local.config_recorder_resource_types
  }

  # A Config rule scoped to a type the recorder does not record never
  # evaluates: no error, just no compliance results and so no remediation.
  lifecycle {
    precondition {
      condition     = length(local.config_recorder_resource_types) > 0
      error_message = "config_recorder_resource_types: no deployed Config rule is scoped to a resource type, so there is nothing to record by default; give the resource types the recorder should record."
    }
    precondition {
      condition     = length(setsubtract(local.rule_resource_types, local.config_recorder_resource_types)) == 0
      error_message = "config_recorder_resource_types lacks ${join(", ", sort(setsubtract(local.rule_resource_types, local.config_recorder_resource_types)))}, the scope of the deployed Config rules ${join(", ", sort([for name, r in local.config_rules : name if length(setsubtract(r.resource_types, local.config_recorder_resource_types)) > 0]))}, which would never evaluate: add them to the list, or leave it unset (null) to record the scopes of the deployed rules."
    }
  }
}

resource "aws_config_delivery_channel" "this" {
  count = var.create_config_recorder ? 1 : 0

  name           = var.name
  s3_bucket_name = aws_s3_bucket.data["config"].id
  s3_kms_key_arn = aws_kms_key.main.arn

  snapshot_delivery_properties {
    delivery_frequency = "TwentyFour_Hours"
  }

  depends_on = [aws_config_configuration_recorder.this, aws_s3_bucket_policy.data, aws_iam_role_policy.config]
}

resource "aws_config_configuration_recorder_status" "this" {
  count = var.create_config_recorder ? 1 : 0

  name       = aws_config_configuration_recorder.this[0].name
  is_enabled = true

  # Recording starts only once the recorder's role has its permissions: the
  # role exists before its policies are attached, and a recorder started
  # without them fails to describe the resources or to deliver.
  depends_on = [aws_config_delivery_channel.this, aws_iam_role_policy_attachment.config, aws_iam_role_policy.config]
}

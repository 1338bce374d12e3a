# The state store (package state): which events were handled and with what
# outcome, whether it was published, and the recent writes on each resource
# for flap protection. Its schema and the actions the store calls come from
# remediators.json ("state", written from package state by go generate).

locals {
  state_table = "${var.name}-state"
  # The functions whose environment is local.remediation_environment, which
  # names the table (a test holds the two lists together; the key policy
  # cannot read the environment, which depends on the table, which depends
  # on the key).
  state_functions = [for fn in ["remediate", "sweep", "sweepworker"] : fn if contains(local.functions, fn)]
}

resource "aws_dynamodb_table" "state" {
  name         = local.state_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = local.catalog.state.key_attribute

  attribute {
    name = local.catalog.state.key_attribute
    type = local.catalog.state.key_type
  }

  # Every item carries its expiry (epoch seconds). DynamoDB deletes expired
  # items in the background, typically within days, not at once: the store
  # itself disregards expired items it reads.
  ttl {
    attribute_name = local.catalog.state.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  # The module's key; the functions may use it only through DynamoDB
  # (kms.tf).
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  tags = local.tags
}

# The member side of an organisation deployment, in one account and region
# (the region of the aws provider it is given): the role the central
# functions assume to act in this account (iam.tf, created once per
# account) and the EventBridge rules that forward this region's events to
# the central account's default bus (events.tf). README.md shows how to call
# it for every region of an account. It reads the same remediators.json and
# event pattern templates as the root module (terraform/), two directories
# up, so that both grant and match the same.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.id # not .region: it exists from provider 6.0 on

  tags = merge({ "managed-by" = "terraform", "application" = "autoremediate" }, var.tags)

  # The root module's files. (tfsec 1.28 cannot read a file by
  # ${path.module}, but reads a relative path from the module's directory:
  # the fallbacks are for it.)
  root    = "${path.module}/../.."
  catalog = jsondecode(try(file("${local.root}/remediators.json"), file("../../remediators.json")))

  # An empty list (the default) enables every remediator of the build.
  enabled_remediators = coalescelist(var.enabled_remediators, local.catalog.names)

  # The central account acts in itself with its functions' own roles, and
  # its home region's events are on the central bus already.
  central     = local.account == var.central_account_id
  create_role = var.create_role && !local.central
  forward     = var.forward_events && !(local.central && local.region == var.central_region)

  role_arn        = "arn:${local.partition}:iam::${local.account}:role/${var.role_name}"
  central_bus_arn = "arn:${local.partition}:events:${var.central_region}:${var.central_account_id}:event-bus/default"
}

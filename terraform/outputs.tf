output "dashboard_url" {
  description = "Console URL of the compliance dashboard."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.compliance.dashboard_name}"
}

output "dashboard_name" {
  description = "Name of the CloudWatch compliance dashboard."
  value       = aws_cloudwatch_dashboard.compliance.dashboard_name
}

output "function_arn" {
  description = "ARN of the remediate function."
  value       = aws_lambda_function.function["remediate"].arn
}

output "function_name" {
  description = "Name of the remediate function."
  value       = aws_lambda_function.function["remediate"].function_name
}

output "topic_arn" {
  description = "ARN of the SNS topic that receives outcomes, alarms and reports."
  value       = aws_sns_topic.notifications.arn
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (events that could not be delivered or failed every retry)."
  value       = aws_sqs_queue.dead_letters.url
}

output "event_rule_names" {
  description = "Names of the EventBridge rules that invoke the remediate function on AWS Config compliance changes, by kind of Config rule name they match (deployed, securityhub, conformance-pack, organization, control-tower)."
  value       = { for kind, r in aws_cloudwatch_event_rule.compliance_change : kind => r.name }
}

output "cloudtrail_rule_names" {
  description = "Names of the EventBridge rules that invoke the remediate function on CloudTrail API calls, by service (s3, ec2); empty when enable_cloudtrail_path is false."
  value       = { for svc, r in aws_cloudwatch_event_rule.cloudtrail : svc => r.name }
}

output "state_table_name" {
  description = "Name of the DynamoDB state table (environment STATE_TABLE of the remediate and sweep functions)."
  value       = aws_dynamodb_table.state.name
}

output "trail_arn" {
  description = "ARN of the trail the module created (null when create_trail is false)."
  value       = var.create_trail ? aws_cloudtrail.this[0].arn : null
}

output "config_rule_names" {
  description = "Names of the AWS Config rules the module deployed."
  value       = sort(keys(aws_config_config_rule.managed))
}

output "kms_key_arn" {
  description = "ARN of the module's customer-managed KMS key."
  value       = aws_kms_key.main.arn
}

output "report_bucket" {
  description = "Bucket of the compliance reports (null when enable_report is false)."
  value       = var.enable_report ? aws_s3_bucket.data["reports"].id : null
}

output "sweep_function_arn" {
  description = "ARN of the sweep function (null when enable_sweep is false)."
  value       = var.enable_sweep ? aws_lambda_function.function["sweep"].arn : null
}

output "report_function_arn" {
  description = "ARN of the report function (null when enable_report is false)."
  value       = var.enable_report ? aws_lambda_function.function["report"].arn : null
}

output "account_id" {
  description = "ID of the account the module is deployed in: the central account of an organisation."
  value       = local.account
}

output "event_bus_arn" {
  description = "ARN of the default event bus the functions' rules listen on, where member accounts and other regions forward their events."
  value       = local.event_bus_arn
}

output "member_trust_role_arns" {
  description = "ARNs of the roles of the functions that act in member accounts (remediate, sweep): the principals a member role trusts."
  value       = local.member_trust_role_arns
}

output "member_settings" {
  description = "The inputs of terraform/modules/member that come from this deployment, by the member module's variable names: central account, region and roles, member role name and external ID, and what the forwarding rules match (the same events as this module's rules). The StackSet template takes the first ones as parameters."
  value = {
    central_account_id         = local.account
    central_region             = local.region
    central_role_arns          = local.member_trust_role_arns
    external_id                = var.member_role_external_id
    role_name                  = var.member_role_name
    enabled_remediators        = local.enabled_remediators
    config_rule_names          = local.rule_name_matchers["deployed"]
    match_generated_rule_names = var.match_generated_rule_names
    enable_cloudtrail_path     = var.enable_cloudtrail_path
    ignore_actor_arns          = var.ignore_actor_arns
  }
}

output "archive_bucket" {
  description = "Bucket of the outcome archive (outcomes/YYYY/MM/DD/, docs/archive.md); null when archive_enabled is false."
  value       = var.archive_enabled ? aws_s3_bucket.archive["archive"].id : null
}

output "archive_delivery_stream_arn" {
  description = "ARN of the Firehose delivery stream that writes the outcome archive; null when archive_enabled is false."
  value       = var.archive_enabled ? aws_kinesis_firehose_delivery_stream.archive["archive"].arn : null
}

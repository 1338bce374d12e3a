output "role_arn" {
  description = "ARN of the member role (null where this instance creates none: create_role false, or the central account)."
  value       = local.create_role ? aws_iam_role.member[0].arn : null
}

output "forwarding_rule_names" {
  description = "Names of the EventBridge rules that forward this region's events to the central bus, by pattern (config-<kind>, cloudtrail-<service>); empty where nothing is forwarded (forward_events false, or the central account's own region)."
  value       = { for k, r in aws_cloudwatch_event_rule.forward : k => r.name }
}

output "forwarding_role_arn" {
  description = "ARN of the role EventBridge forwards with in this region (null where nothing is forwarded)."
  value       = local.forward ? aws_iam_role.forward[0].arn : null
}

output "central_event_bus_arn" {
  description = "ARN of the central bus the events go to."
  value       = local.central_bus_arn
}

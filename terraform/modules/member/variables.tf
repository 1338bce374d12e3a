# Every input of the member module. README.md has the same list as a table
# (a test keeps them equal). The central_* inputs, external_id, role_name and
# what the rules match come from the central deployment's member_settings
# output (same names).

variable "central_account_id" {
  description = "ID of the central account, where the root module (terraform/) runs the functions."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.central_account_id))
    error_message = "central_account_id must be a 12-digit AWS account ID."
  }
}

variable "central_region" {
  description = "Region of the central deployment, whose default event bus receives the forwarded events."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.central_region))
    error_message = "central_region must be an AWS region name such as eu-west-1."
  }
}

variable "central_role_arns" {
  description = "ARNs of the central functions' roles allowed to assume the member role (the central deployment's member_trust_role_arns output). The trust policy names the central account and matches these ARNs with aws:PrincipalArn, so a central role that is deleted and created again is trusted again."
  type        = list(string)

  validation {
    condition     = length(var.central_role_arns) > 0 && alltrue([for a in var.central_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_-]+$", a))])
    error_message = "central_role_arns must list at least one IAM role ARN, like arn:aws:iam::111122223333:role/autoremediate-remediate."
  }
}

variable "external_id" {
  description = "External ID the central functions present (the central deployment's member_role_external_id); the trust policy requires it when it is set."
  type        = string
  default     = ""

  validation {
    # RE2 repeats at most 1000 times: the length is checked apart.
    condition     = var.external_id == "" || (length(var.external_id) >= 2 && length(var.external_id) <= 1224 && can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.external_id)))
    error_message = "external_id must be empty or 2-1224 letters, digits or + = , . @ : / _ -."
  }
}

variable "role_name" {
  description = "Name of the member role (the central deployment's member_role_name)."
  type        = string
  default     = "autoremediate-member"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be an IAM role name: 1-64 letters, digits or + = , . @ _ -."
  }
}

variable "create_role" {
  description = "Create the member role. IAM is global: create it in one instance of the module per account (true) and set false in the instances of the account's other regions. Never created in the central account, whose functions act there with their own roles."
  type        = bool
  default     = true
}

variable "forward_events" {
  description = "Create the EventBridge rules that forward this region's events to the central bus, with their role. Never created in the central account's own region (the events are already on its bus)."
  type        = bool
  default     = true
}

variable "enabled_remediators" {
  description = "Remediators the central deployment enables (its enabled_remediators): the member role gets exactly their permissions, and the rules forward the events of their Config rules and API calls; empty means every remediator of the build."
  type        = list(string)
  default     = []
}

variable "config_rule_names" {
  description = "Exact names of the Config rules whose compliance changes are forwarded (the central deployment's deployed rules and rule_map keys); null means the managed rule names of the enabled remediators."
  type        = list(string)
  default     = null

  validation {
    condition     = var.config_rule_names == null ? true : alltrue([for n in var.config_rule_names : can(regex("^[A-Za-z0-9_-]{1,128}$", n))])
    error_message = "config_rule_names must be null or Config rule names (1-128 letters, digits, - and _)."
  }
}

variable "match_generated_rule_names" {
  description = "Also forward the compliance changes of the Config rules that Security Hub, conformance packs, AWS Config organisation rules (OrgConfigRule-<managed rule>-<suffix>) and AWS Control Tower deploy for the same managed rules (as the central deployment's match_generated_rule_names)."
  type        = bool
  default     = true
}

variable "enable_cloudtrail_path" {
  description = "Also forward the \"AWS API Call via CloudTrail\" events of the calls the enabled remediators are triggered by (as the central deployment's enable_cloudtrail_path); EventBridge receives them only while a trail logs the account's write management events in the region (an organisation trail does)."
  type        = bool
  default     = true
}

variable "ignore_actor_arns" {
  description = "IAM role or user ARNs whose API calls are not forwarded, besides the member role's and the central functions' roles' own (the central deployment's ignore_actor_arns, plus this account's automation)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ignore_actor_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]+$", a))])
    error_message = "ignore_actor_arns must be IAM role or user ARNs, like arn:aws:iam::123456789012:role/NAME."
  }
}

variable "name" {
  description = "Name prefix of the forwarding rules and their role."
  type        = string
  default     = "autoremediate"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 lower-case letters, digits or dashes, starting with a letter."
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

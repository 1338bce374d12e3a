# A module with only built-in resources: remediate deploy's tests run the
# real terraform binary on it without any provider download.
terraform {
  required_version = ">= 1.5"
}

variable "name" {
  description = "Name the resources carry."
  type        = string
  default     = "demo"
}

variable "replicas" {
  description = "How many workers to create."
  type        = number
  default     = 2
}

resource "terraform_data" "pipeline" {
  input = var.name
}

resource "terraform_data" "worker" {
  count = var.replicas
  input = "${var.name}-${count.index}"
}

output "dashboard_url" {
  description = "Printed first."
  value       = "https://console.example/dashboards/${terraform_data.pipeline.output}"
}

output "aa_first_alphabetically" {
  description = "Sorted after dashboard_url despite its name."
  value       = "a"
}

output "workers" {
  description = "A list output."
  value       = terraform_data.worker[*].output
}

output "secret" {
  description = "A sensitive output."
  value       = "hunter2"
  sensitive   = true
}

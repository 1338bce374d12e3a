# A module with an error Terraform reports at plan time.
resource "terraform_data" "bad" {
  input = var.not_declared
}

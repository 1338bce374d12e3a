terraform {
  required_version = ">= 1.5"

  required_providers {
    # Tested at both ends: the schema test checks the module against the 6.x
    # schema (testdata/aws-schema); make e2e applies it with the provider the
    # CI machine has (5.100).
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
}

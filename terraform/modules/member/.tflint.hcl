# tflint with the bundled terraform ruleset's recommended rules (no plugin
# download). The AWS ruleset is a separate plugin and is not used.
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

# The smallest deployment: every remediator in enforce mode with the defaults,
# notifications to one address. Run `make build` first.
notification_emails = ["security-team@example.com"]

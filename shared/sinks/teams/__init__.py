"""Microsoft Teams Workflows webhooks."""

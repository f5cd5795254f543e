"""Slack: incoming webhooks and the Web API."""

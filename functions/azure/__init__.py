"""The Azure side: the Functions blueprint for action-group alerts and the adapters that need the
Azure SDKs (Secure Webhook token validation, job and vault enrichment, Table storage state)."""

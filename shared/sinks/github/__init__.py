"""GitHub Issues."""

"""ServiceNow incidents."""

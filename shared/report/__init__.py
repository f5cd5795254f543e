"""``backup-responder report``: failed jobs from every input kind, grouped by cause, in five formats."""

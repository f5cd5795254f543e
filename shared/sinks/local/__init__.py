"""The local sinks: the outbox folder and the console."""

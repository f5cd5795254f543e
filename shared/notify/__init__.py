"""Everything between an outcome and a sink: the configuration, routing, grouping, state keys,
idempotency, and the composition of a notice into a ``Message``."""

"""The cloud-neutral core of the backup failure responder: models, parsers, catalog, classifier,
planner, renderers and sinks. Nothing here imports ``functions`` or a cloud SDK."""

__version__ = "0.1.0"

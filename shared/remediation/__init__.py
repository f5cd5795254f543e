"""Auto-remediation: guarded, least-privilege fixes applied when the operator allows them.

``RESPONDER_AUTO_REMEDIATE`` (``off`` by default, ``dry-run``, ``on``) is the switch; the
``remediation:`` section of the configuration file (``config.RemediationConfig``) says which causes
may be fixed, where, and how often. ``engine.RemediationEngine`` decides, ``guardrails`` refuses,
``audit`` records every decision, and the cloud adapters (``functions/aws/remediate.py``,
``functions/azure/remediate.py``) implement ``engine.Remediator``.

This package's ``__init__`` imports nothing on purpose: ``shared.notify.compose`` imports
``shared.remediation.render`` and must not pull the engine in.
"""

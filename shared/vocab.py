"""The closed vocabularies, each defined once. They are string enums, so a value compares equal to
its spelling (``Severity.HIGH == "high"``), is written as that spelling in JSON, and a catalog file
or a configuration says ``high``."""

from __future__ import annotations

from enum import StrEnum


class Cloud(StrEnum):
    AWS = "aws"
    AZURE = "azure"


class JobType(StrEnum):
    BACKUP = "backup"
    COPY = "copy"
    RESTORE = "restore"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FixKind(StrEnum):
    """What auto-remediation can apply for a rule (``none``: a person fixes it)."""

    NONE = "none"
    IAM_PASS_ROLE = "iam-pass-role"  # noqa: S105 (a fix, not a password)
    VAULT_ACCESS_POLICY = "vault-access-policy"
    KMS_KEY_POLICY = "kms-key-policy"
    AZURE_ROLE_ASSIGNMENT = "azure-role-assignment"


class NoticeKind(StrEnum):
    """What a sink is told: a new failure; the same failure after the dedup window; a storm's running
    count; a storm's summary when it closes; a recovery; what quiet hours held back; the failure
    report of a period (the weekly digest)."""

    FAILURE = "failure"
    REPEAT = "repeat"
    GROUP = "group"
    DIGEST = "digest"
    RECOVERED = "recovered"
    QUIET_DIGEST = "quiet-digest"
    REPORT = "report"


CLOUD_NAMES: dict[str, str] = {Cloud.AWS: "AWS", Cloud.AZURE: "Azure"}

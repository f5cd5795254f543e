"""The models every room of the pipeline speaks: a normalised ``Failure`` in, a ``Finding`` from the
classifier, a remediation ``Plan`` out.

They are msgspec Structs, not pydantic models: the code builds them from values it has already
checked (the parsers validate the event), and a cold start pays for a pydantic model's schema when
its class is made, about a millisecond each (``bench/aws_cold_start.py``). What comes back from
storage is validated on the way in (``Record.model_validate``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any, Final, Literal, Self

import msgspec
from msgspec import Meta, Struct

from shared.vocab import Cloud, JobType

UNCLASSIFIED = "unclassified"

#: What ``Record.model_dump`` leaves out: field names, or for a nested record what to leave out of it.
Exclude = set[str] | Mapping[str, "bool | Exclude"]


class _ModelInterface:
    """The part of pydantic's model interface the code uses, so that a record reads like the
    configuration models (which stay pydantic's: they check what people write)."""

    __slots__ = ()

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A shallow copy with ``update``'s fields replaced (not validated, as pydantic's)."""
        record: Any = self
        return msgspec.structs.replace(record, **(update or {}))  # type: ignore[no-any-return]

    def model_dump(self, *, mode: Literal["python", "json"] = "python",
                   exclude: Exclude | None = None) -> dict[str, Any]:
        """The record as a dict: in ``json`` mode of JSON types only (times as RFC 3339 text)."""
        kept = (datetime,) if mode == "python" else ()
        data: dict[str, Any] = msgspec.to_builtins(self, builtin_types=kept, enc_hook=_as_json)
        return _without(data, exclude) if exclude else data

    def model_dump_json(self) -> str:
        return msgspec.json.encode(self, enc_hook=_as_json).decode()

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """``data`` (a dict as ``model_dump`` gives it, or a record) checked against the fields'
        types; ``msgspec.ValidationError`` (a ``ValueError``) says where it is wrong."""
        return data if isinstance(data, cls) else msgspec.convert(data, cls, strict=False)

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Self:
        return msgspec.json.decode(text, type=cls, strict=False)


class Record(_ModelInterface, Struct, kw_only=True):
    """A record the pipeline builds and passes on."""


class FrozenRecord(_ModelInterface, Struct, frozen=True, kw_only=True):
    """A record no one changes once it is made (``model_copy`` makes another)."""


def _as_json(value: Any) -> Any:
    """The JSON of the other types a record may hold: a path as text, a secret masked (the str()
    of pydantic's ``SecretStr`` is its mask)."""
    if isinstance(value, PurePath) or hasattr(value, "get_secret_value"):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _without(data: dict[str, Any], exclude: Exclude) -> dict[str, Any]:
    if not isinstance(exclude, Mapping):
        return {k: v for k, v in data.items() if k not in exclude}
    kept = {}
    for key, value in data.items():
        inner = exclude.get(key)
        if inner is True:
            continue
        kept[key] = _without(value, inner) if inner and isinstance(value, dict) else value
    return kept


class DecodedAuthorization(FrozenRecord, frozen=True, kw_only=True):
    """What matters from an STS-decoded authorization failure message (never the whole document:
    it is privileged and can list every policy that applied)."""

    allowed: bool = False
    explicit_deny: bool = False
    principal_arn: str | None = None
    action: str | None = None
    resource: str | None = None
    condition_keys: list[str] = []


class Failure(Record, forbid_unknown_fields=True, kw_only=True):
    """One failed (or recovered) backup, copy or restore job, whatever cloud it came from."""

    cloud: Cloud
    job_type: JobType | None = None
    state: str | None = None
    #: A failed job (or one "completed with issues"); False for other state changes.
    failed: bool = True
    #: A job that succeeded or an alert that resolved: tickets for it can be closed.
    recovered: bool = False
    event_id: str | None = None
    job_id: str | None = None
    time: datetime | None = None
    account_id: str | None = None
    region: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    resource_name: str | None = None
    vault_name: str | None = None
    vault_id: str | None = None
    #: The provider's error code: the one the event names, else the most telling one in the message.
    code: str | None = None
    #: Every error code the event and its message name, ``code`` first (relayed errors nest them).
    codes: list[str] = []
    message: str | None = None
    #: AWS: the encoded authorization failure message found in the status message.
    encoded_message: str | None = None
    decoded: DecodedAuthorization | None = None
    #: Everything else the fix can name (see ``shared.catalog.schema.PLACEHOLDERS``).
    facts: dict[str, str] = {}
    #: Notes from enrichment (a call that failed, a token that could not be decoded).
    notes: list[str] = []
    #: Links to the provider's console pages (job, resource), filled by the parsers.
    links: dict[str, str] = {}

    def placeholders(self) -> dict[str, str]:
        """The values this failure can fill into a rule's steps and snippets: its facts, its
        fields (``PLACEHOLDER_FIELDS``) over them, the decoded message's (``DECODED_PLACEHOLDERS``)
        over both."""
        values = {k: v for k, v in self.facts.items() if v}
        for name in PLACEHOLDER_FIELDS:
            value = getattr(self, name)
            if value:
                values[name] = str(value)
        if self.decoded is not None:
            for name, field in DECODED_PLACEHOLDERS.items():
                value = getattr(self.decoded, field)
                if value:
                    values[name] = value
        return values

    def placeholder(self, name: str) -> str | None:
        """``placeholders().get(name)``, without making the others: a title names one or two."""
        if self.decoded is not None and name in DECODED_PLACEHOLDERS:
            decoded: str | None = getattr(self.decoded, DECODED_PLACEHOLDERS[name])
            if decoded:
                return decoded
        if name in PLACEHOLDER_FIELDS:
            value = getattr(self, name)
            if value:
                return str(value)
        return self.facts.get(name) or None


#: The fields of a ``Failure`` that fill placeholders of the same name, in the order they are listed.
PLACEHOLDER_FIELDS: Final = ("account_id", "region", "job_id", "resource_id", "resource_name", "resource_type",
                             "vault_name", "vault_id", "encoded_message", "code", "job_type")
#: The placeholders a decoded authorization message fills, and its fields that fill them.
DECODED_PLACEHOLDERS: Final = {"principal_arn": "principal_arn", "decoded_action": "action",
                               "decoded_resource": "resource"}


class Finding(FrozenRecord, frozen=True, kw_only=True):
    """What the classifier concluded about a failure."""

    cause: str
    rule: str | None
    code: str | None
    confidence: Annotated[float, Meta(ge=0, le=1)]
    title: str
    severity: str = "medium"
    explicit_deny: bool = False
    #: What the provider documents about the error code, when a family rule or nothing more
    #: specific explains the failure ("InvalidSnapshot.NotFound (ec2): The specified snapshot ...").
    documentation: str | None = None


class Snippet(Record, kw_only=True):
    kind: str
    title: str
    body: str


class RoleAssignment(Record, kw_only=True):
    """An Azure role the fix assigns: built-in role, its definition id, the scope, the principal."""

    role: str
    role_definition_id: str
    scope: str
    principal_id: str


class Plan(Record, kw_only=True):
    """The remediation for one finding, filled in with the failure's own names."""

    cause: str
    title: str
    explanation: str
    steps: list[str]
    snippets: list[Snippet] = []
    role_assignments: list[RoleAssignment] = []
    docs: list[str] = []
    auto_fix: str = "none"
    manual_reason: str | None = None
    #: Placeholders the failure could not fill; they stay visible in the text as ``{name}``.
    missing: list[str] = []
    #: For some missing placeholders, how to look the value up (a command, where to read it).
    lookups: dict[str, str] = {}
    language: str = "en"


RemediationAction = Literal["notified", "suppressed", "planned", "applied", "refused", "failed"]


class RemediationSummary(Record, kw_only=True):
    """What auto-remediation decided for one outcome (``shared.remediation``), as the message shows
    it; the full record, with the documents before and after, is in the audit trail."""

    #: The effective mode (``off``, ``dry-run``, ``on``), or ``approved`` for a fix approved in chat.
    mode: str
    action: RemediationAction
    reason: str | None = None
    kind: str | None = None
    target: str | None = None
    #: "add iam:PassRole on role X to role Y" / "added iam:PassRole on role X to role Y".
    change: str | None = None
    done: str | None = None
    #: The policy document diff or the role assignments (dry-run and applied).
    diff: str | None = None
    restarted_job_id: str | None = None
    restart_error: str | None = None
    #: Automation stopped here and a person must look (circuit breaker, failed verification...).
    needs_person: bool = False
    #: Set on a planned fix that a person may approve from chat ("Apply fix").
    approval_id: str | None = None
    audit_id: str | None = None
    actor: str = "auto"
    notes: list[str] = []


class Outcome(Record, kw_only=True):
    """Everything the pipeline knows about one event after classifying and planning it."""

    failure: Failure
    finding: Finding
    plan: Plan | None = None
    #: Set by the remediation engine when it ran (None: it did not run for this outcome).
    remediation: RemediationSummary | None = None

    def summary(self) -> dict[str, Any]:
        """The classification as the ``classify`` command prints it."""
        return {
            "cloud": self.failure.cloud,
            "job_type": self.failure.job_type,
            "cause": self.finding.cause,
            "code": self.finding.code,
            "rule": self.finding.rule,
            "confidence": round(self.finding.confidence, 3),
            "title": self.finding.title,
            "severity": self.finding.severity,
            **({"documentation": self.finding.documentation} if self.finding.documentation else {}),
            "state": self.failure.state,
            "failed": self.failure.failed,
            "recovered": self.failure.recovered,
            "job_id": self.failure.job_id,
            "account_id": self.failure.account_id,
            "region": self.failure.region,
            "resource_type": self.failure.resource_type,
            "resource_id": self.failure.resource_id,
            "message": self.failure.message,
        }

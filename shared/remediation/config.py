"""The ``remediation:`` section of the configuration file (``RESPONDER_CONFIG``).

The environment variable ``RESPONDER_AUTO_REMEDIATE`` (``off`` by default, ``dry-run``, ``on``) is
the master switch. This section says what the switch may touch:

```yaml
remediation:
  mode: dry-run              # optional: can only make the switch stricter (off < dry-run < on)
  allow:                     # nothing is changed for a cause that no entry allows
    - cause: aws.iam.pass-role
      accounts: ["111122223333"]    # optional: only failures of these AWS accounts
      restart_job: true             # start the failed job again after the fix
    - cause: azure.postgres.vault-msi-reader
      subscriptions: ["11112222-bbbb-3333-cccc-4444dddd5555"]
      tags: {backup-autofix: "true"}  # optional: only resources with these tags
      require_approval: true        # plan it and wait for "Apply fix" in chat
  limits:
    max_changes_per_hour: 5
    max_changes_per_resource: 1
    resource_window_hours: 24
    circuit_breaker_hours: 24
  approval:
    slack_users: ["U0123ABCD"]
    teams_users: ["<Entra object id>"]
```

The default (no file, or no ``remediation`` key) allows nothing: whatever the switch says, nothing
is changed. The model is self-contained so that the routing configuration can include it as
``remediation: RemediationConfig = RemediationConfig()``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.models import Failure
from shared.settings import REMEDIATION_MODES, RemediationMode

#: The order of strictness of the modes: the effective mode is the stricter of the switch and the file.
_STRICTNESS: dict[RemediationMode, int] = {"off": 0, "dry-run": 1, "on": 2}
#: Fix kinds that an allow-list entry must name by their exact cause: a wildcard never enables them.
#: A wrong key policy can lock everyone out of a key, so this one is never allowed by accident.
EXPLICIT_ONLY_KINDS = frozenset({"kms-key-policy"})


class RemediationConfigError(ValueError):
    """The ``remediation`` section of the configuration file is not valid (the text says where)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AllowEntry(_Strict):
    """One cause that may be fixed automatically, optionally only for some accounts, subscriptions
    or tagged resources."""

    #: A cause (``aws.iam.pass-role``) or a shell-style pattern (``azure.storage.*``). Patterns never
    #: enable the fix kinds in ``EXPLICIT_ONLY_KINDS`` (the KMS key policy).
    cause: str = Field(min_length=3)
    #: AWS account ids the failure must belong to (empty: any).
    accounts: list[str] = []
    #: Azure subscription ids the failure must belong to (empty: any). Role assignments are written
    #: only in the Backup vault's own subscription (confirmed in Resource Manager) or in these.
    subscriptions: list[str] = []
    #: Tags the failed resource must carry, all of them, with these values (empty: no condition).
    tags: dict[str, str] = {}
    #: After a fix, start the failed job again with its original parameters (AWS copy and restore).
    restart_job: bool = False
    #: In mode ``on``, plan the fix and wait for a person's "Apply fix" in chat instead of applying.
    require_approval: bool = False
    #: For ``aws.vault.access-policy``: allow the whole organization (``aws:PrincipalOrgID``)
    #: instead of the one source account.
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    #: For ``aws.kms.key-access``: destination accounts that may be written into a source key's
    #: policy although AWS Organizations cannot confirm them (the usual case in a member account,
    #: where Organizations cannot be asked). Any other destination must be an active account of
    #: the organization, or the fix is refused: the account comes from the event.
    destination_accounts: list[str] = []

    @field_validator("cause")
    @classmethod
    def _cause_shape(cls, cause: str) -> str:
        cause = cause.strip()
        if not cause.startswith(("aws.", "azure.")):
            raise ValueError(f"cause {cause!r} must start with aws. or azure. (a bare * is not allowed)")
        return cause

    @field_validator("accounts", "destination_accounts")
    @classmethod
    def _account_ids(cls, accounts: list[str]) -> list[str]:
        bad = [a for a in accounts if not (len(a) == 12 and a.isdigit())]
        if bad:
            raise ValueError(f"AWS account ids are 12 digits: {bad}")
        return accounts

    @field_validator("subscriptions")
    @classmethod
    def _subscription_ids(cls, subscriptions: list[str]) -> list[str]:
        return [s.lower() for s in subscriptions]

    @property
    def is_pattern(self) -> bool:
        return any(ch in self.cause for ch in "*?[")

    def names(self, cause: str) -> bool:
        """True when this entry names ``cause`` exactly."""
        return self.cause == cause

    def matches_cause(self, cause: str) -> bool:
        return fnmatch.fnmatchcase(cause, self.cause)

    def matches_place(self, failure: Failure) -> bool:
        """True when the failure's account or subscription is one this entry allows."""
        if not (self.accounts or self.subscriptions):
            return True
        place = (failure.account_id or "").lower()
        allowed = self.accounts if failure.cloud == "aws" else self.subscriptions
        return bool(place) and place in allowed


    def option_facts(self) -> dict[str, str]:
        """The entry's options as the facts the remediators and guardrails read (``listed``)."""
        facts = {ORGANIZATION_FACT: self.organization_id or "",
                 DESTINATION_ACCOUNTS_FACT: ",".join(self.destination_accounts),
                 SUBSCRIPTIONS_FACT: ",".join(self.subscriptions)}
        return {name: value for name, value in facts.items() if value}


#: The allow-list entry's options, handed to the remediators as facts. Only the entry sets them.
ORGANIZATION_FACT = "remediation_organization_id"
DESTINATION_ACCOUNTS_FACT = "remediation_destination_accounts"
SUBSCRIPTIONS_FACT = "remediation_subscriptions"
OPTION_FACTS = (ORGANIZATION_FACT, DESTINATION_ACCOUNTS_FACT, SUBSCRIPTIONS_FACT)


def listed(failure: Failure, fact: str) -> list[str]:
    """A list option of the allow-list entry (``DESTINATION_ACCOUNTS_FACT``, ``SUBSCRIPTIONS_FACT``)."""
    return [item for item in failure.facts.get(fact, "").split(",") if item]


class Limits(_Strict):
    """How much automation may change, and when it stops for a person."""

    #: Changes applied in one clock hour, everywhere together.
    max_changes_per_hour: int = Field(default=5, ge=0)
    #: Changes applied to one resource (a role, a vault, a key, a scope) within ``resource_window_hours``.
    max_changes_per_resource: int = Field(default=1, ge=0)
    resource_window_hours: int = Field(default=24, ge=1)
    #: A fix applied for a resource and a cause, then the same failure again within this many
    #: hours, opens the circuit breaker: no more automation for that resource until a person resets it.
    circuit_breaker_hours: int = Field(default=24, ge=1)
    #: Seconds to wait after a fix before starting the job again (IAM and KMS are eventually consistent).
    restart_delay_seconds: float = Field(default=10.0, ge=0, le=60)


class ApprovalConfig(_Strict):
    """Who may approve a planned fix from chat ("Apply fix")."""

    #: Slack user ids (``U0123ABCD``) allowed to press "Apply fix".
    slack_users: list[str] = []
    #: Slack workspace (team) ids the request must come from (empty: any workspace the app is in).
    slack_teams: list[str] = []
    #: Microsoft Entra object ids allowed to approve from Teams.
    teams_users: list[str] = []
    #: How long a planned fix can be approved.
    ttl_hours: int = Field(default=24, ge=1, le=168)


class RemediationConfig(_Strict):
    """The ``remediation`` section; the default allows nothing."""

    #: Optional: a stricter mode than ``RESPONDER_AUTO_REMEDIATE`` (it can never loosen it).
    mode: RemediationMode | None = None
    allow: list[AllowEntry] = []
    limits: Limits = Limits()
    approval: ApprovalConfig = ApprovalConfig()

    @model_validator(mode="before")
    @classmethod
    def _mode_text(cls, data: Any) -> Any:
        # YAML reads a bare `off` / `on` as a boolean: accept it as the mode it spells.
        if isinstance(data, Mapping) and isinstance(data.get("mode"), bool):
            data = {**data, "mode": "on" if data["mode"] else "off"}
        return data

    def effective_mode(self, switch: RemediationMode) -> RemediationMode:
        """The stricter of the switch (``RESPONDER_AUTO_REMEDIATE``) and this file's ``mode``."""
        if self.mode is None:
            return switch
        return min(switch, self.mode, key=_STRICTNESS.__getitem__)

    def entry_for(self, failure: Failure, cause: str, kind: str) -> tuple[AllowEntry | None, str]:
        """The entry that allows fixing ``cause`` (of fix ``kind``) for this failure, or None and why not."""
        candidates = [e for e in self.allow if e.matches_cause(cause)]
        if kind in EXPLICIT_ONLY_KINDS:
            named = [e for e in candidates if e.names(cause)]
            if candidates and not named:
                return None, (f"{cause} changes a KMS key policy, so it must be named explicitly in the "
                              "remediation allow-list (a pattern does not allow it)")
            candidates = named
        if not candidates:
            return None, f"{cause} is not in the remediation allow-list"
        placed = [e for e in candidates if e.matches_place(failure)]
        if not placed:
            where = "account" if failure.cloud == "aws" else "subscription"
            return None, f"{cause} is not allowed for {where} {failure.account_id or '(unknown)'}"
        return placed[0], ""


def parse_remediation(data: Any) -> RemediationConfig:
    """The section from already-loaded YAML/JSON data (``None`` is the default)."""
    if data is None:
        return RemediationConfig()
    try:
        return RemediationConfig.model_validate(data)
    except ValidationError as exc:
        raise RemediationConfigError(f"remediation: {exc}") from exc


def load_remediation_config(path: Path | str | None) -> RemediationConfig:
    """The ``remediation`` key of the configuration file at ``path`` (no path: the default)."""
    if path is None:
        return RemediationConfig()
    import yaml  # here: only a configuration file needs it

    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RemediationConfigError(f"cannot read the configuration file {path}: {exc}") from exc
    if document is None:
        return RemediationConfig()
    if not isinstance(document, Mapping):
        raise RemediationConfigError(f"{path}: the configuration file must be a mapping")
    return parse_remediation(document.get("remediation"))


__all__ = [
    "DESTINATION_ACCOUNTS_FACT",
    "EXPLICIT_ONLY_KINDS",
    "OPTION_FACTS",
    "ORGANIZATION_FACT",
    "REMEDIATION_MODES",
    "SUBSCRIPTIONS_FACT",
    "AllowEntry",
    "ApprovalConfig",
    "Limits",
    "RemediationConfig",
    "RemediationConfigError",
    "listed",
    "load_remediation_config",
    "parse_remediation",
]

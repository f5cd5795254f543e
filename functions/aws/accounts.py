"""boto3 clients in the account a failure came from.

The responder runs in one (central) account; a failure can come from a member account whose
events are forwarded to the central bus. Some calls only work in the account that owns the data:
STS decodes only the authorization messages of its own account, and a job can only be described
in the account that ran it. For those, the responder assumes the read-only role that
``infra/aws/member.yaml`` creates in every member account (``MEMBER_ROLE_NAME``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

#: botocore client settings: short timeouts so a slow API cannot eat the Lambda's time budget
#: (the function timeout in template.yaml is 60 s), and the SDK's standard retry mode.
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
#: Assumed-role credentials last one hour by default (STS AssumeRole DurationSeconds=3600);
#: refresh them this long before they expire.
REFRESH_MARGIN_SECONDS = 300
#: Shown in CloudTrail of the member account as the session name of every call the responder makes.
SESSION_NAME = "backup-responder"


class AccountAccessError(Exception):
    """The responder cannot act in an account (no member role configured, or AssumeRole refused)."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore exception, or its class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


class AccountClients:
    """boto3 clients per (service, account, Region), cached; other accounts through AssumeRole.

    ``home_account`` is the account the responder runs in (from the Lambda context); calls for it
    use the function's own role. ``member_role_name`` is the role to assume in any other account.
    """

    def __init__(self, home_account: str | None, member_role_name: str | None, region: str | None,
                 partition: str = "aws", session: boto3.session.Session | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.home_account = home_account
        self.member_role_name = member_role_name or None
        self.region = region
        self.partition = partition
        self._session = session or boto3.session.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str | None], tuple[Any, float | None]] = {}
        self._assumed: dict[str, tuple[dict[str, Any], float]] = {}

    def is_home(self, account_id: str | None) -> bool:
        return not account_id or not self.home_account or account_id == self.home_account

    def member_role_arn(self, account_id: str) -> str | None:
        if not self.member_role_name:
            return None
        return role_arn(self.partition, account_id, self.member_role_name)

    def client(self, service: str, account_id: str | None = None, region: str | None = None) -> Any:
        """A client for ``service`` acting in ``account_id`` (the home account when None)."""
        region = region or self.region
        key = (service, "home" if self.is_home(account_id) else str(account_id), region)
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None and (cached[1] is None or cached[1] - REFRESH_MARGIN_SECONDS > self._clock()):
                return cached[0]
            if key[1] == "home":
                client, expires = self._session.client(service, region_name=region, config=CLIENT_CONFIG), None
            else:
                client, expires = self._assumed_client(service, str(account_id), region)
            self._clients[key] = (client, expires)
            return client

    def _assumed_client(self, service: str, account_id: str, region: str | None) -> tuple[Any, float]:
        creds, expires = self._credentials(account_id)
        client = self._session.client(
            service, region_name=region, config=CLIENT_CONFIG,
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"])
        return client, expires

    def _credentials(self, account_id: str) -> tuple[dict[str, Any], float]:
        """The member role's credentials in ``account_id``: one AssumeRole per account and hour."""
        cached = self._assumed.get(account_id)
        if cached is not None and cached[1] - REFRESH_MARGIN_SECONDS > self._clock():
            return cached
        arn = self.member_role_arn(account_id)
        if arn is None:
            raise AccountAccessError(f"the failure is from account {account_id}, and no member role is "
                                     "configured to act there (set MEMBER_ROLE_NAME)")
        try:
            creds = self._home_sts().assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
        except (ClientError, BotoCoreError) as exc:
            raise AccountAccessError(f"could not assume {arn}: {error_code(exc)}") from exc
        fresh = (dict(creds), creds["Expiration"].timestamp())
        self._assumed[account_id] = fresh
        return fresh

    def _home_sts(self) -> Any:
        key = ("sts", "home", self.region)
        cached = self._clients.get(key)
        if cached is None:
            cached = (self._session.client("sts", region_name=self.region, config=CLIENT_CONFIG), None)
            self._clients[key] = cached
        return cached[0]

"""What every sink shares: its settings' base model, the ``Destination`` protocol (it receives a
``Message`` and returns a ``Receipt``: the message's or ticket's id that later notices refer to),
``DeliveryError`` (a failure the caller keeps the event for: retry, dead-letter queue), and the
checks every sink's text and URLs pass."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import msgspec
from pydantic import BaseModel, ConfigDict

from shared.notify.message import Message
from shared.notify.types import ConfigError, RetryConfig


class SinkSettings(BaseModel):
    """What every sink's configuration may say."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: str

    #: Message language where the catalog has it (en, ko, ja).
    language: str | None = None
    retry: RetryConfig | None = None

    def secrets(self) -> dict[str, str | None]:
        return {}

    def delivered_on(self) -> str | None:
        """The answer that counts as delivered (``config check`` prints it); None: written locally."""
        return "a 2xx that carries the ticket's id (issue key, sys_id, number, dedup_key)"

    def __repr_args__(self) -> Any:
        hidden = set(self.secrets())
        for name, value in super().__repr_args__():
            yield name, ("***" if name in hidden and value else value)


DestinationKind = Literal["chat", "ticket", "local"]


#: A receipt: what the service answered that identifies the message or ticket (ts, key, number).
Receipt = dict[str, str]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Limits:
    """A sink's limits, each a class attribute with its documented source (``SlackLimits``...). The
    lines every message has (a ticket's title, an alert's summary) are cut here, once, by ``fit``;
    what only one markup has (blocks, sections, bytes) its renderer keeps."""

    #: A ticket's or alert's title line (``Message.subject``), in characters; None: no limit.
    MAX_SUBJECT: int | None = None

    @classmethod
    def fit(cls, message: Message) -> Message:
        """``message`` with its title line one line, within this sink's limit."""
        subject = " ".join(clean(message.subject).split())
        if cls.MAX_SUBJECT is not None:
            subject = truncate(subject, cls.MAX_SUBJECT)
        return message if subject == message.subject else msgspec.structs.replace(message, subject=subject)


class Destination(Protocol):
    """A configured place to deliver to (one Slack channel, one Jira project...)."""

    name: str
    kind: DestinationKind
    #: Whether storm updates go here while the storm lasts (chat), or only its digest (tickets).
    group_updates: bool
    #: Its limits, each with its source.
    limits: type[Limits]

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        """Deliver ``message``. ``previous`` is the receipt of the message or ticket it refers to
        (the storm's first message, the open ticket), or None. Raises ``DeliveryError``."""
        ...

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        """The request(s) ``send`` would make, without secrets: for dry runs and the outbox."""
        ...


def clean(text: str | None) -> str:
    """Untrusted text without control characters (kept: tab, newline)."""
    return _CONTROL.sub("", text or "")


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``marker`` when cut (never fails)."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return text[:limit]
    return text[: limit - len(marker)].rstrip() + marker


class DeliveryError(Exception):
    """A sink could not deliver; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def check_url(url: str, what: str) -> str:
    """https, or http to this machine only (local tests and emulators); a URL that does not parse
    (a bad port, white space or control characters) is refused without being quoted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ConfigError(f"{what} is not a valid URL") from None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"{what} is not a valid URL (it contains white space or control characters)")
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http":
        try:
            local = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
        if local:
            return url
    raise ConfigError(f"{what} must be an https URL")


class BrokenDestination:
    """A sink whose set-up failed (a secret that does not resolve, a bad URL): each delivery to it
    fails (retryably: the secret may appear) while the other sinks still deliver."""

    group_updates = False
    limits = Limits

    def __init__(self, name: str, kind: DestinationKind, reason: str) -> None:
        self.name = name
        self.kind = kind
        self.reason = reason

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        raise DeliveryError(f"{self.name} is not usable: {self.reason}", retryable=True)

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        return {"error": f"not usable: {self.reason}"}

"""Claim, then act, then record: one post per key, whatever runs at the same time.

Every post to a sink goes through ``Once.run``. It first *claims* the key with the store's atomic
``add`` (a conditional put on DynamoDB, an insert-only create on Table storage, an insert inside
``BEGIN IMMEDIATE`` on SQLite, a lock in memory), then posts, then replaces the claim with the
receipt. Whoever loses the claim does not post:

- ``done``: the receipt is there; it was delivered (by this run or an earlier one);
- ``busy``: another run holds a live claim and is posting right now. The caller reports it as a
  retryable failure, so the platform hands the event in again later and it is never lost.

A claim lives only for its *lease* (the store's TTL): a run that crashed mid-post leaves a claim
that expires, after which the next attempt claims the key again and posts. The lease is the
caller's deadline where there is one (a Lambda cannot outlive its timeout), else
``DEFAULT_LEASE_SECONDS``. A post that fails gives its claim back at once."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from msgspec import Struct

from shared.sinks.http import current_deadline
from shared.state import Item, StateStore

log = logging.getLogger("backup_responder.idempotency")


#: How long a claim holds without a deadline (the CLI): longer than one notice can take to send
#: (``RetryPolicy.budget_seconds`` is 60 s per request, a notice makes at most two, plus pacing).
DEFAULT_LEASE_SECONDS = 300


#: Added to a deadline's remaining time: the receipt is written after the post returns.
LEASE_MARGIN_SECONDS = 5


#: Tries to claim a key that expired or was given back between our ``add`` and ``get``.
CLAIM_ATTEMPTS = 3


#: The field that marks an item as a claim in progress, and the one that marks a receipt.
_CLAIM, _DONE = "claim", "done"


State = Literal["claimed", "done", "busy"]


class Claim(Struct, frozen=True):
    state: State
    key: str
    #: Ours when ``claimed`` (to give it back); the receipt when ``done``.
    token: str = ""
    receipt: dict[str, Any] | None = None


def lease_seconds() -> int:
    """The claim's lease: the current delivery deadline plus a margin, else the default."""
    deadline = current_deadline()
    if deadline is None:
        return DEFAULT_LEASE_SECONDS
    return max(1, math.ceil(deadline.remaining() + deadline.margin + LEASE_MARGIN_SECONDS))


def _receipt_of(item: Item) -> dict[str, Any]:
    """The receipt inside a stored item (items written before claims existed are the receipt)."""
    inner = item.get("receipt") if _DONE in item else item
    return dict(inner) if isinstance(inner, dict) else {}


class Once:
    """The idempotency layer over any ``StateStore``."""

    def __init__(self, state: StateStore, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    def receipt(self, key: str) -> dict[str, Any] | None:
        """The receipt under ``key`` if it was delivered; None if not (or only claimed)."""
        item = self.state.get(key)
        if item is None or _CLAIM in item:
            return None
        return _receipt_of(item)

    def claim(self, key: str, lease: int | None = None) -> Claim:
        token = uuid.uuid4().hex
        lease = lease or lease_seconds()
        for _ in range(CLAIM_ATTEMPTS):
            if self.state.add(key, {_CLAIM: token, "at": self.clock(), "lease": lease}, lease):
                return Claim("claimed", key, token)
            current = self.state.get(key)
            if current is None:
                continue  # expired or given back in between: claim again
            if _CLAIM in current:
                return Claim("busy", key)
            return Claim("done", key, receipt=_receipt_of(current))
        return Claim("busy", key)

    def record(self, claim: Claim, receipt: dict[str, Any], ttl_seconds: int | None) -> None:
        """Replace our claim with the receipt: from now on the key is delivered."""
        self.state.put(claim.key, {_DONE: self.clock(), "receipt": dict(receipt)}, ttl_seconds)

    def release(self, claim: Claim) -> None:
        """Give a claim back (the post failed), unless it expired and someone else holds it now."""
        try:
            current = self.state.get(claim.key)
            if current is not None and current.get(_CLAIM) == claim.token:
                self.state.delete(claim.key)
        except Exception as exc:  # the lease runs out on its own
            log.warning("could not give back the claim on %s: %s", claim.key, type(exc).__name__)

    def run(self, key: str, post: Callable[[], dict[str, Any] | None], ttl_seconds: int | None) -> Claim:
        """``post()`` once for ``key``: claimed and posted here (``claimed``, with the receipt),
        delivered before (``done``), or being posted by another run (``busy``). Whatever ``post``
        raises is raised after the claim is given back."""
        claim = self.claim(key)
        if claim.state != "claimed":
            return claim
        try:
            receipt = post() or {"ok": "true"}
        except BaseException:
            self.release(claim)
            raise
        self.record(claim, receipt, ttl_seconds)
        return Claim("claimed", key, claim.token, receipt)

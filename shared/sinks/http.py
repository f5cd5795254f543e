"""HTTP delivery with pacing, retries, ``Retry-After`` and a deadline.

Every destination sends through a ``Sender``. It

- paces each destination key (a Slack channel, a webhook) so that bursts are spread out before the
  service has to say 429;
- honours ``Retry-After`` on 429 (and on 503), retries 5xx, 408, network errors/timeouts and
  answers that are not HTTP (a garbage status line, a truncated body, a reset connection) with
  exponential backoff and full jitter, within a time budget and a bounded number of attempts;
- counts as delivered only what the destination's ``verdict`` calls its success answer: a 2xx
  that is not (Slack's ``channel_not_found``, a Teams body that reports an error) is a permanent
  refusal, never retried, never marked delivered;
- never sleeps past the caller's deadline (e.g. a Lambda's remaining time): when the next wait does
  not fit, it raises a *retryable* ``DeliveryError`` so that the invocation fails, the platform
  retries it and the dead-letter queue finally keeps it. A 429 is never dropped;
- never puts a URL, a header or a token into an error message or a log line (webhook URLs are
  secrets): requests carry a ``label`` such as ``POST /rest/api/3/issue`` for that;
- shows each attempt to an ``Observe`` (the Lambda's X-Ray subsegments) by its destination and
  label, and its answer's status: never the URL.

The clock is injectable (``ManualClock``) so that tests of 429 handling do not sleep."""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, Protocol

from msgspec import Struct, field

from shared.redact import error_text, redact
from shared.sinks.base import DeliveryError

log = logging.getLogger("backup_responder.delivery")


#: Time kept back from the caller's deadline to record receipts and return cleanly.
DEADLINE_MARGIN_SECONDS = 1.5


#: An attempt is not started with less time than this left (a request needs a round trip).
MIN_ATTEMPT_SECONDS = 0.5


#: The longest error body kept in an error message (bodies can echo the request).
ERROR_BODY_CHARS = 200


USER_AGENT = "backup-responder/0.1 (+https://github.com/)"


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for ``Retry-After`` dates and reset times)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that only moves when someone sleeps or calls ``advance``: tests and the storm
    benchmark simulate minutes of 429s and pacing in milliseconds. Thread-safe."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.monotonic()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            if seconds > 0:
                self._now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


SYSTEM_CLOCK = SystemClock()


class Deadline(Struct, frozen=True):
    """When the caller must have returned, on ``clock.monotonic()``'s scale."""

    at: float
    clock: Clock = SYSTEM_CLOCK
    margin: float = DEADLINE_MARGIN_SECONDS

    @classmethod
    def within(cls, seconds: float, clock: Clock = SYSTEM_CLOCK,
               margin: float = DEADLINE_MARGIN_SECONDS) -> Deadline:
        """A deadline ``seconds`` from now (e.g. Lambda's ``get_remaining_time_in_millis() / 1000``)."""
        return cls(clock.monotonic() + seconds, clock, margin)

    def remaining(self) -> float:
        """Seconds left for work, the margin already taken off."""
        return self.at - self.margin - self.clock.monotonic()


_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("delivery_deadline", default=None)


@contextlib.contextmanager
def deadline_scope(deadline: Deadline | None) -> Iterator[None]:
    """Every ``Sender`` call inside the block respects ``deadline``."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> Deadline | None:
    return _DEADLINE.get()


class RetryPolicy(Struct, frozen=True):
    #: Attempts per request, the first included (a bounded loop).
    max_attempts: int = 6
    #: Total seconds one request may take with its retries (the deadline may cut it shorter).
    budget_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 20.0
    #: Seconds for one attempt (connect + read).
    timeout: float = 10.0
    #: A ``Retry-After`` longer than this is not waited for here: the invocation fails and is retried.
    max_retry_after: float = 300.0


class Response(Struct):
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


class Request(Struct, frozen=True):
    method: str
    #: May contain a secret (a webhook's path or signature): never logged, never in an error.
    url: str
    #: What errors and logs say instead of the URL, e.g. ``POST /rest/api/3/issue``.
    label: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


Transport = Callable[[Request, float], Response]
#: Watches one attempt: entered with the destination (``slack oncall``) and the request's label,
#: given the answer's status, left with the attempt's exception if it raised one.
Observe = Callable[[str, str], contextlib.AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def unobserved(service: str, label: str) -> Iterator[Callable[[int], None]]:
    """The ``Observe`` that watches nothing (tracing off, the CLI, the Azure function)."""
    yield ignore_status


def ignore_status(status: int) -> None:
    """What an ``Observe`` is given the status with when it records nothing."""


def urllib_transport(request: Request, timeout: float) -> Response:
    """One HTTP exchange with the standard library. HTTP errors are returned as responses;
    network errors and timeouts raise ``OSError`` (``URLError`` and ``TimeoutError`` are ones)."""
    data = json.dumps(request.json, ensure_ascii=False).encode() if request.json is not None else None
    headers = {"User-Agent": USER_AGENT, **dict(request.headers)}
    if data is not None:
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    req = urllib.request.Request(request.url, data=data, headers=headers, method=request.method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (https URLs from the config)
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(OSError):
            body = exc.read()
            return Response(exc.code, dict(exc.headers.items()) if exc.headers else {}, body)
        return Response(exc.code, {}, b"")


Verdict = tuple[Literal["ok", "retry", "fail"], float | None]


"""What to do with a response: ("ok", None), ("retry", seconds or None for backoff), ("fail", None)."""


RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def default_verdict(response: Response, now: float) -> Verdict:
    if 200 <= response.status < 300:
        return "ok", None
    if response.status in RETRYABLE_STATUS:
        return "retry", parse_retry_after(response.header("Retry-After"), now)
    return "fail", None


class Pacer:
    """Spaces out sends per key (a channel, a webhook): at most one send every ``interval`` seconds.
    A 429's ``Retry-After`` pushes the key's next slot back, so the next message waits too."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, interval: float, limit: float | None = None) -> float:
        """Take the key's next slot; the seconds to wait for it. If the wait would exceed
        ``limit``, nothing is reserved and ``DeliveryError`` (retryable) is raised."""
        with self._lock:
            now = self.clock.monotonic()
            slot = max(now, self._next.get(key, now))
            wait = slot - now
            if limit is not None and wait > limit:
                raise DeliveryError(f"pacing needs {wait:.1f}s but only {max(limit, 0):.1f}s remain",
                                    retryable=True)
            self._next[key] = slot + interval
            return wait

    def block(self, key: str, seconds: float) -> None:
        with self._lock:
            until = self.clock.monotonic() + seconds
            if until > self._next.get(key, 0.0):
                self._next[key] = until


def _safe_detail(response: Response) -> str:
    text = redact(" ".join(response.text().split()))
    return text[:ERROR_BODY_CHARS] + ("..." if len(text) > ERROR_BODY_CHARS else "")


class SendStats(Struct):
    attempts: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited: float = 0.0


class Sender:
    """Sends one destination's requests: pacing, retries, ``Retry-After``, budget and deadline."""

    def __init__(self, service: str, *, policy: RetryPolicy | None = None, clock: Clock = SYSTEM_CLOCK,
                 pacer: Pacer | None = None, interval: float = 0.0,
                 transport: Transport = urllib_transport, rng: random.Random | None = None,
                 observe: Observe = unobserved) -> None:
        self.service = service
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.pacer = pacer or Pacer(clock)
        self.interval = interval
        self.transport = transport
        self.observe = observe
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self.stats = SendStats()

    def _limit(self, started: float) -> float:
        """Seconds this request may still spend: the budget and the caller's deadline."""
        left = self.policy.budget_seconds - (self.clock.monotonic() - started)
        deadline = current_deadline()
        if deadline is not None:
            left = min(left, deadline.remaining())
        return left

    def _wait(self, seconds: float, limit: float, why: str) -> None:
        if seconds + MIN_ATTEMPT_SECONDS > limit:
            raise DeliveryError(f"{self.service}: {why}; waiting {seconds:.1f}s more would pass the "
                                f"deadline ({max(limit, 0):.1f}s left): failing so the event is retried",
                                retryable=True)
        self.stats.waited += seconds
        self.clock.sleep(seconds)

    def send(self, request: Request, pace_key: str | None = None,
             verdict: Callable[[Response, float], Verdict] = default_verdict) -> Response:
        """Send with the standard transport; see ``call``."""
        return self.call(request.label, lambda timeout: self.transport(request, timeout), pace_key, verdict)

    def call(self, label: str, attempt: Callable[[float], Response], pace_key: str | None = None,
             verdict: Callable[[Response, float], Verdict] = default_verdict) -> Response:
        """Run ``attempt(timeout)`` until ``verdict`` says ok; raise ``DeliveryError`` otherwise
        (``retryable`` when trying later may help). ``attempt`` raises ``OSError`` for network
        errors and timeouts, which are retried."""
        started = self.clock.monotonic()
        last = "no attempt"
        for number in range(1, self.policy.max_attempts + 1):
            limit = self._limit(started)
            if pace_key is not None and self.interval > 0:
                wait = self.pacer.reserve(pace_key, self.interval, limit - MIN_ATTEMPT_SECONDS)
                if wait > 0:
                    self.stats.waited += wait
                    self.clock.sleep(wait)
                limit = self._limit(started)
            if limit < MIN_ATTEMPT_SECONDS:
                raise DeliveryError(f"{self.service} {label}: out of time before attempt {number} "
                                    f"(last: {last}); failing so the event is retried", retryable=True)
            self.stats.attempts += 1
            try:
                with self.observe(self.service, label) as observed:
                    response = attempt(min(self.policy.timeout, limit))
                    observed(response.status)
            except http.client.InvalidURL as exc:  # retrying cannot help; its text quotes the URL
                raise DeliveryError(f"{self.service} {label}: the URL is not valid ({type(exc).__name__})",
                                    retryable=False) from None
            except (OSError, http.client.HTTPException) as exc:
                # Connection refused or reset, DNS, timeouts, and answers that are not HTTP (a garbage
                # status line, a body cut short): the request may not have arrived, so retry it.
                last = error_text(exc)[:ERROR_BODY_CHARS]
                after: float | None = None
            else:
                kind, after = verdict(response, self.clock.time())
                if kind == "ok":
                    return response
                last = f"HTTP {response.status} {_safe_detail(response)}".strip()
                if kind == "fail":
                    if 200 <= response.status < 300:
                        last = f"HTTP {response.status} is not its success answer, a refusal: {_safe_detail(response)}"
                    raise DeliveryError(f"{self.service} {label}: {last}", retryable=False)
                if response.status == 429:
                    self.stats.rate_limited += 1
                    if pace_key is not None:
                        self.pacer.block(pace_key, after if after is not None else self.policy.base_delay)
            if number == self.policy.max_attempts:
                break
            self.stats.retries += 1
            if after is not None and after > self.policy.max_retry_after:
                raise DeliveryError(f"{self.service} {label}: asked to retry after {after:.0f}s; failing "
                                    "so the platform retries the event later", retryable=True)
            backoff = self.rng.uniform(0, min(self.policy.max_delay, self.policy.base_delay * 2 ** (number - 1)))
            delay = after if after is not None else backoff
            log.info("%s %s: attempt %d failed (%s); retrying in %.2fs", self.service, label, number, last, delay)
            self._wait(delay, self._limit(started), last)
        raise DeliveryError(f"{self.service} {label}: gave up after {self.policy.max_attempts} attempts "
                            f"({last})", retryable=True)

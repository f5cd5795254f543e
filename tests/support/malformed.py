"""A server on 127.0.0.1 (the one fake HTTP server, ``tests.support.http_server``) that answers the
way broken proxies and dying servers do: a garbage status line, a body cut short, a reset
connection; then, when told, like a real webhook."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from tests.support.http_server import RESET, FakeHttpServer, Raw, Request, Reset

Answer = Literal["garbage", "truncated", "reset", "ok", "accepted"]
#: What each kind of answer writes before the connection closes (``reset`` writes nothing).
RAW: dict[str, bytes] = {
    "garbage": b"HTTP/1.1 OK?? \x00\xff not a status line\r\n\r\n",
    "truncated": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nok, and th",
    "ok": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    "accepted": b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
}
ALL_MALFORMED: tuple[Answer, ...] = ("garbage", "truncated", "reset")


class MalformedServer:
    """Answers each request with the next queued answer (a kind, or raw bytes to send as they
    are), then with ``default``. ``requests`` are the requests received; ``answered`` counts them
    by the kind of answer they got."""

    def __init__(self, default: Answer = "garbage") -> None:
        self.default: Answer | bytes = default
        self.queue: deque[Answer | bytes] = deque()
        self._kinds: list[str] = []
        self._server = FakeHttpServer(self._respond)
        self.url = self._server.url
        self.requests: list[Request] = self._server.requests

    def answered(self, kind: Answer) -> int:
        return self._kinds.count(kind)

    @staticmethod
    def answer(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
        """A well-formed answer with this status line (e.g. ``"200 OK"``) and body."""
        return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode() + body

    def _respond(self, request: Request) -> Raw | Reset:
        kind = self.queue.popleft() if self.queue else self.default
        self._kinds.append("raw" if isinstance(kind, bytes) else kind)
        if kind == "reset":
            return RESET
        return Raw(kind if isinstance(kind, bytes) else RAW[kind])

    def close(self) -> None:
        self._server.close()


@contextmanager
def malformed_server(default: Answer = "garbage") -> Iterator[MalformedServer]:
    server = MalformedServer(default)
    try:
        yield server
    finally:
        server.close()

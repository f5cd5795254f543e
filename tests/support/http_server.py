"""The one fake HTTP(S) server of the tests, on 127.0.0.1 and a free port.

``FakeHttpServer`` records every request (``Request``) and answers it from, in this order:

- its script: answers queued for a prefix of the request target (``script("/slack", Reply(429, {"Retry-After": "1"}))``),
  each used once. An answer is a ``Reply`` (status, headers, body; a plain ``(status, headers, body)``
  tuple too), ``Raw`` bytes written as they are before the connection closes (a garbage status line,
  a body cut short), or ``RESET`` (the connection is reset, no answer at all);
- else its ``respond`` function, where each fake service keeps its behaviour (Slack, Teams, Jira...
  in tests/delivery, STS and Backup in tests/aws, Resource Manager in tests/azure), else 404.

``hold(prefix)`` keeps the answers to a path prefix back until the test opens the gate (a slow
sink, a server that never answers in time) without sleeping on the real clock.

It stops at once: ``serve_forever`` polls for ``shutdown`` every ``POLL_SECONDS`` instead of the
standard library's half second, which every test used to wait out.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

#: How often the serving thread looks for ``shutdown`` (the standard library's default is 0.5 s).
POLL_SECONDS = 0.01
#: The longest a held answer waits for its gate (a deadlock guard: tests open it well before).
HOLD_GUARD_SECONDS = 30.0


class Headers(dict[str, str]):
    """Request headers, looked up whatever their case (clients capitalise them differently)."""

    def __init__(self, items: Iterator[tuple[str, str]] | list[tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class Request:
    """One request as the server received it, and the status it was answered with."""

    method: str
    #: The request target as sent (path and query string).
    target: str
    #: The path, percent-decoded, without the query string.
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Reply(NamedTuple):
    status: int
    headers: Mapping[str, str] = {}
    body: bytes = b""

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode())


@dataclass(frozen=True)
class Raw:
    """Bytes sent as they are, then the connection closes: an answer that is not (all) HTTP."""

    data: bytes


class Reset:
    def __repr__(self) -> str:
        return "RESET"


#: The connection is reset (RST) instead of answered.
RESET = Reset()

Answer = Reply | Raw | Reset | tuple[int, Mapping[str, str], bytes]
Respond = Callable[[Request], Answer]


def _not_found(request: Request) -> Answer:
    return Reply(404, {"Content-Type": "text/plain"}, b"not found")


class Gate:
    """Holds answers back until ``open()``; ``reached`` is set when the first request arrives."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self.reached = threading.Event()

    def wait(self) -> None:
        self.reached.set()
        self._open.wait(HOLD_GUARD_SECONDS)

    def open(self) -> None:
        self._open.set()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        request = Request(self.command, self.path, unquote(url.path), parse_qs(url.query),
                          Headers(list(self.headers.items())), body)
        answer = self.server.fake.answer(request)
        if isinstance(answer, Reset):  # RST instead of FIN: the client sees "connection reset by peer"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if isinstance(answer, Raw):
            self.wfile.write(answer.data)
            self.close_connection = True
            return
        status, headers, payload = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeHttpServer


@dataclass
class _Script:
    answers: dict[str, deque[Answer]] = field(default_factory=lambda: defaultdict(deque))
    gates: dict[str, Gate] = field(default_factory=dict)


class FakeHttpServer:
    """See the module. ``with FakeHttpServer(respond) as server:`` or ``close()`` when done."""

    def __init__(self, respond: Respond = _not_found, tls: ssl.SSLContext | None = None) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._script = _Script()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(POLL_SECONDS,), daemon=True)
        self._thread.start()

    # --- what tests call ----------------------------------------------------------------------
    def script(self, prefix: str, *answers: Answer) -> None:
        """The next requests whose target starts with ``prefix`` get these answers, in order."""
        with self.lock:
            self._script.answers[prefix].extend(answers)

    def hold(self, prefix: str) -> Gate:
        """Answers to targets under ``prefix`` wait until the returned gate is opened."""
        gate = self._script.gates[prefix] = Gate()
        return gate

    def to(self, prefix: str) -> list[Request]:
        """The requests whose target (path and query, as sent) starts with ``prefix``."""
        return [r for r in self.requests if r.target.startswith(prefix)]

    def close(self) -> None:
        for gate in self._script.gates.values():
            gate.open()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeHttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the server's side ----------------------------------------------------------------------
    def answer(self, request: Request) -> Reply | Raw | Reset:
        with self.lock:
            self.requests.append(request)
            scripted = next((queue.popleft() for prefix, queue in self._script.answers.items()
                             if queue and request.target.startswith(prefix)), None)
        for prefix, gate in list(self._script.gates.items()):
            if request.target.startswith(prefix):
                gate.wait()
        answer = scripted if scripted is not None else self.respond(request)
        if not isinstance(answer, (Raw, Reset)):
            answer = Reply(*answer)
        request.status = answer.status if isinstance(answer, Reply) else 0
        return answer

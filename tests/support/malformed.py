"""An HTTP server on 127.0.0.1 that answers the way broken proxies and dying servers do: a garbage
status line, a body cut short, a reset connection; then, when told, like a real webhook."""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

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
    are), then with ``default``."""

    def __init__(self, default: Answer = "garbage") -> None:
        self.default: Answer | bytes = default
        self.queue: deque[Answer | bytes] = deque()
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answered(self, kind: Answer) -> int:
        return sum(1 for r in self.requests if r.startswith(kind.encode() + b"|"))

    @staticmethod
    def answer(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
        """A well-formed answer with this status line (e.g. ``"200 OK"``) and body."""
        return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode() + body

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(body) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                except OSError:
                    continue
                kind = self.queue.popleft() if self.queue else self.default
                label = b"raw" if isinstance(kind, bytes) else kind.encode()
                self.requests.append(label + b"|" + head + b"\r\n\r\n" + body)
                if kind == "reset":  # RST instead of FIN: the client sees "connection reset by peer"
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                with suppress(OSError):
                    conn.sendall(kind if isinstance(kind, bytes) else RAW[kind])

    def close(self) -> None:
        self._closed = True
        self._sock.close()


@contextmanager
def malformed_server(default: Answer = "garbage") -> Iterator[MalformedServer]:
    server = MalformedServer(default)
    try:
        yield server
    finally:
        server.close()

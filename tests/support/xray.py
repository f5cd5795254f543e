"""Where the X-Ray daemon listens: a UDP socket on 127.0.0.1 that keeps what the X-Ray SDK emits
(``AWS_XRAY_DAEMON_ADDRESS``), and the segment documents in it."""

from __future__ import annotations

import json
import socket
from typing import Any


class Daemon:
    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def received(self) -> list[bytes]:
        """Every datagram already delivered (the sender has exited: nothing more is coming)."""
        self.socket.setblocking(False)
        datagrams = []
        while True:
            try:
                datagrams.append(self.socket.recv(65536))
            except BlockingIOError:
                return datagrams

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *_: object) -> None:
        self.socket.close()


def documents(datagrams: list[bytes]) -> list[dict[str, Any]]:
    """The segment documents: each datagram is the daemon protocol's header line, then one document."""
    found = []
    for datagram in datagrams:
        header, _, body = datagram.partition(b"\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        found.append(json.loads(body))
    return found


def deliveries(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The delivery attempts' subsegments (namespace ``remote``), in the order they started."""
    return sorted((d for d in found if d.get("namespace") == "remote"), key=lambda d: d["start_time"])

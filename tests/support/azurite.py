"""Azurite, the real Table storage emulator (npm ``azurite``, from package-lock.json), started once
per test session on a free 127.0.0.1 port: the ``azurite`` fixture (registered by tests/conftest.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from azure.data.tables import TableClient

REPO = Path(__file__).resolve().parents[2]
AZURITE_TABLE = REPO / "node_modules" / ".bin" / "azurite-table"
#: Azurite's documented development account and key (public, the same for every Azurite install).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_START_SECONDS = 30
#: How often the fixture looks whether Azurite listens yet (it waits on the process, not a clock).
AZURITE_POLL_SECONDS = 0.05


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _azurite_binary() -> Path:
    """node_modules/.bin/azurite-table, installed from package-lock.json when missing."""
    if AZURITE_TABLE.exists():
        return AZURITE_TABLE
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("Azurite needs Node.js and npm (npm ci installs it from package-lock.json)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=REPO, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    return AZURITE_TABLE


@dataclass
class Azurite:
    port: int

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"TableEndpoint=http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT};")

    def table(self, name: str | None = None) -> TableClient:
        from azure.data.tables import TableClient

        return TableClient.from_connection_string(self.connection_string, name or f"t{uuid.uuid4().hex[:16]}")


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + AZURITE_START_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("Azurite did not start listening in time") from None
        try:  # waits on the process: it returns early if Azurite exits
            process.wait(AZURITE_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"Azurite exited with {process.returncode}: " + log.read_text(errors="replace")[-2000:])


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    binary = _azurite_binary()
    workspace = tmp_path_factory.mktemp("azurite")
    port = _free_port()
    log_path = workspace / "azurite.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(binary), "--tableHost", "127.0.0.1", "--tablePort", str(port), "--location", str(workspace),
         "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"],
        cwd=workspace, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_listening(process, port, log_path)
        yield Azurite(port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()

"""Benchmark: N ``backup-responder respond`` processes of the same event at the same time, on one
SQLite state file, against a slow Slack-like webhook on 127.0.0.1 (it answers after one second).

    .venv/bin/python bench/concurrent_respond.py [--processes 10] [--json]

Reports how many times the webhook received the message (1 is right) and the processes' exit
statuses (0 for the one that posted and for those that found the receipt or a duplicate; 1 for
those that found another process posting it at that moment: they say so, and a later run confirms).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.delivery.conftest import FakeServices, failure_event  # noqa: E402 (after the path)
from tests.support.http_server import Gate  # noqa: E402

#: The webhook's answer time: every process reaches its post meanwhile.
SLOW_SECONDS = 1.0


def _answer_slowly(gate: Gate) -> None:
    """The webhook answers ``SLOW_SECONDS`` after the first post reaches it."""
    gate.reached.wait()
    time.sleep(SLOW_SECONDS)
    gate.open()


def run(processes: int) -> dict[str, object]:
    services = FakeServices()
    threading.Thread(target=_answer_slowly, args=(services.hold("/slack/"),), daemon=True).start()
    try:
        folder = Path(tempfile.mkdtemp(prefix="concurrent-respond-"))
        event = folder / "event.json"
        event.write_text(json.dumps(failure_event(1, event_id="evt-concurrent")))
        env = {**os.environ, "SLACK_WEBHOOK_URL": services.url + "/slack/T000/B000/hook",
               "RESPONDER_STATE": str(folder / "state.sqlite"), "PYTHONPATH": str(ROOT)}
        for name in ("TEAMS_WEBHOOK_URL", "RESPONDER_CONFIG", "RESPONDER_OUTBOX"):
            env.pop(name, None)
        running = [subprocess.Popen([sys.executable, "-m", "functions.cli", "respond", str(event)], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(processes)]
        statuses = []
        for process in running:
            process.communicate(timeout=300)
            statuses.append(process.returncode)
        posts = len([r for r in services.to("/slack/") if r.method == "POST"])
        return {"processes": processes, "posts": posts, "exit_statuses": sorted(statuses)}
    finally:
        services.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args.processes)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['processes']} concurrent respond processes of one event: the webhook received "
              f"{result['posts']} post(s); exit statuses {result['exit_statuses']}")
    return 0 if result["posts"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())

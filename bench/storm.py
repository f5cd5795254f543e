"""Benchmark: the storm scenario (one cause, many resources, a few minutes) through the real
responder, to local fake Slack/Teams/Jira/PagerDuty servers on 127.0.0.1.

    .venv/bin/python bench/storm.py [--events 10000] [--resources 500] [--seconds 180] [--json]

Reports events in, messages out per destination, wall time, events per second and peak memory.
Time in the scenario is simulated (pacing and Retry-After waits advance a manual clock), so the
wall time is the responder's own work: parsing, classifying, planning, state and HTTP.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.delivery.storm_scenario import run_storm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=180.0, help="simulated duration of the storm")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the Python heap measure (it slows the run about threefold); max RSS is kept")
    args = parser.parse_args()

    if not args.no_tracemalloc:
        tracemalloc.start()
    result = run_storm(args.events, args.resources, args.seconds)
    peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
    tracemalloc.stop()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "events_in": result.events,
        "resources": result.resources,
        "simulated_seconds": result.simulated_seconds,
        "messages_out": result.messages,
        "messages_out_total": result.total_messages,
        "requests_made": result.requests,
        "counted_events": result.grouped_events,
        "counted_resources": result.grouped_resources,
        "digests": result.digests,
        "429_answered_and_honoured": result.rate_limited,
        "platform_retries": result.platform_retries,
        "lost": result.dead_lettered,
        "wall_seconds": round(result.wall_seconds, 2),
        "events_per_second": round(result.events / result.wall_seconds, 1) if result.wall_seconds else None,
        "peak_python_heap_mib": round(peak / 2**20, 1) if peak else None,
        "max_rss_mib": round(rss_mib, 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        width = max(len(k) for k in report)
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")
    return 0 if result.dead_lettered == 0 and result.grouped_events == result.events else 1


if __name__ == "__main__":
    sys.exit(main())

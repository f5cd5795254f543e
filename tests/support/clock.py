"""The one fake clock of the tests.

``FakeClock`` is the delivery code's ``ManualClock`` (``monotonic``, ``time``, ``sleep`` that only
moves the clock, ``advance``; it starts at 2023-11-14 22:13:20 UTC), and it is also callable,
``clock() == clock.time()``, so that it stands in wherever the code takes a plain wall-clock
function (the state stores, ``Once``, the remediation engine, the approval check). Time moves only
when a test advances it or the code sleeps on it.
"""

from __future__ import annotations

from shared.sinks.http import ManualClock


class FakeClock(ManualClock):
    def __call__(self) -> float:
        return self.time()

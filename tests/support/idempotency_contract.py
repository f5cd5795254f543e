"""The idempotency contract (``shared.notify.idempotency.Once``) that every state store must keep: one
post per key, also under concurrency; a crashed run's claim expires after its lease and is retried;
a failed post gives its claim back; receipts written before claims existed still count.

tests/test_state_stores.py runs it against every store, next to the ``StateStore`` contract
(tests/support/state_contract.py), with the same ``store`` fixture: a ``StoreUnderTest`` whose
``peer()`` is a separate handle on the same data (a SQLite connection per run, as separate
processes have).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.notify.idempotency import DEFAULT_LEASE_SECONDS, Claim, Once
from tests.support.state_contract import StoreUnderTest

#: Runs of one notice at the same time.
RUNS = 10
#: The longest a test waits for the others (a deadlock guard, never reached when the contract holds).
GUARD_SECONDS = 30


class IdempotencyContract:
    """The contract; the test module provides the ``store`` fixture (a ``StoreUnderTest``)."""

    def test_a_key_is_posted_once_and_then_is_done(self, store: StoreUnderTest) -> None:
        state, clock = store.state, store.clock
        once = Once(state, clock)
        posts: list[int] = []
        first = once.run("rcpt:e1:slack", lambda: posts.append(1) or {"ts": "1.0"}, 3600)
        again = once.run("rcpt:e1:slack", lambda: posts.append(2) or {"ts": "2.0"}, 3600)
        assert posts == [1]
        assert (first.state, first.receipt) == ("claimed", {"ts": "1.0"})
        assert (again.state, again.receipt) == ("done", {"ts": "1.0"})
        assert once.receipt("rcpt:e1:slack") == {"ts": "1.0"}

    def test_runs_at_the_same_time_post_once(self, store: StoreUnderTest) -> None:
        state, clock = store.state, store.clock
        posts: list[str] = []
        others_answered = threading.Semaphore(0)

        def post() -> dict[str, str]:
            posts.append(threading.current_thread().name)
            for _ in range(RUNS - 1):  # a slow sink: answers only when every other run has decided
                assert others_answered.acquire(timeout=GUARD_SECONDS)
            return {"ts": "1.0"}

        def run(_: int) -> Claim:
            claim = Once(store.peer(), clock).run("rcpt:e2:slack", post, 3600)
            if claim.state != "claimed":
                others_answered.release()
            return claim

        with ThreadPoolExecutor(RUNS) as pool:
            claims = list(pool.map(run, range(RUNS)))
        assert len(posts) == 1
        assert sorted(c.state for c in claims).count("claimed") == 1
        assert {c.state for c in claims} <= {"claimed", "busy", "done"}
        assert Once(state, clock).receipt("rcpt:e2:slack") == {"ts": "1.0"}

    def test_a_crashed_runs_claim_expires_after_its_lease_and_is_retried(
            self, store: StoreUnderTest) -> None:
        state, clock = store.state, store.clock
        once = Once(state, clock)
        crashed = once.claim("rcpt:e3:slack", lease=60)  # claimed, then the process died mid-post
        assert crashed.state == "claimed"
        assert once.run("rcpt:e3:slack", lambda: {"ts": "x"}, 3600).state == "busy"
        clock.advance(61)
        retried = once.run("rcpt:e3:slack", lambda: {"ts": "2.0"}, 3600)
        assert (retried.state, retried.receipt) == ("claimed", {"ts": "2.0"})
        once.release(crashed)  # the dead run's token no longer owns the key: nothing is lost
        assert once.receipt("rcpt:e3:slack") == {"ts": "2.0"}

    def test_the_default_lease_outlasts_a_send(self, store: StoreUnderTest) -> None:
        state, clock = store.state, store.clock
        once = Once(state, clock)
        assert once.claim("rcpt:e4:slack").state == "claimed"
        clock.advance(DEFAULT_LEASE_SECONDS - 1)
        assert once.claim("rcpt:e4:slack").state == "busy"
        clock.advance(2)
        assert once.claim("rcpt:e4:slack").state == "claimed"

    def test_a_failed_post_gives_its_claim_back(self, store: StoreUnderTest) -> None:
        state, clock = store.state, store.clock
        once = Once(state, clock)

        def refused() -> dict[str, str]:
            raise RuntimeError("the sink said no")

        with pytest.raises(RuntimeError):
            once.run("rcpt:e5:slack", refused, 3600)
        assert once.receipt("rcpt:e5:slack") is None
        assert once.run("rcpt:e5:slack", lambda: {"ts": "3.0"}, 3600).state == "claimed"

    def test_a_receipt_written_before_claims_existed_counts_as_delivered(
            self, store: StoreUnderTest) -> None:
        state, clock = store.state, store.clock
        state.put("rcpt:e6:slack", {"status": "200"}, 3600)  # what earlier releases stored
        once = Once(state, clock)
        assert once.receipt("rcpt:e6:slack") == {"status": "200"}
        assert once.run("rcpt:e6:slack", lambda: {"ts": "never"}, 3600).state == "done"

    def test_receipts_expire_with_their_ttl(self, store: StoreUnderTest) -> None:
        state, clock = store.state, store.clock
        once = Once(state, clock)
        once.run("rcpt:e7:slack", lambda: {"ts": "1.0"}, 100)
        clock.advance(101)
        assert once.receipt("rcpt:e7:slack") is None

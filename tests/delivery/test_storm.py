"""A storm: 10,000 failures of one cause across 500 resources within three minutes produce a
handful of messages per destination, all 10,000 are counted, none is lost, and every 429 is
handled (waited for and retried, never dropped)."""

from __future__ import annotations

from tests.delivery.storm_scenario import run_storm


def test_storm_of_10000_failures() -> None:
    result = run_storm(events=10_000, resources=500, seconds=180)
    # none lost: every event handled (the platform retried those whose delivery failed once)
    assert result.dead_lettered == 0
    assert sum(result.roles.values()) == 10_000
    # all counted
    assert result.grouped_events == 10_000
    assert result.grouped_resources == 500
    assert result.roles["leader"] == 1 and result.roles["member"] + result.roles.get("duplicate", 0) == 9_999
    # a handful of messages: the first, a few updates, the digest
    assert result.messages["slack"] <= 8, result.messages  # webhook: posts (+ the 429/5xx retries)
    assert result.messages["teams"] <= 8, result.messages
    assert result.messages["slack-api"] <= 8, result.messages  # one message, edited in place, a digest reply
    assert result.messages["jira"] <= 3, result.messages  # one issue and the digest comment (+ one 503 retry)
    assert result.messages["pagerduty"] <= 3, result.messages
    assert result.digests == 5
    assert "10,000" in result.digest_text and "500" in result.digest_text
    # every 429 the services answered was honoured and retried: nothing was left undelivered
    assert result.rate_limited >= 3

"""The classifier measured on real failures its rules were not written from (tests/corpus/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.catalog import Catalog, default_catalog
from shared.catalog import evaluate as ev
from shared.text import normalise_message

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture(scope="module")
def cases() -> list[ev.Case]:
    return ev.load_corpus(CORPUS)


@pytest.fixture(scope="module")
def summary(cases: list[ev.Case], catalog: Catalog) -> dict[str, Any]:
    return ev.report(ev.run(cases, catalog), catalog)


def test_the_corpus_is_large_real_and_spread_over_both_clouds(cases: list[ev.Case]) -> None:
    assert len(cases) >= 300
    assert len({c.id for c in cases}) == len(cases)
    clouds = {c.cloud for c in cases}
    assert clouds == {"aws", "azure"}
    workloads = {c.workload for c in cases if c.cloud == "azure"}
    assert {"vm", "sql", "saphana", "afs", "blob", "disk", "postgresql", "postgresql-flex", "mysql-flex",
            "aks", "mars", "dpm"} <= workloads
    assert all(c.source.startswith("https://") for c in cases)


def test_the_corpus_stands_apart_from_the_rules_own_examples(cases: list[ev.Case], catalog: Catalog) -> None:
    assert ev.overlap_with_examples(cases, catalog) == []


def test_every_expected_cause_is_one_the_catalog_names(cases: list[ev.Case], catalog: Catalog) -> None:
    assert {c.expect for c in cases} <= catalog.causes()


def test_at_least_95_percent_of_causes_are_right(summary: dict[str, Any]) -> None:
    assert summary["accuracy"] >= ev.GOAL_ACCURACY, "\n".join(summary["misses"])


def test_no_confident_wrong_answer(summary: dict[str, Any]) -> None:
    assert summary["confident_wrong"] == []


def test_confidence_is_calibrated(summary: dict[str, Any]) -> None:
    high = summary["calibration"][f">={ev.HIGH_CONFIDENCE}"]
    assert high["answers"] > 0 and high["right"] >= ev.GOAL_CALIBRATION


def test_codes_the_alert_carries_are_reported_in_documented_spelling(summary: dict[str, Any]) -> None:
    assert summary["codes"]["carried"]["wrong"] == []


# The later corpora: each gathered from other sources after the rules were written, and used for
# one round of fixes only; they measure how the classifier meets wordings it was not built from.
# Their figures are reported in the closing notes; here they must never be confidently wrong, and
# each stands apart from the rules' examples and from every corpus before it.
LATER = ("second", "third", "fourth")
#: The fewest cases each holds.
LATER_SIZES = {"second": 100, "third": 30, "fourth": 15}


@pytest.fixture(scope="module", params=LATER)
def later(request: pytest.FixtureRequest) -> tuple[str, list[ev.Case]]:
    return request.param, ev.load_corpus(CORPUS / request.param)


def test_a_later_corpus_is_never_confidently_wrong(later: tuple[str, list[ev.Case]], catalog: Catalog) -> None:
    name, others = later
    report = ev.report(ev.run(others, catalog), catalog)
    assert report["cases"] >= LATER_SIZES[name]
    assert {c.expect for c in others} <= catalog.causes()
    assert all(c.source.startswith("https://") for c in others)
    assert report["confident_wrong"] == []


def test_a_later_corpus_stands_apart_from_the_rules_and_the_corpora_before_it(
        later: tuple[str, list[ev.Case]], catalog: Catalog, cases: list[ev.Case]) -> None:
    name, others = later
    assert ev.overlap_with_examples(others, catalog) == []
    before = [*cases, *(c for earlier in LATER[:LATER.index(name)] for c in ev.load_corpus(CORPUS / earlier))]
    seen = {normalise_message(c.message) for c in before if c.message}
    cited = {c.source for c in before}
    assert not [c.id for c in others if c.message and normalise_message(c.message) in seen]
    assert not [c.id for c in others if c.source in cited]
    assert len({c.id for c in others}) == len(others)

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


# The second corpus: gathered from other sources after the rules were written, and used for one
# round of fixes only; it measures how the classifier meets wordings it was not built from. Its
# figures are reported in the closing notes; here it must never be confidently wrong.
SECOND = CORPUS / "second"


@pytest.fixture(scope="module")
def second(catalog: Catalog) -> dict[str, Any]:
    return ev.report(ev.run(ev.load_corpus(SECOND), catalog), catalog)


def test_the_second_corpus_is_never_confidently_wrong(second: dict[str, Any]) -> None:
    assert second["cases"] >= 100
    assert second["confident_wrong"] == []


def test_the_second_corpus_stands_apart_from_the_rules_and_the_first(catalog: Catalog,
                                                                      cases: list[ev.Case]) -> None:
    others = ev.load_corpus(SECOND)
    assert ev.overlap_with_examples(others, catalog) == []
    first = {normalise_message(c.message) for c in cases if c.message}
    assert not [c.id for c in others if c.message and normalise_message(c.message) in first]

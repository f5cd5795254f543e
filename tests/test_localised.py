"""The seeds' failures are recognised in Korean and Japanese, without an error code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.classify import Classifier
from shared.models import Failure

MESSAGES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "events" / "localised" / "seed-messages.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.mark.parametrize("case", MESSAGES, ids=lambda c: f"seed{c['seed']}-{c['lang']}-{c['expect']}")
def test_a_localised_seed_failure_gets_its_cause(classifier: Classifier, case: dict[str, Any]) -> None:
    failure = Failure(cloud=case["cloud"], job_type=case["job_type"], resource_type=case.get("resource_type"),
                      message=case["message"])
    assert classifier.classify(failure).cause == case["expect"]


def test_both_languages_are_covered() -> None:
    assert {c["lang"] for c in MESSAGES} == {"ko", "ja"}
    assert {c["seed"] for c in MESSAGES} == {"000", "001", "002", "003", "004"}

"""The pipeline's records (``shared.models``): what comes back from storage is checked on the way in,
and what goes out is plain JSON, the same record after a round trip."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from shared.catalog.schema import PLACEHOLDERS
from shared.classify import Classifier
from shared.models import DecodedAuthorization, Failure, Finding, Outcome
from shared.parse import parse_event
from shared.vocab import Cloud
from tests.conftest import event_paths, load_event


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    classifier = Classifier()
    found = []
    for cloud in ("aws", "azure"):
        for path in event_paths(cloud):
            try:
                failure = parse_event(load_event(f"{cloud}/{path.name}"), classifier.catalog.codes,
                                      classifier.catalog.aws_codes)
            except ValueError:
                continue  # the malformed fixtures
            found.append(Outcome(failure=failure, finding=classifier.classify(failure)))
    assert len(found) > 20
    return found


def test_every_parsed_outcome_survives_json_and_back_unchanged(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        dumped = outcome.model_dump(mode="json")
        assert json.loads(json.dumps(dumped)) == dumped  # JSON types only
        assert Outcome.model_validate(dumped) == outcome
        assert Outcome.model_validate_json(outcome.model_dump_json()) == outcome


def test_the_parsers_give_typed_values(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        assert type(outcome.failure.cloud) is Cloud
        assert outcome.failure.time is None or isinstance(outcome.failure.time, datetime)


def test_a_stored_record_with_a_wrong_value_is_refused(outcomes: list[Outcome]) -> None:
    dumped = outcomes[0].model_dump(mode="json")
    for path, value in ((("failure", "cloud"), "gcp"), (("failure", "time"), "yesterday"),
                        (("finding", "confidence"), 1.5), (("failure", "facts"), {"a": ["b"]}),
                        (("failure", "unknown_field"), "x")):
        broken = json.loads(json.dumps(dumped))
        broken[path[0]][path[1]] = value
        with pytest.raises(ValueError):
            Outcome.model_validate(broken)


def test_model_dump_leaves_out_what_it_is_told_at_any_depth(outcomes: list[Outcome]) -> None:
    outcome = outcomes[0]
    dumped = outcome.model_dump(mode="json", exclude={"plan": True, "failure": {"encoded_message", "facts"}})
    assert "plan" not in dumped and "finding" in dumped
    assert "encoded_message" not in dumped["failure"] and "facts" not in dumped["failure"]
    assert dumped["failure"]["cloud"] == outcome.failure.cloud
    python = outcome.failure.model_dump(exclude={"notes"})
    assert "notes" not in python and python["time"] == outcome.failure.time


def test_a_copy_changes_only_what_it_is_given_and_a_finding_stays_frozen(outcomes: list[Outcome]) -> None:
    finding = outcomes[0].finding
    copy = finding.model_copy(update={"title": "another"})
    assert copy.title == "another" and finding.title != "another"
    assert copy.model_copy(update={"title": finding.title}) == finding
    with pytest.raises(AttributeError):
        finding.title = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Failure(cloud=Cloud.AWS, not_a_field=1)  # type: ignore[call-arg]
    assert Finding.model_validate(finding) is finding


def test_one_placeholder_is_what_all_of_them_hold(outcomes: list[Outcome]) -> None:
    """A title fills its one or two placeholders by name: each must be what the plan would fill."""
    decoded = DecodedAuthorization(principal_arn="arn:aws:iam::111122223333:role/r", action="kms:Decrypt")
    failures = [outcome.failure for outcome in outcomes]
    failures += [f.model_copy(update={"decoded": decoded}) for f in failures[:5]]
    # facts a field or the decoded message fills over, and facts with no field of their name
    failures += [f.model_copy(update={"facts": {**f.facts, "region": "fact-region", "job_type": "",
                                                 "principal_arn": "fact-principal", "vault_name": "fact-vault"}})
                 for f in failures[-10:]]
    for failure in failures:
        every = failure.placeholders()
        for name in [*PLACEHOLDERS, *failure.facts, "not_a_placeholder"]:
            assert failure.placeholder(name) == every.get(name), (name, failure.event_id)

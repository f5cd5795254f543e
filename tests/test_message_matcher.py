"""The RE2 set that finds a cloud's message patterns (``shared.catalog.MessageMatcher``): it holds
bounded repetitions loosened, and answers exactly what the patterns as written match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import re2  # type: ignore[import-untyped]

from shared.catalog import CLOUDS, MessageMatcher, default_catalog, loosened
from shared.catalog import evaluate as ev
from shared.text import normalise_message

CORPUS = Path(__file__).parent / "corpus"
#: Words put between a message's words, so that bounded distances (``.{0,40}``) are exceeded and the
#: loosened set matches where the patterns as written do not.
FILLER = " and then the service said something else entirely about it "


@pytest.mark.parametrize(("pattern", "loose"), [
    ("kms key .{0,80} not found", "kms key .* not found"),
    (r"(\w+ ){0,3}copies", r"(\w+ )*copies"),
    (r"(?:foo){2,5}?bar \d{12}", r"(?:foo)*?bar \d*"),
    # left as written: not a bounded repetition, or not one the parser reads as such
    ("a{2,}", "a{2,}"), ("x{0,1}", "x{0,1}"), (r"\{3\}", r"\{3\}"), ("[a{2}]", "[a{2}]"),
    (r"\x{41}", r"\x{41}"), ("plain words", "plain words"),
])
def test_bounded_repetitions_are_loosened_and_nothing_else(pattern: str, loose: str) -> None:
    assert loosened(pattern) == loose


def _texts(cloud: str) -> list[str]:
    """Every message the catalog and the corpora hold for ``cloud``, as written and stretched."""
    catalog = default_catalog()
    messages = [ex.message for rule in catalog.rules if rule.cause.startswith(cloud + ".")
                for ex in rule.examples if ex.message]
    messages += [case.message for folder in (CORPUS, CORPUS / "second") for case in ev.load_corpus(folder)
                 if case.cloud == cloud and case.message]
    texts = [normalise_message(m) for m in messages]
    return [t for t in texts if t] + [t.replace(" ", FILLER, 3) for t in texts if t]


def _as_written(matcher: MessageMatcher, text: str) -> list[tuple[str, str]]:
    return sorted((p, c.rule.id) for p, _, c in matcher.patterns if re2.compile("(?i)" + p).search(text))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_set_answers_what_the_patterns_as_written_match(cloud: str) -> None:
    matcher = default_catalog().index[cloud].messages
    assert len(matcher.loose) >= 10  # the catalog's patterns do count distances
    texts = _texts(cloud)
    loose_only = 0
    for text in texts:
        found = sorted((p, c.rule.id) for p, _, c in matcher.matches(text))
        assert found == _as_written(matcher, text), text
        loose_only += any(re2.compile("(?i)" + form).search(text) and not re2.compile("(?i)" + p).search(text)
                          for p, form in matcher.loose.items())
    assert loose_only > 0  # the written patterns were needed to confirm some matches


def test_a_match_of_the_loosened_form_alone_is_not_reported() -> None:
    entry: Any = ("disk .{0,5} full", 9, None)
    matcher = MessageMatcher([entry])
    assert matcher.loose == {"disk .{0,5} full": "disk .* full"}
    assert matcher.matches("the disk is full") == [entry]
    assert matcher.matches("the disk of the database is full") == []

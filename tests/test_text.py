from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from shared.text import fill, missing_placeholders, normalise_message, strip_wrapping_quotes


def test_normalise_drops_quotes_escapes_and_case() -> None:
    raw = '  "Access  Denied\t trying to call \\"AWS Backup\\" “service”"  '
    assert normalise_message(raw) == "access denied trying to call aws backup service"


def test_normalise_keeps_apostrophes_straight() -> None:
    assert normalise_message("Snapshots can’t be shared") == "snapshots can't be shared"


def test_strip_wrapping_quotes_removes_nested_literal_quotes_only_at_the_ends() -> None:
    assert strip_wrapping_quotes('"\'Access Denied\'"') == "Access Denied"
    assert strip_wrapping_quotes('tag key: "xyz"') == 'tag key: "xyz"'


def test_fill_leaves_unknown_placeholders_visible_and_keeps_literal_braces() -> None:
    text = '{{"Principal": "{role_arn}", "Resource": "{pass_role_arn}"}}'
    assert fill(text, {"role_arn": "arn:aws:iam::1:role/r"}) == \
        '{"Principal": "arn:aws:iam::1:role/r", "Resource": "{pass_role_arn}"}'
    assert missing_placeholders(text, {"role_arn": "x"}) == {"pass_role_arn"}


def _as_regular_expressions_normalise(message: str) -> str:
    """``normalise_message`` as it was first written, with regular expressions."""
    text = message if message.isascii() else unicodedata.normalize("NFKC", message).translate(
        str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "}))
    return re.sub(r"\s+", " ", re.sub(r'["\\`]+', "", text)).strip().lower()


@given(st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\xa0\u2003\u3000\"\\`'aZ\u2019\u201c\uff21"),
               max_size=40))
def test_normalise_collapses_white_space_and_drops_quotes_as_the_regular_expressions_did(raw: str) -> None:
    assert normalise_message(raw) == _as_regular_expressions_normalise(raw)

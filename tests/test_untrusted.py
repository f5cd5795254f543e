"""The one layer that reads untrusted JSON (``shared.untrusted``): every refusal names the problem
and where it is, no input makes it recurse or print what cannot be printed, and no real payload
is refused."""

from __future__ import annotations

import gc
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.parse import EventError, parse_event
from shared.untrusted import (
    MAX_DEPTH,
    MAX_ERROR_CHARS,
    NOT_PLAIN,
    NotJson,
    check_value,
    decode_at,
    decode_text,
    excerpt,
    read_json,
    read_plain,
)
from tests.conftest import event_paths, load_event

COPY_FAILED = "aws/copy-job-failed.json"


def nested(depth: int, kind: str = "list") -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def test_no_real_payload_is_refused() -> None:
    paths = event_paths("aws") + event_paths("azure")
    assert len(paths) > 40
    for path in paths:
        check_value(read_json(path.read_bytes()))


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_nesting_past_the_limit_is_refused_without_recursion(kind: str) -> None:
    check_value(nested(MAX_DEPTH - 1, kind))
    with pytest.raises(EventError, match=f"nested deeper than {MAX_DEPTH} levels"):
        check_value(nested(100_000, kind))
    with pytest.raises(NotJson, match="nested deeper"):
        read_json(json.dumps(nested(10, kind)).replace("leaf", "x").replace('"x"', "[" * 100_000 + "]" * 100_000))


def _needs_frames(count: int) -> int:
    return 0 if count == 0 else _needs_frames(count - 1)


def test_a_deep_document_leaves_the_stack_to_what_runs_while_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A collection can start in the middle of any decoding, and its finalizers (a temporary
    directory's cleanup) need frames: read too deep, they fail and their errors are lost."""
    lost: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: lost.append(unraisable.exc_value))
    collecting = lambda phase, info: _needs_frames(100)  # noqa: E731 (what a finalizer costs)
    threshold = gc.get_threshold()
    gc.callbacks.append(collecting)
    gc.set_threshold(1)  # a collection at every container the decoder makes
    try:
        with pytest.raises(NotJson, match=f"nested deeper than {MAX_DEPTH} levels at line 1 column 1"):
            read_json("[" * 100_000 + "]" * 100_000)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(collecting)
    assert lost == []


def test_reading_leaves_the_collector_as_it_found_it() -> None:
    documents = [json.dumps(nested(40, "dict"))] * 200
    with ThreadPoolExecutor(max_workers=8) as pool:  # readers on several threads hold it off together
        assert all(pool.map(read_json, documents))
    assert gc.isenabled()
    gc.disable()
    try:
        read_json(documents[0])
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda e: e["detail"].update(statusMessage="Access \ud800 denied"), "lone surrogate in the text at detail.statusMessage"),
    (lambda e: e["detail"].update({"state\udfff": "FAILED"}), "lone surrogate in a key at detail"),
    (lambda e: e["detail"].update(backupSizeInBytes=float("nan")), "NaN at detail.backupSizeInBytes is not a JSON number"),
    (lambda e: e["detail"].update(backupSizeInBytes=float("-inf")), "-Infinity at detail.backupSizeInBytes"),
    (lambda e: e["detail"].update(backupSizeInBytes=10**400), "a number out of range at detail.backupSizeInBytes"),
    (lambda e: e["resources"].append({1: "x"}), "a key that is not a string"),
    (lambda e: e["resources"].append(object()), "a value of type object at resources[1] is not a JSON value"),
])
def test_a_value_the_core_must_not_see_is_refused_at_parse_with_where(mutate: Any, reason: str) -> None:
    event = load_event(COPY_FAILED)
    mutate(event)
    with pytest.raises(EventError, match="^" + re.escape(reason)) as caught:
        parse_event(event)
    str(caught.value).encode("utf-8")  # printable


@pytest.mark.parametrize(("text", "reason"), [
    (b'{"a": 1, "a": 2}', 'duplicate key "a" in the object at the top level'),
    (b'{"a": NaN}', "NaN at a is not a JSON number"),
    (b'{"a": "\\ud800"}', "lone surrogate in the text at a"),
    (b'{"a": [1, 2, ' + b"9" * 5000 + b"]}", "a number with too many digits"),
    (b'{"a":\n "b\xff"}', "the input is not UTF-8: byte 0xff at line 2 column 4"),
    (b'{"a":\n \xed\xa0\x80}', "the input is not UTF-8: byte 0xed at line 2 column 2"),
    (b'{"a": 1} {"b": 2}', "invalid JSON at line 1 column 10: extra data"),
    (b'{"a": ', "invalid JSON at line 1 column 7"),
])
def test_read_json_names_the_problem_and_where(text: bytes, reason: str) -> None:
    with pytest.raises(EventError) as caught:
        read_json(text)
    assert str(caught.value).startswith(reason)


def test_decode_at_reads_documents_one_after_another() -> None:
    text = decode_text(b'{"a": 1}\n["b\xff"]\n')
    assert decode_at(text, 0) == ({"a": 1}, 8)
    with pytest.raises(NotJson, match="line 2 column 4"):
        decode_at(text, 9)


def test_excerpts_and_errors_are_bounded_and_printable() -> None:
    assert excerpt("short") == '"short"'
    long = excerpt("x" * 1_000_000)
    assert len(long) < 100 and long.endswith("(1000000 characters)")
    assert excerpt("a\ud800\n") == '"a\\ud800\\n"'
    assert excerpt(10**400) == "a 1329-bit number" and excerpt(None) == "null" and excerpt(float("nan")) == "NaN"
    assert excerpt(nested(100_000)) == "an array"
    message = str(EventError("source " + "\udc80" * 10_000 + " refused"))
    assert len(message) <= MAX_ERROR_CHARS
    message.encode("utf-8")


def test_a_huge_source_is_quoted_in_a_bounded_excerpt() -> None:
    event = load_event(COPY_FAILED)
    event["source"] = "aws." + "x" * 1_000_000
    with pytest.raises(EventError) as caught:
        parse_event(event)
    assert "(1000004 characters)" in str(caught.value) and len(str(caught.value)) < 300


def _careful(line: str) -> Any:
    """What the careful way makes of ``line``: its value, or the refusal's text."""
    try:
        value, end = decode_at(line)
        if line[end:].strip():
            return "extra data"
        check_value(value)
        return value
    except EventError as exc:
        return f"refused: {exc}"


def test_plain_lines_read_the_fast_way_as_the_careful_way_reads_them() -> None:
    lines = [json.dumps(load_event(path)) for path in event_paths("aws") + event_paths("azure")]
    lines += [json.dumps(load_event(path), separators=(",", ":")) for path in event_paths("aws")]
    plain = [line for line in lines if read_plain(line) is not NOT_PLAIN]
    assert len(plain) > len(lines) // 2  # most real payloads are plain
    for line in plain:
        assert _same(read_plain(line), _careful(line))


@pytest.mark.parametrize("line", [
    '{"a": 1, "a": 2}',                      # a repeated key
    '{"a": {"b": 1, "b": 1}}',               # repeated deeper, same value
    '{"t": "03:00", "t": "04:00:00Z"}',      # repeated, with colons in the values
    '{"a" : 1, "a": 2}',                     # a space before the colon
    '{"a"\t:1,"a"\n:2}',                     # tab and newline before the colon
    '{"a": "x\\": 1", "a": 2}',              # an escaped quote before a colon
    '{"a": "\\u0022:", "a": 2}',             # an escaped quote as \\u0022
    '{"a": "\\u0022:", "b": 1, "b": 2}',     # ... that would make the key counts agree
    '{"a": "\\ud800"}',                      # a lone surrogate escape
    '{"a": "x\udc80"}',                      # a byte that is not UTF-8 (surrogateescape)
    '{"a": NaN}', '{"a": Infinity}', '{"a": 1e400}',
    '{"a": 18446744073709551616}',           # 2**64: orjson would read a double
    '{"a": -9223372036854775809}',           # below -2**63, in 19 digits: a double too
    '{"a": 123456789012345678901234567890}',
    "[" * MAX_DEPTH + "]" * MAX_DEPTH,       # nesting at the limit
    '\ufeff{"a": 1}',                        # a byte order mark
    '{"a": 1} {"b": 2}',                     # two documents on one line
    '{"a": 1',                               # cut
])
def test_what_the_fast_way_cannot_settle_is_left_to_the_careful_way(line: str) -> None:
    assert read_plain(line) is NOT_PLAIN


@pytest.mark.parametrize("line", [
    '{"a": 9223372036854775807, "b": -9223372036854775808}',  # 19 digits: read as integers
    '{"a": [1, 2.5, true, false, null, {"b": "c"}], "d": ""}',
    "[" * (MAX_DEPTH // 2 - 1) + "]" * (MAX_DEPTH // 2 - 1),
    '{"a": "한국어 日本語"}',
])
def test_plain_documents_are_read_the_fast_way(line: str) -> None:
    assert _same(read_plain(line), json.loads(line))


def _same(fast: Any, careful: Any) -> bool:
    """The same values of the same types (``==`` takes 2.0**64 for 2**64)."""
    return json.dumps(fast) == json.dumps(careful)


#: Integers around the 64-bit limits orjson reads exactly, besides any.
_EDGES = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64), 10**19 - 1, -(10**19)])
_JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | _EDGES
                 | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
                 | st.sampled_from(["arn:aws:iam::1:role/r", "03:00:00Z", ":", '":']))  # colons in text
#: Keys from a few letters, so that objects written pair by pair often repeat one.
_KEYS = st.sampled_from(["a", "b", "source", "detail", 'q"', "k\\", "é", "\ud800"])


@st.composite
def _documents(draw: st.DrawFn) -> str:
    """A line of JSON as a provider or a tool might write it: objects written pair by pair (keys
    may repeat), any separators, escapes or raw text, deep or shallow."""
    def write(value: Any, depth: int) -> str:
        kind = draw(st.sampled_from(["scalar", "list", "object"])) if depth < 4 else "scalar"
        if kind == "scalar":
            return json.dumps(draw(_JSON_SCALARS), ensure_ascii=draw(st.booleans()))
        if kind == "list":
            return "[" + ",".join(write(None, depth + 1) for _ in range(draw(st.integers(0, 3)))) + "]"
        colon = draw(st.sampled_from([":", ": ", " :", "\t:\n"]))
        pairs = [json.dumps(draw(_KEYS), ensure_ascii=draw(st.booleans())) + colon + write(None, depth + 1)
                 for _ in range(draw(st.integers(0, 4)))]
        return "{" + ", ".join(pairs) + "}"
    return write(None, 0)


@given(_documents())
@settings(max_examples=500, deadline=None)
def test_any_line_the_fast_way_reads_is_read_as_the_careful_way_reads_it(line: str) -> None:
    fast = read_plain(line)
    if fast is not NOT_PLAIN:
        assert _same(fast, _careful(line))


#: Scalars, and each kind the core must not see (and the edges of the integers it takes), often.
_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2**1100), max_value=2**1100)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6)
           | st.sampled_from([float("nan"), float("inf"), float("-inf"), 2**1024 - 1, 2**1024, -(2**1024), "a\ud800b"]))
_ANY_KEYS = st.text(max_size=4) | st.just("k\udfff") | st.integers(0, 3)
_VALUES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_ANY_KEYS, inner, max_size=4), max_leaves=20)


def _acceptable(value: Any, depth: int = 0) -> bool:
    """What ``check_value`` lets through, defined plainly: JSON types, text and keys without lone
    surrogates, finite floats, integers of at most 1024 bits, nesting below ``MAX_DEPTH``."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, str):
        return not re.search("[\ud800-\udfff]", value)
    if isinstance(value, int):
        return value.bit_length() <= 1024
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list | dict) and depth >= MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_acceptable(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _acceptable(k) and _acceptable(v, depth + 1) for k, v in value.items())
    return False


@given(_VALUES, st.integers(0, MAX_DEPTH + 1))
@settings(max_examples=400)
def test_check_value_refuses_exactly_what_the_core_must_not_see(value: Any, wrapping: int) -> None:
    for _ in range(wrapping):  # the same value deeper: at MAX_DEPTH its containers are too deep
        value = [value]
    if _acceptable(value):
        check_value(value)
    else:
        with pytest.raises(EventError):
            check_value(value)

"""Hypothesis strategies that break the real provider payloads under ``tests/events/``.

A ``Mutant`` is one fixture after a few mutations, each at a random place in it: a field deleted,
replaced by a hostile value, given another JSON type, nested thousands of levels deep, made huge,
given a lone surrogate (in its text or its key), NaN or a number no double holds; or the whole
event replaced by a list, a number, a string, null. As a document (bytes, for the command line and
the HTTP body) it can also hold bytes that are not UTF-8, a duplicated key, or be cut short.

The strategies only describe the mutations (so that Hypothesis prints and shrinks them); the
test builds the value with ``Mutant.event()`` or ``Mutant.document()``. ``bench/fuzz_entry_points.py``
draws from the same strategies to count crashes per entry point.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from shared.untrusted import MAX_ERROR_CHARS
from tests.conftest import EVENTS

CLOUDS = ("aws", "azure")
#: Depths around the limit (``shared.untrusted.MAX_DEPTH``), past Python's recursion limit, and far past it.
DEPTHS = (8, 63, 65, 200, 1_500, 100_000)
#: Long text: below and above the largest event (256 KB), and a megabyte.
HUGE = (5_000, 300_000, 1_000_000)
SURROGATES = ("\ud800", "\udbff", "\udc00", "\udfff", "\udc80")
#: Text that has broken parsers, printers and sinks before.
HOSTILE_TEXT = ("", " ", "\x00", "\n\r\t", "\u202e", "💥", "null", "{}", "[]", "0", "<!channel>",
                "\\", '"', "%00", "../..", "FAILED", "aws.backup", "azureMonitorCommonAlertSchema")
HOSTILE_SCALARS: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, 2**63, -(2**64), 10**400, 1e308,
                                    float("nan"), float("inf"), float("-inf"))
#: Sequences that are not UTF-8: a stray continuation byte, a truncated sequence, an encoded
#: surrogate, a code point above U+10FFFF, an overlong slash, 0xFF.
BAD_UTF8 = (b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xff")


@functools.cache
def fixtures(cloud: str | None = None) -> tuple[tuple[str, str], ...]:
    """(name, JSON text) of every real event of ``cloud`` (both clouds when None)."""
    found: list[tuple[str, str]] = []
    for folder in CLOUDS if cloud is None else (cloud,):
        for path in sorted((EVENTS / folder).glob("*.json")):
            found.append((f"{folder}/{path.name}", path.read_text(encoding="utf-8")))
    return tuple(found)


@dataclass(frozen=True)
class Deep:
    """``inner`` wrapped in ``depth`` arrays (or objects ``{"a": ...}``); built without recursion."""

    depth: int
    kind: str
    inner: Any


@dataclass
class Mutant:
    """A fixture and what was done to it; ``event()`` and ``document()`` build the input."""

    fixture: str
    tree: Any
    ops: list[str] = field(default_factory=list)
    #: (offset fraction, bytes) inserted into the document; a cut (fraction) of it; a duplicate key.
    inserts: list[tuple[float, bytes]] = field(default_factory=list)
    cut: float | None = None
    duplicate: tuple[str, Any] | None = None
    ascii: bool = True

    def __repr__(self) -> str:  # the tree can be 100,000 levels deep: never print it
        extra = [f"insert {b!r} at {f:.2f}" for f, b in self.inserts]
        extra += [f"cut at {self.cut:.2f}"] if self.cut is not None else []
        extra += [f"duplicate key {self.duplicate[0]!r}"] if self.duplicate else []
        return f"Mutant({self.fixture!r}, {[*self.ops, *extra]}, ascii={self.ascii})"

    def event(self) -> Any:
        """The mutated event as the Lambda runtime would hand it over (decoded JSON)."""
        return _realise(self.tree)

    def document(self) -> bytes:
        """The mutated event as bytes on standard input or in an HTTP body."""
        data = _serialise(self.tree, self.ascii).encode("utf-8", "surrogatepass")
        if self.duplicate is not None and data.startswith(b"{"):
            key, value = self.duplicate
            data = b"{" + json.dumps(key).encode() + b":" + json.dumps(value).encode() + b"," + data[1:]
        for fraction, raw in self.inserts:
            at = int(len(data) * fraction)
            data = data[:at] + raw + data[at:]
        if self.cut is not None:
            data = data[: int(len(data) * self.cut)]
        return data


def _realise(tree: Any) -> Any:
    if isinstance(tree, Deep):
        value = _realise(tree.inner)
        for _ in range(tree.depth):
            value = [value] if tree.kind == "list" else {"a": value}
        return value
    if isinstance(tree, dict):
        return {k: _realise(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_realise(v) for v in tree]
    return tree


def _serialise(tree: Any, ascii: bool) -> str:
    deep: list[Deep] = []

    def placeholders(node: Any) -> Any:
        if isinstance(node, Deep):
            deep.append(node)
            return f"\x00deep{len(deep) - 1}\x00"
        if isinstance(node, dict):
            return {k: placeholders(v) for k, v in node.items()}
        if isinstance(node, list):
            return [placeholders(v) for v in node]
        return node

    text = json.dumps(placeholders(tree), ensure_ascii=ascii)
    for index, node in enumerate(deep):
        opener, closer = ("[", "]") if node.kind == "list" else ('{"a":', "}")
        text = text.replace(json.dumps(f"\x00deep{index}\x00"),
                            opener * node.depth + _serialise(node.inner, ascii) + closer * node.depth)
    return text


def _hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.builds(lambda s, t: s + t, st.sampled_from(SURROGATES), st.text(max_size=8)),
        st.builds(lambda n: "x" * n, st.sampled_from(HUGE)),
        st.text(max_size=20),
    )


def hostile_values() -> st.SearchStrategy[Any]:
    """A scalar, a text or a small container that an event field should not hold."""
    scalars = st.one_of(st.sampled_from(HOSTILE_SCALARS), _hostile_text(), st.integers(), st.floats())
    return st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3))


def _retype(value: Any) -> Any:
    """The value as another JSON type."""
    if isinstance(value, str):
        return [value] if value else 0
    if isinstance(value, bool) or value is None:
        return {}
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values()) if value else "{}"
    return None


def _with_surrogate(draw: st.DrawFn, text: Any) -> str:
    text = text if isinstance(text, str) else ""
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.sampled_from(SURROGATES)) + text[at:]


def _pick(draw: st.DrawFn, tree: Any) -> list[Any]:
    """A path into ``tree``: the whole event one time in eight, else each step goes deeper with
    odds of two to one."""
    path: list[Any] = []
    node = tree
    while isinstance(node, (dict, list)) and node and draw(st.integers(0, 7 if not path else 2)) != 0:
        key = draw(st.sampled_from(list(node.keys()) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    return path


def _label(path: list[Any]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k[:30]!r}" for k in path) or "the event"


WHOLE = ("list of it", "empty list", "number", "string", "null", "true", "JSON string of it", "deep list",
         "two of it")
OPS = ("delete", "replace", "retype", "surrogate", "surrogate key", "deepen", "huge", "huge key", "nan", "big int")


def _mutate(draw: st.DrawFn, mutant: Mutant) -> None:
    path = _pick(draw, mutant.tree)
    if not path:
        whole = draw(st.sampled_from(WHOLE))
        mutant.ops.append(f"the event as {whole}")
        tree = mutant.tree
        mutant.tree = {
            "list of it": [tree], "empty list": [], "number": draw(st.sampled_from((0, -1.5, 10**30))),
            "string": draw(_hostile_text()), "null": None, "true": True,
            "JSON string of it": json.dumps(_realise(tree)) if not _has_deep(tree) else "[]",
            "deep list": Deep(draw(st.sampled_from(DEPTHS)), "list", tree), "two of it": [tree, tree],
        }[whole]
        return
    *parents, key = path
    parent = mutant.tree
    for step in parents:
        parent = parent[step]
    value = parent[key]
    op = draw(st.sampled_from(OPS))
    if op in ("surrogate key", "huge key") and not isinstance(parent, dict):
        op = "surrogate"
    mutant.ops.append(f"{op} {_label(path)}")
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = draw(hostile_values())
    elif op == "retype":
        parent[key] = _retype(value)
    elif op == "surrogate":
        parent[key] = _with_surrogate(draw, value)
    elif op == "surrogate key":
        parent[_with_surrogate(draw, key)] = parent.pop(key)
    elif op == "deepen":
        parent[key] = Deep(draw(st.sampled_from(DEPTHS)), draw(st.sampled_from(("list", "dict"))), value)
    elif op == "huge":
        parent[key] = "x" * draw(st.sampled_from(HUGE))
    elif op == "huge key":
        parent["k" * draw(st.sampled_from(HUGE))] = parent.pop(key)
    elif op == "nan":
        parent[key] = draw(st.sampled_from((float("nan"), float("inf"), float("-inf"))))
    else:
        parent[key] = draw(st.sampled_from((10**400, -(10**4000), 2**64)))


def _has_deep(tree: Any) -> bool:
    if isinstance(tree, Deep):
        return True
    if isinstance(tree, dict):
        return any(_has_deep(v) for v in tree.values())
    if isinstance(tree, list):
        return any(_has_deep(v) for v in tree)
    return False


@st.composite
def mutants(draw: st.DrawFn, cloud: str | None = None, documents: bool = False, max_ops: int = 3) -> Mutant:
    """A real fixture of ``cloud`` after up to ``max_ops`` mutations; with ``documents``, also
    the byte-level ones (bytes that are not UTF-8, a duplicated key, a cut)."""
    name, text = draw(st.sampled_from(fixtures(cloud)))
    mutant = Mutant(name, json.loads(text))
    for _ in range(draw(st.integers(1, max_ops))):
        _mutate(draw, mutant)
    if documents:
        mutant.ascii = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            mutant.inserts = [(draw(st.floats(0, 1)), draw(st.sampled_from(BAD_UTF8)))]
        if draw(st.integers(0, 5)) == 0:
            mutant.duplicate = (draw(st.sampled_from(("source", "detail", "detail-type", "data", "schemaId"))),
                                draw(hostile_values().filter(_finite)))
        if draw(st.integers(0, 9)) == 0:
            mutant.cut = draw(st.floats(0, 1))
    return mutant


def _finite(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------- verdicts
#: Examples per entry point; ``bench/fuzz_entry_points.py`` asks for more.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
#: Set by ``bench/fuzz_entry_points.py``: count each example's verdict in this file (one JSON line
#: each) instead of failing the test on the first problem.
REPORT = os.environ.get("FUZZ_REPORT")
#: The reproducible settings every fuzz test uses: the same examples on every run and machine,
#: no example database, no deadline (the shared CI machine is slow at times).
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                         phases=[Phase.generate] if REPORT else list(Phase),
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.data_too_large, HealthCheck.large_base_example])


@contextmanager
def verdict(entry_point: str, mutant: Mutant) -> Iterator[list[str]]:
    """Around one call of an entry point; the block appends the contract breaks it sees. An
    exception escaping the block is a crash (the traceback a user, Lambda or the Functions host
    would see). Under ``FUZZ_REPORT`` everything is counted, else the first problem fails the test."""
    problems: list[str] = []
    try:
        yield problems
    except Exception as exc:
        if not REPORT:
            raise
        problems.insert(0, f"crash: {type(exc).__name__}")
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as report:
            report.write(json.dumps({"entry_point": entry_point, "problems": problems,
                                     "mutant": repr(mutant)[:300]}) + "\n")
        return
    assert not problems, f"{mutant!r}: {problems}"


def error_problems(error: Any) -> list[str]:
    """What is wrong with an error text: not a string, longer than ``MAX_ERROR_CHARS``, or
    holding a character that cannot be printed as UTF-8."""
    if not isinstance(error, str) or not error:
        return [f"the error is not a non-empty text: {type(error).__name__}"]
    problems = []
    if len(error) > MAX_ERROR_CHARS:
        problems.append(f"error of {len(error)} characters (at most {MAX_ERROR_CHARS})")
    try:
        error.encode("utf-8")
    except UnicodeEncodeError:
        problems.append("error text that cannot be printed (lone surrogate)")
    return problems


def output_problems(output: bytes, summary_keys: frozenset[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The JSON lines a command printed: each must be an object with ``summary_keys`` or an
    ``error`` (a bounded text) and its ``index``. Returns the problems and the lines."""
    problems: list[str] = []
    lines: list[dict[str, Any]] = []
    try:
        text = output.decode("utf-8")
    except UnicodeDecodeError:
        return ["output that is not UTF-8"], []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            problems.append(f"an output line that is not JSON: {line[:80]!r}")
            continue
        lines.append(value)
        if "error" in value:
            problems += error_problems(value["error"])
        elif not summary_keys <= value.keys():
            problems.append(f"a line with neither an error nor {sorted(summary_keys)}: {line[:80]!r}")
    return problems, lines

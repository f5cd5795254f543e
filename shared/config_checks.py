"""Checks of a configuration that go beyond its schema, for ``backup-responder config check``.

Pure functions over the validated configuration (and, for the line numbers, the file's text):

- ``cause_pattern_problems``: a route or silence whose ``match.cause`` pattern matches no cause in
  the catalog would never match anything, silently; it is refused with the nearest causes;
- ``unknown_keys``: keys that no field of the configuration's models reads (``--strict``);
- ``duplicate_keys``: a key given twice in one YAML mapping, where the last one silently wins
  (``--strict``);
- ``line_of``: the line of the value at a location (a pydantic error's ``loc``) in the YAML text.

The configuration is duck-typed (``routes``, ``silences``, each with ``match.cause``), so that this
module does not depend on where the configuration models live.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import yaml
from msgspec import Struct
from pydantic import BaseModel

#: The cause of a failure that no rule matched; routes and silences may name it.
UNCLASSIFIED = "unclassified"
#: How many close causes a "did you mean" names.
SUGGESTIONS = 3

Loc = tuple[str | int, ...]


class Problem(Struct, frozen=True):
    """What is wrong, and where in the file (the keys and indexes that lead to it)."""

    loc: Loc
    message: str


def catalog_causes(rules: Iterable[Any]) -> set[str]:
    """Every cause a failure can get: the cause of each catalog rule, and ``unclassified``."""
    return {str(rule.cause) for rule in rules} | {UNCLASSIFIED}


def _matches_any(pattern: str, causes: Collection[str]) -> bool:
    # The router compares lower-cased (``shared.notify.config._glob``): so does this check.
    return any(fnmatch.fnmatchcase(cause.lower(), pattern.lower()) for cause in causes)


def _suggest(pattern: str, causes: Collection[str]) -> str:
    close = difflib.get_close_matches(pattern.lower(), sorted(causes), n=SUGGESTIONS, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def cause_pattern_findings(config: Any, causes: Collection[str]) -> list[Problem]:
    """Each ``match.cause`` pattern of a route or silence that matches none of ``causes``."""
    problems = []
    for section, label in (("routes", "route"), ("silences", "silence")):
        for index, entry in enumerate(getattr(config, section, None) or []):
            match = getattr(entry, "match", None)
            name = getattr(entry, "name", None) or getattr(entry, "reason", None) or f"#{index + 1}"
            for position, pattern in enumerate(getattr(match, "cause", None) or []):
                if not _matches_any(pattern, causes):
                    problems.append(Problem(
                        (section, index, "match", "cause", position),
                        f"{label} {name!r}: match.cause {pattern!r} matches no cause in the catalog"
                        f"{_suggest(pattern, causes)}"))
    return problems


def cause_pattern_problems(config: Any, causes: Collection[str]) -> list[str]:
    """``cause_pattern_findings`` as sentences."""
    return [problem.message for problem in cause_pattern_findings(config, causes)]


def _names(model: BaseModel) -> set[str]:
    """The keys a model reads: its field names and their aliases."""
    names = set()
    for name, info in type(model).model_fields.items():
        names.add(name)
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names.add(alias)
    return names


def _field_key(model: BaseModel, name: str, raw: dict[str, Any]) -> str | None:
    info = type(model).model_fields[name]
    for key in (info.alias, info.validation_alias, name):
        if isinstance(key, str) and key in raw:
            return key
    return None


def unknown_keys(model: BaseModel, raw: Any, loc: Loc = ()) -> list[Problem]:
    """Keys of ``raw`` (what ``model`` was validated from) that no model field reads, at any depth:
    what a model with ``extra="ignore"`` drops or one with ``extra="allow"`` keeps unread. Values
    that are free-form (``dict[str, Any]``, e.g. a ticket's ``fields``) are not models and are not
    looked into."""
    if not isinstance(raw, dict):
        return []
    problems = [Problem((*loc, key), f"unknown key {key!r}") for key in raw
                if isinstance(key, str) and key not in _names(model)]
    for name in type(model).model_fields:
        key = _field_key(model, name, raw)
        if key is not None:
            problems += _unknown_in(getattr(model, name), raw[key], (*loc, key))
    return problems


def _unknown_in(value: Any, raw: Any, loc: Loc) -> list[Problem]:
    if isinstance(value, BaseModel):
        return unknown_keys(value, raw, loc)
    if isinstance(value, list) and isinstance(raw, list) and len(value) == len(raw):
        return [p for i, (v, r) in enumerate(zip(value, raw, strict=True)) for p in _unknown_in(v, r, (*loc, i))]
    if isinstance(value, list) and isinstance(raw, dict) and len(value) == 1:  # one item given as a mapping
        return _unknown_in(value[0], raw, loc)
    if isinstance(value, dict) and isinstance(raw, dict):
        return [p for k, v in value.items() if k in raw for p in _unknown_in(v, raw[k], (*loc, k))]
    return []


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _pairs(node: yaml.Node) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        yield from node.value


def line_of(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the deepest node of ``loc`` found in the YAML (or JSON) ``text``: the
    key's line for a mapping entry, the item's for a list. Elements that are not keys of the
    file (a pydantic union's tag, a validator's name) are passed over."""
    node = _compose(text)
    if node is None:
        return None
    line: int | None = None
    for step in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
            continue
        for key, value in _pairs(node):
            if isinstance(key, yaml.ScalarNode) and key.value == str(step):
                node, line = value, key.start_mark.line + 1
                break
    return line


def duplicate_keys(text: str) -> list[tuple[int, str]]:
    """(line, key) of each key given again in the same YAML mapping: YAML keeps the last one
    without a word, so a second ``routes:`` would silently drop the first."""
    root = _compose(text)
    found: list[tuple[int, str]] = []
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        found.append((key.start_mark.line + 1, key.value))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(found)

"""Loading and checking the error catalog (the YAML files beside this module)."""

from __future__ import annotations

import re
import re._parser as sre_parse  # type: ignore[import-not-found]  # private, stable; finds mandatory words
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from shared.catalog.schema import CatalogFile, Rule
from shared.parse.azure import CodeBook

CATALOG_DIR = Path(__file__).parent
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogError(ValueError):
    """A catalog file that does not follow the schema, or rules that clash."""


def mandatory_text(pattern: str) -> str:
    """The longest run of literal text every match of ``pattern`` must contain ("" if none):
    a cheap ``in`` test on it lets the classifier skip most regex searches."""
    try:
        items = sre_parse.parse(pattern)
    except re.error:
        return ""
    best, run = "", []
    for op, arg in [*items, (None, None)]:
        if op is sre_parse.LITERAL:
            run.append(chr(arg).lower())
            continue
        best = max(best, "".join(run), key=len)
        run = []
    return best


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule prepared for matching: lower-cased sets and its compiled patterns."""

    rule: Rule
    order: int
    codes: frozenset[str]
    actions: frozenset[str]
    any_action: bool
    #: (mandatory text, pattern) per message pattern of the rule.
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    job_types: frozenset[str]
    resource_types: frozenset[str]
    not_resource_types: frozenset[str]


def _compile(rule: Rule, order: int) -> CompiledRule:
    m = rule.match
    actions = {a.lower() for a in m.decoded_actions}
    return CompiledRule(
        rule=rule,
        order=order,
        codes=frozenset(c.lower() for c in m.codes),
        actions=frozenset(actions - {"*"}),
        any_action="*" in actions,
        patterns=tuple((mandatory_text(p), re.compile(p, re.I)) for p in m.messages),
        job_types=frozenset(rule.job_types),
        resource_types=frozenset(t.lower() for t in rule.resource_types),
        not_resource_types=frozenset(t.lower() for t in rule.not_resource_types),
    )


@dataclass(frozen=True)
class CloudIndex:
    """One cloud's rules, indexed the ways a failure can match them."""

    by_code: dict[str, tuple[CompiledRule, ...]]
    by_action: dict[str, tuple[CompiledRule, ...]]
    any_action: tuple[CompiledRule, ...]
    messages: tuple[tuple[str, re.Pattern[str], CompiledRule], ...]

    @classmethod
    def of(cls, rules: Iterable[CompiledRule]) -> CloudIndex:
        by_code: dict[str, list[CompiledRule]] = {}
        by_action: dict[str, list[CompiledRule]] = {}
        any_action, messages = [], []
        for c in rules:
            for code in c.codes:
                by_code.setdefault(code, []).append(c)
            for action in c.actions:
                by_action.setdefault(action, []).append(c)
            if c.any_action:
                any_action.append(c)
            messages += [(text, pattern, c) for text, pattern in c.patterns]
        return cls({k: tuple(v) for k, v in by_code.items()}, {k: tuple(v) for k, v in by_action.items()},
                   tuple(any_action), tuple(messages))


class Catalog:
    """All rules, in file-name order, indexed by cloud and by id."""

    def __init__(self, rules: Iterable[Rule], sources: Iterable[str] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.sources = tuple(sources)
        self._by_id: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.id in self._by_id:
                raise CatalogError(f"duplicate rule id {rule.id}")
            self._by_id[rule.id] = rule
        compiled = [_compile(rule, i) for i, rule in enumerate(self.rules)]
        self.index: dict[str, CloudIndex] = {
            cloud: CloudIndex.of(c for c in compiled if c.rule.cause.startswith(cloud + "."))
            for cloud in ("aws", "azure")
        }
        self.codes = CodeBook(code for rule in self.rules for code in rule.match.codes)

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def causes(self) -> set[str]:
        return {rule.cause for rule in self.rules}

    def __len__(self) -> int:
        return len(self.rules)


def load_file(path: Path) -> CatalogFile:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe loader)
        return CatalogFile.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise CatalogError(f"{path.name}: {exc}") from exc


def load_catalog(directory: Path | None = None) -> Catalog:
    """Every ``*.yaml`` in ``directory`` (default: the bundled catalog), validated."""
    paths = sorted((directory or CATALOG_DIR).glob("*.yaml"))
    if not paths:
        raise CatalogError(f"no catalog files in {directory or CATALOG_DIR}")
    files = [load_file(p) for p in paths]
    return Catalog((rule for f in files for rule in f.rules), (p.name for p in paths))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The bundled catalog, loaded once per process."""
    return load_catalog()

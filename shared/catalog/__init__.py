"""Loading and checking the error catalog (the YAML files beside this module)."""

from __future__ import annotations

import re
import re._parser as sre_parse  # type: ignore[import-not-found]  # private, stable; finds mandatory words
from collections import Counter
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


_WORD = re.compile(r"[a-z0-9]+")


def certain_words(mandatory: str) -> list[str]:
    """The whole words of a pattern's mandatory text: those with a separator on both sides, so
    they are tokens of any text the pattern matches."""
    return [m.group() for m in _WORD.finditer(mandatory) if m.start() > 0 and m.end() < len(mandatory)]


def words_of(text: str) -> set[str]:
    """The tokens ``key_word`` is looked up by."""
    return set(_WORD.findall(text))


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule prepared for matching: lower-cased sets and its compiled patterns."""

    rule: Rule
    order: int
    codes: frozenset[str]
    actions: frozenset[str]
    any_action: bool
    patterns: tuple[re.Pattern[str], ...]
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
        patterns=tuple(re.compile(p, re.I) for p in m.messages),
        job_types=frozenset(rule.job_types),
        resource_types=frozenset(t.lower() for t in rule.resource_types),
        not_resource_types=frozenset(t.lower() for t in rule.not_resource_types),
    )


Candidate = tuple[str, re.Pattern[str], CompiledRule]


@dataclass(frozen=True)
class CloudIndex:
    """One cloud's rules, indexed the ways a failure can match them."""

    by_code: dict[str, tuple[CompiledRule, ...]]
    by_action: dict[str, tuple[CompiledRule, ...]]
    any_action: tuple[CompiledRule, ...]
    #: Message patterns by their rarest certain word, so a message meets only plausible patterns;
    #: each with its mandatory text, a cheap ``in`` test before the regex.
    by_word: dict[str, tuple[Candidate, ...]]
    #: Patterns with no certain word: tried on every message (after the ``in`` test).
    unkeyed: tuple[Candidate, ...]
    keywords: frozenset[str]

    @classmethod
    def of(cls, rules: Iterable[CompiledRule]) -> CloudIndex:
        by_code: dict[str, list[CompiledRule]] = {}
        by_action: dict[str, list[CompiledRule]] = {}
        rules = tuple(rules)
        any_action, unkeyed = [], []
        by_word: dict[str, list[Candidate]] = {}
        entries = [(mandatory_text(p.pattern), p, c) for c in rules for p in c.patterns]
        frequency = Counter(w for mandatory, _, _ in entries for w in set(certain_words(mandatory)))
        for mandatory, pattern, c in entries:
            words = certain_words(mandatory)
            if words:
                rarest = min(words, key=lambda w: (frequency[w], -len(w)))
                by_word.setdefault(rarest, []).append((mandatory, pattern, c))
            else:
                unkeyed.append((mandatory, pattern, c))
        for c in rules:
            for code in c.codes:
                by_code.setdefault(code, []).append(c)
            for action in c.actions:
                by_action.setdefault(action, []).append(c)
            if c.any_action:
                any_action.append(c)
        return cls({k: tuple(v) for k, v in by_code.items()}, {k: tuple(v) for k, v in by_action.items()},
                   tuple(any_action), {k: tuple(v) for k, v in by_word.items()}, tuple(unkeyed),
                   frozenset(by_word))


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

"""Loading and checking the error catalog (the YAML files beside this module).

The YAML files are the reviewed source. Reading, validating and indexing them takes a few hundred
milliseconds, paid on every cold start; ``compiled*.pickle`` beside them hold the result (the
validated rules, the provider knowledge and the matchers' inputs), built by
``tools/compile_catalog.py`` and keyed by a hash of the files and of the code that defines what they
hold: one file for both clouds (the CLI) and one for each cloud alone, since the Lambda never needs
Azure's rules and code book nor the Azure function AWS's. ``default_catalog`` loads one in a few
milliseconds when its key is current, and falls back to the YAML otherwise
(``tests/test_compiled_catalog.py`` fails then, saying how to rebuild them).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import re._parser as sre_parse  # type: ignore[import-not-found]  # private, stable; weighs patterns
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import re2  # type: ignore[import-untyped]
from msgspec import Struct

from shared.catalog.knowledge import KNOWLEDGE_FILES, Knowledge, load_knowledge
from shared.catalog.schema import CatalogFile, Rule
from shared.vocab import Cloud

CATALOG_DIR = Path(__file__).parent
#: The clouds a catalog can hold rules for (a rule's cloud is the first word of its cause).
CLOUDS: tuple[str, ...] = tuple(cloud.value for cloud in Cloud)
#: The modules whose classes the compiled catalog holds: a change to them makes it stale too.
_CODE = ("__init__.py", "knowledge.py", "schema.py", "../parse/codes.py")
log = logging.getLogger("backup_responder")


class CatalogError(ValueError):
    """A catalog file that does not follow the schema, or rules that clash."""


#: The cloud sets a catalog is compiled for: both (the CLI), and each alone (its function).
COMPILED_CLOUDS: tuple[tuple[str, ...], ...] = (CLOUDS, *((cloud,) for cloud in CLOUDS))


def compiled_path(clouds: Iterable[str] = CLOUDS, directory: Path = CATALOG_DIR) -> Path:
    """Where the compiled catalog of ``clouds`` is kept."""
    chosen = sorted(set(clouds))
    return directory / ("compiled.pickle" if chosen == sorted(CLOUDS) else f"compiled-{'-'.join(chosen)}.pickle")


#: The compiled catalog of both clouds (see the module's docstring).
COMPILED = compiled_path()


def literal_weight(pattern: str) -> int:
    """How many literal characters every match of ``pattern`` contains: a pattern's specificity
    (``kms key .* cannot be found`` says more than ``not found``); alternatives count their weakest."""
    try:
        return _weight(sre_parse.parse(pattern))
    except re.error:
        return 0


def _weight(items: Any) -> int:
    total = 0
    for op, arg in items:
        if op is sre_parse.LITERAL:
            total += 1
        elif op is sre_parse.SUBPATTERN:
            total += _weight(arg[-1])
        elif op is sre_parse.BRANCH:
            total += min(_weight(branch) for branch in arg[1])
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)):
            total += arg[0] * _weight(arg[2])
    return total


class CompiledRule(Struct, frozen=True):
    """A rule prepared for matching: lower-cased sets and its compiled patterns."""

    rule: Rule
    order: int
    codes: frozenset[str]
    actions: frozenset[str]
    any_action: bool
    patterns: tuple[str, ...]
    job_types: frozenset[str]
    resource_types: frozenset[str]
    not_resource_types: frozenset[str]
    states: frozenset[str]
    #: The layer the rule ranks in, whatever it matched: specific rules over rules that know only a
    #: job state or a documented code, over family rules (see README.md, "How a failure is matched").
    layer: int


#: The layers, strongest first: rules written for a failure; rules that know only a job state or
#: what the provider documents about a code; family rules.
LAYER_SPECIFIC, LAYER_STATE, LAYER_FAMILY = 2, 1, 0


def _layer(rule: Rule) -> int:
    if rule.family:
        return LAYER_FAMILY
    m = rule.match
    only_state = m.states and not (m.codes or m.messages or m.decoded_actions)
    return LAYER_STATE if only_state or rule.documented else LAYER_SPECIFIC


def _compile(rule: Rule, order: int) -> CompiledRule:
    m = rule.match
    actions = {a.lower() for a in m.decoded_actions}
    return CompiledRule(
        rule=rule,
        order=order,
        codes=frozenset(c.lower() for c in m.codes),
        actions=frozenset(actions - {"*"}),
        any_action="*" in actions,
        patterns=tuple(m.messages),
        job_types=frozenset(rule.job_types),
        resource_types=frozenset(t.lower() for t in rule.resource_types),
        not_resource_types=frozenset(t.lower() for t in rule.not_resource_types),
        states=frozenset(s.upper() for s in m.states),
        layer=_layer(rule),
    )


#: A message pattern as the index keeps it: the pattern, its specificity, its rule.
Pattern = tuple[str, int, CompiledRule]


DFA_MEMORY = 64 << 20
#: A bounded repetition as a pattern writes it (``{80}``, ``{0,80}``, ``{2,}``), not escaped.
_BOUNDED = re.compile(r"(?<!\\)\{\d+(?:,\d*)?\}")
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT)


def loosened(pattern: str) -> str:
    """``pattern`` with its bounded repetitions unbounded (``.{0,80}`` as ``.*``) when that is the
    only difference the parser sees, else ``pattern`` itself. It matches wherever ``pattern`` does;
    in an RE2 set, where each counted position is a state of the DFA, it keeps far fewer states
    on text the set has not seen (``MessageMatcher``)."""
    loose = _BOUNDED.sub("*", pattern)
    if loose == pattern:
        return pattern
    try:
        same = _shape(sre_parse.parse(pattern), unbound=True) == _shape(sre_parse.parse(loose), unbound=False)
    except re.error:
        return pattern
    return loose if same else pattern


def _shape(items: Any, unbound: bool) -> tuple[Any, ...]:
    """A parsed pattern as nested tuples, with (``unbound``) every counted repetition as ``*``."""
    shape: list[Any] = []
    for op, arg in items:
        if op in _REPEATS:
            low, high, item = arg
            if unbound and high != sre_parse.MAXREPEAT and (low, high) != (0, 1):
                low, high = 0, sre_parse.MAXREPEAT
            shape.append((op, low, high, _shape(item, unbound)))
        elif op is sre_parse.SUBPATTERN:
            shape.append((op, *arg[:3], _shape(arg[3], unbound)))
        elif op is sre_parse.BRANCH:
            shape.append((op, tuple(_shape(branch, unbound) for branch in arg[1])))
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            shape.append((op, arg[0], _shape(arg[1], unbound)))
        elif isinstance(arg, (int, str, type(None))) or op is sre_parse.IN or op is sre_parse.AT:
            shape.append((op, repr(arg)))
        else:  # anything else is not compared: the pattern stays as written
            shape.append((op, object()))
    return tuple(shape)


class MessageMatcher:
    """Every message pattern of a cloud in one RE2 set: one pass over the text, in time linear in
    its length and independent of the number of rules, finds every pattern that matches.

    The set holds each pattern ``loosened``, and a pattern that was is confirmed as written on the
    few texts the set says it matches: the answer is the written patterns', while the set's DFA
    stays small (measured on messages it has not seen, Azure's set: 3.4 us a message instead of
    8.7, and 14.7 instead of 22.9 while it warms up; it compiles in 6.6 ms instead of 17.5, AWS's
    in 5 instead of 8)."""

    def __init__(self, patterns: Iterable[Pattern], loose: Mapping[str, str] | None = None) -> None:
        self.patterns: tuple[Pattern, ...] = tuple(patterns)
        if loose is None:
            loose = {p: loosened(p) for p in dict.fromkeys(entry[0] for entry in self.patterns)}
        #: The written patterns whose form in the set differs, and that form.
        self.loose: dict[str, str] = {p: form for p, form in loose.items() if form != p}
        self._set: Any = None  # compiled on first use: an AWS function never needs the Azure set
        self._written: dict[str, Any] = {}  # a loosened pattern as written, compiled when first confirmed

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its patterns and their loosened forms; the RE2 set is compiled again where
        it is used."""
        return MessageMatcher, (self.patterns, self.loose)

    @staticmethod
    def _options() -> Any:
        options = re2.Options()
        options.case_sensitive = False
        # Room for the set's DFA: with RE2's default 8 MB the Azure set falls back to a slower
        # engine on most messages (measured: 70 us a message, 15 us with this budget).
        options.max_mem = DFA_MEMORY
        return options

    def _compile(self) -> None:
        regex_set = re2.Set.SearchSet(self._options())
        # Family rules share their words: each distinct pattern is in the set once.
        users: list[list[Pattern]] = []
        slots: dict[str, int] = {}
        for entry in self.patterns:
            if entry[0] not in slots:
                slots[entry[0]] = len(users)
                users.append([])
                regex_set.Add(self.loose.get(entry[0], entry[0]))
            users[slots[entry[0]]].append(entry)
        regex_set.Compile()
        # The users first: a thread that sees the set sees its users (two threads compiling at
        # once build the same two).
        self._users: list[list[Pattern]] = users
        self._set = regex_set

    def _as_written(self, pattern: str, text: str) -> bool:
        written = self._written.get(pattern)
        if written is None:
            written = self._written[pattern] = re2.compile(pattern, self._options())
        return written.search(text) is not None

    def matches(self, text: str) -> list[Pattern]:
        if not self.patterns:
            return []
        if self._set is None:
            self._compile()
        found = []
        for slot in sorted(self._set.Match(text) or ()):
            users = self._users[slot]
            if users[0][0] not in self.loose or self._as_written(users[0][0], text):
                found.extend(users)
        return found


class CloudIndex(Struct, frozen=True):
    """One cloud's rules, indexed the ways a failure can match them."""

    by_code: dict[str, tuple[CompiledRule, ...]]
    by_action: dict[str, tuple[CompiledRule, ...]]
    any_action: tuple[CompiledRule, ...]
    messages: MessageMatcher
    #: Family rules by the family of error codes they also match.
    by_family: dict[str, tuple[CompiledRule, ...]]
    #: Rules that match a job state alone (a job with no message).
    by_state: dict[str, tuple[CompiledRule, ...]]

    @classmethod
    def of(cls, rules: Iterable[CompiledRule]) -> CloudIndex:
        rules = tuple(rules)
        by_code: dict[str, list[CompiledRule]] = {}
        by_action: dict[str, list[CompiledRule]] = {}
        by_family: dict[str, list[CompiledRule]] = {}
        by_state: dict[str, list[CompiledRule]] = {}
        any_action = []
        for c in rules:
            for code in c.codes:
                by_code.setdefault(code, []).append(c)
            for action in c.actions:
                by_action.setdefault(action, []).append(c)
            if c.any_action:
                any_action.append(c)
            if c.rule.family:
                by_family.setdefault(c.rule.family, []).append(c)
            if c.layer == LAYER_STATE:
                for state in c.states:
                    by_state.setdefault(state, []).append(c)
        matcher = MessageMatcher((p, literal_weight(p), c) for c in rules for p in c.patterns)

        def frozen(table: dict[str, list[CompiledRule]]) -> dict[str, tuple[CompiledRule, ...]]:
            return {k: tuple(v) for k, v in table.items()}

        return cls(frozen(by_code), frozen(by_action), tuple(any_action), matcher, frozen(by_family),
                   frozen(by_state))


class Catalog:
    """The rules of ``clouds`` (default: both), in file-name order, indexed by cloud and by id, with
    what the providers document about those clouds' codes."""

    def __init__(self, rules: Iterable[Rule], sources: Iterable[str] = (), umbrella_codes: Iterable[str] = (),
                 knowledge_dir: Path | None = None, clouds: Iterable[str] = CLOUDS) -> None:
        self.clouds = tuple(clouds)
        if unknown := set(self.clouds) - set(CLOUDS):
            raise CatalogError(f"unknown cloud {sorted(unknown)[0]!r} (one of: {', '.join(CLOUDS)})")
        written = tuple(rule for rule in rules if rule.cause.split(".")[0] in self.clouds)
        rule_codes: dict[str, list[str]] = {cloud: [] for cloud in self.clouds}
        for rule in written:
            rule_codes[rule.cause.split(".")[0]].extend(rule.match.codes)
        self.knowledge: Knowledge = load_knowledge(knowledge_dir, umbrella_codes, rule_codes, self.clouds)
        #: The rules written by people, then those the catalog derives from the code book for
        #: documented codes that no written rule knows.
        self.rules: tuple[Rule, ...] = (*written, *self.knowledge.documented_rules())
        self.sources = tuple(sources)
        self._by_id: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.id in self._by_id:
                raise CatalogError(f"duplicate rule id {rule.id}")
            self._by_id[rule.id] = rule
        compiled = [_compile(rule, i) for i, rule in enumerate(self.rules)]
        self.index: dict[str, CloudIndex] = {
            cloud: CloudIndex.of(c for c in compiled if c.rule.cause.startswith(cloud + "."))
            for cloud in self.clouds
        }
        #: Documented spellings, for the parsers (Azure alerts embed codes lower-cased).
        self.codes = self.knowledge.codebooks["azure"]
        self.aws_codes = self.knowledge.codebooks["aws"]

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def causes(self) -> set[str]:
        return {rule.cause for rule in self.rules}

    def __len__(self) -> int:
        return len(self.rules)


def load_file(path: Path) -> CatalogFile:
    import yaml  # here: a cold start reads the compiled catalog, not the YAML

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loader)
        return CatalogFile.model_validate(data)
    except (yaml.YAMLError, ValueError) as exc:  # msgspec.ValidationError, or a check that failed
        raise CatalogError(f"{path.name}: {exc}") from exc


def rule_files(directory: Path | None = None) -> list[Path]:
    """The catalog's rule files: every ``*.yaml`` in ``directory`` but the provider knowledge."""
    return sorted(p for p in (directory or CATALOG_DIR).glob("*.yaml") if p.name not in KNOWLEDGE_FILES)


def load_catalog(directory: Path | None = None, clouds: Iterable[str] = CLOUDS) -> Catalog:
    """Every rule file in ``directory`` (default: the bundled catalog), validated (every file, so
    that a catalog of one cloud refuses what the catalog of both would), with the rules of ``clouds``."""
    paths = rule_files(directory)
    if not paths:
        raise CatalogError(f"no catalog files in {directory or CATALOG_DIR}")
    files = [load_file(p) for p in paths]
    return Catalog((rule for f in files for rule in f.rules), (p.name for p in paths),
                   (code for f in files for code in f.umbrella_codes), clouds=clouds)


def source_key(directory: Path | None = None) -> str:
    """The hash the compiled catalog is keyed by: every data file of the catalog and the code that
    defines the compiled objects (any change to them makes it stale)."""
    folder = directory or CATALOG_DIR
    digest = hashlib.sha256()
    data = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".json"))
    for path in (*data, *(CATALOG_DIR / name for name in _CODE)):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def compile_catalog(catalog: Catalog, key: str) -> bytes:
    """The compiled form of ``catalog`` under ``key`` (``tools/compile_catalog.py`` writes it)."""
    return pickle.dumps({"key": key, "catalog": catalog}, protocol=pickle.HIGHEST_PROTOCOL)


def load_compiled(path: Path = COMPILED, key: str | None = None) -> Catalog | None:
    """The catalog compiled at ``path`` if it is current (its key is ``key``, default: the bundled
    catalog's), else None. The file is part of the package, as trusted as its code."""
    try:
        stored = pickle.loads(path.read_bytes())  # noqa: S301 (the package's own file, see above)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError) as exc:
        log.debug("compiled catalog not used: %s", exc)
        return None
    if not isinstance(stored, dict) or stored.get("key") != (key or source_key()):
        log.warning("the compiled catalog is stale: reading the YAML (run tools/compile_catalog.py)")
        return None
    catalog = stored.get("catalog")
    return catalog if isinstance(catalog, Catalog) else None


def default_catalog(clouds: Iterable[str] = CLOUDS) -> Catalog:
    """The bundled catalog of ``clouds`` (an entry point that handles one cloud's failures loads that
    cloud's alone), loaded once per process: compiled when current, else from the YAML."""
    return _bundled(tuple(sorted(set(clouds))))


@lru_cache(maxsize=len(COMPILED_CLOUDS))
def _bundled(clouds: tuple[str, ...]) -> Catalog:
    return load_compiled(compiled_path(clouds)) or load_catalog(clouds=clouds)

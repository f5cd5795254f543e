"""The classifier: a ``Failure`` in, the best-matching catalog rule out as a ``Finding``.

Precedence is by specificity, never by file order; it is described in ``shared/catalog/README.md``
so that catalog authors can predict it, and ``explain`` says why a rule won.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from msgspec import Struct, field

from shared.catalog import LAYER_FAMILY, LAYER_SPECIFIC, LAYER_STATE, Catalog, CompiledRule, default_catalog
from shared.models import UNCLASSIFIED, DecodedAuthorization, Failure, Finding
from shared.text import fill, names_in, normalise_message

#: What each kind of evidence weighs in the specific and state layers.
#: A decoded authorization message outranks what the encoded text suggests, whatever action it names.
WEIGHTS = {"decoded": 4, "code": 3, "inferred-code": 3, "message": 2, "any-action": 3, "state": 1, "umbrella-code": 1}
#: In the family layer any evidence weighs the same, so a family named by the code and one named by
#: the words tie, and the family rules' priorities decide (a KMS error beats "not found"; a stack
#: "in UPDATE_IN_PROGRESS state" is in an invalid state though the code says ValidationError).
FAMILY_WEIGHT = 2
#: How sure each kind of evidence makes an answer, measured on the evaluation corpus
#: (``backup-responder catalog eval``): answers at 0.8 or more must be right, so a message
#: pattern alone, or a code whose message the rule's patterns do not recognise, stays below it.
CONFIDENCE = {
    "decoded": 0.97,          # the decoded authorization message names the action
    "code+message": 0.95,     # the code and the rule's words
    "code": 0.9,              # a documented code and no message to contradict it
    "code-only-rule": 0.85,   # a rule that knows only the code; the message says more than it reads
    "code-unrecognised": 0.75,  # the rule's words are not in the message
    "inferred-code+message": 0.9,
    "documented-message": 0.85,  # a pattern of LONG_PATTERN literal characters or more: a documented sentence
    "message": 0.75,
    "inferred-code": 0.7,     # a documented message recognised in the text, nothing else
    "any-action": 0.7,
    "state": 0.7,
    "umbrella-code": 0.6,     # only a wrapper code matched: the description decides
}
#: A pattern with this many literal characters repeats a documented sentence, not a few words.
LONG_PATTERN = 40
#: How much a rule scoped to a job or resource type is trusted when the failure does not say.
UNSTATED_SCOPE_FACTOR = 0.9
#: Rules that only a wrapper code matched rank last of all.
LAYER_UMBRELLA = LAYER_FAMILY - 1
LAYER_NAMES = {LAYER_UMBRELLA: "umbrella", LAYER_FAMILY: "family", LAYER_STATE: "state", LAYER_SPECIFIC: "specific"}
_SPACE = re.compile(r"\s+")
#: "({code})" in a title when the failure has no code: dropped rather than shown as a placeholder.
_UNFILLED_ASIDE = re.compile(r"\s*\(\{\w+\}\)")


class Candidate(Struct):
    """A rule that matched, with what matched it."""

    rule: CompiledRule
    evidence: dict[str, str] = field(default_factory=dict)  # kind -> what matched
    specificity: int = 0
    #: Job and resource types the rule is scoped to that the failure states (and so confirms)...
    scope: int = 0
    #: ...and those the failure does not state: such a rule is less sure than an unscoped one.
    unconfirmed: int = 0

    @property
    def layer(self) -> int:
        """The rule's layer; below every family when only a wrapper code matched it, so that the
        description's meaning (a family's words) decides first."""
        only_umbrella = len(self.evidence) == 1 and "umbrella-code" in self.evidence
        return LAYER_UMBRELLA if only_umbrella else self.rule.layer

    @property
    def strength(self) -> int:
        if self.rule.layer == LAYER_FAMILY:
            return FAMILY_WEIGHT
        return sum(WEIGHTS[kind] for kind in self.evidence)

    def rank(self) -> tuple[int, int, int, int, int, int]:
        """Higher wins: layer, evidence, confirmed scope, pattern specificity, fewer unconfirmed
        scopes, the rule's priority. Between family rules the priority comes before the wording:
        which family an error belongs to is the catalog's decision, not the pattern's length."""
        first, last = self.specificity, self.rule.rule.priority
        if self.layer == LAYER_FAMILY:
            first, last = last, first
        return (self.layer, self.strength, self.scope, first, -self.unconfirmed, last)

    def sort_key(self) -> tuple[tuple[int, ...], str]:
        """Ascending: the best rank first, then (only for an exact tie) the smallest rule id, so
        that the answer never depends on file order; `catalog check` reports a rule whose own
        example is decided that way."""
        layer, strength, scope, first, confirmed, last = self.rank()
        return (-layer, -strength, -scope, -first, -confirmed, -last), self.rule.rule.id

    def describe(self) -> dict[str, Any]:
        layer, strength, scope, _, unconfirmed, _ = self.rank()
        specificity, priority = self.specificity, self.rule.rule.priority
        return {"rule": self.rule.rule.id, "cause": self.rule.rule.cause,
                "layer": LAYER_NAMES[layer], "evidence": dict(self.evidence),
                "strength": strength, "scope": scope, "specificity": specificity,
                "unconfirmed_scope": -unconfirmed, "priority": priority}


#: Decisions remembered per classifier: a storm repeats a handful of messages across many jobs.
DECISIONS_REMEMBERED = 4096
#: What a decision depends on besides the catalog (``_decision_key``), and what it is: the finding,
#: the rule's title when it names placeholders (filled for each failure), and the code filled in.
DecisionKey = tuple[Any, ...]
Decision = tuple[Finding, str | None, str | None]


def _decision_key(failure: Failure) -> DecisionKey | None:
    """Every field of a failure that the finding depends on, except the placeholders a title names
    (None when a decoded authorization message takes part: those are rare and not remembered)."""
    if failure.decoded is not None:
        return None
    return (failure.cloud, failure.message, tuple(failure.codes), failure.code, failure.job_type,
            failure.resource_type, failure.state, failure.failed, failure.recovered)


class Classifier:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or default_catalog()
        self._decisions: OrderedDict[DecisionKey, Decision] = OrderedDict()
        self._remembering = threading.Lock()

    def candidates(self, failure: Failure, ranked: bool = True) -> list[Candidate]:
        """Every rule that matches and whose scope admits the failure, the winner first (in no
        particular order when not ``ranked``)."""
        index = self.catalog.index.get(failure.cloud)
        if index is None:
            return []
        knowledge = self.catalog.knowledge
        text = normalise_message(failure.message)
        decoded = failure.decoded
        action = (decoded.action or "").lower() if decoded else ""
        found: dict[int, Candidate] = {}

        def hit(c: CompiledRule, kind: str, what: str, specificity: int = 0) -> None:
            candidate = found.get(c.order)
            if candidate is None:
                candidate = found[c.order] = Candidate(c)
            candidate.evidence.setdefault(kind, what)
            candidate.specificity = max(candidate.specificity, specificity)

        if action:
            exact = index.by_action.get(action, ())
            for c in exact:
                hit(c, "decoded", action)
            for c in index.any_action:
                if c not in exact:
                    hit(c, "any-action", action)

        codes = list(failure.codes or ([failure.code] if failure.code else []))
        # A documented message recognised in the text names the code that an alert without one
        # (or with only a wrapper code) leaves out.
        needs_code = not codes or all(knowledge.is_umbrella(failure.cloud, c) for c in codes)
        inferred = knowledge.infer_code(failure.cloud, text, failure.resource_type) if text and needs_code else None
        if inferred and inferred.lower() in {c.lower() for c in codes}:
            inferred = None  # the failure carries it: not an inference
        if inferred:
            codes.append(inferred)
        for code in codes:
            umbrella = knowledge.is_umbrella(failure.cloud, code)
            for c in index.by_code.get(code.lower(), ()):
                hit(c, "umbrella-code" if umbrella else "code", code)
            family = None if umbrella else knowledge.family(failure.cloud, code, failure.resource_type)
            for c in index.by_family.get(family or "", ()):
                hit(c, "code", f"{code} ({family})")

        for pattern, weight, c in index.messages.matches(text) if text else ():
            hit(c, "message", pattern, weight)

        state = (failure.state or "").upper()
        if state and not text:
            for c in index.by_state.get(state, ()):
                hit(c, "state", state)

        resource_type = (failure.resource_type or "").lower()
        job_stated, resource_stated = bool(failure.job_type), bool(resource_type)
        admitted = []
        for candidate in found.values():
            c = candidate.rule
            if not _applies(c, failure.job_type, resource_type, state, decoded):
                continue
            job_scoped, resource_scoped = bool(c.job_types), bool(c.resource_types)
            candidate.scope = (job_stated and job_scoped) + (resource_stated and resource_scoped)
            candidate.unconfirmed = (job_scoped and not job_stated) + (resource_scoped and not resource_stated)
            if inferred and candidate.evidence.get("code") == inferred:
                candidate.evidence["inferred-code"] = candidate.evidence.pop("code")
            admitted.append(candidate)
        if ranked:
            admitted.sort(key=Candidate.sort_key)
        return admitted

    def best_rule(self, failure: Failure) -> tuple[CompiledRule, int, str] | None:
        """The winning rule, its evidence strength and its strongest kind of evidence."""
        ranked = self.candidates(failure)
        if not ranked:
            return None
        return ranked[0].rule, ranked[0].strength, _strongest(ranked[0])

    def explain(self, failure: Failure, limit: int = 5) -> dict[str, Any]:
        """Why the winner won: the ranked candidates with what matched each."""
        ranked = self.candidates(failure)
        return {"order": ("layer, evidence strength, confirmed scope, pattern specificity (between family "
                          "rules: priority), fewer unconfirmed scopes, priority (between family rules: specificity)"),
                "candidates": [c.describe() for c in ranked[:limit]],
                "codes": failure.codes or ([failure.code] if failure.code else [])}

    def classify(self, failure: Failure) -> Finding:
        """The finding for ``failure``. Classifying is a pure function of the failure's fields and
        the catalog, so a decision is remembered (a bounded number, the oldest forgotten first) and
        only a title that names placeholders is filled again."""
        key = _decision_key(failure)
        if key is None:
            return self._decide(failure)[0]
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decide(failure)
            with self._remembering:  # the Azure worker classifies on several threads
                self._decisions[key] = decision
                if len(self._decisions) > DECISIONS_REMEMBERED:
                    self._decisions.popitem(last=False)  # O(1), where a dict's oldest key is not
            return decision[0]
        finding, template, code = decision
        if template is None:
            return finding
        return finding.model_copy(update={"title": _title(template, failure, code)})

    def _decide(self, failure: Failure) -> Decision:
        found = self.candidates(failure, ranked=False)
        if not found:
            return unclassified(failure, self.catalog), None, None
        winner = min(found, key=Candidate.sort_key)
        rule = winner.rule.rule
        base = CONFIDENCE[_evidence_kind(winner, bool(failure.message))]
        confidence = min(rule.confidence, base) if rule.confidence else base
        if rule.job_types and not failure.job_type:
            confidence *= UNSTATED_SCOPE_FACTOR
        if rule.resource_types and not failure.resource_type:
            confidence *= UNSTATED_SCOPE_FACTOR
        code = failure.code or winner.evidence.get("inferred-code")
        template = rule.title if "{" in rule.title else None
        generic = winner.layer < LAYER_STATE or rule.documented
        finding = Finding(
            cause=rule.cause,
            rule=rule.id,
            code=self.catalog.knowledge.spell(failure.cloud, code),
            confidence=round(confidence, 3),
            title=_title(rule.title, failure, code),
            severity=rule.severity,
            explicit_deny=bool(failure.decoded and failure.decoded.explicit_deny),
            documentation=_documentation(self.catalog, failure, code) if generic else None,
        )
        return finding, template, code


def _title(title: str, failure: Failure, code: str | None) -> str:
    """A rule's title with the failure's values, on one line."""
    if "{" in title:
        values = {name: value for name in names_in(title) if (value := failure.placeholder(name))}
        if code:
            values["code"] = code
        title = fill(title, values)
        if "({" in title:
            title = _UNFILLED_ASIDE.sub("", title)
    if "  " in title or "\n" in title:
        title = _SPACE.sub(" ", title)
    return title.strip()


_KIND_ORDER = ("decoded", "code", "inferred-code", "message", "any-action", "state", "umbrella-code")


def _strongest(candidate: Candidate) -> str:
    return next(kind for kind in _KIND_ORDER if kind in candidate.evidence)


def _evidence_kind(candidate: Candidate, has_message: bool) -> str:
    """The row of ``CONFIDENCE`` that describes what matched the winner."""
    kinds = set(candidate.evidence)
    if "decoded" in kinds:
        return "decoded"
    for code in ("code", "inferred-code"):
        if code in kinds and "message" in kinds:
            return f"{code}+message"
    if "code" in kinds:
        if not has_message:
            return "code"
        return "code-unrecognised" if candidate.rule.patterns else "code-only-rule"
    if set(kinds) == {"message"} and candidate.specificity >= LONG_PATTERN:
        return "documented-message"
    return _strongest(candidate)


def _applies(c: CompiledRule, job_type: str | None, resource_type: str, state: str,
             decoded: DecodedAuthorization | None) -> bool:
    """Whether a rule's scope admits the failure (unstated job or resource types admit any rule)."""
    if job_type and c.job_types and job_type not in c.job_types:
        return False
    if resource_type and ((c.resource_types and resource_type not in c.resource_types)
                          or resource_type in c.not_resource_types):
        return False
    if c.states and state not in c.states:
        return False
    wants_deny = c.rule.match.explicit_deny
    if wants_deny is None:
        return True
    return decoded.explicit_deny == wants_deny if decoded is not None else not wants_deny


def _documentation(catalog: Catalog, failure: Failure, code: str | None) -> str | None:
    """The provider's own words about the code: the best explanation a generic answer has."""
    doc = catalog.knowledge.doc(failure.cloud, code, failure.resource_type)
    if doc is None or not doc.doc:
        return None
    where = f" ({doc.where})" if doc.where else ""
    return f"{doc.code}{where}: {doc.doc}"


def unclassified(failure: Failure, catalog: Catalog | None = None) -> Finding:
    """A failure no rule knows: kept with its raw message, never an error."""
    service = "AWS Backup" if failure.cloud == "aws" else "Azure Backup"
    what = f"{service} {failure.job_type} job" if failure.job_type else f"{service} job"
    if not failure.failed:
        state = "recovered" if failure.recovered else (failure.state or "changed state").lower()
        title = f"{what} {state} (not a failure)"
    else:
        detail = f": {failure.code or (failure.message or '')[:200]}" if (failure.code or failure.message) else ""
        title = f"Unrecognised {what} failure{detail}"
    title = " ".join(title.split())  # the white space of ``\s+``, collapsed and stripped
    if len(title) > 160:
        title = title[:157] + "..."
    code = catalog.knowledge.spell(failure.cloud, failure.code) if catalog else failure.code
    documentation = _documentation(catalog, failure, failure.code) if catalog and failure.failed else None
    return Finding(cause=UNCLASSIFIED, rule=None, code=code, confidence=0.0, title=title,
                   severity="medium" if failure.failed else "low", documentation=documentation)

"""The classifier: a ``Failure`` in, the best-matching catalog rule out as a ``Finding``.

Scoring is described in ``shared/catalog/README.md`` so that catalog authors can predict it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.catalog import Catalog, CompiledRule, default_catalog, words_of
from shared.models import UNCLASSIFIED, DecodedAuthorization, Failure, Finding
from shared.text import fill, normalise_message

SCORE_DECODED_ACTION = 4
SCORE_ANY_DECODED_ACTION = 1
SCORE_CODE = 3
SCORE_MESSAGE = 2
SCORE_SCOPE = 1
#: How much a rule scoped to a job or resource type is trusted when the failure does not say.
UNSTATED_SCOPE_FACTOR = 0.9
_SPACE = re.compile(r"\s+")


@dataclass(slots=True)
class _Hit:
    rule: CompiledRule
    score: int
    kind: str


class Classifier:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or default_catalog()

    def best_rule(self, failure: Failure) -> tuple[CompiledRule, int, str] | None:
        """The winning rule, its score and what matched first (decoded, code or message)."""
        index = self.catalog.index.get(failure.cloud)
        if index is None:
            return None
        text = normalise_message(failure.message)
        code = (failure.code or "").lower()
        decoded = failure.decoded
        action = (decoded.action or "").lower() if decoded else ""

        hits: dict[int, _Hit] = {}  # by rule order

        def hit(c: CompiledRule, score: int, kind: str) -> None:
            if c.order in hits:
                hits[c.order].score += score
            else:
                hits[c.order] = _Hit(c, score, kind)

        if action:
            exact = index.by_action.get(action, ())
            for c in exact:
                hit(c, SCORE_DECODED_ACTION, "decoded")
            for c in index.any_action:
                if c not in exact:
                    hit(c, SCORE_ANY_DECODED_ACTION, "decoded")
        for c in index.by_code.get(code, ()) if code else ():
            hit(c, SCORE_CODE, "code")
        if text:
            matched: set[int] = set()
            candidates = [*index.unkeyed]
            for word in words_of(text) & index.keywords:
                candidates += index.by_word[word]
            for mandatory, pattern, c in candidates:
                if c.order not in matched and mandatory in text and pattern.search(text):
                    matched.add(c.order)
                    hit(c, SCORE_MESSAGE, "message")

        resource_type = (failure.resource_type or "").lower()
        best: tuple[CompiledRule, int, str] | None = None
        for order in sorted(hits):
            c, score = hits[order].rule, hits[order].score
            if not _applies(c, failure.job_type, resource_type, decoded):
                continue
            score += SCORE_SCOPE if failure.job_type and c.job_types else 0
            score += SCORE_SCOPE if resource_type and c.resource_types else 0
            score += c.rule.priority
            if best is None or score > best[1]:
                best = (c, score, hits[order].kind)
        return best

    def classify(self, failure: Failure) -> Finding:
        found = self.best_rule(failure)
        if found is None:
            return unclassified(failure)
        candidate, _, kind = found
        rule = candidate.rule
        confidence = rule.confidence or {"decoded": 0.97, "code": 0.95, "message": 0.9}[kind]
        if rule.job_types and not failure.job_type:
            confidence *= UNSTATED_SCOPE_FACTOR
        if rule.resource_types and not failure.resource_type:
            confidence *= UNSTATED_SCOPE_FACTOR
        title = rule.title if "{" not in rule.title else fill(rule.title, failure.placeholders())
        title = _SPACE.sub(" ", title).strip()
        return Finding(
            cause=rule.cause,
            rule=rule.id,
            code=self.catalog.codes.spell(failure.code),
            confidence=round(confidence, 3),
            title=title,
            severity=rule.severity,
            explicit_deny=bool(failure.decoded and failure.decoded.explicit_deny),
        )


def _applies(c: CompiledRule, job_type: str | None, resource_type: str,
             decoded: DecodedAuthorization | None) -> bool:
    """Whether a rule's scope admits the failure (unstated job or resource types admit any rule)."""
    if job_type and c.job_types and job_type not in c.job_types:
        return False
    if resource_type and ((c.resource_types and resource_type not in c.resource_types)
                          or resource_type in c.not_resource_types):
        return False
    wants_deny = c.rule.match.explicit_deny
    if wants_deny is None:
        return True
    return decoded.explicit_deny == wants_deny if decoded is not None else not wants_deny


def unclassified(failure: Failure) -> Finding:
    """A failure no rule knows: kept with its raw message, never an error."""
    what = " ".join(p for p in ("AWS Backup" if failure.cloud == "aws" else "Azure Backup",
                                failure.job_type or "", "job") if p)
    if not failure.failed:
        state = "recovered" if failure.recovered else (failure.state or "changed state").lower()
        title = f"{what} {state} (not a failure)"
    else:
        detail = f": {failure.code or failure.message}" if (failure.code or failure.message) else ""
        title = f"Unrecognised {what} failure{detail}"
    title = _SPACE.sub(" ", title).strip()
    if len(title) > 160:
        title = title[:157] + "..."
    return Finding(cause=UNCLASSIFIED, rule=None, code=failure.code, confidence=0.0, title=title,
                   severity="medium" if failure.failed else "low")

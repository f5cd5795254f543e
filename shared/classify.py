"""The classifier: a ``Failure`` in, the best-matching catalog rule out as a ``Finding``.

Scoring is described in ``shared/catalog/README.md`` so that catalog authors can predict it.
"""

from __future__ import annotations

import re

from shared.catalog import Catalog, CompiledRule, default_catalog
from shared.models import UNCLASSIFIED, Failure, Finding
from shared.text import fill, normalise_message

SCORE_DECODED_ACTION = 4
SCORE_ANY_DECODED_ACTION = 1
SCORE_CODE = 3
SCORE_MESSAGE = 2
SCORE_SCOPE = 1
#: How much a rule scoped to a job or resource type is trusted when the failure does not say.
UNSTATED_SCOPE_FACTOR = 0.9
_SPACE = re.compile(r"\s+")


class Classifier:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or default_catalog()

    def best_rule(self, failure: Failure) -> tuple[CompiledRule, int, str] | None:
        """The winning rule, its score and what matched first (decoded, code or message)."""
        text = normalise_message(failure.message)
        code = (failure.code or "").lower()
        job_type = failure.job_type
        resource_type = (failure.resource_type or "").lower()
        decoded = failure.decoded
        action = (decoded.action or "").lower() if decoded else ""

        best: tuple[CompiledRule, int, str] | None = None
        for candidate in self.catalog.by_cloud.get(failure.cloud, ()):
            if job_type and candidate.job_types and job_type not in candidate.job_types:
                continue
            if resource_type:
                if candidate.resource_types and resource_type not in candidate.resource_types:
                    continue
                if resource_type in candidate.not_resource_types:
                    continue
            wants_deny = candidate.rule.match.explicit_deny
            if wants_deny is not None and ((decoded is None and wants_deny) or
                                           (decoded is not None and decoded.explicit_deny != wants_deny)):
                continue

            score, kind = 0, ""
            if action and action in candidate.actions:
                score, kind = SCORE_DECODED_ACTION, "decoded"
            elif action and candidate.any_action:
                score, kind = SCORE_ANY_DECODED_ACTION, "decoded"
            if code and code in candidate.codes:
                score += SCORE_CODE
                kind = kind or "code"
            if text and candidate.pattern is not None and candidate.pattern.search(text):
                score += SCORE_MESSAGE
                kind = kind or "message"
            if not score:
                continue
            if job_type and candidate.job_types:
                score += SCORE_SCOPE
            if resource_type and candidate.resource_types:
                score += SCORE_SCOPE
            score += candidate.rule.priority
            if best is None or score > best[1]:
                best = (candidate, score, kind)
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
        title = _SPACE.sub(" ", fill(rule.title, failure.placeholders())).strip()
        return Finding(
            cause=rule.cause,
            rule=rule.id,
            code=self.catalog.codes.spell(failure.code),
            confidence=round(confidence, 3),
            title=title,
            severity=rule.severity,
            explicit_deny=bool(failure.decoded and failure.decoded.explicit_deny),
        )


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

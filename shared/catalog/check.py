"""Catalog checks beyond the schema: clashing rules and examples that their rule does not win."""

from __future__ import annotations

from shared.catalog import Catalog
from shared.catalog.schema import Example, Rule
from shared.models import DecodedAuthorization, Failure
from shared.parse.codes import codes_in
from shared.vocab import Cloud


def example_failure(cloud: str, example: Example, catalog: Catalog | None = None) -> Failure:
    """The failure an example describes, as the parsers would produce it (with the codes its
    message names)."""
    decoded = (DecodedAuthorization(action=example.decoded_action, explicit_deny=example.explicit_deny)
               if example.decoded_action else None)
    book = catalog.knowledge.codebooks[cloud] if catalog else None
    found = codes_in(example.message, book.__contains__ if book else lambda code: False)
    codes = list(dict.fromkeys(c for c in (example.code, *found) if c))
    return Failure(cloud=Cloud(cloud), job_type=example.job_type, resource_type=example.resource_type,
                   code=codes[0] if codes else None, codes=codes, message=example.message,
                   decoded=decoded, state=example.state)


def _match_key(rule: Rule) -> tuple[object, ...]:
    m = rule.match
    return (rule.cause.split(".")[0], frozenset(c.lower() for c in m.codes), frozenset(m.messages),
            frozenset(a.lower() for a in m.decoded_actions), m.explicit_deny,
            frozenset(s.upper() for s in m.states),
            frozenset(rule.job_types), frozenset(t.lower() for t in rule.resource_types),
            frozenset(t.lower() for t in rule.not_resource_types))


def check_catalog(catalog: Catalog) -> list[str]:
    """Every problem found, in words; an empty list means the catalog is sound."""
    from shared.classify import Classifier  # the classifier imports the catalog, not the reverse

    problems: list[str] = []
    seen: dict[tuple[object, ...], str] = {}
    for rule in catalog.rules:
        key = _match_key(rule)
        if key in seen:
            problems.append(f"rule {rule.id} matches exactly what rule {seen[key]} matches")
        seen.setdefault(key, rule.id)

    classifier = Classifier(catalog)
    for rule in catalog.rules:
        cloud = rule.cause.split(".")[0]
        for number, example in enumerate(rule.examples, 1):
            found = classifier.best_rule(example_failure(cloud, example, catalog))
            winner = found[0].rule.id if found else None
            if winner != rule.id:
                problems.append(f"rule {rule.id} example {number} is won by {winner or 'no rule'}")
    return problems

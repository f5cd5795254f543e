"""What the providers document about their error codes, loaded from data beside this module.

- ``aws_errors.json``: every error code of the services AWS Backup works with, extracted from
  botocore's service models (and the EC2 and common-error references) by
  ``tools/extract_aws_errors.py``: service, documentation, family.
- ``azure_codes.yaml``: every documented Azure Backup error code, from Microsoft's troubleshooting
  articles, by ``tools/extract_azure_codes.py``: spelling, message, workloads, family, source.

The classifier uses this knowledge below the hand-written rules: to spell a code as documented, to
name a code's family when no rule knows the code, to show what the provider says a code means, and
(Azure) to recognise a documented message in an alert that carries no code.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from msgspec import Struct

from shared.catalog.schema import Example, Match, Rule
from shared.parse.codes import CodeBook
from shared.vocab import Cloud, Severity

DATA_DIR = Path(__file__).parent
AWS_ERRORS, AZURE_CODES = "aws_errors.json", "azure_codes.yaml"
#: Data files beside the catalog's rule files that are knowledge, not rules.
KNOWLEDGE_FILES = frozenset({AWS_ERRORS, AZURE_CODES})

#: The services whose errors a job on a resource type relays, to pick the right documentation
#: when several services define the same code.
SERVICES_OF: dict[str, tuple[str, ...]] = {
    "ec2": ("ec2", "ebs"), "ebs": ("ec2", "ebs"), "rds": ("rds",), "aurora": ("rds",),
    "documentdb": ("docdb", "rds"), "neptune": ("neptune", "rds"), "dynamodb": ("dynamodb",),
    "efs": ("efs",), "fsx": ("fsx",), "s3": ("s3", "s3control"), "storage gateway": ("storagegateway",),
    "redshift": ("redshift", "redshift-serverless"), "redshift serverless": ("redshift-serverless",),
    "virtualmachine": ("backup-gateway",), "cloudformation": ("cloudformation",),
    "timestream": ("timestream-write",), "sap hana on amazon ec2": ("ssm", "ec2"),
}
#: Services any job may relay from, after the resource's own.
_GENERAL_SERVICES = ("common", "backup", "kms", "iam", "sts", "organizations")

#: Words that say nothing about which documented message an alert repeats.
_STOP = frozenset(("a", "an", "and", "are", "as", "at", "be", "been", "by", "can", "could", "do", "does",
                   "for", "from", "has", "have", "if", "in", "into", "is", "it", "its", "may", "not", "of",
                   "on", "or", "please", "that", "the", "this", "to", "was", "were", "will", "with", "you",
                   "your"))
_TOKEN = re.compile(r"[a-z][a-z0-9]+")
_PLACEHOLDER = re.compile(r"<[^>]*>|\{[^}]*\}|\[[^\]]*\]")
#: A documented message is recognised when this share of its words is in the alert's text...
MESSAGE_COVERAGE = 0.8
#: ...and it has at least this many words (shorter ones are too common to mean one code).
MESSAGE_MIN_WORDS = 5


#: The family a code's own name tells, for codes no documentation lists (``InvalidParameterDependency``,
#: ``UserErrorSQLPODoesNotExist``): checked in order, on the lower-cased name.
FAMILY_BY_NAME: tuple[tuple[str, str], ...] = (
    (r"^kms|kmskey|\.kms|kmsinvalid", "kms"),
    (r"throttl|ratelimit|requestlimitexceeded|toomanyrequests|slowdown|rateexceeded", "throttled"),
    (r"accessdenied|unauthori[sz]ed|notauthori[sz]ed|forbidden|authfailure|authori[sz]ationfailed|permission",
     "access-denied"),
    (r"missingparameter|invalidparameter|validation", "invalid-parameter"),
    (r"notfound|nosuch|doesnotexist|notexist", "not-found"),
    (r"alreadyexists?|duplicate|\.inuse$", "already-exists"),
    (r"limitexceeded|quotaexceeded|countexceeded|toomany|maxlimit|limitreached", "quota"),
    (r"invalid\w*state|incorrectstate|notready|notinvalidstate", "invalid-state"),
    (r"conflict|inprogress|concurrent|inuse|busy", "conflict"),
    (r"internal|unavailable|timeout|timedout|servererror|serviceerror|temporar|insufficient\w*capacity", "transient"),
    (r"unsupported|notsupported", "unsupported"),
    (r"^invalid|malformed|badrequest|illegal", "invalid-parameter"),
)


@cache
def _families_by_name() -> tuple[tuple[re.Pattern[str], str], ...]:
    """``FAMILY_BY_NAME`` compiled, on first need (most failures name a documented code)."""
    return tuple((re.compile(pattern), family) for pattern, family in FAMILY_BY_NAME)


def family_of_name(code: str) -> str | None:
    name = code.lower()
    return next((family for pattern, family in _families_by_name() if pattern.search(name)), None)


class ErrorDoc(Struct, frozen=True):
    """One documented error: the code as the provider spells it and what it says about it."""

    cloud: str
    code: str
    family: str | None
    doc: str | None
    where: str | None = None  # AWS service, or Azure workloads
    source: str | None = None
    cause: str | None = None
    workloads: tuple[str, ...] = ()
    action: str | None = None
    #: Whether ``cause`` says what the documentation says, not only what the family implies.
    cause_documented: bool = False


def _words(text: str) -> frozenset[str]:
    text = text.lower()
    if "<" in text or "{" in text or "[" in text:
        text = _PLACEHOLDER.sub(" ", text)
    return frozenset(_TOKEN.findall(text)) - _STOP


class Knowledge:
    """Provider error knowledge, for the clouds whose documents it was given."""

    def __init__(self, docs: Iterable[ErrorDoc], aliases: dict[str, str] | None = None,
                 umbrella: Iterable[str] = (), rule_codes: Mapping[str, Iterable[str]] | None = None) -> None:
        self._docs: dict[tuple[str, str], list[ErrorDoc]] = {}
        for doc in docs:
            self._docs.setdefault((doc.cloud, doc.code.lower()), []).append(doc)
        self._aliases = {k.lower(): v.lower() for k, v in (aliases or {}).items()}
        self._umbrella = frozenset(c.lower() for c in umbrella)
        spellings: dict[str, list[str]] = {cloud.value: [] for cloud in Cloud}
        self._rule_codes: set[tuple[str, str]] = set()
        for cloud, codes in (rule_codes or {}).items():
            spellings[cloud].extend(codes)
            self._rule_codes.update((cloud, c.lower()) for c in codes)
        for (cloud, _), entries in self._docs.items():
            spellings[cloud].append(entries[0].code)
        self.codebooks = {cloud: CodeBook(codes) for cloud, codes in spellings.items()}
        # Azure: documented messages by their rarest words, to recognise an alert that carries no
        # code. A message covered at MESSAGE_COVERAGE misses at most that share of its words, so
        # indexing it under one more of its rarest words than it may miss finds every candidate.
        self._messages: list[tuple[frozenset[str], ErrorDoc]] = []
        for (cloud, _), entries in self._docs.items():
            for doc in entries:
                words = _words(doc.doc or "") if cloud == "azure" and doc.code else frozenset()
                if len(words) >= MESSAGE_MIN_WORDS:
                    self._messages.append((words, doc))
        frequency = Counter(word for words, _ in self._messages for word in words)
        self._by_word: dict[str, list[int]] = {}
        for number, (words, _) in enumerate(self._messages):
            may_miss = len(words) - math.ceil(len(words) * MESSAGE_COVERAGE - 1e-9)
            keys = may_miss + 1
            for word in sorted(words, key=lambda w: (frequency[w], w))[:keys]:
                self._by_word.setdefault(word, []).append(number)

    def documented_rules(self) -> list[Rule]:
        """A rule for each documented Azure code with a documented cause that no written rule
        lists: the documented message is its explanation, the recommended action its step."""
        rules = []
        for (cloud, key), entries in sorted(self._docs.items()):
            if cloud != "azure" or (cloud, key) in self._rule_codes:
                continue
            scopes: set[tuple[str, ...]] = set()
            for doc in entries:
                if doc.cause and doc.cause_documented and doc.workloads not in scopes:
                    scopes.add(doc.workloads)  # the first documentation of a code for a workload
                    rules.append(_documented_rule(doc))
        return rules

    def entries(self, cloud: str, code: str | None) -> list[ErrorDoc]:
        if not code:
            return []
        key = code.lower()
        return self._docs.get((cloud, key)) or self._docs.get((cloud, self._aliases.get(key, "")), [])

    def known(self, cloud: str, code: str) -> bool:
        return bool(self.entries(cloud, code)) or code in self.codebooks[cloud]

    def spell(self, cloud: str, code: str | None) -> str | None:
        """The documented spelling of ``code`` (any case in, the provider's case out)."""
        if not code:
            return None
        entries = self.entries(cloud, code)
        if entries and entries[0].code.lower() == code.lower():
            return entries[0].code
        return self.codebooks[cloud].spell(code)

    def is_umbrella(self, cloud: str, code: str) -> bool:
        """A wrapper code (``PostgreSQLFlexOperationFailedUserError``): the description says more."""
        return code.lower() in self._umbrella

    def doc(self, cloud: str, code: str | None, resource_type: str | None = None) -> ErrorDoc | None:
        """The entry that best documents ``code`` for a job on ``resource_type``."""
        entries = self.entries(cloud, code)
        if not entries:
            return None
        kind = (resource_type or "").lower()
        if cloud == "azure":
            return next((e for e in entries if kind in e.workloads), entries[0])
        for service in (*SERVICES_OF.get(kind, ()), *_GENERAL_SERVICES):
            for entry in entries:
                if entry.where == service:
                    return entry
        families = Counter(e.family for e in entries if e.family)
        common = families.most_common(1)[0][0] if families else None
        return next((e for e in entries if e.family == common), entries[0])

    def family(self, cloud: str, code: str, resource_type: str | None = None) -> str | None:
        """The documented family of ``code``, else the one its name tells."""
        found = self.doc(cloud, code, resource_type)
        return found.family if found and found.family else family_of_name(code.removeprefix("UserError"))

    def infer_code(self, cloud: str, text: str, resource_type: str | None = None) -> str | None:
        """Azure: the documented code whose documented message the (normalised) text repeats."""
        if cloud != "azure" or not self._messages:
            return None
        words = _words(text)
        candidates = {number for word in words for number in self._by_word.get(word, ())}
        best: tuple[float, int, str] | None = None
        kind = (resource_type or "").lower()
        for number in candidates:
            doc_words, doc = self._messages[number]
            coverage = len(doc_words & words) / len(doc_words)
            if coverage < MESSAGE_COVERAGE or (kind and doc.workloads and kind not in doc.workloads
                                                and "vault" not in doc.workloads):
                continue
            score = (coverage, len(doc_words), doc.code)
            if best is None or score > best:
                best = score
        return best[2] if best else None


#: A documented title is the message's first sentence, at most this long.
_TITLE_CHARS = 110
_SLUG = re.compile(r"[^a-z0-9-]+")


def _braces(text: str) -> str:
    """Documentation text inside a rule's templates: its braces are literal, not placeholders."""
    return text.replace("{", "{{").replace("}", "}}")


def _documented_rule(doc: ErrorDoc) -> Rule:
    message = " ".join((doc.doc or doc.code).split())
    first = re.split(r"(?<=[.!?])\s", message, maxsplit=1)[0]
    title = first if len(first) <= _TITLE_CHARS else first[:_TITLE_CHARS - 3].rstrip() + "..."
    workloads = [w for w in doc.workloads if w != "vault"]
    scope = "-".join(workloads) or "any"
    return Rule(
        id=f"azure.documented.{_SLUG.sub('-', doc.code.lower())}.{_SLUG.sub('-', scope)}",
        cause=doc.cause or "",
        title=_braces(f"{title} ({doc.code})"),
        severity=Severity.MEDIUM,
        resource_types=workloads,
        match=Match(codes=[doc.code]),
        confidence=0.75,
        explanation=_braces(f"Azure Backup documents {doc.code} as: {message}"),
        steps=[_braces(doc.action or "Follow the recommended action in the documentation linked below.")],
        docs=[doc.source] if doc.source else [],
        source=doc.source or "https://learn.microsoft.com/en-us/azure/backup/",
        manual_reason="Derived from the provider's documentation: a person applies the recommended action.",
        examples=[Example(code=doc.code, resource_type=workloads[0] if workloads else None)],
        documented=True,
    )


def _aws_docs(data: dict[str, Any]) -> Iterable[ErrorDoc]:
    for code, entries in data.get("codes", {}).items():
        for e in entries:
            yield ErrorDoc("aws", code, e.get("family"), e.get("doc"), e.get("service"), e.get("source"))


def _azure_docs(data: Any) -> Iterable[ErrorDoc]:
    entries = data.get("codes", data.get("entries", [])) if isinstance(data, dict) else data
    for e in entries or []:
        if not e.get("code"):
            continue
        workloads = tuple(e.get("workloads") or ())
        yield ErrorDoc("azure", str(e["code"]), e.get("family"), e.get("message") or e.get("description"),
                       ",".join(workloads), e.get("source") or next(iter(e.get("sources") or []), None),
                       e.get("cause"), workloads, e.get("action"),
                       cause_documented=bool(e.get("cause")) and e.get("cause_from") != "family")


def load_knowledge(directory: Path | None = None, umbrella: Iterable[str] = (),
                   rule_codes: Mapping[str, Iterable[str]] | None = None,
                   clouds: Iterable[str] = tuple(Cloud)) -> Knowledge:
    """What the providers document about the codes of ``clouds`` (the others' files are not read)."""
    import yaml  # here: a cold start reads the compiled catalog, not the YAML

    folder = directory or DATA_DIR
    wanted = set(clouds)
    aws_path, azure_path = folder / AWS_ERRORS, folder / AZURE_CODES
    aws = json.loads(aws_path.read_text(encoding="utf-8")) if aws_path.exists() and "aws" in wanted else {}
    azure = (yaml.load(azure_path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loader)
             if azure_path.exists() and "azure" in wanted else [])
    return Knowledge([*_aws_docs(aws), *_azure_docs(azure)], aws.get("aliases"), umbrella, rule_codes)

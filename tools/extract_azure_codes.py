"""Extracts every documented Azure Backup error code into shared/catalog/azure_codes.yaml.

The source is Microsoft's own documentation: the ``articles/backup`` folder of the MicrosoftDocs/azure-docs
repository (what learn.microsoft.com/azure/backup publishes). The script reads every article whose name
says ``troubleshoot`` or ``error`` and finds the errors in the three shapes the articles use:

- headings: ``### UserErrorXxx - message`` (or ``### Error code: UserErrorXxx``, or ``## Error: message``);
- ``Error code: X`` / ``Error message: Y`` / ``Recommended action: Z`` blocks, bold or not;
- tables: ``| Error code | Message | Recommended action |`` in any column order, and the two-column
  ``| **Error message** | ... |`` tables of the SAP HANA article.

Errors documented only by their message (MARS agent, DPM, Azure Backup Server) are entries with
``code: null``. The output is committed so that the project core never needs the docs.

    .venv/bin/python tools/extract_azure_codes.py /tmp/azure-docs/articles/backup --commit <sha>
    .venv/bin/python tools/extract_azure_codes.py DOCS_DIR --versions VERSIONS.tsv   # per-article versions
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import yaml

ROOT: Final = Path(__file__).resolve().parent.parent
OUTPUT: Final = ROOT / "shared" / "catalog" / "azure_codes.yaml"
CATALOG: Final = ROOT / "shared" / "catalog"
LEARN: Final = "https://learn.microsoft.com/en-us/azure/backup/"
REPOSITORY: Final = "https://github.com/MicrosoftDocs/azure-docs"
ACTION_CHARS: Final = 300

# The closed set of workloads, in the order an entry lists them.
WORKLOADS: Final = ("vm", "sql", "saphana", "saphana-snapshot", "afs", "blob", "disk", "postgresql",
                    "postgresql-flex", "mysql-flex", "aks", "mars", "dpm", "vault")

# Which workload an article documents: the first pattern that matches its name wins. Articles no pattern
# knows are vault-level (they apply to any workload).
ARTICLE_WORKLOADS: Final[tuple[tuple[str, str], ...]] = (
    (r"sap-hana.*(instance|snapshot)", "saphana-snapshot"),
    (r"sap-hana", "saphana"),
    (r"postgresql-flex", "postgresql-flex"),
    (r"postgresql", "postgresql"),
    (r"mysql", "mysql-flex"),
    (r"\bsql\b", "sql"),
    (r"kubernetes|\baks\b", "aks"),
    (r"azure-files|\bafs\b|file-share", "afs"),
    (r"blob|data-lake", "blob"),
    (r"disk-backup|managed-disk", "disk"),
    (r"mars|restore-windows-server", "mars"),
    (r"dpm|mabs|backup-server", "dpm"),
    (r"backup-vault", "vault"),
    (r"\bvms?\b|virtual-machine|encrypt", "vm"),
)

# Articles read besides the troubleshooting ones; only entries that carry a code are kept from them.
EXTRA_ARTICLES: Final = ("backup-azure-vms-encryption.md", "restore-azure-encrypted-virtual-machines.md",
                         "backup-azure-restore-files-from-vm.md", "backup-azure-restore-windows-server.md")

# The closed set of families (the same as ``Family`` in shared/catalog/schema.py).
FAMILIES: Final = ("quota", "not-found", "invalid-state", "throttled", "conflict", "already-exists",
                   "access-denied", "kms", "transient", "invalid-parameter", "unsupported")

# Ordered rules over the code; the first match wins. The order settles the overlaps: a key vault key that
# is "NotAvailable" is kms before unsupported, "PermissionsNotPresent" is access-denied before not-found,
# "MaxConcurrentOperationLimitReached" is throttled before a quota, "SameNameDiskAlreadyExists" and
# "TargetPOExistsOverwrite" already exist before anything is "NotFound", "InDeleteState" (gone for good)
# is not-found while "InSoftDeleteState" is a state, and "SecretValueInUnsupportedFormat" is a bad
# parameter before "Unsupported" is a limitation.
CODE_RULES: Final[tuple[tuple[str, str], ...]] = (
    ("kms", r"KeyVault|Keyvault|DESKey|OnDES$|SecretStore|EncryptionKey"),
    ("throttled", r"Throttl|DosAbsoluteLimit|ConcurrentOperationLimit|ManagementOperationLimit"),
    ("already-exists", r"AlreadyExists|AlreadyInUse|AlreadyProtected|AlreadyHasBackupInstance|ExistOnAccount"
                       r"|ExistsOverwrite|ExistingDBWithoutForceOverwrite|ConflictingFileSystemPresent"),
    ("conflict", r"InProgress|AlreadyRunning|Conflicting|ParallelSnapshot|DestLocked|ObjectLocked"
                 r"|AnotherRestore|BlobVersion\w*DuringBackup|PartOfAnother"),
    ("access-denied", r"Permission|Authori[sz]|Privilege|RoleNotPresent|Requires\w*Role|Sysadmin"
                      r"|IdentityRequires|AuthFailed|NotAccessible|AccessDisallowed|Disallowed"),
    ("quota", r"Quota|LimitReached|MaxSnapshot|LimitExceeded|Max\w*Exceeded|MaxOrsPolicy|TooMany"
              r"|LowDiskSpace|InsufficientSpace|ShareFull|PremiumStorageQuota"),
    ("not-found", r"NotFound|DoesNotExist|NoLongerExist|InDeleteState|SnapshotDeleted|(?<!Datasource)NotPresent$"
                  r"|ExtensionNotPresent|NotInstalled"),
    ("invalid-state", r"NotInDesirableState|ProvisioningState|LockedState|IsLocked|HasLocks|ReadOnly|StuckIn"
                      r"|BadState|SoftDeleteState|NotReady|Offline|NotInRunningState|Inactive|NotReachable"
                      r"|StatusUnavailable|NotEnabled|Disabled|CannotBeOfflined|LSNValidation"
                      r"|TransactionLogIsFull|FullBackupMissing|DatasourceNotPresent|SDCtoMDCUpgrade"
                      r"|PasswordExpired|PreScriptNotRun|ScriptNotRun|InconsistentSSFS|SidAdmDirectoryChanged"
                      r"|ImmutabilityPolicy|ArchivedRecoveryPoints|SubscriptionRegistration|NotRegistered"
                      r"|AutoProtectionCancelled"),
    ("invalid-parameter", r"Invalid|NotProvided|NotInCorrectFormat|Incorrect|NoContainersSelected"
                          r"|UnsupportedFormat|NotValid|SubscriptionMismatch"),
    ("unsupported", r"NotSupport|Unsupported|NotSuppported|NotAllowed|Incompatible|Mismatch|SkuNotAvailable"
                    r"|MarketPlace|ValidateProtectionError|DatabaseMirroringEnabled"),
    ("transient", r"Internal|Transient|Timeout|TimedOut|TimeOut|TakingLongTime|TrackingFailure"
                  r"|ConnectionClosed|GenericError|CreationFailure|OperationFailed$"
                  r"|OperationFailedV2$"),
)

# Ordered rules over the documented message, for codes that say nothing and for message-only errors.
MESSAGE_RULES: Final[tuple[tuple[str, str], ...]] = (
    ("kms", r"key vault key|encryption key|disk encryption set|encryption passphrase"),
    ("throttled", r"throttl|limit on (the )?number of operations|operations permitted in"),
    ("already-exists", r"already exists|already being protected|already associated|same name already"),
    ("conflict", r"already (running|in progress)|is in progress|in process to the same|conflicting operation"
                 r"|another (job|operation|restore|backup)"),
    ("access-denied", r"permission|not authori[sz]ed|access (is )?denied|authori[sz]ation|privileges"
                      r"|credentials .*(invalid|not valid)|invalid vault credentials|not registered to the vault"),
    ("quota", r"quota|max(imum)? limit|limit (has been |is )?(reached|exceeded)|exceeds the supported limit"
              r"|insufficient (free )?(space|storage)|not enough space|is full"),
    ("not-found", r"not found|does not exist|doesn't exist|no longer exists?|cannot be found|can't be found"
                  r"|could not find|cannot find|has been deleted|is deleted|not present"),
    ("invalid-state", r"not in a state|state that allows|locked|not running|offline|bad state|inconsistent"
                      r"|disabled|not enabled|not ready|soft.deleted|not correctly configured|not eligible"
                      r"|already (been )?(moved|rehydrated)|not rehydrated|still determining"),
    ("unsupported", r"not supported|unsupported|isn't supported|does(n't| not) support|not yet available"
                    r"|incompatible"),
    ("invalid-parameter", r"invalid|incorrect|not in (the )?(correct|acceptable) format|not valid|not provided"),
    ("transient", r"internal (service |cloud )?error|timed out|timeout|unexpected(ly)?|could not be verified"),
)

# The cause of an entry no catalog rule names, from its family: the family causes of the catalog
# (CAUSES.md). An unsupported code is a configuration Azure Backup does not support (a message-only
# "isn't supported" is a job or portal limitation: no cause); a kms entry gets a cause only when its
# message says the key itself is unusable (permission problems on a key vault have their own rules).
FAMILY_CAUSES: Final = {
    "quota": "azure.quota.limit-exceeded",
    "not-found": "azure.resource.not-found",
    "invalid-state": "azure.resource.invalid-state",
    "throttled": "azure.operation.concurrent-limit",
    "conflict": "azure.operation.concurrent-limit",
    "already-exists": "azure.resource.already-exists",
    "access-denied": "azure.rbac.missing-permissions",
    "transient": "azure.service.transient",
    "invalid-parameter": "azure.request.invalid-parameters",
    "unsupported": "azure.backup.unsupported-config",
}
RESTORE_TARGET_EXISTS: Final = "azure.restore.target-exists"
KEY_UNAVAILABLE: Final = "azure.keyvault.key-unavailable"
_UNUSABLE_KEY = re.compile(r"\bkey\b.*\b(disabled|not in enabled state|not available|not found|deleted)", re.I)
_RESTORE = re.compile(r"\brestor", re.I)

# --------------------------------------------------------------------------------------------- markdown

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_BR = re.compile(r"<br\s*/?>", re.I)
_FIELD = re.compile(
    r"^[\s*_>-]*(?P<label>inner error code|error codes?|error messages?|error details|possible causes?|causes?"
    r"|description|recommended actions?|recommendations?|resolution|solution|workaround)"
    r"(?P<colon>[\s*_&]*:|\*\*\s*[\"-])?[\s*_&]*(?P<value>.*)$", re.I)
# A code as the docs spell it: CamelCase with at least two humps (UserErrorXxx, BMSUserError..., CSISnap...).
_CODE = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*$|^[A-Z][a-z]+[A-Z]{2,}[A-Za-z0-9]*$")
_HEX_CODE = re.compile(r"^0x[0-9A-Fa-f]{6,8}$")
# Code-like words in running text are codes only when they say so.
_MENTION_HINT = re.compile(r"Error|Fail|NotFound|NotReachable|NotPresent|NotInstalled|Unavailable|Invalid|Missing"
                           r"|Denied|Limit|Timeout|TimedOut|Dequeue|Unsupported|NotSupported|Locked")
_INLINE_CODE_SPAN = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_HEADING_SPLIT = re.compile(r"\s+-\s+|(?<=\w)-\s+|:\s*$")
_BOLD_LABEL = re.compile(r"\*\*\s*(error code|error message|possible causes?|causes?|recommended actions?"
                         r"|recommendations?|resolution|solution|workaround)\s*\*\*", re.I)
_LIST_MARK = re.compile(r"^\s*(?:[*+-]\s+|\d+\.\s+|>\s*(?:\[!\w+\]\s*)?)")
_NO_ACTION = frozenset(("none", "-", "n/a", "na"))


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph, a fenced code block or a table of a section's body."""

    kind: str  # "text" | "code" | "table"
    lines: tuple[str, ...]


@dataclass(slots=True)
class Section:
    level: int
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Found:
    """One error as an article documents it, before merging."""

    code: str | None
    message: str | None
    action: str | None
    article: str
    anchor: str
    inner_code: str | None = None
    description: str | None = None


def plain(text: str) -> str:
    """Markdown and HTML as plain text on one line."""
    text = re.sub(r":::image.*?:::", " ", text, flags=re.S)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"</?(ul|ol)>|</li>", " ", text, flags=re.I)
    text = re.sub(r"<li>", "; ", text, flags=re.I)
    text = re.sub(r"<[a-zA-Z/][^>]*>", " ", text)
    text = re.sub(r"^\s*>\s*\[!\w+\]\s*", " ", text, flags=re.M)
    text = text.replace("**", "").replace("`", "").replace("&&", "")
    text = re.sub(r"(?<![\w\\])([*_])(\S(?:.*?\S)??)\1(?!\w)", r"\2", text)
    text = text.replace("\\", "") if re.search(r"\\[_*<>\[\]]", text) else text
    text = html.unescape(text)
    text = re.sub(r"\s+", " ", text).strip(" ;|")
    text = re.sub(r"([:.;])(\s*;)+", r"\1", text)
    return re.sub(r"^(?:;\s*|[-*]\s+)+", "", text).strip()


def clip(text: str | None, limit: int = ACTION_CHARS) -> str | None:
    if not text:
        return None
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"


def slug(title: str) -> str:
    """The anchor learn.microsoft.com gives a heading."""
    text = re.sub(r"<[^>]*>", "", title)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def sections(markdown: str) -> list[Section]:
    """The article cut at every heading, each body cut into paragraphs, fenced blocks and tables."""
    lines = _FRONT_MATTER.sub("", markdown.replace("\r\n", "\n")).split("\n")
    found: list[Section] = [Section(0, "", "")]
    seen: dict[str, int] = {}
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            found[-1].blocks.append(Block("text", tuple(paragraph)))
            paragraph.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        heading = _HEADING.match(line)
        if heading:
            flush()
            title = heading.group(2)
            anchor = slug(title)
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            found.append(Section(len(heading.group(1)), title, f"{anchor}-{count}" if count else anchor))
        elif _FENCE.match(line):
            flush()
            body = []
            index += 1
            while index < len(lines) and not _FENCE.match(lines[index]):
                body.append(lines[index].strip())
                index += 1
            found[-1].blocks.append(Block("code", tuple(b for b in body if b)))
        elif "|" in line and index + 1 < len(lines) and _TABLE_SEPARATOR.match(lines[index + 1]):
            flush()
            rows = [line]
            index += 2
            while index < len(lines) and "|" in lines[index] and lines[index].strip():
                rows.append(lines[index])
                index += 1
            found[-1].blocks.append(Block("table", tuple(rows)))
            continue
        elif not line.strip():
            flush()
        else:
            for piece in _BR.split(line):
                if _FIELD.match(piece) and _is_field(piece):
                    flush()
                if piece.strip():
                    paragraph.append(piece.strip())
        index += 1
    flush()
    return found


def _is_field(line: str) -> bool:
    """A labelled line (``**Error code**: X``, or a bold label alone), not a sentence that starts with the
    same words (``Cause 1: ...``)."""
    match = _FIELD.match(line)
    if not match:
        return False
    return bool(match.group("colon")) or _BOLD_LABEL.fullmatch(line.strip()) is not None


def cells(row: str) -> list[str]:
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [c.strip() for c in row.split("|")]


# ----------------------------------------------------------------------------------------------- codes

def codes_in(value: str, *, loose: bool = False) -> list[str]:
    """The codes a value names (``A / B``, ``320001, ResourceNotFound``); ``loose`` accepts the few codes the
    docs write with spaces (``File Sync PreRestoreFailed``)."""
    found: list[str] = []
    for part in re.split(r"\s*(?:/|,|\bor\b)\s*", plain(value).strip(" .\"'")):
        part = part.strip(" .\"'")
        if not part or part.isdigit():
            continue
        words = part.split()
        spaced = loose and 1 < len(words) <= 3 and all(w[:1].isupper() for w in words) \
            and any(_CODE.match(w) for w in words)
        if _CODE.match(part) or _HEX_CODE.match(part) or spaced:
            found.append(part)
    return found


def heading_codes(title: str) -> tuple[list[str], str | None]:
    """The codes a heading names and the message after them: ``CODE - message``, ``A / B - message``,
    ``Error Code: CODE``. A code the docs split by a typo (``...Running UserError``) is joined again."""
    text = re.sub(r"^error codes?\s*:\s*", "", plain(title), flags=re.I)
    split = _HEADING_SPLIT.search(text)
    head, message = (text[: split.start()], text[split.end():]) if split else (text, "")
    codes: list[str] = []
    for part in re.split(r"\s*/\s*", head):
        words = re.sub(r"^\d+\s*,\s*", "", part.strip()).split()
        joined = "".join(words)
        if words and len(words) <= 2 and all(_CODE.match(w) for w in words) and _CODE.match(joined):
            codes.append(joined)
    if not codes:
        return [], None
    return codes, message.strip().rstrip(".") or None


def mentions(text: str) -> list[str]:
    """Codes named in running text: bold or in backticks, and shaped like an error code."""
    found: list[str] = []
    for span in _INLINE_CODE_SPAN.finditer(text):
        inner = span.group(1) or span.group(2) or ""
        for word in _WORD.findall(re.sub(r"\]\([^)]*\)", " ", inner)):
            if _CODE.match(word) and _MENTION_HINT.search(word) and len(word) >= 15 and word not in found:
                found.append(word)
    return found


# -------------------------------------------------------------------------------------------- sections

@dataclass(slots=True)
class _Record:
    codes: list[str] = field(default_factory=list)
    message: str | None = None
    inner_code: str | None = None
    cause: str | None = None
    action: list[str] = field(default_factory=list)
    waiting: str | None = None  # the field whose label stood alone: the next text is its value
    last: str | None = None  # the last field seen: text after a cause explains the cause

    def empty(self) -> bool:
        return not (self.codes or self.message or self.cause or self.action)


_MESSAGE_HEADERS = ("error message", "error messages", "message", "error", "errors", "error details",
                    "description")
_CODE_HEADERS = ("error code", "error codes", "code")
_CAUSE_HEADERS = ("possible causes", "possible cause", "causes", "cause", "reasons", "reason")
_ACTION_HEADERS = ("recommended action", "recommended actions", "recommendation", "recommendations",
                   "resolution", "workaround", "solution", "recommended steps")


def _label(text: str) -> str:
    return plain(text).lower().rstrip(":").strip()


def _kind(label: str) -> str:
    label = label.lower()
    if label.startswith("inner"):
        return "inner"
    if label.startswith("error code"):
        return "code"
    if label.startswith(("error message", "error details")):
        return "message"
    if label.startswith(("possible cause", "cause", "description")):
        return "cause"
    return "action"


def _field_lines(block: Block) -> Iterator[str]:
    """The lines of a block, a vertical (label | value) table read as labelled lines."""
    if block.kind != "table":
        yield from block.lines
        return
    for row in block.lines:
        if _TABLE_SEPARATOR.match(row):
            continue
        parts = cells(row)
        if len(parts) >= 2:
            yield f"{plain(parts[0])}: {' | '.join(p for p in parts[1:] if p)}"


def _vertical(block: Block) -> bool:
    """A two-column table whose first column holds the labels (``| **Error message** | ... |``)."""
    if block.kind != "table" or not block.lines:
        return False
    first, *rest = (_label(c) for c in cells(block.lines[0]))
    return first in _VERTICAL_LABELS and not any(_kind_of_header(c) for c in rest)


_VERTICAL_LABELS: Final = ("error message", "possible causes", "possible cause", "recommended action",
                           "error code")


def _kind_of_header(label: str) -> str | None:
    if label in _CODE_HEADERS:
        return "code"
    if label in _MESSAGE_HEADERS:
        return "message"
    if label in _CAUSE_HEADERS:
        return "cause"
    if label in _ACTION_HEADERS:
        return "action"
    return None


def records(blocks: Iterable[Block]) -> tuple[list[_Record], list[str]]:
    """The labelled records of a section (``Error code: ...`` starts a new one) and the text before them."""
    found: list[_Record] = []
    loose: list[str] = []
    current = _Record()
    for block in blocks:
        if block.kind == "table" and not _vertical(block):
            continue
        lines = [" ".join(block.lines)] if block.kind == "code" else list(_field_lines(block))
        for line in lines:
            match = _FIELD.match(line) if block.kind != "code" else None
            if match and (_is_field(line) or block.kind == "table"):
                kind, value = _kind(match.group("label")), match.group("value").strip()
                if (kind == "code" and (current.codes or current.message)) or (kind == "message" and current.message):
                    found.append(current)
                    current = _Record()
                current.waiting, current.last = (None if value else kind), kind
                if kind == "code":
                    current.codes = codes_in(value, loose=True)
                elif kind == "inner":
                    current.inner_code = plain(value) or None
                elif kind == "message":
                    current.message = plain(value) or None
                elif kind == "cause":
                    current.cause = plain(value) or None
                elif value:
                    current.action.append(value)
                continue
            if block.kind == "code" and current.waiting != "message":
                continue  # commands and logs are not what the error says
            if line.lstrip().startswith(">"):
                continue  # notes and tips beside the error
            if current.waiting == "message":
                current.message, current.waiting = plain(line) or None, None
            elif current.waiting == "cause":
                current.cause, current.waiting = plain(line) or None, None
            elif current.empty():
                loose.append(line)
            elif current.last == "cause":
                current.cause = plain(f"{current.cause or ''} {line}")
            else:
                current.action.append(line)
    if not current.empty():
        found.append(current)
    # Codes documented one after the other share the text that follows them (COM+, VSS, 320001/400094).
    shared = next((r.action for r in reversed(found) if r.action), [])
    for record in found:
        record.action = record.action or shared
    return found, loose


def table_rows(block: Block) -> list[tuple[list[str], str | None, str | None, str | None]]:
    """(codes, message, cause, action) of every row of a horizontal error table. A cell can hold labelled
    fields of its own (``**Error code**: X <br/> **Error message**: Y``, ``**Cause**: ... **Workaround**: ...``)."""
    if block.kind != "table" or _vertical(block):
        return []
    header = [_kind_of_header(_label(c)) for c in cells(block.lines[0])]
    if "code" not in header and "message" not in header:
        return []
    if "action" not in header and "cause" not in header:
        return []
    rows: list[tuple[list[str], str | None, str | None, str | None]] = []
    for row in block.lines[1:]:
        values: dict[str, str] = {}
        for kind, cell in zip(header, cells(row), strict=False):
            if kind and cell and kind not in values:
                values[kind] = cell
        codes = codes_in(values.get("code", ""))
        message = plain(values.get("message", "")) or None
        cause = plain(values.get("cause", "")) or None
        action = plain(values.get("action", "")) or None
        inner = _cell_records(values.get("message", ""))
        if inner:
            codes = codes or inner[0].codes
            message = inner[0].message or message
        details = _cell_records(values.get("action", ""))
        if details and not any(d.message for d in details):
            cause = details[0].cause or cause
            action = _text(details[0].action) or action
        elif details:  # one cell that lists several messages, each with its workaround
            rows.extend(([], d.message, d.cause, _text(d.action)) for d in details if d.message)
        if codes or message:
            rows.append((codes, message, cause, None if (action or "").lower() in _NO_ACTION else action))
    return rows


def _cell_records(cell: str) -> list[_Record]:
    lines = [line.strip() for line in _BR.split(cell) if line.strip()]
    if not any(_is_field(line) for line in lines):
        return []
    return records([Block("text", tuple(lines))])[0]


def _text(lines: Iterable[str]) -> str | None:
    return plain(" ".join(_LIST_MARK.sub("", line) for line in lines)) or None


def _first_sentence(text: str | None) -> str | None:
    if not text:
        return None
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text).strip() or None


def parse_article(name: str, markdown: str, *, codes_only: bool = False) -> list[Found]:
    """Every error one article documents."""
    article = name.removesuffix(".md")
    found: list[Found] = []
    pending: list[tuple[list[str], str]] = []  # codes of headings with no body, waiting for the next body
    for section in sections(markdown):
        codes, heading_message = heading_codes(section.title)
        has_body = any(b.lines for b in section.blocks)
        if codes and not has_body:
            pending.append((codes, section.anchor))
            continue
        anchor = section.anchor
        if pending and has_body:
            carried = [c for group, _ in pending for c in group]
            anchor = pending[0][1]
            codes = carried + [c for c in codes if c not in carried]
            pending = []
        found.extend(_section_errors(article, section, codes, heading_message, anchor))
    if codes_only:
        found = [f for f in found if f.code]
    return found


def _section_errors(article: str, section: Section, codes: list[str], heading_message: str | None,
                    anchor: str) -> list[Found]:
    out: list[Found] = []
    recs, loose = records(section.blocks)
    body = _text(loose)
    # 1. tables
    first_table_row = True
    for block in section.blocks:
        for row_codes, message, cause, action in table_rows(block):
            row_codes = row_codes or (codes if first_table_row else [])
            first_table_row = False
            for code in _or_none(row_codes):
                out.append(Found(code, message, clip(action or cause), article, anchor,
                                 description=clip(cause)))
    # 2. labelled records
    used: set[str] = set()
    table_action = next((clip(a or c) for b in section.blocks if b.kind == "table" and not _vertical(b)
                         for _, _, c, a in _action_rows(b)), None)
    for rec in recs:
        rec_codes = rec.codes or ([] if out else codes)
        message = rec.message or (heading_message if rec_codes else None)
        action = clip(_text(rec.action)) or (table_action if not out else None)
        description = clip(rec.cause)
        if not rec_codes and not message:
            continue
        for code in _or_none(rec_codes):
            used.add(code or "")
            out.append(Found(code, message, action, article, anchor, rec.inner_code, description))
    # 3. heading codes the body did not repeat (a heading and its body can name two spellings)
    for code in codes:
        if code in used or any(f.code == code for f in out):
            continue
        template = next((f for f in out if f.code), None)
        if template and len(recs) == 1:
            out.append(replace(template, code=code))
        elif not out:
            out.append(Found(code, heading_message, clip(body), article, anchor))
    # 4. "## Error: message" headings (DPM) and headings that are a quoted error
    title = plain(section.title)
    if not out and re.match(r"^error\s*:\s*\S", title, re.I):
        out.append(Found(None, re.sub(r"^error\s*:\s*", "", title, flags=re.I), clip(body), article, anchor))
    # 5. codes named in running text ("fails with one of the following error codes: **A, B**")
    known = {f.code for f in out} | {f.inner_code for f in out}
    for block in section.blocks:
        if block.kind != "text":
            continue
        text = " ".join(line for line in block.lines if not _is_field(line))
        if "error" not in text.lower():
            continue
        others = _text(" ".join(b.lines) for b in section.blocks if b is not block and b.kind == "text")
        for code in mentions(text):
            if code not in known:
                known.add(code)
                out.append(Found(code, None, clip(others or plain(text)), article, section.anchor,
                                 description=clip(_text(block.lines))))
    return out


def _or_none(codes: Sequence[str]) -> Sequence[str | None]:
    """The codes of an error, or one ``None`` for an error documented by its message only."""
    return codes if codes else [None]


def _action_rows(block: Block) -> list[tuple[None, None, str | None, str | None]]:
    """The rows of a cause/solution table that sits under a documented message."""
    header = [_kind_of_header(_label(c)) for c in cells(block.lines[0])]
    if "message" in header or "code" in header or "action" not in header:
        return []
    rows = []
    for row in block.lines[1:]:
        values = {k: v for k, v in zip(header, cells(row), strict=False) if k}
        rows.append((None, None, plain(values.get("cause", "")) or None, plain(values.get("action", "")) or None))
    return rows


# -------------------------------------------------------------------------------------------- the book

def workload_of(article: str) -> str:
    name = article.removesuffix(".md").lower()
    return next((w for pattern, w in ARTICLE_WORKLOADS if re.search(pattern, name)), "vault")


def family_of(code: str | None, message: str | None, inner_code: str | None = None) -> str | None:
    for name in (inner_code, code):
        if name:
            for family, pattern in CODE_RULES:
                if re.search(pattern, name):
                    return family
    if message:
        for family, pattern in MESSAGE_RULES:
            if re.search(pattern, message, re.I):
                return family
    return None


@dataclass(frozen=True, slots=True)
class CatalogRule:
    cause: str
    codes: frozenset[str]
    article: str | None
    resource_types: tuple[str, ...]
    messages: tuple[str, ...]
    job_types: tuple[str, ...] = ()
    family: str | None = None  # a family rule: the catalog's last resort


def load_catalog(folder: Path = CATALOG) -> list[CatalogRule]:
    rules = []
    for path in sorted(folder.glob("azure*.yaml")):
        if path.name == OUTPUT.name:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for rule in data.get("rules", []):
            match = rule.get("match") or {}
            source = rule.get("source") or ""
            article = source.removeprefix(LEARN).split("#")[0] if source.startswith(LEARN) else None
            rules.append(CatalogRule(rule["cause"], frozenset(c.lower() for c in match.get("codes") or []),
                                     article, tuple(rule.get("resource_types") or ()),
                                     tuple(match.get("messages") or ()), tuple(rule.get("job_types") or ()),
                                     rule.get("family")))
    return rules


def cause_of(entry: Found, workload: str, family: str | None, rules: Sequence[CatalogRule]) -> tuple[str | None,
                                                                                                  str | None]:
    """(cause, where it comes from): the catalog rule that lists the code (a specific rule before a family
    rule), else the cause of the entry's family."""
    if entry.code:
        text = " ".join(filter(None, (entry.inner_code, entry.message, entry.description))).lower()
        job = "restore" if _RESTORE.search(" ".join(filter(None, (entry.message, entry.description)))) else "backup"
        for specific in (True, False):
            candidates = [r for r in rules if entry.code.lower() in r.codes and (r.family is None) == specific]
            if not specific:
                candidates = [r for r in candidates if not r.resource_types or workload in r.resource_types]
            for narrow in (
                lambda r: any(re.search(m, text) for m in r.messages),
                lambda r: r.article == entry.article,
                lambda r: workload in r.resource_types,
                lambda r: job in r.job_types,
            ):
                narrowed = [r for r in candidates if narrow(r)]
                if narrowed:
                    candidates = narrowed
            causes = sorted({r.cause for r in candidates})
            if len(causes) == 1:
                return causes[0], "catalog"
            if causes:
                return None, None  # the catalog knows the code but not which of its causes this entry is
    if family == "kms":
        return (KEY_UNAVAILABLE, "family") if _UNUSABLE_KEY.search(entry.message or "") else (None, None)
    if family == "already-exists" and _RESTORE.search(" ".join(filter(None, (entry.message, entry.action)))):
        return RESTORE_TARGET_EXISTS, "family"
    if family == "unsupported" and not entry.code:
        return None, None  # a job or portal limitation ("Cancellation isn't supported"), not a configuration
    cause = FAMILY_CAUSES.get(family or "")
    return (cause, "family") if cause else (None, None)


def _normal(message: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (message or "").lower()).strip()


def _fold(merged: dict[tuple[str | None, str | None, str, str], dict[str, Any]]) -> dict[tuple[str | None, str, str],
                                                                                     dict[str, Any]]:
    """One entry per code and workload: the meanings an umbrella code's inner codes give it become its variants."""
    folded: dict[tuple[str | None, str, str], dict[str, Any]] = {}
    for (code, _, workload, words), record in merged.items():
        variant = {name: record[name] for name in ("description", "action", "family", "cause", "cause_from",
                                                   "source")}
        inner = record.pop("inner_code")
        book = folded.setdefault((code, workload, words), {**record, "inner_codes": []})
        if inner and inner != code:
            book["inner_codes"].append({"inner_code": inner, **variant})
            book["sources"] = list(dict.fromkeys([*book["sources"], *record["sources"]]))
    for book in folded.values():
        if len(book["inner_codes"]) > 1:  # the code alone says less than any of its variants
            causes = {v["cause"] for v in book["inner_codes"]}
            families = {v["family"] for v in book["inner_codes"]}
            book.update(description=None, action=None, cause=None, cause_from=None,
                        family=families.pop() if len(families) == 1 else family_of(book["code"], book["message"]))
            if len(causes) == 1 and None not in causes:
                book.update(cause=causes.pop(), cause_from=book["inner_codes"][0]["cause_from"])
    return folded


def _join(folded: dict[tuple[str | None, str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry for a code that several workloads document with the same words (and the same cause)."""
    joined: dict[tuple[Any, ...], dict[str, Any]] = {}
    for (code, workload, _), record in folded.items():
        words = _normal(record["message"] or record["description"])
        inner = tuple(v["inner_code"] for v in record["inner_codes"])
        key = (code, inner, words if code else f"{workload}:{words}", record["cause"])
        if key in joined:
            other = joined[key]
            other["workloads"] = sorted({*other["workloads"], workload}, key=WORKLOADS.index)
            other["sources"] = sorted({*other["sources"], *record["sources"]})
            continue
        joined[key] = record
    return list(joined.values())


# The fields of an entry, in the order the YAML lists them.
ENTRY_FIELDS: Final = ("code", "message", "description", "action", "workloads", "family", "cause", "cause_from",
                       "inner_codes", "source", "sources")


def build(docs: Path, rules: Sequence[CatalogRule], versions: dict[str, str] | None = None,
          commit: str | None = None) -> dict[str, Any]:
    """The code book of the articles in ``docs`` (a checkout's ``articles/backup`` folder)."""
    articles = sorted(p for p in docs.glob("*.md")
                      if re.search(r"troubleshoot|error", p.name, re.I) or p.name in EXTRA_ARTICLES)
    merged: dict[tuple[str | None, str | None, str, str], dict[str, Any]] = {}
    read: list[dict[str, Any]] = []
    for path in articles:
        text = path.read_text(encoding="utf-8")
        date = re.search(r"^ms\.date:\s*(\S+)", text, re.M)
        found = parse_article(path.name, text, codes_only=path.name in EXTRA_ARTICLES)
        read.append({"file": path.name, "ms_date": date.group(1) if date else None,
                     "version": (versions or {}).get(path.name) or commit, "entries": len(found)})
        workload = workload_of(path.name)
        for entry in found:
            key = (entry.code, entry.inner_code, workload, "" if entry.code else _normal(entry.message))
            family = family_of(entry.code, entry.message or entry.description, entry.inner_code)
            cause, cause_from = cause_of(entry, workload, family, rules)
            source = f"{LEARN}{entry.article}" + (f"#{entry.anchor}" if entry.anchor else "")
            record = merged.get(key)
            if record is None:
                merged[key] = {"code": entry.code, "inner_code": entry.inner_code, "message": entry.message,
                               "description": entry.description, "action": entry.action,
                               "workloads": [workload], "family": family, "cause": cause,
                               "cause_from": cause_from, "source": source, "sources": [source]}
                continue
            if len(entry.message or "") > len(record["message"] or ""):
                record.update(message=entry.message, family=family, cause=cause, cause_from=cause_from)
            for name in ("description", "action"):
                if not record[name] and getattr(entry, name):
                    record[name] = getattr(entry, name)
            if source not in record["sources"]:
                record["sources"].append(source)
    joined = _join(_fold(merged))
    entries = [{name: e[name] for name in ENTRY_FIELDS} for e in joined]
    entries.sort(key=lambda e: (e["code"] is None, (e["code"] or "").lower(), WORKLOADS.index(e["workloads"][0]),
                                _normal(e["message"]), e["source"]))
    for book_entry in entries:
        book_entry["sources"] = sorted(book_entry["sources"])
    return {
        "source": {"repository": REPOSITORY, "folder": "articles/backup", "commit": commit, "articles": read},
        "workloads": list(WORKLOADS),
        "families": list(FAMILIES),
        "entries": entries,
    }


HEADER: Final = """\
# Every documented Azure Backup error code, from Microsoft's docs (MicrosoftDocs/azure-docs, articles/backup).
# Generated by tools/extract_azure_codes.py; do not edit by hand (see azure_codes.md).
"""


def render(book: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(book, sort_keys=False, allow_unicode=True, width=120)


def read_versions(path: Path | None) -> dict[str, str]:
    """``file<TAB>version`` lines: the version each article was read at, when they differ."""
    if not path:
        return {}
    versions = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].endswith(".md"):
            versions[parts[0]] = parts[2] if len(parts) >= 3 else parts[1]
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("docs", type=Path, help="a checkout's articles/backup folder")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--catalog", type=Path, default=CATALOG, help="the folder of the azure*.yaml rules")
    parser.add_argument("--commit", help="the docs commit the checkout is at")
    parser.add_argument("--versions", type=Path, help="file<TAB>repository<TAB>version lines, one per article")
    args = parser.parse_args(argv)
    if not args.docs.is_dir():
        parser.error(f"{args.docs} is not a folder (give the checkout's articles/backup folder)")
    book = build(args.docs, load_catalog(args.catalog), read_versions(args.versions), args.commit)
    if not book["entries"]:
        parser.error(f"no troubleshooting article with errors in {args.docs}")
    args.output.write_text(render(book), encoding="utf-8")
    print(f"{len(book['entries'])} entries from {len(book['source']['articles'])} articles -> {args.output}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

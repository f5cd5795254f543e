"""A ``Message`` as a flat list of ``Piece``s (headings, paragraphs, numbered steps, lists, code,
facts, links): the one walk over a message that the document-like sinks share (Jira's Atlassian
Document Format, GitHub's Markdown, ServiceNow's and the console's plain text, PagerDuty's details).
Each of them only maps a piece to its markup and escapes it its own way."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from shared.notify.message import Message, Section

PieceKind = Literal["heading", "text", "steps", "items", "code", "facts", "links"]

#: How a snippet kind is named for code highlighting.
LANGUAGES = {"json": "json", "shell": "bash", "bash": "bash", "cli": "bash", "sql": "sql", "powershell": "powershell",
             "bicep": "bicep", "yaml": "yaml", "python": "python", "hcl": "hcl", "terraform": "hcl", "diff": "diff"}


class Piece(Struct, frozen=True):
    kind: PieceKind
    text: str = ""
    items: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    language: str = ""
    #: The number of the first step (a list of steps continues after a step's command).
    start: int = 1
    #: For a command that must not be cut: what to show where it cannot fit whole.
    short: str = ""


def section_pieces(section: Section) -> list[Piece]:
    pieces = [Piece("heading", section.heading)] if section.heading else []
    if section.text:
        pieces.append(Piece("text", section.text))
    run: list[str] = []
    start = 1
    for number, step in enumerate(section.steps, 1):
        run.append(step.text)
        if step.command:
            pieces += [Piece("steps", items=tuple(run), start=start),
                       Piece("code", step.command, language="bash", short=step.short)]
            run, start = [], number + 1
    if run:
        pieces.append(Piece("steps", items=tuple(run), start=start))
    if section.items:
        pieces.append(Piece("items", items=section.items))
    for label, command in section.pairs:
        pieces += [Piece("text", label), Piece("code", command, language="bash")]
    if section.code:
        pieces.append(Piece("code", section.code, language=LANGUAGES.get(section.language.lower(), ""),
                            short=section.short if section.whole else ""))
    return pieces


def pieces(message: Message, compact: bool = False, *, links: bool = True, footer: bool = True) -> list[Piece]:
    """The message as pieces: the whole message for a new ticket, the short one for a comment."""
    out: list[Piece] = []
    if not compact and message.context:
        out.append(Piece("text", " · ".join(message.context)))
    if (decision := message.decision_shown(compact)) is not None:
        out += [Piece("text", decision.headline), *(Piece("text", line) for line in decision.lines)]
    if not compact and message.facts:
        out += [Piece("heading", message.labels.get("what_failed", "")), Piece("facts", pairs=message.facts)]
    for section in message.body(compact):
        out += section_pieces(section)
    if links and not compact and message.links:
        out += [Piece("heading", message.labels.get("links", "")),
                Piece("links", pairs=tuple((link.label, link.url) for link in message.links))]
    if footer and not compact and message.footer:
        out.append(Piece("text", message.footer))
    return out


def _plain_lines(piece: Piece) -> list[str]:
    if piece.kind == "heading":
        return ["", piece.text.upper()]
    if piece.kind in ("text", "code"):
        return [piece.text]
    if piece.kind == "steps":
        return [f"{i}. {item}" for i, item in enumerate(piece.items, piece.start)]
    if piece.kind == "items":
        return [f"- {item}" for item in piece.items]
    return [f"{name}: {value}" for name, value in piece.pairs]  # facts, links


#: Where ``plain`` left parts out (no words: the message may be in any language).
LEFT_OUT = "…"


def plain(items: list[Piece], limit: int | None = None) -> str:
    """Pieces as plain text (ServiceNow's fields and work notes): code kept line by line, as it is.

    Within ``limit`` characters, a part that does not fit (a heading with what follows it) is left
    out whole, with "…" in its place, and the parts after it still get their turn: never cut, as half
    a command would run as something else."""
    parts: list[tuple[list[str], list[str]]] = []  # (the part, its short form or nothing)
    heading: list[str] = []
    for piece in items:
        if piece.kind == "heading":
            heading += _plain_lines(piece)
            continue
        parts.append((heading + _plain_lines(piece), heading + piece.short.splitlines() if piece.short else []))
        heading = []
    if heading:
        parts.append((heading, []))
    text = "\n".join(line for part, _ in parts for line in part).strip()
    if limit is None or len(text) <= limit:
        return text
    lines: list[str] = []
    used = len(LEFT_OUT) + 1  # room for one mark at the end
    for whole, short in parts:
        for part in (whole, short):
            size = sum(len(line) + 1 for line in part)
            if part and used + size <= limit:
                lines += part
                used += size
                break
        else:
            if not lines or lines[-1] != LEFT_OUT:
                lines.append(LEFT_OUT)
                used += len(LEFT_OUT) + 1
    return "\n".join(lines).strip()

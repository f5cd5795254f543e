"""GitHub Issues: an issue per failure (REST API), a comment when it recurs, and a comment and close
when a later job succeeds. Untrusted text is fenced or escaped so it cannot mention anyone
(``@team``), reference issues, or inject HTML."""

from __future__ import annotations

import re

from shared.sinks.base import Limits, clean
from shared.sinks.document import Piece


class GitHubLimits(Limits):
    #: Issue and comment bodies hold at most 65,536 characters (the API answers 422 beyond).
    MAX_BODY = 65_536
    #: Titles are cut here for readability (GitHub accepts longer ones).
    MAX_TITLE = MAX_SUBJECT = 256
    #: "If you're making a large number of POST, PATCH, PUT, or DELETE requests ... wait at least one
    #: second between each request" (docs.github.com REST best practices / secondary rate limits).
    SECONDS_PER_REQUEST = 1.0
    API_VERSION = "2022-11-28"


_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def escape(text: str) -> str:
    """Plain text for GitHub Markdown: punctuation escaped, no @mention, no #reference, no HTML."""
    text = _MARKDOWN.sub(r"\\\1", clean(text))
    return text.replace("@", "@\u200b")


def fence(text: str, language: str = "") -> str:
    """A fenced block that the text cannot close (the fence is longer than any run of backticks)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{language}\n{clean(text)}\n{marks}"


def markdown(parts: list[Piece]) -> str:
    out: list[str] = []
    for part in parts:
        if part.kind == "heading":
            out.append(f"### {escape(part.text)}")
        elif part.kind == "text":
            out.append(escape(part.text))
        elif part.kind == "code":
            out.append(fence(part.text, part.language))
        elif part.kind == "steps":
            out.append("\n".join(f"{i}. {escape(item)}" for i, item in enumerate(part.items, part.start)))
        elif part.kind == "items":
            out.append("\n".join(f"- {escape(item)}" for item in part.items))
        elif part.kind == "facts":
            out.append("\n".join(f"- **{escape(name)}**: {escape(value)}" for name, value in part.pairs))
        elif part.kind == "links":
            out.append("\n".join(f"- [{escape(name)}](<{url}>)" for name, url in part.pairs))
    return "\n\n".join(out)

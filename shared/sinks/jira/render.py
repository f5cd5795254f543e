"""Jira: a ``Message`` as an Atlassian Document Format (ADF) document."""

from __future__ import annotations

from typing import Any

from shared.sinks.base import Limits, truncate
from shared.sinks.document import Piece


class JiraLimits(Limits):
    #: The ``summary`` field holds at most 255 characters (Jira Cloud: "Summary must be less than 255 characters").
    MAX_SUMMARY = MAX_SUBJECT = 255
    #: Text fields (description, comment) hold at most 32,767 characters (Jira Cloud field limits).
    MAX_TEXT = 32_767
    #: A code block or paragraph we render is cut at this many characters so a description stays in bounds.
    MAX_PART = 8_000
    #: Jira Cloud's rate limits are cost based and answer 429 with Retry-After
    #: (developer.atlassian.com/cloud/jira/platform/rate-limiting); we space our own requests.
    SECONDS_PER_REQUEST = 0.2


def _text(value: str, **marks: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = [{"type": k, **({"attrs": v} if isinstance(v, dict) else {})} for k, v in marks.items()]
    return node


def adf(parts: list[Piece], budget: int = JiraLimits.MAX_TEXT) -> dict[str, Any]:
    """An ADF document; every text node non-empty (ADF rejects empty text), the whole within
    ``budget`` characters of text."""
    content: list[dict[str, Any]] = []
    used = 0

    def take(value: str, limit: int = JiraLimits.MAX_PART) -> str:
        nonlocal used
        value = truncate(value, min(limit, max(budget - used, 0)))
        used += len(value)
        return value

    for part in parts:
        if used >= budget:
            break
        if part.kind == "heading" and part.text:
            content.append({"type": "heading", "attrs": {"level": 3}, "content": [_text(take(part.text))]})
        elif part.kind == "text" and part.text.strip():
            content.append({"type": "paragraph", "content": [_text(take(part.text))]})
        elif part.kind == "code" and part.text.strip():
            node: dict[str, Any] = {"type": "codeBlock", "content": [_text(take(part.text))]}
            if part.language:
                node["attrs"] = {"language": part.language}
            content.append(node)
        elif part.kind in ("steps", "items") and part.items:
            node = {"type": "orderedList" if part.kind == "steps" else "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [_text(take(item) or "-")]}]}
                for item in part.items if item.strip()]}
            if part.kind == "steps" and part.start > 1:
                node["attrs"] = {"order": part.start}
            content.append(node)
        elif part.kind == "facts" and part.pairs:
            content.append({"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    _text(f"{name}: ", strong=True), _text(take(value) or "-")]}]}
                for name, value in part.pairs]})
        elif part.kind == "links" and part.pairs:
            content.append({"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    _text(name, link={"href": url})]}]} for name, url in part.pairs]})
    return {"type": "doc", "version": 1, "content": content or [{"type": "paragraph", "content": [_text("-")]}]}


PRIORITIES = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}

"""ServiceNow: incidents through the Table API (``/api/now/table/incident``); a recurring failure adds
work notes to the open incident; a recovery resolves it (state 6 with a close code and notes).

Journal fields (work notes, comments) render what stands between ``[code]`` and ``[/code]`` as raw
HTML, so untrusted text (an error message, a resource name) could inject markup and links: every
text sent here has its code tags broken (``escape``) and is shown as the text it is."""

from __future__ import annotations

import re

from shared.sinks.base import Limits


class ServiceNowLimits(Limits):
    #: incident.short_description is a String(160) in the base system dictionary.
    MAX_SHORT_DESCRIPTION = MAX_SUBJECT = 160
    #: incident.description is a String(4000) in the base system dictionary.
    MAX_DESCRIPTION = 4000
    #: Journal fields (work_notes) take up to 4000 characters per entry in the base system.
    MAX_WORK_NOTES = 4000
    #: task.correlation_id is a String(100).
    MAX_CORRELATION_ID = 100
    #: Inbound REST rate limit rules answer 429 with Retry-After; our own spacing.
    SECONDS_PER_REQUEST = 0.2


#: ``[code]`` and ``[/code]`` in any case and spacing: ServiceNow's raw-HTML escape in journal fields.
_CODE_TAG = re.compile(r"\[(?=\s*/?\s*code\s*\])", re.I)


#: Put after the bracket, it keeps the text readable and the tag inert.
_BREAK = "\u200b"


def escape(text: str) -> str:
    """Text for a ServiceNow field: ``[code]`` tags broken so they never switch to raw HTML."""
    return _CODE_TAG.sub("[" + _BREAK, text)


#: urgency/impact: 1 high, 2 medium, 3 low.
URGENCY = {"critical": "1", "high": "2", "medium": "2", "low": "3"}


IMPACT = {"critical": "1", "high": "2", "medium": "3", "low": "3"}

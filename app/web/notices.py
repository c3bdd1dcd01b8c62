"""Messages shown after a redirect (post/redirect/get): only known keys, never raw text."""

from __future__ import annotations

import re

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}$")

MESSAGES = {
    "recorded": "Visit {visit} recorded as completed.",
    "missed": "Visit {visit} marked as missed.",
    "missed-many": "{visit} visits marked as missed.",
    "event": "Event recorded.",
    "event-corrected": "Event corrected; the calendar follows it.",
    "event-unchanged": "The event was already recorded so; nothing changed.",
    "event-removed": "Event removed; the calendar follows.",
    "enrolled": "Subject {visit} enrolled; the calendar is below.",
    "anchor": "The {visit} date is saved; the visits not done yet follow it.",
    "anchor-unchanged": "The {visit} date was already recorded so; nothing changed.",
    "unscheduled": "Unscheduled visit {visit} recorded.",
    "feed-revoked": "The feed URL was revoked; calendar apps using it stop updating.",
    "user-disabled": "The user is disabled: their sessions ended and their tokens were revoked.",
    "user-enabled": "The user may sign in again.",
    "user-updated": "The user is changed; it counts from their next page or request.",
    "token-revoked": "The token was revoked; requests with it are refused from now on.",
}


def notice_text(key: str | None, visit: str | None = None) -> str | None:
    template = MESSAGES.get(key or "")
    if template is None:
        return None
    code = visit if visit and _CODE.match(visit) else "?"
    return template.format(visit=code)

"""Keyset pages: the one codec of the opaque cursors the API hands out, and page limits.

A cursor is the key of the last row of a page (never an offset), tagged with what it
pages through so that one list's cursor is refused by another. Clients pass it back
unchanged; anything else is a clear 422, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import InvalidCursor, InvalidRequest

MAX_ID = 2**31 - 1  # row ids are 32-bit integers on every backend
MAX_CURSOR = 200  # characters: a cursor this API returns is far shorter
MAX_PAGE = 500


def encode_cursor(kind: str, *key: int | str) -> str:
    """The opaque cursor of a page that ended at ``key``.

    >>> encode_cursor("subjects", 42)
    'WyJzdWJqZWN0cyIsNDJd'
    >>> decode_cursor("subjects", "WyJzdWJqZWN0cyIsNDJd", int)
    (42,)
    """
    raw = json.dumps([kind, *key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, *shape: type) -> tuple[Any, ...]:
    """The key in a cursor of ``kind``, checked against ``shape`` (int or str per part).

    Integers must be row ids (0 to 2**31-1). Raises :class:`InvalidCursor` for anything
    that is not a cursor this API returned for this list.
    """
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(shape) + 1 or raw[0] != kind:
            raise ValueError("not this list's cursor")
        key = tuple(raw[1:])
        for value, expected in zip(key, shape, strict=True):
            if type(value) is not expected:
                raise ValueError("wrong type")
            if isinstance(value, int) and not 0 <= value <= MAX_ID:
                raise ValueError("out of range")
        return key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not one this API returned", field="cursor") from exc


def check_limit(limit: int, maximum: int = MAX_PAGE) -> None:
    """A page holds 1 to ``maximum`` rows."""
    if not 1 <= limit <= maximum:
        raise InvalidRequest(f"limit must be between 1 and {maximum}", field="limit")

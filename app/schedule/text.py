"""What free text may hold: no control characters.

A NUL cannot be stored in a PostgreSQL text column at all (SQLite stores it), and the
other C0 controls and DEL (an escape sequence, a backspace) have no place in a name, a
code or a note: they only garble what a terminal, a log or a CSV export shows later.

Every edge applies the same rule to the text it accepts: the API's request schemas,
the CSV import and the web forms. One-line text (codes, names, ids, emails, filters)
may hold no control character at all; multi-line text (notes, reasons) may also hold
tabs and line breaks (LF, or CRLF as browsers send a textarea's lines).
"""

from __future__ import annotations

import re

# C0 controls (U+0000..U+001F) and DEL (U+007F).
_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]")
# The same without tab and LF; CR only as the first half of a CRLF line break.
_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")

# The same rules as JSON Schema (ECMA-262) patterns, for API documents.
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE_PATTERN = r"^([^\x00-\x08\x0b-\x1f\x7f]|\r\n)*$"


def control_character_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable text, or None when it is.

    ``multiline`` allows tab, LF and CRLF (notes and reasons); other text allows no
    control character at all. The message names the character, never repeats the text:

    >>> control_character_problem("YC3H-001") is None
    True
    >>> control_character_problem("YC3H\\x00001")
    'contains a control character (U+0000 at position 5); none is allowed'
    >>> control_character_problem("first line\\r\\nsecond\\tline", multiline=True) is None
    True
    >>> control_character_problem("first line\\nsecond line")
    'contains a control character (U+000A at position 11); none is allowed'
    >>> control_character_problem("red \\x1b[31malert", multiline=True)
    'contains a control character (U+001B at position 5); only tabs and line breaks are allowed'
    """
    found = (_MULTI_LINE if multiline else _ONE_LINE).search(value)
    if found is None:
        return None
    allowed = "only tabs and line breaks are allowed" if multiline else "none is allowed"
    return (f"contains a control character (U+{ord(found.group()):04X} at position"
            f" {found.start() + 1}); {allowed}")

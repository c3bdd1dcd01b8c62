"""Writing XML with the standard library: escaped text and attributes, nothing else.

Characters XML 1.0 cannot carry (most C0 controls, unpaired surrogates, U+FFFE/U+FFFF)
become U+FFFD, so a stray byte in stored free text never makes a document unreadable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.sax.saxutils import escape

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# In an attribute, also the quote and the white space a parser would normalise away.
_IN_ATTRIBUTE = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


Attributes = Mapping[str, str | None]


# What needs escaping or replacing in an attribute; most values (OIDs, dates, codes) have
# none of it and are written as they are.
_SPECIAL = re.compile('[&<>"\x00-\x1f\ud800-\udfff\ufffe\uffff]')


def attr(value: str) -> str:
    """``value`` as the content of a double-quoted attribute."""
    if _SPECIAL.search(value) is None:
        return value
    return escape(clean(value), _IN_ATTRIBUTE)


def _attrs(attributes: Attributes | None) -> str:
    """` key="value"` for each attribute, those whose value is None left out."""
    return "".join(
        f' {key}="{attr(value)}"'
        for key, value in (attributes or {}).items() if value is not None
    )


def open_tag(name: str, attributes: Attributes | None = None) -> str:
    """``<name a="v">``: the start of an element whose content is written piece by piece."""
    return f"<{name}{_attrs(attributes)}>"


def tag(name: str, attributes: Attributes | None = None, content: str = "") -> str:
    """``<name a="v">content</name>`` (``content`` already XML), or ``<name a="v"/>``."""
    attrs = _attrs(attributes)
    return f"<{name}{attrs}>{content}</{name}>" if content else f"<{name}{attrs}/>"


def text(name: str, value: str, attributes: Attributes | None = None) -> str:
    """An element holding ``value`` as escaped text."""
    return f"<{name}{_attrs(attributes)}>{escape(clean(value))}</{name}>"

"""Declared event values: is a value one the protocol allows, and if not, what was meant.

A protocol declares per event type the values it may carry (``event_values`` in the
YAML, :class:`~app.schedule.language.EventValues`). Values are case-sensitive codes, so
``cr`` is not ``CR``; a value that differs from a declared one only in case gets that
one as a hint. Nothing closer is guessed: ``VGPR`` is one letter from ``PR`` but a
different response, and a hint must never lead to recording the wrong one.

The same wording serves the loader (a phase condition naming an undeclared value), the
services (an event recorded with one) and the preview command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.schedule.language import Protocol


def closest(value: str, allowed: Sequence[str]) -> str | None:
    """The declared value that differs from ``value`` only in case, if any (the loader
    refuses two declared values that differ only in case, so there is at most one).

    >>> closest("scr", ["sCR", "CR", "VGPR"])
    'sCR'
    >>> closest("VGPR", ["CR", "PR"]) is None
    True
    """
    folded = value.casefold()
    return next((a for a in allowed if a.casefold() == folded), None)


def unknown_value_message(event: str, value: str, allowed: Sequence[str]) -> str:
    """Why ``value`` is refused, naming the allowed values (and the one probably meant).

    >>> unknown_value_message("response", "cr", ["CR", "PR"])
    '"cr" is not a declared response value (did you mean CR?); allowed: CR, PR'
    """
    meant = closest(value, allowed)
    hint = f" (did you mean {meant}?)" if meant is not None else ""
    return f'"{value}" is not a declared {event} value{hint}; allowed: {", ".join(allowed)}'


@dataclass(frozen=True, slots=True)
class RefusedValue:
    """An event value outside the protocol's vocabulary for its event type."""

    event: str
    value: str
    allowed: tuple[str, ...]

    @property
    def message(self) -> str:
        return unknown_value_message(self.event, self.value, self.allowed)


def refused_value(protocol: Protocol, event: str, value: str) -> RefusedValue | None:
    """The refusal of ``value`` for an event of type ``event``; None when it is allowed
    (declared, or the protocol declares no values for the type)."""
    allowed = protocol.allowed_values(event)
    if allowed is None or value in allowed:
        return None
    return RefusedValue(event, value, allowed)

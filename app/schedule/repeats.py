"""Phases that happen more than once (retreatment at each progression): ``repeats``.

A phase that repeats is opened by each event of its type, up to ``max`` times: the k-th
progression opens occurrence k. Every occurrence is a schedule of its own, timed from its
own event's date, and numbered: its phase is the phase code followed by k (``RT2``), and
each visit's code and name carry k, through the template ``{occurrence}`` or, without
it, as a prefix of the code (``RT2-D1``) and a suffix of the name. The opening of
occurrence k+1 closes occurrence k (a new retreatment replaces the one before).

The number of occurrences is bounded so that the calendar is the same set of visits from
enrolment on (those of occurrences not opened are pending), as for any conditional phase.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from app.schedule.names import Strict

OCCURRENCE = "{occurrence}"
MAX_OCCURRENCES = 9
# The events that may happen more than once: the others end the follow-up.
REPEATING_OPENERS = frozenset({"progression", "response"})

BAD_MAX = (f"max is how many times the phase may happen: a whole number from 2 to "
           f"{MAX_OCCURRENCES} (a phase that happens once needs no repeats)")


class Repeats(Strict):
    """How many times a phase opened by an event may happen."""

    max: int = Field(ge=2, le=MAX_OCCURRENCES,
                     description=f"The number of occurrences at most (2 to {MAX_OCCURRENCES})")

    @field_validator("max", mode="before")
    @classmethod
    def _bounded(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) \
                or not 2 <= value <= MAX_OCCURRENCES:
            raise ValueError(BAD_MAX)
        return value


def phase_key(code: str, occurrence: int) -> str:
    """The phase of occurrence k's visits: ``RT`` -> ``RT2``."""
    return f"{code}{occurrence}"


def occurrence_code(code: str, phase: str, occurrence: int) -> str:
    """A visit code template of a repeating phase, for one occurrence (other placeholders
    of a series stay): ``D1`` -> ``RT2-D1``; ``RT{occurrence}-D{n}`` -> ``RT2-D{n}``.

    >>> occurrence_code("D1", "RT", 2), occurrence_code("R{occurrence}-M{n}", "RT", 3)
    ('RT2-D1', 'R3-M{n}')
    """
    if OCCURRENCE in code:
        return code.replace(OCCURRENCE, str(occurrence))
    return f"{phase_key(phase, occurrence)}-{code}"


def occurrence_name(name: str, occurrence: int) -> str:
    """A visit name of a repeating phase, for one occurrence.

    >>> occurrence_name("Day 1", 2), occurrence_name("Retreatment {occurrence}, day 1", 2)
    ('Day 1 (occurrence 2)', 'Retreatment 2, day 1')
    """
    if OCCURRENCE in name:
        return name.replace(OCCURRENCE, str(occurrence))
    return f"{name} (occurrence {occurrence})"

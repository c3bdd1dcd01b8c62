"""The life of a subject as facts: lifecycle events, where they leave the subject, and
which sets of facts are consistent.

Every fact carries its own date, so the rules here are about dates, never about the
order facts arrive in: a set of facts is either consistent or not, and a fact that fits
is accepted whether it is entered before or after the others. What a subject *is*
(:func:`lifecycle_of`) is derived from its events, never kept as a separate truth.

- An ending event ends the follow-up: screen failure, completion of the study,
  withdrawal, loss to follow-up, death. There is at most one of each, and at most one
  end of follow-up besides death: a subject who left may still be reported dead later
  (overall survival needs it), never the other way round.
- Nothing but a death may be dated after the end of follow-up: no visit done (but the
  visits of a phase the end opens, early termination), no response, progression,
  transfer or re-consent. Nothing at all after a death.
- A screen failure ends a subject who was never treated: it cannot follow an actual
  date of the main anchor (the first dose, the infusion).
- A transfer moves the subject to another site from its date: the site on any date is
  the enrolment site, or the destination of the latest transfer dated on or before it
  (:func:`site_on`). Two transfers on one day, or a transfer to the site the subject is
  already at on that day, make the history ambiguous and are refused
  (:func:`transfer_conflict`).
- Where the protocol says so, a subject whose schedule is all done has completed the
  study without any event (:func:`lifecycle_of` with ``schedule_done``); that completion
  is derived, so it ends nothing: later facts are accepted as before.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class EventType(StrEnum):
    RESPONSE = "response"
    PROGRESSION = "progression"
    DEATH = "death"
    WITHDRAWAL = "withdrawal"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    SCREEN_FAILURE = "screen_failure"
    STUDY_COMPLETED = "study_completed"
    TRANSFER = "transfer"  # value: the code of the site the subject moves to
    RECONSENT = "reconsent"  # value: the version of the consent signed


class Lifecycle(StrEnum):
    """Where a subject stands: still followed, or gone for good (and how)."""

    ACTIVE = "active"
    DIED = "died"
    WITHDRAWN = "withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    SCREEN_FAILED = "screen_failed"
    COMPLETED = "completed"


# The events that end a subject's follow-up, and what each makes of the subject.
ENDS_AS: Mapping[EventType, Lifecycle] = {
    EventType.DEATH: Lifecycle.DIED,
    EventType.WITHDRAWAL: Lifecycle.WITHDRAWN,
    EventType.LOST_TO_FOLLOW_UP: Lifecycle.LOST_TO_FOLLOW_UP,
    EventType.SCREEN_FAILURE: Lifecycle.SCREEN_FAILED,
    EventType.STUDY_COMPLETED: Lifecycle.COMPLETED,
}
TERMINAL_EVENTS = frozenset(ENDS_AS)
# The ends of follow-up other than death: a subject has at most one of them.
LEAVING_EVENTS = TERMINAL_EVENTS - {EventType.DEATH}
# The events that carry a value, and what the value is.
VALUE_OF: Mapping[EventType, str] = {
    EventType.RESPONSE: "the response, such as CR",
    EventType.TRANSFER: "the code of the site the subject moves to",
    EventType.RECONSENT: "the version of the consent signed",
}
STILL_FOLLOWED = frozenset({Lifecycle.ACTIVE})


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    date: date
    value: str | None = None  # e.g. "CR" for a response


def end_of_follow_up(events: Iterable[Event]) -> Event | None:
    """The earliest ending event (on one day, death last: the leaving is the cause)."""
    return min(
        (e for e in events if e.type in TERMINAL_EVENTS),
        key=lambda e: (e.date, e.type is EventType.DEATH),
        default=None,
    )


def lifecycle_of(events: Iterable[Event], *, schedule_done: bool = False) -> Lifecycle:
    """What the events make of a subject: died above all, else how it left, else
    completed when ``schedule_done`` (the protocol completes a subject whose schedule is
    all done), else active."""
    events = list(events)
    if any(e.type is EventType.DEATH for e in events):
        return Lifecycle.DIED
    end = end_of_follow_up(events)
    if end is not None:
        return ENDS_AS[end.type]
    return Lifecycle.COMPLETED if schedule_done else Lifecycle.ACTIVE


class LifecycleFilter(StrEnum):
    """Which subjects a list shows: those still on study, those who left, everyone, or
    the subjects in one lifecycle."""

    ACTIVE = "active"
    ENDED = "ended"
    ALL = "all"
    DIED = "died"
    WITHDRAWN = "withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    SCREEN_FAILED = "screen_failed"
    COMPLETED = "completed"


def lifecycles_of(filters: Iterable[LifecycleFilter]) -> frozenset[Lifecycle] | None:
    """The lifecycles the filters select together (None: every subject, no filter)."""
    chosen: set[Lifecycle] = set()
    for f in filters:
        if f is LifecycleFilter.ALL:
            return None
        if f is LifecycleFilter.ENDED:
            chosen |= set(Lifecycle) - STILL_FOLLOWED
        else:
            chosen.add(Lifecycle(f.value))
    return None if chosen == set(Lifecycle) else frozenset(chosen)


def transfers(events: Iterable[Event]) -> list[Event]:
    """The transfer events, oldest first."""
    return sorted((e for e in events if e.type is EventType.TRANSFER),
                  key=lambda e: (e.date, e.value or ""))


def site_on(day: date | None, enrolled: str, events: Iterable[Event]) -> str:
    """The code of the subject's site on ``day`` (None: now, after every transfer): the
    destination of the latest transfer dated on or before it, else the enrolment site.
    From its date on, a transfer's day belongs to the new site."""
    site = enrolled
    for e in transfers(events):
        if day is not None and e.date > day:
            break
        site = e.value or site
    return site


def transfer_conflict(enrolled: str, events: Sequence[Event]) -> str | None:
    """Why the transfers among ``events`` do not make one history of sites (None: they
    do): two on one day, or one to the site the subject is already at."""
    site, last = enrolled, None
    for e in transfers(events):
        if last is not None and e.date == last:
            return f"two transfers on {_day(e.date)}: record one, to the site of that day"
        if e.value == site:
            return f"the subject is already at site {site} on {_day(e.date)}"
        site, last = e.value or site, e.date
    return None


def consent_version(events: Iterable[Event]) -> str | None:
    """The version of the consent signed last (the latest re-consent), if any."""
    latest = max((e for e in events if e.type is EventType.RECONSENT),
                 key=lambda e: (e.date, e.value or ""), default=None)
    return None if latest is None else latest.value


@dataclass(frozen=True, slots=True)
class EventConflict:
    """Why an event does not fit the facts already recorded."""

    message: str
    already_recorded: bool = False  # an event of this type is already recorded


def _day(d: date) -> str:
    return d.isoformat()


def event_conflict(
    new: Event,
    events: Sequence[Event],
    visits_done: Sequence[tuple[str, date]],
    treated_on: date | None = None,
    after_leaving: Collection[str] = (),
) -> EventConflict | None:
    """Whether ``new`` contradicts the recorded ``events``, the visits done (code and
    actual date) or the actual date of the main anchor; None when it fits. The same
    answer whatever order they came in. The visits ``after_leaving`` (of a phase the end
    of follow-up opens: early termination) may be dated after the end, never after a
    death."""
    for e in events:
        if e.type is new.type and new.type in TERMINAL_EVENTS:
            return EventConflict(
                f"a {new.type.value.replace('_', ' ')} is already recorded"
                f" (on {_day(e.date)})", already_recorded=True)
    if new.type in LEAVING_EVENTS:
        other = next((e for e in events if e.type in LEAVING_EVENTS), None)
        if other is not None:
            return EventConflict(
                f"the subject already left the study: {other.type.value.replace('_', ' ')}"
                f" on {_day(other.date)}")
    everything = [*events, new]
    end = end_of_follow_up(everything)
    death = next((e.date for e in everything if e.type is EventType.DEATH), None)
    if new.type is EventType.SCREEN_FAILURE and treated_on is not None:
        return EventConflict("a screen failure cannot follow treatment: the main anchor"
                             f" has an actual date ({_day(treated_on)})")
    for e in everything:
        if death is not None and e.date > death:
            return EventConflict(f"{_what(e)} on {_day(e.date)} is after the death"
                                 f" ({_day(death)})")
        if end is not None and e is not end and e.type is not EventType.DEATH \
                and e.date > end.date:
            return EventConflict(f"{_what(e)} on {_day(e.date)} is after the"
                                 f" {end.type.value.replace('_', ' ')} ({_day(end.date)})")
    for code, day in visits_done:
        if death is not None and day > death:
            return EventConflict(f"visit {code} was done on {_day(day)}, after the death"
                                 f" ({_day(death)})")
        if end is not None and day > end.date and code not in after_leaving:
            return EventConflict(f"visit {code} was done on {_day(day)}, after the"
                                 f" {end.type.value.replace('_', ' ')} ({_day(end.date)})")
    return None


def _what(e: Event) -> str:
    return f"the {e.type.value.replace('_', ' ')}"


def visit_date_conflict(
    day: date, events: Sequence[Event], *, after_leaving: bool = False
) -> str | None:
    """Why a visit cannot have been done on ``day`` given the events (None: it can). A
    visit ``after_leaving`` (early termination) may be done after the end of follow-up,
    never after a death."""
    death = next((e.date for e in events if e.type is EventType.DEATH), None)
    if death is not None and day > death:
        return f"visit date {_day(day)} is after death ({_day(death)})"
    end = end_of_follow_up(events)
    if end is not None and day > end.date and not after_leaving:
        return (f"visit date {_day(day)} is after the {end.type.value.replace('_', ' ')}"
                f" ({_day(end.date)})")
    return None

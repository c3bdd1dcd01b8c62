"""What events carry, in the schedule language: the values a protocol declares for an
event type (its vocabulary), and the conditions on them that open a phase."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from app.schedule.names import Code, Strict


class Term(Strict):
    """One value an event may carry: a case-sensitive code (IMWG writes sCR) and its label."""

    value: Code
    label: str | None = Field(default=None, min_length=1, max_length=200)


class EventValues(Strict):
    """Per event type that carries a value, the values it may carry, in the protocol's order.

    One field per such event type. An event type the file leaves out accepts any code, as
    before vocabularies were declared: protocol versions already stored still load, and
    their phase conditions are not checked against anything.
    """

    # Left out: (), which a file cannot write (min_length), so "declared" is never empty.
    response: tuple[Term, ...] = Field(default=(), min_length=1)

    def terms(self, event: str) -> tuple[Term, ...] | None:
        """The declared values of an event type; None when the protocol declares none."""
        if event not in type(self).model_fields:
            return None
        declared: tuple[Term, ...] = getattr(self, event)
        return declared or None

    def declared(self) -> dict[str, tuple[Term, ...]]:
        """Every event type with a declared vocabulary, in the order of the fields."""
        return {
            event: terms
            for event in type(self).model_fields
            if (terms := self.terms(event)) is not None
        }


# The events that may open a phase. Of the events that end follow-up, a withdrawal
# (early-termination visit) and a completion of the study (end-of-study visit) leave a
# subject who can still come; after a death, a loss to follow-up or a screen failure
# nobody can be seen, so they open nothing.
OPENING_EVENTS = ("response", "progression", "withdrawal", "study_completed")
# Those of them that end the subject's follow-up: the phase they open is the subject's
# last schedule, which only a death closes.
ENDING_OPENERS = frozenset({"withdrawal", "study_completed"})


class Condition(Strict):
    """The event that opens a phase: a response with one of ``values``, a progression
    (follow-up after progression: survival calls, retreatment), a withdrawal
    (early-termination visit) or the completion of the study (end-of-study visit)."""

    event: Literal["response", "progression", "withdrawal", "study_completed"] = "response"
    values: tuple[Code, ...] = Field(
        default=(),
        description="Response values that open the phase; each one declared in event_values "
                    "when the protocol declares response values",
    )

    @field_validator("event", mode="before")
    @classmethod
    def _opening(cls, value: object) -> object:
        if isinstance(value, str) and value not in OPENING_EVENTS:
            raise ValueError(
                f'"{value}" cannot open a phase; a phase opens on '
                f'{", ".join(OPENING_EVENTS[:-1])} or {OPENING_EVENTS[-1]} (after a death, a '
                "loss to follow-up or a screen failure no visit can take place)")
        return value

    @model_validator(mode="after")
    def _values(self) -> Condition:
        if self.event == "response" and not self.values:
            raise ValueError("a response condition lists the values that open the phase")
        if self.event != "response" and self.values:
            raise ValueError(f"a {self.event.replace('_', ' ')} carries no value: leave out "
                             "values")
        return self

    @property
    def ends_follow_up(self) -> bool:
        """Whether the opening event ends the subject's follow-up (withdrawal, completion)."""
        return self.event in ENDING_OPENERS

    def check_closes_on(self, closes_on: tuple[str, ...]) -> None:
        """The event that opens a phase never closes it (a death does)."""
        if self.event in closes_on:
            event = self.event.replace("_", " ")
            raise ValueError(f"a phase opened by {event} cannot close on {event}: the event "
                             "that opens it never closes it (a death does)")

    def check_stops(self, phase_stops: bool, a_visit_stops: bool) -> None:
        """Whether the phase (or one of its visits) may stop at progression."""
        if self.event == "progression" and phase_stops:
            raise ValueError("a phase opened by progression cannot stop at progression")
        if self.ends_follow_up and (phase_stops or a_visit_stops):
            raise ValueError(f"a phase opened by {self.event.replace('_', ' ')} cannot stop at "
                             "progression: no progression is recorded after the end of "
                             "follow-up")


def default_closes_on(cls: type, data: object) -> object:
    """A phase's fields before validation, with ``closes_on`` defaulting to nothing for a
    phase opened by the end of follow-up: a progression before a withdrawal must not take
    away the early-termination visit (other phases close on progression by default)."""
    if isinstance(data, dict) and "closes_on" not in data:
        condition = data.get("condition")
        if isinstance(condition, dict) and condition.get("event") in ENDING_OPENERS:
            return {**data, "closes_on": ()}
    return data

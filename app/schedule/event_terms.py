"""What events carry, in the schedule language: the values a protocol declares for an
event type (its vocabulary), and the conditions on them that open a phase."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

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


class Condition(Strict):
    """The event that opens a phase: a response with one of ``values``, or a progression
    (follow-up after progression: survival calls, retreatment)."""

    event: Literal["response", "progression"] = "response"
    values: tuple[Code, ...] = Field(
        default=(),
        description="Response values that open the phase; each one declared in event_values "
                    "when the protocol declares response values",
    )

    @model_validator(mode="after")
    def _values(self) -> Condition:
        if self.event == "response" and not self.values:
            raise ValueError("a response condition lists the values that open the phase")
        if self.event != "response" and self.values:
            raise ValueError(f"a {self.event} carries no value: leave out values")
        return self

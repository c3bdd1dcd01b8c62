"""What a bulk enrolment reads and reports: one row to enrol, its history, its problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.schedule.expand import AnchorDate, VisitRecord
from app.schedule.lifecycle import Event, Lifecycle

CHUNK_ROWS = 1000


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One subject to enrol, as read from a CSV line or a batch item."""

    subject_id: str
    site: str
    consent_date: date
    date_of_birth: date
    anchors: Mapping[str, AnchorDate] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class History:
    """What already happened to a subject (demo data only; an import has none)."""

    lifecycle: Lifecycle = Lifecycle.ACTIVE
    events: tuple[Event, ...] = ()
    records: Mapping[str, VisitRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """``where`` is a CSV line number or a batch index; ``column`` may be empty."""

    where: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.where, "field": self.column, "message": self.message}

    def line(self, source: str) -> str:
        column = f" {self.column}:" if self.column else ""
        return f"{source}:{self.where}:{column} {self.message}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    study: str
    imported: int
    visits: int
    skipped: int
    problems: tuple[RowProblem, ...]


Item = tuple[int, Enrolment | list[RowProblem], History | None]

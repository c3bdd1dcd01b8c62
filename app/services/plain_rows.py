"""The rows a use case holds beside a subject: ORM objects, or the same columns as plain
values on the visit-recording path.

Recording a visit is the EDC's hot path. Its subject, study, site, protocol version and
visit are read by one Core statement and held as the plain values below: an ORM load of
the same joined row costs about twice the Core read, because the ORM builds its row
loaders on every execution. The plain classes carry the columns the use cases read,
under the ORM classes' names, so one use case serves both; the aliases (``SubjectRow``,
...) are the types the shared code takes. Writes never go through a plain value: the
visit's outcome and the sync's changes are Core UPDATEs, then shown on the value held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.models import ProtocolVersion, Site, Study, Subject, Visit
from app.schedule.plan import Plan


@dataclass(slots=True)
class PlainSubject:
    id: int
    study_id: int
    site_id: int
    enrolled_site_id: int
    subject_id: str
    protocol_version_id: int
    consent_date: date
    date_of_birth: date
    lifecycle: str


@dataclass(frozen=True, slots=True)
class PlainStudy:
    id: int
    code: str


@dataclass(frozen=True, slots=True)
class PlainSite:
    id: int
    code: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class PlainVersion:
    id: int
    version: str
    content_hash: str
    plan: Plan  # read from the plans cache, or built once from the text


@dataclass(slots=True)
class PlainVisit:
    id: int
    subject_pk: int
    study_id: int
    site_id: int
    code: str
    name: str
    phase: str
    kind: str
    optional: bool
    unscheduled: bool
    state: str
    target_date: date | None
    window_start: date | None
    window_end: date | None
    upcoming_from: date | None
    missed_from: date | None
    graded: bool
    after_leaving: bool
    study_day: int | None
    provisional: bool
    actual_date: date | None
    assessments: list[Any]
    note: str | None
    reason: str | None
    recorded_at: datetime | None
    updated_at: datetime


SubjectRow = Subject | PlainSubject
StudyRow = Study | PlainStudy
SiteRow = Site | PlainSite
VersionRow = ProtocolVersion | PlainVersion
VisitRow = Visit | PlainVisit

# The columns each plain class reads, in the order of its fields.
SUBJECT_COLUMNS = PlainSubject.__dataclass_fields__.keys()
STUDY_COLUMNS = PlainStudy.__dataclass_fields__.keys()
SITE_COLUMNS = PlainSite.__dataclass_fields__.keys()
VERSION_COLUMNS = ("id", "version", "content_hash")
VISIT_COLUMNS = PlainVisit.__dataclass_fields__.keys()


def show_written(session: Session, row: SubjectRow | VisitRow, values: dict[str, Any]) -> None:
    """Show values just written by a Core UPDATE on the row held, and on the session's
    ORM object of the same row if it holds one (read earlier in the same transaction, it
    would show the old values otherwise): an ORM object gets them as its committed state
    (nothing left to flush), a plain value as its fields."""
    if isinstance(row, PlainSubject | PlainVisit):
        for column, value in values.items():
            setattr(row, column, value)
        model = Subject if isinstance(row, PlainSubject) else Visit
        loaded = session.identity_map.get(session.identity_key(model, row.id))
        if loaded is None:
            return
        row = loaded
    for column, value in values.items():
        set_committed_value(row, column, value)

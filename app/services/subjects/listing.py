"""Listing a study's subjects, page by page (keyset pagination on enrolment order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import ProtocolVersion, Site, Subject
from app.schedule.lifecycle import Lifecycle
from app.services.pagination import check_limit, decode_cursor, encode_cursor
from app.services.scope import visible_rows
from app.services.studies import get_study

CURSOR = "subjects"


@dataclass(frozen=True, slots=True)
class SubjectSummary:
    subject_id: str
    site: str
    consent_date: date
    lifecycle: Lifecycle
    protocol_version: str
    enrolled_at: datetime


@dataclass(frozen=True, slots=True)
class SubjectPage:
    items: list[SubjectSummary]
    next_cursor: str | None


def list_subjects(
    session: Session,
    *,
    study: str,
    actor: Actor,
    site: str | None = None,
    lifecycle: Lifecycle | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SubjectPage:
    """Subjects of a study the actor may see, in enrolment order, ``limit`` at a time."""
    check_limit(limit)
    study_row = get_study(session, study, actor)
    statement = (
        select(Subject.id, Subject.subject_id, Site.code, Subject.consent_date,
               Subject.lifecycle, ProtocolVersion.version, Subject.created_at)
        .join(Site, Site.id == Subject.site_id)
        .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
        .where(Subject.study_id == study_row.id)
        .order_by(Subject.id)
        .limit(limit + 1)
    )
    # The study is already checked: the actor's sites remain.
    statement = statement.where(visible_rows(actor, site_code=Site.code.expression))
    if site is not None:
        statement = statement.where(Site.code == site)
    if lifecycle is not None:
        statement = statement.where(Subject.lifecycle == lifecycle.value)
    if cursor is not None:
        (after,) = decode_cursor(CURSOR, cursor, int)
        statement = statement.where(Subject.id > after)
    rows = session.execute(statement).all()
    items = [
        SubjectSummary(row.subject_id, row.code, row.consent_date, Lifecycle(row.lifecycle),
                       row.version, row.created_at)
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return SubjectPage(items, encode_cursor(CURSOR, rows[limit - 1][0]) if more else None)

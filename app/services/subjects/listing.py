"""Listing a study's subjects, page by page (keyset pagination on enrolment order)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import ProtocolVersion, Site, Subject, SubjectEvent
from app.schedule.lifecycle import EventType, Lifecycle
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
    consent_version: str | None  # of the latest re-consent; None when none is recorded


@dataclass(frozen=True, slots=True)
class SubjectPage:
    items: list[SubjectSummary]
    next_cursor: str | None


def latest_consent_version() -> ScalarSelect[str | None]:
    """Per subject, in SQL: the version of the consent signed last (its latest re-consent,
    NULL when none), as :func:`app.schedule.lifecycle.consent_version` says."""
    return (
        select(SubjectEvent.value)
        .where(SubjectEvent.subject_pk == Subject.id,
               SubjectEvent.type == EventType.RECONSENT.value)
        .order_by(SubjectEvent.date.desc(), SubjectEvent.value.desc())
        .limit(1)
        .correlate(Subject)
        .scalar_subquery()
    )


def list_subjects(
    session: Session,
    *,
    study: str,
    actor: Actor,
    site: str | None = None,
    lifecycles: Collection[Lifecycle] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SubjectPage:
    """Subjects of a study the actor may see at their current site, in enrolment order,
    ``limit`` at a time; ``lifecycles`` keeps the subjects in those (None: all)."""
    check_limit(limit)
    study_row = get_study(session, study, actor)
    statement = (
        select(Subject.id, Subject.subject_id, Site.code, Subject.consent_date,
               Subject.lifecycle, ProtocolVersion.version, Subject.created_at,
               latest_consent_version().label("consent_version"))
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
    if lifecycles is not None:
        statement = statement.where(Subject.lifecycle.in_(sorted(lc.value for lc in lifecycles)))
    if cursor is not None:
        (after,) = decode_cursor(CURSOR, cursor, int)
        statement = statement.where(Subject.id > after)
    rows = session.execute(statement).all()
    items = [
        SubjectSummary(row.subject_id, row.code, row.consent_date, Lifecycle(row.lifecycle),
                       row.version, row.created_at, row.consent_version)
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return SubjectPage(items, encode_cursor(CURSOR, rows[limit - 1][0]) if more else None)

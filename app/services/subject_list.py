"""Listing a study's subjects, page by page (keyset pagination on enrolment order)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidRequest
from app.models import ProtocolVersion, Site, Subject
from app.services.access import Actor
from app.services.studies import get_study
from app.services.subjects import LIFECYCLES


@dataclass(frozen=True, slots=True)
class SubjectSummary:
    subject_id: str
    site: str
    consent_date: date
    lifecycle: str
    protocol_version: str
    enrolled_at: datetime


@dataclass(frozen=True, slots=True)
class SubjectPage:
    items: list[SubjectSummary]
    next_cursor: str | None


def _encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"s{pk}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("s") or not text[1:].isdigit() or len(text) > 20:
            raise ValueError(cursor)
        return int(text[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest("cursor is not one this API returned", field="cursor") from exc


def list_subjects(
    session: Session,
    *,
    study: str,
    actor: Actor,
    site: str | None = None,
    lifecycle: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SubjectPage:
    """Subjects of a study the actor may see, in enrolment order, ``limit`` at a time."""
    if lifecycle is not None and lifecycle not in LIFECYCLES:
        raise InvalidRequest(f"lifecycle must be one of {', '.join(LIFECYCLES)}",
                             field="lifecycle")
    if not 1 <= limit <= 500:
        raise InvalidRequest("limit must be between 1 and 500", field="limit")
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
    if actor.sites is not None:
        statement = statement.where(Site.code.in_(sorted(actor.sites)))
    if site is not None:
        statement = statement.where(Site.code == site)
    if lifecycle is not None:
        statement = statement.where(Subject.lifecycle == lifecycle)
    if cursor is not None:
        statement = statement.where(Subject.id > _decode_cursor(cursor))
    rows = session.execute(statement).all()
    items = [SubjectSummary(*row[1:]) for row in rows[:limit]]
    more = len(rows) > limit
    return SubjectPage(items, _encode_cursor(rows[limit - 1][0]) if more else None)

"""The audit trail: one append-only record per change, in the same transaction.

Records are only ever inserted: nothing in the application updates or deletes them,
and on PostgreSQL (and SQLite) a trigger refuses it in the database too.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from app.errors import Forbidden, InvalidRequest
from app.models import AuditRecord
from app.services.access import Actor, Role

MAX_PAGE = 500
Rows = Select[*tuple[Any, ...]]


def record_audit(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    study: str | None = None,
    site: str | None = None,
    subject: str | None = None,
    key: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditRecord:
    row = AuditRecord(
        actor=actor.name,
        role=actor.role.value,
        action=action,
        entity=entity,
        study_code=study,
        site_code=site,
        subject_id=subject,
        key=key,
        before=before,
        after=after,
        reason=reason,
    )
    session.add(row)
    return row


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    entity: str
    study: str | None
    site: str | None
    subject_id: str | None
    key: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditEntry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    study: str | None = None
    subject_id: str | None = None
    site: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


Order = Literal["asc", "desc"]


def encode_cursor(record_id: int) -> str:
    return base64.urlsafe_b64encode(f"a{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("a") or not text[1:].isdigit() or len(text) > 20:
            raise ValueError(cursor)
        return int(text[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest("cursor is not one this API returned", field="cursor") from exc


def _columns() -> Rows:
    r = AuditRecord
    statement: Rows = select(
        r.id, r.at, r.actor, r.role, r.action, r.entity, r.study_code, r.site_code,
        r.subject_id, r.key, r.before, r.after, r.reason,
    )
    return statement


def _visible(statement: Rows, actor: Actor) -> Rows:
    """Limit to what the actor may read of the trail.

    A monitor reads its studies' records; records with no study (tokens, sites) are
    administration and stay with admins. A monitor limited to sites also sees the
    study-wide records of its studies (a protocol loaded), which name no patient.
    """
    if actor.studies is not None:
        statement = statement.where(AuditRecord.study_code.in_(sorted(actor.studies)))
    if actor.sites is not None:
        statement = statement.where(
            or_(AuditRecord.site_code.in_(sorted(actor.sites)), AuditRecord.site_code.is_(None))
        )
    return statement


def _check_window(since: datetime | None, until: datetime | None) -> None:
    for name, value in (("from", since), ("to", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(f"{name} needs a UTC offset (e.g. 2026-03-01T00:00:00Z)",
                                 field=name)
    if since is not None and until is not None and until <= since:
        raise InvalidRequest("to must be after from", field="to")


def _page(
    session: Session, statement: Rows, *, order: Order, limit: int, cursor: str | None
) -> AuditPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if cursor is not None:
        last = decode_cursor(cursor)
        statement = statement.where(
            AuditRecord.id > last if order == "asc" else AuditRecord.id < last
        )
    ordering = AuditRecord.id.asc() if order == "asc" else AuditRecord.id.desc()
    rows = session.execute(statement.order_by(ordering).limit(limit + 1)).all()
    items = [AuditEntry(*row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=next_cursor)


def search_audit(
    session: Session,
    *,
    actor: Actor,
    filters: AuditFilter,
    order: Order = "asc",
    limit: int = 100,
    cursor: str | None = None,
) -> AuditPage:
    """The trail, filtered, in the order it was recorded (or the reverse)."""
    if actor.role not in (Role.ADMIN, Role.MONITOR):
        raise Forbidden("only admin and monitor tokens may read the audit trail")
    _check_window(filters.since, filters.until)
    statement = _visible(_columns(), actor)
    r = AuditRecord
    if filters.study is not None:
        statement = statement.where(r.study_code == filters.study)
    if filters.subject_id is not None:
        statement = statement.where(r.subject_id == filters.subject_id)
    if filters.site is not None:
        statement = statement.where(r.site_code == filters.site)
    if filters.actor is not None:
        statement = statement.where(r.actor == filters.actor)
    if filters.action is not None:
        statement = statement.where(r.action == filters.action)
    if filters.since is not None:
        statement = statement.where(r.at >= filters.since)
    if filters.until is not None:
        statement = statement.where(r.at < filters.until)
    return _page(session, statement, order=order, limit=limit, cursor=cursor)


def subject_history(
    session: Session,
    *,
    actor: Actor,
    study: str,
    subject_id: str,
    limit: int = MAX_PAGE,
    cursor: str | None = None,
) -> AuditPage:
    """One subject's trail, oldest first; NotFound unless the actor sees the subject."""
    # Imported here: the subjects service records audit entries through this module.
    from app.services.subjects import get_subject

    get_subject(session, study=study, subject_id=subject_id, actor=actor)
    statement = _columns().where(
        AuditRecord.study_code == study, AuditRecord.subject_id == subject_id
    )
    return _page(session, statement, order="asc", limit=limit, cursor=cursor)

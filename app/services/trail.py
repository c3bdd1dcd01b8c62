"""The audit READER: searching the trail, and one subject's history.

Writing records is :mod:`app.services.audit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.access import Actor, Role
from app.errors import Forbidden, InvalidRequest
from app.models import AuditRecord
from app.services.pagination import MAX_PAGE, check_limit, decode_cursor, encode_cursor
from app.services.scope import visible_audit
from app.services.subjects.loading import get_subject

Rows = Select[*tuple[Any, ...]]
CURSOR = "audit"


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
    user: str | None  # the person (None on records made before accounts, or by a service)
    user_display_name: str | None
    token: str | None  # the token the change came through (None before accounts)


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
    user: str | None = None  # the person, whichever token or session they acted through
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


Order = Literal["asc", "desc"]


def _columns() -> Rows:
    r = AuditRecord
    statement: Rows = select(
        r.id, r.at, r.actor, r.role, r.action, r.entity, r.study_code, r.site_code,
        r.subject_id, r.key, r.before, r.after, r.reason, r.user_name, r.user_display_name,
        r.token_name,
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
    check_limit(limit)
    if cursor is not None:
        (last,) = decode_cursor(CURSOR, cursor, int)
        statement = statement.where(
            AuditRecord.id > last if order == "asc" else AuditRecord.id < last
        )
    ordering = AuditRecord.id.asc() if order == "asc" else AuditRecord.id.desc()
    rows = session.execute(statement.order_by(ordering).limit(limit + 1)).all()
    items = [AuditEntry(*row) for row in rows[:limit]]
    next_cursor = encode_cursor(CURSOR, items[-1].id) if len(rows) > limit else None
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
    statement = _columns().where(visible_audit(actor))
    r = AuditRecord
    if filters.study is not None:
        statement = statement.where(r.study_code == filters.study)
    if filters.subject_id is not None:
        statement = statement.where(r.subject_id == filters.subject_id)
    if filters.site is not None:
        statement = statement.where(r.site_code == filters.site)
    if filters.actor is not None:
        statement = statement.where(r.actor == filters.actor)
    if filters.user is not None:
        statement = statement.where(r.user_name == filters.user)
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
    get_subject(session, study=study, subject_id=subject_id, actor=actor)
    statement = _columns().where(
        AuditRecord.study_code == study, AuditRecord.subject_id == subject_id
    )
    return _page(session, statement, order="asc", limit=limit, cursor=cursor)

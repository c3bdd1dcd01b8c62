"""The audit WRITER: one append-only record per change, in the caller's transaction.

A leaf every use case may import. Records are only ever inserted: nothing in the
application updates or deletes them, and a trigger refuses it in the database too.
Reading the trail is :mod:`app.services.trail`.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import AuditRecord
from app.statements import Prepared


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
    row = AuditRecord(**_columns(actor, action, entity, study, site, subject, key, before,
                                  after, reason))
    session.add(row)
    return row


def _columns(
    actor: Actor, action: str, entity: str, study: str | None, site: str | None,
    subject: str | None, key: str | None, before: dict[str, Any] | None,
    after: dict[str, Any] | None, reason: str | None,
) -> dict[str, Any]:
    """One record's columns, the same for both writers: who (the actor, and the person and
    token behind it), what, where, the values before and after, and why."""
    return dict(zip(_WRITTEN, (
        actor.name, actor.role.value, action, entity, study, site, subject, key, before,
        after, reason, actor.user, actor.display_name, actor.token), strict=True))


# The columns a record is written with; the others (``at``) take their defaults.
_WRITTEN = ("actor", "role", "action", "entity", "study_code", "site_code", "subject_id",
            "key", "before", "after", "reason", "user_name", "user_display_name",
            "token_name")
# Inline: the new record's id is not read back.
_INSERT = Prepared(insert(cast(Table, AuditRecord.__table__)).inline(), keys=_WRITTEN)


def append_audit(
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
) -> None:
    """The same record as :func:`record_audit`, inserted at once by one INSERT rather than
    added to the session (no object to flush): for the hot paths, whose callers do not
    need the row back. Whatever the session holds unflushed is flushed first, so records
    keep the order they were made in."""
    session.flush()
    _INSERT.execute(session, _columns(
        actor, action, entity, study, site, subject, key, before, after, reason))

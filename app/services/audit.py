"""The audit trail: one append-only record per change, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.models import AuditRecord
from app.services.access import Actor


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

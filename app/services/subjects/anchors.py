"""Anchor dates: set, confirm or correct one; visits not done move with it (re-anchoring).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import Conflict, NotFound
from app.models import AnchorDateRow
from app.schedule.eligibility import CONSENT_ANCHOR, anchor_change_violations
from app.schedule.lifecycle import Lifecycle
from app.schedule.rules import raise_first, require_reason
from app.services.subjects.loading import LoadedSubject, load_subject
from app.services.subjects.visit_rows import (
    sync_subject,
)


def set_anchor(
    session: Session,
    *,
    study: str,
    subject_id: str,
    name: str,
    day: date,
    actual: bool,
    reason: str | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[LoadedSubject, bool]:
    """Set, confirm or correct an anchor date; visits not done move with it.

    Setting a new anchor or confirming a planned date unchanged as actual needs no
    reason; changing a date or turning an actual date back into a planned one is a
    correction and does. Returns the subject and whether anything changed.
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    defined = {a.name for a in loaded.plan.protocol.anchors}
    if name not in defined:
        raise NotFound(f"anchor {name} is not defined by the protocol of study {study}")
    raise_first(anchor_change_violations(
        loaded.plan, name=name, day=day, actual=actual,
        date_of_birth=loaded.subject.date_of_birth, today=loaded.today(now),
    ))
    if actual and name == loaded.plan.protocol.main_anchor \
            and loaded.subject.lifecycle == Lifecycle.SCREEN_FAILED:
        # Whichever comes first, a screen failure and a treatment date do not fit together.
        raise Conflict(f"subject {subject_id} failed screening: anchor {name} cannot have an"
                       " actual date")
    row = session.scalars(
        select(AnchorDateRow).where(
            AnchorDateRow.subject_pk == loaded.subject.id, AnchorDateRow.name == name
        )
    ).first()
    after = {"date": day.isoformat(), "actual": actual}
    before = None if row is None else {"date": row.date.isoformat(), "actual": row.actual}
    if before == after:
        return loaded, False
    if row is None:
        action, why = "anchor.set", reason
        row = AnchorDateRow(subject_pk=loaded.subject.id, name=name, date=day, actual=actual)
        session.add(row)
    else:
        confirming = row.date == day and not row.actual and actual
        action = "anchor.confirmed" if confirming else "anchor.corrected"
        why = reason if confirming else require_reason(reason, f"correcting anchor {name}")
        row.date, row.actual = day, actual
    if name == CONSENT_ANCHOR:
        loaded.subject.consent_date = day
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    loaded.audit(session, actor=actor, action=action, entity="anchor", key=name,
                 before=before, after=after | result.moved(), reason=why)
    return loaded, True

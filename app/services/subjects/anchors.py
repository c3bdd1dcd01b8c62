"""Anchor dates: set, confirm or correct one; visits not done move with it (re-anchoring).

An anchor that a visit records (``records:`` in the schedule, D0 records the infusion)
and that visit are one fact: an actual date completes the visit, and completing the
visit sets the anchor (:mod:`app.services.visits`). The rule is the schedule core's
(:mod:`app.schedule.recording`); this module applies it, each change with its own audit
record, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import Conflict, NotFound
from app.models import AnchorDateRow, Visit
from app.schedule.eligibility import CONSENT_ANCHOR, anchor_change_violations
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import Lifecycle
from app.schedule.recording import (
    AnchorChange,
    AnchorStep,
    Disagreement,
    VisitChange,
    closed_phase,
    recording_visit,
    visit_on_anchor,
)
from app.schedule.rules import raise_first, require_reason
from app.schedule.status import State
from app.services.subjects.loading import LoadedSubject, load_subject
from app.services.subjects.outcomes import (
    anchor_row,
    check_visit_date,
    complete_row,
    current_visit,
    lock_visit,
    outcome_of,
    reopen_row,
    stored_anchor,
    subject_events,
)
from app.services.subjects.sync import SyncResult, sync_subject


def check_anchor(loaded: LoadedSubject, *, name: str, day: date, actual: bool,
                 now: datetime, stored: Mapping[str, date] | None = None) -> None:
    """The rules a new date of anchor ``name`` must pass, however it is entered.

    ``stored``: for a new consent date, the dates of the anchors that must follow it.
    """
    raise_first(anchor_change_violations(
        loaded.plan, name=name, day=day, actual=actual,
        date_of_birth=loaded.subject.date_of_birth, today=loaded.today(now),
        consent_date=loaded.subject.consent_date, stored=stored,
    ))
    if actual and name == loaded.plan.protocol.main_anchor \
            and loaded.subject.lifecycle == Lifecycle.SCREEN_FAILED:
        # Whichever comes first, a screen failure and a treatment date do not fit together.
        raise Conflict(f"subject {loaded.subject.subject_id} failed screening: anchor {name}"
                       " cannot have an actual date")


def write_anchor(
    session: Session, loaded: LoadedSubject, row: AnchorDateRow | None, name: str,
    change: AnchorChange,
) -> AnchorDateRow:
    """Store the anchor's new date (the caller syncs the subject and audits)."""
    if row is None:
        row = AnchorDateRow(subject_pk=loaded.subject.id, name=name, date=change.date,
                            actual=change.actual)
        session.add(row)
    else:
        row.date, row.actual = change.date, change.actual
    if name == CONSENT_ANCHOR:
        loaded.subject.consent_date = change.date
    return row


def audit_anchor(
    session: Session, loaded: LoadedSubject, *, actor: Actor, name: str,
    before: AnchorDate | None, change: AnchorChange, result: SyncResult,
) -> None:
    loaded.audit(
        session, actor=actor, action=change.step.value, entity="anchor", key=name,
        before=None if before is None else {"date": before.date.isoformat(),
                                            "actual": before.actual},
        after={"date": change.date.isoformat(), "actual": change.actual} | result.moved(),
        reason=change.reason,
    )


def _change(before: AnchorDate | None, day: date, actual: bool, reason: str | None,
            name: str) -> AnchorChange:
    """How a date sent to the anchor route changes the stored one."""
    if before is None:
        return AnchorChange(AnchorStep.SET, day, actual, reason)
    if before.date == day and not before.actual and actual:
        return AnchorChange(AnchorStep.CONFIRMED, day, actual, reason)
    return AnchorChange(AnchorStep.CORRECTED, day, actual,
                        require_reason(reason, f"correcting anchor {name}"))


def _following_consent(session: Session, loaded: LoadedSubject) -> dict[str, date]:
    """The stored dates of the anchors that must follow consent (``after_consent``)."""
    rows = (anchor_row(session, loaded, a.name) for a in loaded.plan.protocol.anchors
            if a.after_consent is not None)
    return {row.name: row.date for row in rows if row is not None}


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
    correction and does. An actual date completes the visit that records the anchor
    (a reason also corrects that visit when it says otherwise); it is refused while
    that visit's conditional phase is not open, as completing the visit is. Returns the subject and
    whether anything changed.
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    defined = {a.name for a in loaded.plan.protocol.anchors}
    if name not in defined:
        raise NotFound(f"anchor {name} is not defined by the protocol of study {study}")
    check_anchor(loaded, name=name, day=day, actual=actual, now=now,
                 stored=_following_consent(session, loaded) if name == CONSENT_ANCHOR else None)
    row = anchor_row(session, loaded, name)
    before = stored_anchor(row)
    if before == AnchorDate(day, actual):
        return loaded, False
    change = _change(before, day, actual, reason, name)
    recorder = recording_visit(loaded.plan, name)
    visit: Visit | None = None
    visit_change: VisitChange | None = None
    if recorder is not None:
        events = subject_events(session, loaded)
        closed = closed_phase(loaded.plan, name, events) if actual else None
        if closed is not None:
            raise Conflict(closed)
        visit = lock_visit(session, loaded, recorder.code)
        decided = visit_on_anchor(current_visit(visit, loaded, events), name, before,
                                  AnchorDate(day, actual), change.reason)
        if isinstance(decided, Disagreement):
            raise decided.error()
        visit_change = decided
        if visit_change is not None and visit_change.actual_date is not None:
            check_visit_date(loaded, visit_change.actual_date, now, events)
    write_anchor(session, loaded, row, name, change)
    visit_before = None
    if visit is not None and visit_change is not None:
        visit_before = outcome_of(visit)
        if visit_change.actual_date is None:
            reopen_row(session, visit)
        else:
            assert recorder is not None
            kept = visit.state == State.COMPLETED and visit.assessments
            complete_row(session, visit, visit_change.actual_date,
                         visit.assessments if kept else recorder.assessments,
                         note=None, now=now)
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    audit_anchor(session, loaded, actor=actor, name=name, before=before, change=change,
                 result=result)
    if visit is not None and visit_change is not None:
        loaded.audit(session, actor=actor, action=visit_change.action.value, entity="visit",
                     key=visit.code, before=visit_before, after=outcome_of(visit),
                     reason=visit_change.reason)
    return loaded, True


"""One fact, one entry for subjects stored before their protocol said so.

A subject enrolled before the protocol declared that a visit records an anchor (D0
records the infusion) may hold an actual anchor date beside a recording visit still to
do, or a completed visit beside an anchor that is not actual. The rule of the schedule
core (:func:`app.schedule.recording.reconcile`) brings the two in line, each change with
its own audit record (``visit.completed`` or ``anchor.set``/``anchor.confirmed``, with the
reason saying where the date came from); two facts that disagree are reported, never
resolved. Used by the resync (:mod:`app.services.subjects.resync`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import Visit
from app.schedule.recording import (
    AnchorChange,
    Disagreement,
    VisitChange,
    closed_phase,
    reconcile,
)
from app.services.subjects.anchors import write_anchor
from app.services.subjects.loading import LoadedSubject
from app.services.subjects.outcomes import (
    anchor_row,
    complete_row,
    current_visit,
    outcome_of,
    stored_anchor,
)
from app.services.subjects.sync import read_events


@dataclass(slots=True)
class Reconciled:
    """What reconciling one subject did, and the disagreements it left to a person."""

    visits_completed: int = 0
    anchors_set: int = 0
    disagreements: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.visits_completed or self.anchors_set)


def reconcile_subject(
    session: Session, loaded: LoadedSubject, *, actor: Actor, now: datetime
) -> Reconciled:
    """Bring each visit that records an anchor and that anchor in line (the caller holds
    the subject's lock and syncs the calendar afterwards)."""
    done = Reconciled()
    plan = loaded.plan
    if not plan.recorded_by:
        return done
    events = read_events(session, loaded.subject.id)
    for name, definition in plan.recorded_by.items():
        visit = session.scalars(select(Visit).where(
            Visit.subject_pk == loaded.subject.id, Visit.code == definition.code)).first()
        if visit is None:
            continue
        row = anchor_row(session, loaded, name)
        before = stored_anchor(row)
        decided = reconcile(current_visit(visit, loaded, events), name, before,
                            closed_phase(plan, name, events))
        if isinstance(decided, Disagreement):
            done.disagreements.append(decided.message)
        elif isinstance(decided, VisitChange):
            assert decided.actual_date is not None
            was = outcome_of(visit)
            complete_row(session, visit, decided.actual_date, definition.assessments,
                         note=None, now=now)
            loaded.audit(session, actor=actor, action=decided.action.value, entity="visit",
                         key=visit.code, before=was, after=outcome_of(visit),
                         reason=f"resync: completed on the actual date of anchor {name},"
                                " which this visit records")
            done.visits_completed += 1
        elif isinstance(decided, AnchorChange):
            write_anchor(session, loaded, row, name, decided)
            loaded.audit(
                session, actor=actor, action=decided.step.value, entity="anchor", key=name,
                before=None if before is None else {"date": before.date.isoformat(),
                                                    "actual": before.actual},
                after={"date": decided.date.isoformat(), "actual": True},
                reason=f"resync: visit {visit.code}, which records this anchor, was"
                       " completed on this date")
            done.anchors_set += 1
    if done.changed:
        session.flush()
    return done

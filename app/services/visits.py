"""Visit outcomes: completion (and its correction), missed visits, unscheduled visits.

A visit done outside its window is a protocol deviation that is recorded (with the
days early or late), never refused. Sending the same completion again returns the
stored record, so an EDC may retry safely; a different outcome for a done visit is a
correction and needs ``correction`` and a reason. Every change is audited. Whether an
outcome is refused, changes nothing or is recorded is decided in the schedule core
(:mod:`app.schedule.outcome`); this module reads and writes the rows around it.

A visit that records an anchor (D0 records the infusion) is that anchor's actual date:
completing it sets the anchor, marking it missed while the anchor is actual is refused
unless sent as a correction (:mod:`app.schedule.recording` decides).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import AlreadyRecorded, FollowupError, InvalidRequest
from app.models import AnchorDateRow, Visit
from app.schedule.dates import study_day
from app.schedule.expand import AnchorDate
from app.schedule.language import VisitKind
from app.schedule.outcome import (
    Action,
    Completion,
    Missed,
    Refusal,
    Refused,
    Unchanged,
    decide_completion,
    decide_missed,
)
from app.schedule.recording import (
    AnchorChange,
    Disagreement,
    anchor_on_completion,
    anchor_on_missed,
)
from app.schedule.rules import require_reason
from app.schedule.status import State
from app.services.plain_rows import VisitRow
from app.services.subjects.anchors import audit_anchor, check_anchor, write_anchor
from app.services.subjects.loading import LoadedSubject, load_subject, load_visit
from app.services.subjects.outcomes import (
    anchor_row,
    check_visit_date,
    complete_row,
    current_visit,
    miss_row,
    outcome_of,
    stored_anchor,
    subject_events,
)
from app.services.subjects.sync import read_facts, sync_subject
from app.signatures import Signature

UNSCHEDULED_PREFIX = "UNS-"
UNSCHEDULED_PHASE = "unscheduled"
VISIT_KINDS: tuple[str, ...] = get_args(VisitKind)


@dataclass(frozen=True, slots=True)
class VisitOutcome:
    loaded: LoadedSubject
    visit: VisitRow
    created: bool  # False when the stored record was returned or corrected


def _clean(assessments: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(a.strip() for a in assessments if a.strip()))


def _recorded_anchor(loaded: LoadedSubject, visit: VisitRow) -> str | None:
    """The anchor this visit records, if the protocol says it records one."""
    definition = None if visit.unscheduled else loaded.plan.by_code.get(visit.code)
    return None if definition is None else definition.records_anchor


@dataclass(frozen=True, slots=True)
class _AnchorStep:
    """The anchor a visit records, as stored before, and what the visit's outcome does to it."""

    name: str
    row: AnchorDateRow | None
    before: AnchorDate | None
    change: AnchorChange


def _anchor_step(
    session: Session, loaded: LoadedSubject, visit: VisitRow,
    decide: Callable[[str, AnchorDate | None], AnchorChange | Disagreement | None],
) -> _AnchorStep | None:
    """What recording this visit's outcome does to the anchor it records (None: nothing).
    A disagreement is raised here, before the visit's own refusal: it names both dates."""
    name = _recorded_anchor(loaded, visit)
    if name is None:
        return None
    row = anchor_row(session, loaded, name)
    before = stored_anchor(row)
    decided = decide(name, before)
    if isinstance(decided, Disagreement):
        raise decided.error()
    return None if decided is None else _AnchorStep(name, row, before, decided)


def complete_visit(
    session: Session,
    *,
    study: str,
    subject_id: str,
    code: str,
    actual_date: date,
    assessments: Sequence[str] | None = None,
    note: str | None = None,
    correction: bool = False,
    reason: str | None = None,
    signature: Signature | None = None,
    actor: Actor,
    now: datetime,
) -> VisitOutcome:
    """Record that a visit took place on ``actual_date``.

    ``assessments`` default to the visit's planned ones. The same date again returns
    the stored record (``created`` False, nothing audited); another date, or completing
    a missed visit, is refused unless sent as a correction with a reason. A visit that
    records an anchor sets the anchor's actual date too (its own audit record); an
    actual anchor on another date is a conflict unless this is a correction.
    ``signature`` (the pages' signed correction) goes into the visit's audit record.
    """
    actor.require_write()
    loaded, visit = load_visit(session, study=study, subject_id=subject_id, code=code,
                               actor=actor)
    facts = read_facts(session, loaded.subject.id)
    anchors, events = facts.anchors, facts.events
    done = _clean(assessments) if assessments is not None else None
    request = Completion(actual_date, assessments=None if done is None else tuple(done),
                         note=note, correction=correction, reason=reason)
    decision = decide_completion(current_visit(visit, loaded, events), request)
    if isinstance(decision, Refused) and decision.refusal is Refusal.NOT_OPEN:
        raise decision.error()
    step = _anchor_step(session, loaded, visit,
                        lambda name, stored: anchor_on_completion(code, name, stored, request))
    if isinstance(decision, Refused):
        raise decision.error()
    if isinstance(decision, Unchanged) and step is None:
        return VisitOutcome(loaded, visit, created=False)
    check_visit_date(loaded, actual_date, now, events, code)
    if step is not None:
        check_anchor(loaded, name=step.name, day=step.change.date, actual=step.change.actual,
                     now=now)
    before = outcome_of(visit)
    if not isinstance(decision, Unchanged):
        if done is None:
            done = list(visit.assessments or []) if visit.state == State.COMPLETED else []
            if not done and not visit.unscheduled:
                definition = loaded.plan.by_code.get(code)
                done = list(definition.assessments) if definition else []
        complete_row(session, visit, actual_date, done, note=note, now=now)
    if step is not None:
        write_anchor(session, loaded, step.row, step.name, step.change)
    result = sync_subject(session, loaded.subject, loaded.plan, events=events,
                          anchors=anchors if step is None else None, held=visit,
                          rows=facts.rows)
    if not isinstance(decision, Unchanged):
        # The visits that moved are the anchor's doing when it changed, else this visit's.
        moved = {} if step is not None else result.moved()
        loaded.audit(session, actor=actor, action=decision.action.value, entity="visit",
                     key=code, before=before, after=outcome_of(visit) | moved,
                     reason=decision.reason, signature=signature)
    if step is not None:
        audit_anchor(session, loaded, actor=actor, name=step.name, before=step.before,
                     change=step.change, result=result)
    created = not isinstance(decision, Unchanged) and decision.action is Action.COMPLETED
    return VisitOutcome(loaded, visit, created=created)


def mark_missed(
    session: Session,
    *,
    study: str,
    subject_id: str,
    code: str,
    reason: str | None,
    correction: bool = False,
    signature: Signature | None = None,
    actor: Actor,
    now: datetime,
) -> VisitOutcome:
    """Record that a visit will not take place. A reason is always required; a
    completed visit becomes missed only as a correction. A visit whose anchor has an
    actual date took place: missed only as a correction, which makes the anchor a
    planned date again (its own audit record)."""
    actor.require_write()
    why = require_reason(reason, "a missed visit")
    loaded, visit = load_visit(session, study=study, subject_id=subject_id, code=code,
                               actor=actor)
    request = Missed(why, correction)
    facts = read_facts(session, loaded.subject.id)
    anchors, events = facts.anchors, facts.events
    decision = decide_missed(current_visit(visit, loaded, events), request)
    if isinstance(decision, Refused) and decision.refusal is Refusal.NOT_OPEN:
        raise decision.error()
    step = _anchor_step(session, loaded, visit,
                        lambda name, stored: anchor_on_missed(code, name, stored, request))
    if isinstance(decision, Refused):
        raise decision.error()
    if isinstance(decision, Unchanged) and step is None:
        return VisitOutcome(loaded, visit, created=False)
    before = outcome_of(visit)
    if not isinstance(decision, Unchanged):
        miss_row(session, visit, why, now=now)
    if step is not None:
        write_anchor(session, loaded, step.row, step.name, step.change)
    result = sync_subject(session, loaded.subject, loaded.plan, events=events,
                          anchors=anchors if step is None else None, held=visit,
                          rows=facts.rows)
    if not isinstance(decision, Unchanged):
        moved = {} if step is not None else result.moved()
        loaded.audit(session, actor=actor, action=decision.action.value, entity="visit",
                     key=code, before=before, after=outcome_of(visit) | moved, reason=why,
                     signature=signature)
    if step is not None:
        audit_anchor(session, loaded, actor=actor, name=step.name, before=step.before,
                     change=step.change, result=result)
    created = not isinstance(decision, Unchanged) and decision.action is Action.MISSED
    return VisitOutcome(loaded, visit, created=created)


_UNS_RE = re.compile(rf"^{UNSCHEDULED_PREFIX}(\d+)$")


def record_unscheduled(
    session: Session,
    *,
    study: str,
    subject_id: str,
    day: date,
    name: str | None = None,
    kind: str = "clinic",
    assessments: Sequence[str] = (),
    note: str | None = None,
    actor: Actor,
    now: datetime,
) -> VisitOutcome:
    """Record a visit the protocol did not plan (code UNS-1, UNS-2, ...), as completed."""
    actor.require_write()
    if kind not in VISIT_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(VISIT_KINDS)}", field="kind")
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    check_visit_date(loaded, day, now, subject_events(session, loaded))
    subject = loaded.subject
    codes = session.scalars(
        select(Visit.code).where(Visit.subject_pk == subject.id, Visit.unscheduled.is_(True))
    ).all()
    numbers = [int(m.group(1)) for c in codes if (m := _UNS_RE.match(c))]
    code = f"{UNSCHEDULED_PREFIX}{max(numbers, default=0) + 1}"
    plan = loaded.plan
    reference = plan.protocol.reference_anchor
    anchor = session.scalars(
        select(AnchorDateRow).where(
            AnchorDateRow.subject_pk == subject.id, AnchorDateRow.name == reference
        )
    ).first()
    visit = Visit(
        subject_pk=subject.id, study_id=subject.study_id, site_id=subject.site_id, code=code,
        name=name or "Unscheduled visit", phase=UNSCHEDULED_PHASE, kind=kind, optional=False,
        unscheduled=True, state=State.COMPLETED.value, target_date=day, actual_date=day,
        study_day=study_day(anchor.date, day, plan.anchor_day) if anchor else None,
        provisional=False, assessments=_clean(assessments), note=note, recorded_at=now,
    )
    session.add(visit)
    session.flush()
    sync_subject(session, subject, plan)  # the visit belongs to the site of its date
    loaded.audit(session, actor=actor, action="visit.unscheduled", entity="visit", key=code,
                 after=outcome_of(visit) | {"name": visit.name, "kind": kind})
    return VisitOutcome(loaded, visit, created=True)


@dataclass(frozen=True, slots=True)
class VisitRef:
    """A visit as the worklist names it."""

    study: str
    subject_id: str
    code: str


def mark_many_missed(
    session: Session,
    *,
    visits: Sequence[VisitRef],
    reason: str | None,
    signature: Signature | None = None,
    actor: Actor,
    now: datetime,
) -> list[VisitOutcome]:
    """Mark several visits missed with one reason, all or nothing.

    Each visit goes through :func:`mark_missed` (its checks, its audit record). The first
    refusal undoes what the others changed (a SAVEPOINT, whatever the caller's transaction
    does next) and is raised, of its own kind, naming the visit and its subject. A visit
    already missed changes nothing, as with one visit. One ``signature`` signs them all
    (each visit's audit record holds it).
    """
    actor.require_write()
    why = require_reason(reason, "a missed visit")
    chosen = list(dict.fromkeys(visits))
    if not chosen:
        raise InvalidRequest("choose the visits to mark missed", field="visits")
    outcomes: list[VisitOutcome] = []
    with session.begin_nested():
        for ref in chosen:
            try:
                outcomes.append(mark_missed(
                    session, study=ref.study, subject_id=ref.subject_id, code=ref.code,
                    reason=why, signature=signature, actor=actor, now=now,
                ))
            except FollowupError as exc:
                raise _nothing_changed(ref, exc) from exc
    return outcomes


def _nothing_changed(ref: VisitRef, exc: FollowupError) -> FollowupError:
    """The refusal of one visit as the refusal of them all (same kind, so same status)."""
    where = f"visit {ref.code} of subject {ref.subject_id}"
    if isinstance(exc, AlreadyRecorded) and exc.extra.get("state") == State.COMPLETED.value:
        # The single-visit message tells an API client how to correct; here it is only news.
        detail = f"nothing was changed: {where} is already completed"
    else:
        detail = f"nothing was changed: {where}: {exc.detail}"
    return type(exc)(detail, **exc.extra)

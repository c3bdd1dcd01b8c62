"""Move one subject to another protocol version.

The subject's version changes, its calendar is expanded again under the new version and
its rows are brought in line (:func:`app.services.subjects.sync.sync_subject`):
visits still to do move or appear; done and unscheduled visits keep every recorded
fact; a visit still to do that the new version no longer has is cancelled with the
reason "removed by amendment N", never deleted. One audit record, ``subject.amended``,
holds the version before and after, the reason and the visits changed. Moving a subject
to the version it is on changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import Conflict, ReasonRequired
from app.models import Visit
from app.schedule.impact import Dates, SubjectImpact, removed_reason
from app.schedule.plan import Plan
from app.schedule.status import State
from app.services.amendments.preview import SubjectAmendment, impact_with_state
from app.services.audit import record_audit
from app.services.studies import get_version, plan_of
from app.services.subjects.loading import load_subject
from app.services.subjects.sync import sync_subject
from app.signatures import Signature, signed

_STILL_TO_DO = (State.PLANNED.value, State.PENDING.value)


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY = "already"  # the subject was on that version: nothing changed
    DRY_RUN = "dry_run"  # what would change; nothing written


@dataclass(frozen=True, slots=True)
class Applied:
    amendment: SubjectAmendment
    outcome: Outcome


def _dates(d: Dates | None) -> dict[str, str | None] | None:
    return None if d is None else d.record()


def impact_record(impact: SubjectImpact) -> list[dict[str, Any]]:
    """The visits an amendment changes, as the audit record stores them."""
    return [
        {"code": v.code, "effects": [e.value for e in v.effects], "before": _dates(v.before),
         "after": _dates(v.after),
         "state_before": None if v.state_before is None else v.state_before.value,
         "state_after": None if v.state_after is None else v.state_after.value}
        for v in impact.visits
    ]


def cancel_removed(session: Session, rows: Sequence[Visit], plan: Plan) -> list[str]:
    """Cancel the subject's visits still to do that ``plan`` no longer has.

    ``rows``: the subject's visit rows as loaded in this transaction (a sync since then
    leaves the rows of codes ``plan`` lacks as they were).
    """
    reason = removed_reason(plan)
    cancelled = []
    for row in sorted(rows, key=lambda r: r.id):
        if (not row.unscheduled and row.state in _STILL_TO_DO
                and row.code not in plan.by_code):
            row.state, row.reason, row.missed_from = State.CANCELLED.value, reason, None
            cancelled.append(row.code)
    session.flush()
    return cancelled


def apply_amendment(
    session: Session, *, study: str, subject_id: str, to_version: str, reason: str,
    actor: Actor, now: datetime, dry_run: bool = False, signature: Signature | None = None,
) -> Applied:
    """Move the subject to ``to_version`` (admin only), or say what it would do.

    Refused (Conflict) while the amendment waits for the subject's re-consent; a dry run
    reports that instead (``impact.blocked``). ``signature`` (the pages' "approved by")
    goes into the audit record.
    """
    actor.require_admin()
    if not reason.strip():
        raise ReasonRequired("moving a subject to another protocol version needs a reason")
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor,
                          lock=not dry_run)
    target = get_version(session, loaded.study, to_version)
    amendment, state = impact_with_state(session, loaded, target, now=now)
    if amendment.already or state is None:
        return Applied(amendment, Outcome.ALREADY)
    if dry_run:
        return Applied(amendment, Outcome.DRY_RUN)
    if amendment.impact.blocked is not None:
        raise Conflict(f"subject {subject_id}: {amendment.impact.blocked}")
    plan = plan_of(target)
    subject = loaded.subject
    subject.protocol_version_id = target.id
    session.flush()
    # The anchors, events and rows the impact was read from: nothing changed them since.
    synced = sync_subject(session, subject, plan, anchors=state.anchors, events=state.events)
    cancelled = cancel_removed(session, state.visit_rows, plan)
    number = None if plan.protocol.amendment is None else plan.protocol.amendment.number
    audit = record_audit(
        session, actor=actor, action="subject.amended", entity="subject",
        study=loaded.study.code, site=loaded.site.code, subject=subject_id, key=subject_id,
        before={"version": amendment.from_version},
        after=signed({"version": amendment.to_version, "amendment": number,
                      "visits": impact_record(amendment.impact),
                      "visits_cancelled": cancelled, **synced.summary()}, signature),
        reason=reason,
    )
    audit.at = now
    return Applied(amendment, Outcome.APPLIED)

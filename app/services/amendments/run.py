"""Move the subjects of a study (all, one site's, or those listed) to a version, in the
caller's transaction: the pages' "Apply this amendment", signed once for all of them.

The command line moves subjects one transaction each (a run of thousands must survive a
crash halfway); a page's request is one transaction, so the run is all or nothing. A
subject still waiting for its re-consent is skipped and listed, as on the command line:
:func:`app.services.amendments.apply.apply_amendment` refuses it before writing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import Conflict, ReasonRequired
from app.services.amendments.apply import Outcome, apply_amendment
from app.services.amendments.preview import SubjectAmendment, subjects_of
from app.signatures import Signature


def summary_line(study: str, to_version: str, moved: int, already: int, blocked: int) -> str:
    """The run's outcome in one line, as ``followup protocol apply`` prints it."""
    return (f"{study} {to_version}: {moved} subject(s) moved, {already} already on it, "
            f"{blocked} blocked")


def blocked_why(exc: Conflict) -> str:
    """Why a subject was skipped, without the subject's id the refusal starts with."""
    return exc.detail.split(": ", 1)[-1]


@dataclass(frozen=True, slots=True)
class Blocked:
    subject_id: str
    why: str


@dataclass(frozen=True, slots=True)
class AmendmentRun:
    study: str
    to_version: str
    moved: tuple[SubjectAmendment, ...]  # what each subject moved had changed
    already: int
    blocked: tuple[Blocked, ...]

    @property
    def summary(self) -> str:
        return summary_line(self.study, self.to_version, len(self.moved), self.already,
                            len(self.blocked))


def apply_to_study(
    session: Session, *, study: str, to_version: str, reason: str, actor: Actor,
    now: datetime, signature: Signature | None = None, site: str | None = None,
    subject_ids: Sequence[str] = (),
) -> AmendmentRun:
    """Move every subject of ``study`` the actor sees (or those at ``site``, or those
    listed in ``subject_ids``, each of which must exist) to ``to_version`` (admin only),
    each with its own ``subject.amended`` record carrying ``signature``."""
    actor.require_admin()
    if not reason.strip():
        raise ReasonRequired("moving subjects to another protocol version needs a reason")
    moved: list[SubjectAmendment] = []
    blocked: list[Blocked] = []
    already = 0
    for subject_id in subjects_of(session, study=study, actor=actor, site=site,
                                  subject_ids=subject_ids):
        try:
            done = apply_amendment(session, study=study, subject_id=subject_id,
                                   to_version=to_version, reason=reason, actor=actor,
                                   now=now, signature=signature)
        except Conflict as exc:
            blocked.append(Blocked(subject_id, blocked_why(exc)))
            continue
        if done.outcome is Outcome.APPLIED:
            moved.append(done.amendment)
        else:
            already += 1
    return AmendmentRun(study, to_version, tuple(moved), already, tuple(blocked))

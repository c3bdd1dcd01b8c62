"""What an amendment changes: between two versions, and for each subject (dry runs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import NotFound
from app.models import ProtocolVersion, Site, Subject
from app.schedule.amendment import ProtocolDiff, diff_plans
from app.schedule.impact import SubjectImpact, subject_impact
from app.services.scope import visible_site
from app.services.studies import get_study, get_version, plan_of
from app.services.subjects.loading import LoadedSubject, load_subject
from app.services.subjects.visit_rows import SubjectState, load_state


def diff_versions(
    session: Session, *, study: str, from_version: str, to_version: str, actor: Actor
) -> ProtocolDiff:
    """Every difference between two loaded versions of a study."""
    study_row = get_study(session, study, actor)
    old = get_version(session, study_row, from_version)
    new = get_version(session, study_row, to_version)
    return diff_plans(plan_of(old), plan_of(new))


@dataclass(frozen=True, slots=True)
class SubjectAmendment:
    """What moving one subject to a version would do."""

    subject_id: str
    site: str
    from_version: str
    to_version: str
    impact: SubjectImpact  # empty when the subject is on that version already

    @property
    def already(self) -> bool:
        return self.from_version == self.to_version


def impact_of(
    session: Session, loaded: LoadedSubject, target: ProtocolVersion, *, now: datetime
) -> SubjectAmendment:
    """The impact on an already loaded subject (the state is read once more)."""
    return impact_with_state(session, loaded, target, now=now)[0]


def impact_with_state(
    session: Session, loaded: LoadedSubject, target: ProtocolVersion, *, now: datetime
) -> tuple[SubjectAmendment, SubjectState | None]:
    """:func:`impact_of`, with the subject's state it was worked out from (None when the
    subject is on ``target`` already: nothing is read)."""
    current = loaded.version
    state = None
    if current.id == target.id:
        impact = SubjectImpact((), ())
    else:
        state = load_state(session, loaded.subject.id)
        impact = subject_impact(
            loaded.plan, plan_of(target), state.anchors, state.events, state.records,
            today=loaded.today(now),
        )
    amendment = SubjectAmendment(
        loaded.subject.subject_id, loaded.site.code, current.version, target.version, impact
    )
    return amendment, state


def subject_amendment_impact(
    session: Session, *, study: str, subject_id: str, to_version: str, actor: Actor,
    now: datetime,
) -> SubjectAmendment:
    """What moving the subject to ``to_version`` would do; nothing is written."""
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor)
    target = get_version(session, loaded.study, to_version)
    return impact_of(session, loaded, target, now=now)


def subjects_of(
    session: Session, *, study: str, actor: Actor, subject_ids: Sequence[str] = (),
    site: str | None = None,
) -> list[str]:
    """The subject ids an amendment run covers: those named (each must exist), else the
    study's subjects at ``site``, else all the study's subjects the actor sees; in
    enrolment order."""
    study_row = get_study(session, study, actor)
    statement = (
        select(Subject.subject_id)
        .join(Site, Site.id == Subject.site_id)
        .where(Subject.study_id == study_row.id, visible_site(actor))
        .order_by(Subject.id)
    )
    if subject_ids:
        found = set(session.scalars(statement.where(Subject.subject_id.in_(subject_ids))))
        missing = [s for s in subject_ids if s not in found]
        if missing:
            raise NotFound(f"subject {missing[0]} not found in study {study}")
        return list(dict.fromkeys(subject_ids))
    if site is not None:
        if session.scalar(select(Site.id).where(Site.code == site, visible_site(actor))) is None:
            raise NotFound(f"site {site} not found")
        statement = statement.where(Site.code == site)
    return list(session.scalars(statement))


def impacts(
    session: Session, *, study: str, to_version: str, actor: Actor, now: datetime,
    subject_ids: Sequence[str] = (), site: str | None = None,
) -> list[SubjectAmendment]:
    """The impact on each subject of the run (see :func:`subjects_of`)."""
    target = get_version(session, get_study(session, study, actor), to_version)
    return [
        impact_of(session, load_subject(session, study=study, subject_id=s, actor=actor),
                  target, now=now)
        for s in subjects_of(session, study=study, actor=actor, subject_ids=subject_ids,
                             site=site)
    ]


def subjects_to_move(session: Session, *, study: str, to_version: str, actor: Actor) -> int:
    """How many of the study's subjects the actor sees follow another version."""
    study_row = get_study(session, study, actor)
    target = get_version(session, study_row, to_version)
    return session.scalar(
        select(func.count(Subject.id))
        .join(Site, Site.id == Subject.site_id)
        .where(Subject.study_id == study_row.id, visible_site(actor),
               Subject.protocol_version_id != target.id)
    ) or 0

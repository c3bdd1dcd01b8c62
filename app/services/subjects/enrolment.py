"""Enrolment: a subject joins a study on its current protocol version, calendar and all.

An actual anchor sent at enrolment completes the visit that records it (the infusion
completes D0), and the enrolment's audit record says so.

"Today" is the site's local date at the instant ``now`` the edge passes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidRequest,
    StudyFull,
)
from app.models import AnchorDateRow, Site, Study, StudySite, Subject, Visit
from app.schedule.dates import local_today
from app.schedule.eligibility import age_at, enrolment_anchors, enrolment_violations
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import Lifecycle
from app.schedule.recording import anchor_records, closed_phase, completed_by_anchors
from app.schedule.rules import raise_first
from app.services.studies import current_version, get_study, plan_of
from app.services.subjects.loading import LoadedSubject
from app.services.subjects.outcomes import complete_row
from app.services.subjects.sync import sync_subject


def enrol(
    session: Session,
    *,
    study: str,
    subject_id: str,
    site: str,
    consent_date: date,
    date_of_birth: date,
    anchors: Mapping[str, AnchorDate] | None = None,
    actor: Actor,
    now: datetime,
) -> LoadedSubject:
    """Enrol a subject on the study's newest protocol version and build its calendar."""
    actor.require_write()
    study_row = get_study(session, study, actor)
    if not actor.sees(study=study, site=site):
        raise Forbidden(f"this token may not enrol subjects at site {site}")
    # Enrolments into one study queue on the study row, so the target and the unique
    # subject id are checked against committed data (SQLite: BEGIN IMMEDIATE does it).
    session.execute(select(Study.id).where(Study.id == study_row.id).with_for_update())
    site_row = session.scalars(
        select(Site)
        .join(StudySite, StudySite.site_id == Site.id)
        .where(StudySite.study_id == study_row.id, Site.code == site)
    ).first()
    if site_row is None:
        raise InvalidRequest(f"site {site} does not take part in study {study}", field="site")
    today = local_today(now, site_row.time_zone)
    version = current_version(session, study_row)
    plan = plan_of(version)
    given = anchors or {}
    raise_first(enrolment_violations(plan, consent_date=consent_date, date_of_birth=date_of_birth,
                                     anchors=given, today=today))
    chosen = enrolment_anchors(plan, given, consent_date)
    for name, anchor in chosen.items():
        # No event yet: an anchor a conditional phase's visit records cannot be actual.
        closed = closed_phase(plan, name, ()) if anchor.actual else None
        if closed is not None:
            raise Conflict(closed)
    taken = session.scalar(
        select(Subject.id).where(Subject.study_id == study_row.id, Subject.subject_id == subject_id)
    )
    if taken is not None:
        raise AlreadyExists(f"subject {subject_id} is already enrolled in study {study}")
    enrolled = session.scalar(
        select(func.count()).select_from(Subject).where(Subject.study_id == study_row.id)
    ) or 0
    if enrolled >= study_row.target_enrolment:
        raise StudyFull(f"study {study} has reached its target of"
                        f" {study_row.target_enrolment} subjects")
    subject = Subject(
        study_id=study_row.id, site_id=site_row.id, enrolled_site_id=site_row.id,
        subject_id=subject_id,
        protocol_version_id=version.id, consent_date=consent_date,
        date_of_birth=date_of_birth, lifecycle=Lifecycle.ACTIVE.value,
    )
    session.add(subject)
    session.flush()
    session.add_all(
        AnchorDateRow(subject_pk=subject.id, name=n, date=a.date, actual=a.actual)
        for n, a in chosen.items()
    )
    session.flush()
    sync_subject(session, subject, plan)
    # An actual anchor that a visit records (the infusion, D0) completes that visit.
    completed = anchor_records(plan, chosen)
    if completed:
        for row in session.scalars(select(Visit).where(
                Visit.subject_pk == subject.id, Visit.code.in_(completed))):
            record = completed[row.code]
            assert record.actual_date is not None
            complete_row(session, row, record.actual_date, sorted(record.assessments),
                         note=None, now=now)
        session.flush()
        sync_subject(session, subject, plan)
    loaded = LoadedSubject(subject, study_row, site_row, version)
    # The date of birth stays out of the trail: the age is what eligibility used.
    loaded.audit(
        session, actor=actor, action="subject.enrolled", entity="subject", key=subject_id,
        after={
            "site": site, "consent_date": consent_date.isoformat(),
            "age_at_consent": age_at(date_of_birth, consent_date),
            "protocol_version": version.version,
            "anchors": {n: {"date": a.date.isoformat(), "actual": a.actual}
                        for n, a in chosen.items()},
        } | completed_by_anchors(completed),
    )
    return loaded

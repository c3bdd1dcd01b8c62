"""One subject with the rows every use case needs beside it, read under the actor's scope.

A subject the actor may not see is reported as not found, never as forbidden, so its
existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, defer

from app.access import Actor
from app.errors import Forbidden, NotFound
from app.models import ProtocolVersion, Site, Study, Subject, SubjectEvent, Visit
from app.schedule.dates import local_today
from app.schedule.lifecycle import EventType
from app.schedule.plan import Plan
from app.services.audit import append_audit
from app.services.studies import plan_of
from app.services.subjects.visit_rows import (
    StoredCalendar,
    stored_calendar,
)
from app.signatures import Signature, signed


@dataclass(frozen=True, slots=True)
class LoadedSubject:
    """A subject with the rows every use case needs beside it."""

    subject: Subject
    study: Study
    site: Site
    version: ProtocolVersion

    @property
    def plan(self) -> Plan:
        return plan_of(self.version)

    def today(self, now: datetime) -> date:
        """The local date at the instant ``now`` at the subject's current site."""
        return local_today(now, self.site.time_zone)

    def changeable_by(self, actor: Actor) -> bool:
        """Whether the actor may change the subject (not only the visits of its site)."""
        return actor.can_write and actor.sees(study=self.study.code, site=self.site.code)

    def audit(
        self,
        session: Session,
        *,
        actor: Actor,
        action: str,
        entity: str,
        key: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
        signature: Signature | None = None,
    ) -> None:
        """An audit record naming this subject's study, site and subject id, and the
        signature that signs the change, if any."""
        append_audit(
            session, actor=actor, action=action, entity=entity, study=self.study.code,
            site=self.site.code, subject=self.subject.subject_id, key=key, before=before,
            after=signed(after, signature), reason=reason,
        )


# Built once: each call binds the study code and the subject id. The protocol's text is
# read only when its plan is not cached yet (:func:`app.services.studies.plan_of`).
_READ_SUBJECT = (
    select(Subject, Study, Site, ProtocolVersion)
    .join(Study, Study.id == Subject.study_id)
    .join(Site, Site.id == Subject.site_id)
    .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
    .where(Study.code == bindparam("study"), Subject.subject_id == bindparam("subject_id"))
    .options(defer(ProtocolVersion.yaml_text))
)
_LOCK_SUBJECT = _READ_SUBJECT.with_for_update(of=Subject).execution_options(
    populate_existing=True)


def load_subject(
    session: Session, *, study: str, subject_id: str, actor: Actor, lock: bool = False,
    visit: str | None = None,
) -> LoadedSubject:
    """The subject, if the actor may see it; NotFound otherwise.

    The actor sees the subject at its current site, or at a site it was transferred
    away from; a change (``lock``) needs the current site, or, to record the visit
    ``visit``, the site that visit belongs to (Forbidden otherwise).

    ``lock`` takes the subject's row lock (FOR UPDATE on PostgreSQL; SQLite writers are
    already serialised by BEGIN IMMEDIATE): every change to a subject holds it, so two
    concurrent changes never expand the calendar from stale rows.
    """
    statement = _LOCK_SUBJECT if lock else _READ_SUBJECT
    row = session.execute(statement, {"study": study, "subject_id": subject_id}).first()
    missing = NotFound(f"subject {subject_id} not found in study {study}")
    if row is None:
        raise missing
    subject, study_row, site_row, version = row  # unpacked: a row's names are slow to read
    loaded = LoadedSubject(subject, study_row, site_row, version)
    if actor.sees(study=study, site=site_row.code):
        return loaded
    if not any(actor.sees(study=study, site=code) for code in former_sites(session, subject)):
        raise missing
    # A site the subject was transferred away from keeps its history: it reads the
    # subject, and records or documents the visits that belong to it; the rest of the
    # subject is changed by its current site.
    if not lock:
        return loaded
    if visit is not None:
        site = session.scalar(
            select(Site.code).join(Visit, Visit.site_id == Site.id)
            .where(Visit.subject_pk == subject.id, Visit.code == visit)
        )
        if site is not None and actor.sees(study=study, site=site):
            return loaded
        if site is not None:
            raise Forbidden(f"visit {visit} of subject {subject_id} belongs to site {site},"
                            f" where the subject was transferred")
    raise Forbidden(f"subject {subject_id} was transferred to site {site_row.code}:"
                    " only that site may change it")


def former_sites(session: Session, subject: Subject) -> set[str]:
    """The codes of the sites the subject was at before its current one: where it was
    enrolled, and where each transfer took it."""
    enrolled = select(Site.code).where(Site.id == subject.enrolled_site_id)
    moved = select(SubjectEvent.value).where(
        SubjectEvent.subject_pk == subject.id, SubjectEvent.type == EventType.TRANSFER.value)
    codes = set(session.scalars(enrolled.union(moved)))
    return {code for code in codes if code is not None} - {_site_code(session, subject)}


def _site_code(session: Session, subject: Subject) -> str | None:
    return session.scalar(select(Site.code).where(Site.id == subject.site_id))


def reloaded(session: Session, loaded: LoadedSubject) -> LoadedSubject:
    """The subject with its site as it is now (a transfer changes it)."""
    if loaded.site.id == loaded.subject.site_id:
        return loaded
    site = session.get(Site, loaded.subject.site_id)
    assert site is not None  # a foreign key
    return replace(loaded, site=site)


def get_subject(session: Session, *, study: str, subject_id: str, actor: Actor) -> LoadedSubject:
    return load_subject(session, study=study, subject_id=subject_id, actor=actor)


def subject_calendar(session: Session, loaded: LoadedSubject, *, today: date) -> StoredCalendar:
    """The subject's whole calendar (visits, periods, endpoint windows) as of ``today``."""
    return stored_calendar(session, loaded.subject, loaded.plan, today=today)

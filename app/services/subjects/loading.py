"""One subject with the rows every use case needs beside it, read under the actor's scope.

A subject the actor may not see is reported as not found, never as forbidden, so its
existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import (
    NotFound,
)
from app.models import ProtocolVersion, Site, Study, Subject
from app.schedule.dates import local_today
from app.schedule.plan import Plan
from app.services.audit import record_audit
from app.services.studies import plan_of
from app.services.subjects.visit_rows import (
    StoredCalendar,
    stored_calendar,
)


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
        """The site's local date at the instant ``now``."""
        return local_today(now, self.site.time_zone)

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
    ) -> None:
        """An audit record naming this subject's study, site and subject id."""
        record_audit(
            session, actor=actor, action=action, entity=entity, study=self.study.code,
            site=self.site.code, subject=self.subject.subject_id, key=key, before=before,
            after=after, reason=reason,
        )


def load_subject(
    session: Session, *, study: str, subject_id: str, actor: Actor, lock: bool = False
) -> LoadedSubject:
    """The subject, if the actor may see it; NotFound otherwise.

    ``lock`` takes the subject's row lock (FOR UPDATE on PostgreSQL; SQLite writers are
    already serialised by BEGIN IMMEDIATE): every change to a subject holds it, so two
    concurrent changes never expand the calendar from stale rows.
    """
    statement = (
        select(Subject, Study, Site, ProtocolVersion)
        .join(Study, Study.id == Subject.study_id)
        .join(Site, Site.id == Subject.site_id)
        .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
        .where(Study.code == study, Subject.subject_id == subject_id)
    )
    if lock:
        statement = statement.with_for_update(of=Subject).execution_options(
            populate_existing=True
        )
    row = session.execute(statement).first()
    if row is None or not actor.sees(study=study, site=row.Site.code):
        raise NotFound(f"subject {subject_id} not found in study {study}")
    return LoadedSubject(row.Subject, row.Study, row.Site, row.ProtocolVersion)


def get_subject(session: Session, *, study: str, subject_id: str, actor: Actor) -> LoadedSubject:
    return load_subject(session, study=study, subject_id=subject_id, actor=actor)


def subject_calendar(session: Session, loaded: LoadedSubject, *, today: date) -> StoredCalendar:
    """The subject's whole calendar (visits, periods, endpoint windows) as of ``today``."""
    return stored_calendar(session, loaded.subject, loaded.plan, today=today)

"""One subject with the rows every use case needs beside it, read under the actor's scope.

A subject the actor may not see is reported as not found, never as forbidden, so its
existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.orm import Session, defer

from app.access import Actor
from app.errors import Forbidden, NotFound
from app.models import ProtocolVersion, Site, Study, Subject, SubjectEvent, Visit
from app.schedule.dates import local_today
from app.schedule.lifecycle import EventType
from app.schedule.plan import Plan
from app.services.audit import append_audit
from app.services.plain_rows import (
    SITE_COLUMNS,
    STUDY_COLUMNS,
    SUBJECT_COLUMNS,
    VERSION_COLUMNS,
    VISIT_COLUMNS,
    PlainSite,
    PlainStudy,
    PlainSubject,
    PlainVersion,
    PlainVisit,
    SiteRow,
    StudyRow,
    SubjectRow,
    VersionRow,
    VisitRow,
)
from app.services.studies import cached_plan, plan_of
from app.services.subjects.visit_rows import (
    StoredCalendar,
    stored_calendar,
)
from app.signatures import Signature, signed
from app.statements import Prepared


@dataclass(frozen=True, slots=True)
class LoadedSubject:
    """A subject with the rows every use case needs beside it: ORM objects, or plain
    values where a visit is recorded (:mod:`app.services.plain_rows`)."""

    subject: SubjectRow
    study: StudyRow
    site: SiteRow
    version: VersionRow

    @property
    def plan(self) -> Plan:
        version = self.version
        return version.plan if isinstance(version, PlainVersion) else plan_of(version)

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
# Recording a visit (the EDC's hot path): the subject, its study, site and version and
# the visit, both locked, as plain columns in one Core statement (see plain_rows).
_TABLES = tuple(cast(Table, m.__table__) for m in (Subject, Study, Site, ProtocolVersion, Visit))
_SUBJECTS, _STUDIES, _SITES, _VERSIONS, _VISITS = _TABLES
_PARTS = ((_SUBJECTS, SUBJECT_COLUMNS), (_STUDIES, STUDY_COLUMNS), (_SITES, SITE_COLUMNS),
          (_VERSIONS, VERSION_COLUMNS), (_VISITS, VISIT_COLUMNS))
_LOCK_VISIT_ROW = Prepared(
    select(*(table.c[c] for table, columns in _PARTS for c in columns))
    .select_from(_SUBJECTS)
    .join(_STUDIES, _STUDIES.c.id == _SUBJECTS.c.study_id)
    .join(_SITES, _SITES.c.id == _SUBJECTS.c.site_id)
    .join(_VERSIONS, _VERSIONS.c.id == _SUBJECTS.c.protocol_version_id)
    .join(_VISITS, and_(_VISITS.c.subject_pk == _SUBJECTS.c.id,
                        _VISITS.c.code == bindparam("code")))
    .where(_STUDIES.c.code == bindparam("study"),
           _SUBJECTS.c.subject_id == bindparam("subject_id"))
    .with_for_update(of=(_SUBJECTS, _VISITS))
)


def _spans() -> tuple[tuple[int, int], ...]:
    """Where each plain class's columns sit in a row of ``_LOCK_VISIT_ROW``."""
    spans: list[tuple[int, int]] = []
    start = 0
    for _, columns in _PARTS:
        spans.append((start, start + len(columns)))
        start += len(columns)
    return tuple(spans)


_SPANS = _spans()
_VERSION_TEXT = select(_VERSIONS.c.yaml_text).where(_VERSIONS.c.id == bindparam("id"))


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
    if row is None:
        raise _missing(study, subject_id)
    subject, study_row, site_row, version = row  # unpacked: a row's names are slow to read
    return _in_scope(session, LoadedSubject(subject, study_row, site_row, version), actor,
                     lock=lock, visit=visit)


def load_visit(
    session: Session, *, study: str, subject_id: str, code: str, actor: Actor
) -> tuple[LoadedSubject, VisitRow]:
    """The subject and its visit ``code``, both locked to record the visit, as plain
    values read in one statement (the EDC's hot path): what :func:`load_subject` with
    ``lock`` and ``visit`` and then :func:`app.services.subjects.outcomes.lock_visit`
    return, with the same refusals. A visit that records an anchor is loaded as ORM
    objects: recording it changes the anchor, and with the consent the subject's row."""
    row = _LOCK_VISIT_ROW.first(
        session, {"study": study, "subject_id": subject_id, "code": code})
    if row is None:  # no such subject, or none the actor may change, or no such visit
        loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor,
                              lock=True, visit=code)
        raise NotFound(f"visit {code} not found for subject {loaded.subject.subject_id}")
    subject, study_row, site, (version_id, version, digest), visit = (
        row[start:end] for start, end in _SPANS)
    plan = cached_plan(digest, lambda: session.execute(
        _VERSION_TEXT, {"id": version_id}).scalar_one())
    definition = plan.by_code.get(code)
    if definition is not None and definition.records_anchor is not None:
        return _load_orm_visit(session, study=study, subject_id=subject_id, code=code,
                               actor=actor)
    loaded = LoadedSubject(PlainSubject(*subject), PlainStudy(*study_row), PlainSite(*site),
                           PlainVersion(version_id, version, digest, plan))
    return _in_scope(session, loaded, actor, lock=True, visit=code), PlainVisit(*visit)


def _load_orm_visit(
    session: Session, *, study: str, subject_id: str, code: str, actor: Actor
) -> tuple[LoadedSubject, Visit]:
    """:func:`load_visit` as ORM objects, read again (the rows are locked already)."""
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor,
                          lock=True, visit=code)
    visit = session.scalars(
        select(Visit).where(Visit.subject_pk == loaded.subject.id, Visit.code == code)
        .execution_options(populate_existing=True)).one()
    return loaded, visit


def _missing(study: str, subject_id: str) -> NotFound:
    return NotFound(f"subject {subject_id} not found in study {study}")


def _in_scope(
    session: Session, loaded: LoadedSubject, actor: Actor, *, lock: bool, visit: str | None
) -> LoadedSubject:
    """``loaded`` if the actor may read it (or, with ``lock``, change it); see
    :func:`load_subject`."""
    study, subject = loaded.study.code, loaded.subject
    if actor.sees(study=study, site=loaded.site.code):
        return loaded
    if not any(actor.sees(study=study, site=code) for code in former_sites(session, subject)):
        raise _missing(study, subject.subject_id)
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
            raise Forbidden(f"visit {visit} of subject {subject.subject_id} belongs to site"
                            f" {site}, where the subject was transferred")
    raise Forbidden(f"subject {subject.subject_id} was transferred to site {loaded.site.code}:"
                    " only that site may change it")


def former_sites(session: Session, subject: SubjectRow) -> set[str]:
    """The codes of the sites the subject was at before its current one: where it was
    enrolled, and where each transfer took it."""
    enrolled = select(Site.code).where(Site.id == subject.enrolled_site_id)
    moved = select(SubjectEvent.value).where(
        SubjectEvent.subject_pk == subject.id, SubjectEvent.type == EventType.TRANSFER.value)
    codes = set(session.scalars(enrolled.union(moved)))
    return {code for code in codes if code is not None} - {_site_code(session, subject)}


def _site_code(session: Session, subject: SubjectRow) -> str | None:
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

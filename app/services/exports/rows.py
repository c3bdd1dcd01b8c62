"""What an export reads: a study's subjects and their visits, scoped, chunk by chunk.

The subjects are read in keyset order (``subject_id``, unique in a study) a chunk at a
time, each chunk with its visits and, when asked, the audit records that explain them:
never the whole study in memory, whatever its size. A subject is in an export when the
actor sees its current site (as in the subject list); its whole calendar comes with it.

Each visit carries its status as of its site's local date at ``now``, computed in SQL by
the worklist's rules (:func:`app.services.status_sql.status_expr`), and the deviation
numbers of :mod:`app.schedule.status`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Date, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.access import Actor
from app.errors import NotFound
from app.models import (
    AuditRecord,
    ProtocolVersion,
    Site,
    StudySite,
    Subject,
    SubjectEvent,
    Visit,
)
from app.schedule.dates import local_today
from app.schedule.lifecycle import EventType, Lifecycle
from app.schedule.plan import Plan
from app.schedule.status import Status, deviation
from app.services.scope import visible_rows, visible_site
from app.services.status_sql import NO_DATE, group_by_date, status_expr
from app.services.studies import get_study, plan_of

DONE = (Status.COMPLETED, Status.COMPLETED_OUT_OF_WINDOW)
# A status from its SQL value by a dict lookup (calling the enum costs 30 times as much).
STATUS_OF = {status.value: status for status in Status}
# Subjects per chunk: a few thousand visit rows in memory at a time.
CHUNK_SUBJECTS = 500


@dataclass(frozen=True, slots=True)
class ExportScope:
    """The study and site an export covers, as the actor may see them."""

    actor: Actor
    study: str
    study_id: int
    title: str
    registry_id: str | None
    site: str | None  # the --site filter, None for every site the actor sees
    now: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """The latest audit record of a visit (or the enrolment of a subject)."""

    actor: str
    at: datetime
    action: str
    site: str | None
    reason: str | None


# Not frozen: a frozen dataclass sets each field through object.__setattr__, about three
# quarters of the cost of making one (a visit row per visit of the study); nothing changes
# a visit once it is read (dataclasses.replace makes a new one).
@dataclass(slots=True)
class ExportVisit:
    code: str
    name: str
    phase: str
    kind: str
    optional: bool
    unscheduled: bool
    site: str
    status: Status  # as of the visit site's local date at the export's instant
    target_date: date | None
    window_start: date | None
    window_end: date | None
    actual_date: date | None
    days_early: int | None
    days_late: int | None
    days_from_target: int | None
    days_overdue: int | None
    reason: str | None
    change: Change | None  # only when the reader was asked for the audit


@dataclass(frozen=True, slots=True)
class ExportEvent:
    id: int
    type: EventType
    date: date
    value: str | None


@dataclass(frozen=True, slots=True)
class ExportSubject:
    subject_id: str
    site: str
    lifecycle: Lifecycle
    consent_date: date
    protocol_version: str
    enrolled_at: datetime
    visits: tuple[ExportVisit, ...]
    enrolment: Change | None  # only when the reader was asked for the audit
    events: tuple[ExportEvent, ...] = ()  # only when the reader was asked for the audit


@dataclass(frozen=True, slots=True)
class ExportSite:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class ExportVersion:
    id: int
    version: str
    loaded_at: datetime
    plan: Plan


def export_scope(
    session: Session, *, study: str, site: str | None, actor: Actor, now: datetime
) -> ExportScope:
    """The study (and site) an export covers: NotFound for what the actor may not see, and
    for a site that does not run the study."""
    row = get_study(session, study, actor)
    if site is not None:
        found = session.scalars(
            select(Site.id)
            .join(StudySite, StudySite.site_id == Site.id)
            .where(StudySite.study_id == row.id, Site.code == site, visible_site(actor),
                   visible_rows(actor, site_code=Site.code.expression))
        ).first()
        if found is None:
            raise NotFound(f"site {site} not found in study {study}")
    return ExportScope(actor=actor, study=row.code, study_id=row.id, title=row.title,
                       registry_id=row.registry_id, site=site, now=now)


def export_sites(session: Session, scope: ExportScope) -> list[ExportSite]:
    """The study's sites in the export (those the actor sees, or the one asked for)."""
    statement = (
        select(Site.code, Site.name)
        .join(StudySite, StudySite.site_id == Site.id)
        .where(StudySite.study_id == scope.study_id, visible_site(scope.actor),
               visible_rows(scope.actor, site_code=Site.code.expression))
        .order_by(Site.code)
    )
    if scope.site is not None:
        statement = statement.where(Site.code == scope.site)
    return [ExportSite(code, name) for code, name in session.execute(statement).tuples()]


def export_versions(session: Session, scope: ExportScope) -> list[ExportVersion]:
    """Every loaded protocol version of the study, oldest first, with its plan."""
    versions = session.scalars(
        select(ProtocolVersion).where(ProtocolVersion.study_id == scope.study_id)
        .order_by(ProtocolVersion.id)
    ).all()
    return [ExportVersion(v.id, v.version, v.loaded_at, plan_of(v)) for v in versions]


def in_scope(scope: ExportScope) -> list[ColumnElement[bool]]:
    """The conditions on Subject (joined to its current Site) of the export's subjects."""
    conditions = [Subject.study_id == scope.study_id,
                  visible_rows(scope.actor, site_code=Site.code.expression)]
    if scope.site is not None:
        conditions.append(Site.code == scope.site)
    return conditions


def export_users(session: Session, scope: ExportScope) -> list[str]:
    """The names of the actors whose records about the export's subjects it may cite."""
    subjects = select(Subject.subject_id).join(Site, Site.id == Subject.site_id).where(
        *in_scope(scope))
    return list(session.scalars(
        select(AuditRecord.actor).distinct()
        .where(AuditRecord.study_code == scope.study, AuditRecord.subject_id.in_(subjects),
               AuditRecord.entity.in_(("visit", "subject")))
        .order_by(AuditRecord.actor)
    ))


def _site_dates(session: Session, now: datetime) -> dict[int, date]:
    return {
        site_id: local_today(now, zone)
        for site_id, zone in session.execute(select(Site.id, Site.time_zone)).tuples()
    }


def status_at_sites(today: Mapping[int, date]) -> ColumnElement[str]:
    """:func:`status_expr` with each visit's site's own date (one branch per date)."""
    groups = group_by_date(today) or [(date.min, [])]
    if len(groups) == 1:
        return status_expr(groups[0][0])
    branches = [(Visit.site_id.in_(ids), status_expr(day)) for day, ids in groups[:-1]]
    return case(*branches, else_=status_expr(groups[-1][0]))


def subject_chunks(
    session: Session,
    scope: ExportScope,
    *,
    version_id: int | None = None,
    with_audit: bool = False,
    with_events: bool = False,
    chunk: int = CHUNK_SUBJECTS,
) -> Iterator[list[ExportSubject]]:
    """The subjects of the export in ``subject_id`` order, ``chunk`` at a time, each with
    its visits (and the audit records that explain them when ``with_audit``; its lifecycle
    events when ``with_audit`` or ``with_events``)."""
    today = _site_dates(session, scope.now)
    status = status_at_sites(today)
    after = ""
    while True:
        statement = (
            select(Subject.id, Subject.subject_id, Site.code, Subject.lifecycle,
                   Subject.consent_date, ProtocolVersion.version, Subject.created_at)
            .join(Site, Site.id == Subject.site_id)
            .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
            .where(Subject.subject_id > after, *in_scope(scope))
            .order_by(Subject.subject_id)
            .limit(chunk)
        )
        if version_id is not None:
            statement = statement.where(Subject.protocol_version_id == version_id)
        # Core rows, not ORM ones: no identity map, no entity loading, for thousands of rows.
        subjects = session.connection().execute(statement).tuples().all()
        if not subjects:
            return
        pks = [row[0] for row in subjects]
        visits = _visits_of(session, pks, status, today)
        changes, enrolments = (
            _changes_of(session, scope.study, [row[1] for row in subjects]) if with_audit
            else ({}, {})
        )
        events = _events_of(session, pks) if with_audit or with_events else {}
        yield [
            ExportSubject(
                subject_id=subject_id, site=site, lifecycle=Lifecycle(lifecycle),
                consent_date=consent, protocol_version=version, enrolled_at=created,
                visits=tuple(
                    _with_change(v, changes.get((subject_id, v.code))) if with_audit else v
                    for v in visits.get(pk, ())
                ),
                enrolment=enrolments.get(subject_id), events=tuple(events.get(pk, ())),
            )
            for pk, subject_id, site, lifecycle, consent, version, created in subjects
        ]
        after = subjects[-1][1]


def _with_change(visit: ExportVisit, change: Change | None) -> ExportVisit:
    return visit if change is None else replace(visit, change=change)


def _visits_of(
    session: Session, pks: Sequence[int], status: ColumnElement[str], today: Mapping[int, date]
) -> dict[int, list[ExportVisit]]:
    rows = session.connection().execute(
        select(Visit.subject_pk, Visit.code, Visit.name, Visit.phase, Visit.kind,
               Visit.optional, Visit.unscheduled, Site.code, status, Visit.target_date,
               Visit.window_start, Visit.window_end, Visit.actual_date, Visit.reason,
               Visit.site_id)
        .join(Site, Site.id == Visit.site_id)
        .where(Visit.subject_pk.in_(pks))
        .order_by(Visit.subject_pk,
                  func.coalesce(Visit.target_date, Visit.actual_date, literal(NO_DATE, Date)),
                  Visit.id)
    ).tuples()
    out: dict[int, list[ExportVisit]] = {}
    for (pk, code, name, phase, kind, optional, unscheduled, site, value, target, start, end,
         actual, reason, site_id) in rows:
        state = STATUS_OF[value]
        early = late = from_target = overdue = None
        if state in DONE and actual is not None and start is not None and end is not None:
            # As visit_status says them: only a visit completed out of its window has
            # them (a visit without a window, never graded, is completed on any date).
            if state is Status.COMPLETED_OUT_OF_WINDOW:
                early, late = deviation(actual, start, end)
            from_target = None if target is None else (actual - target).days
        if state in (Status.OVERDUE, Status.MISSED_UNDOCUMENTED) and end is not None:
            overdue = (today[site_id] - end).days
        out.setdefault(pk, []).append(ExportVisit(
            code=code, name=name, phase=phase, kind=kind, optional=optional,
            unscheduled=unscheduled, site=site, status=state, target_date=target,
            window_start=start, window_end=end, actual_date=actual, days_early=early,
            days_late=late, days_from_target=from_target, days_overdue=overdue,
            reason=reason, change=None,
        ))
    return out


def _events_of(session: Session, pks: Sequence[int]) -> dict[int, list[ExportEvent]]:
    rows = session.execute(
        select(SubjectEvent.subject_pk, SubjectEvent.id, SubjectEvent.type, SubjectEvent.date,
               SubjectEvent.value)
        .where(SubjectEvent.subject_pk.in_(pks))
        .order_by(SubjectEvent.subject_pk, SubjectEvent.date, SubjectEvent.id)
    ).tuples()
    out: dict[int, list[ExportEvent]] = {}
    for pk, event_id, kind, day, value in rows:
        out.setdefault(pk, []).append(ExportEvent(event_id, EventType(kind), day, value))
    return out


def _changes_of(
    session: Session, study: str, subject_ids: Sequence[str]
) -> tuple[dict[tuple[str, str], Change], dict[str, Change]]:
    """The latest record of each visit, and each subject's enrolment record."""
    rows = session.execute(
        select(AuditRecord.subject_id, AuditRecord.entity, AuditRecord.key, AuditRecord.actor,
               AuditRecord.at, AuditRecord.action, AuditRecord.site_code, AuditRecord.reason)
        .where(AuditRecord.study_code == study, AuditRecord.subject_id.in_(subject_ids),
               AuditRecord.entity.in_(("visit", "subject")))
        .order_by(AuditRecord.id)
    ).tuples()
    visits: dict[tuple[str, str], Change] = {}
    enrolments: dict[str, Change] = {}
    for subject_id, entity, key, actor, at, action, site, reason in rows:
        if subject_id is None:
            continue
        change = Change(actor=actor, at=at, action=action, site=site, reason=reason)
        if entity == "visit" and key is not None:
            visits[(subject_id, key)] = change
        elif action == "subject.enrolled":
            enrolments[subject_id] = change
    return visits, enrolments

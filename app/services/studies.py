"""Protocols, their versions and the sites that run them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import InvalidRequest, NotFound, VersionConflict
from app.models import ProtocolVersion, Site, Study, StudySite, Subject
from app.schedule.language import Protocol
from app.schedule.loader import parse_protocol
from app.schedule.plan import Plan, build_plan
from app.services.audit import record_audit
from app.services.plain_rows import StudyRow
from app.services.scope import visible_site, visible_study


@dataclass(frozen=True, slots=True)
class LoadResult:
    study: str
    version: str
    created: bool  # False when the same version with the same content was already there


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Plans by the content hash of their text: a stored version never changes, and the hash
# names its text, so a version read without its text (it is deferred where subjects are
# loaded) needs it only the first time.
_PLANS: dict[str, Plan] = {}
_PLANS_KEPT = 128


def plan_of(version: ProtocolVersion) -> Plan:
    """The expanded plan of a stored protocol version (parsed once per process)."""
    return cached_plan(version.content_hash, lambda: version.yaml_text)


def cached_plan(digest: str, text: Callable[[], str]) -> Plan:
    """The plan of the version whose text has the hash ``digest``; ``text`` reads the
    text, called only when the plan is not cached yet."""
    plan = _PLANS.get(digest)
    if plan is None:
        if len(_PLANS) >= _PLANS_KEPT:
            _PLANS.clear()
        plan = build_plan(parse_protocol(text(), source="<stored>"))
        _PLANS[digest] = plan
    return plan


def load_schedule(session: Session, *, text: str, source: str, actor: Actor) -> LoadResult:
    """Register one protocol version (and its declared sites).

    Loading the same version again with the same content changes nothing; with other
    content it is refused, since enrolled calendars were built from the first text.
    """
    actor.require_admin()
    protocol = parse_protocol(text, source=source)
    digest = content_hash(text)
    meta = protocol.study
    study = session.scalars(select(Study).where(Study.code == meta.code)).first()
    if study is None:
        study = Study(
            code=meta.code,
            title=meta.title,
            registry_id=meta.registry_id,
            target_enrolment=meta.target_enrolment,
        )
        session.add(study)
        session.flush()
    existing = session.scalars(
        select(ProtocolVersion).where(
            ProtocolVersion.study_id == study.id, ProtocolVersion.version == meta.version
        )
    ).first()
    if existing is not None:
        if existing.content_hash != digest:
            raise VersionConflict(
                f"{meta.code} version {meta.version} is already loaded with other content;"
                " give the changed protocol a new version"
            )
        _declare_sites(session, study, protocol, actor)
        return LoadResult(meta.code, meta.version, created=False)
    # The newest version describes the study; the first one loaded is the active one
    # until another is activated.
    study.title, study.registry_id = meta.title, meta.registry_id
    study.target_enrolment = meta.target_enrolment
    first = session.scalar(
        select(func.count(ProtocolVersion.id)).where(ProtocolVersion.study_id == study.id)
    ) == 0
    session.add(
        ProtocolVersion(
            study_id=study.id,
            version=meta.version,
            yaml_text=text,
            content_hash=digest,
            source_name=source,
            loaded_by=actor.name,
            active=first,
        )
    )
    _declare_sites(session, study, protocol, actor)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="protocol.loaded",
        entity="protocol",
        study=meta.code,
        key=meta.version,
        after={"version": meta.version, "hash": digest, "source": source},
    )
    return LoadResult(meta.code, meta.version, created=True)


def check_schedule(
    session: Session, *, text: str, source: str, study: str, actor: Actor
) -> LoadResult:
    """What :func:`load_schedule` would do with ``text`` for ``study``, writing nothing:
    every problem of the file (ScheduleError), another study's file (InvalidRequest), or
    the version loaded already with other content (VersionConflict)."""
    actor.require_admin()
    protocol = parse_protocol(text, source=source)
    meta = protocol.study
    if meta.code != study:
        raise InvalidRequest(f"the file is a protocol of study {meta.code}, not {study}")
    existing = session.scalars(
        select(ProtocolVersion).join(Study, Study.id == ProtocolVersion.study_id)
        .where(Study.code == meta.code, ProtocolVersion.version == meta.version)
    ).first()
    if existing is not None and existing.content_hash != content_hash(text):
        raise VersionConflict(
            f"{meta.code} version {meta.version} is already loaded with other content;"
            " give the changed protocol a new version"
        )
    return LoadResult(meta.code, meta.version, created=existing is None)


def _declare_sites(session: Session, study: Study, protocol: Protocol, actor: Actor) -> None:
    for declared in protocol.sites:
        site = session.scalars(select(Site).where(Site.code == declared.code)).first()
        if site is None:
            site = Site(
                code=declared.code,
                name=declared.name,
                time_zone=declared.time_zone or protocol.study.time_zone,
            )
            session.add(site)
            session.flush()
            record_audit(
                session,
                actor=actor,
                action="site.created",
                entity="site",
                site=site.code,
                after={"name": site.name, "time_zone": site.time_zone},
            )
        linked = session.scalars(
            select(StudySite).where(StudySite.study_id == study.id, StudySite.site_id == site.id)
        ).first()
        if linked is None:
            session.add(StudySite(study_id=study.id, site_id=site.id))
            session.flush()


def get_study(session: Session, code: str, actor: Actor) -> Study:
    """A study the actor may see, or NotFound (its existence is not revealed)."""
    study = session.scalars(select(Study).where(Study.code == code, visible_study(actor))).first()
    if study is None:
        raise NotFound(f"study {code} not found")
    return study


def current_version(session: Session, study: Study) -> ProtocolVersion:
    """The version new subjects are enrolled on: the study's active one."""
    version = session.scalars(
        select(ProtocolVersion)
        .where(ProtocolVersion.study_id == study.id)
        .order_by(ProtocolVersion.active.desc(), ProtocolVersion.id.desc())
        .limit(1)
    ).first()
    if version is None:
        raise NotFound(f"study {study.code} has no protocol version")
    return version


def get_version(session: Session, study: StudyRow, version: str) -> ProtocolVersion:
    """One loaded version of the study, or NotFound."""
    found = session.scalars(
        select(ProtocolVersion).where(
            ProtocolVersion.study_id == study.id, ProtocolVersion.version == version
        )
    ).first()
    if found is None:
        raise NotFound(f"study {study.code} has no protocol version {version}")
    return found


def activate_version(session: Session, *, study: str, version: str, actor: Actor) -> bool:
    """Make ``version`` the one new subjects are enrolled on; False when it already was.

    Subjects already enrolled keep their version until an amendment is applied to them.
    """
    actor.require_admin()
    study_row = get_study(session, study, actor)
    target = get_version(session, study_row, version)
    previous = current_version(session, study_row)
    if target.active and previous.id == target.id:
        return False
    for row in session.scalars(
        select(ProtocolVersion).where(
            ProtocolVersion.study_id == study_row.id, ProtocolVersion.active.is_(True)
        )
    ):
        row.active = False
    session.flush()
    target.active = True
    session.flush()
    record_audit(
        session, actor=actor, action="protocol.activated", entity="protocol",
        study=study_row.code, key=version, before={"version": previous.version},
        after={"version": version},
    )
    return True


@dataclass(frozen=True, slots=True)
class StudySummary:
    code: str
    title: str
    registry_id: str | None
    version: str | None
    target_enrolment: int
    enrolled: int
    sites: tuple[str, ...]


def _enrolled() -> ScalarSelect[int]:
    # Every subject ever enrolled counts against the target, whatever became of them.
    return select(func.count(Subject.id)).where(Subject.study_id == Study.id).scalar_subquery()


def _linked_sites(session: Session, actor: Actor, study_ids: list[int]) -> dict[int, list[Site]]:
    rows = session.execute(
        select(StudySite.study_id, Site)
        .join(Site, Site.id == StudySite.site_id)
        .where(StudySite.study_id.in_(study_ids), visible_site(actor))
        .order_by(Site.code)
    ).all()
    out: dict[int, list[Site]] = {}
    for study_id, site in rows:
        out.setdefault(study_id, []).append(site)
    return out


def list_studies(session: Session, *, actor: Actor) -> list[StudySummary]:
    """The studies the actor may see, with their current version and enrolment."""
    active = (
        select(func.max(ProtocolVersion.id))
        .where(ProtocolVersion.study_id == Study.id, ProtocolVersion.active.is_(True))
        .correlate(Study)  # not the outer ProtocolVersion it is joined to
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Study.id,
            Study.code,
            Study.title,
            Study.registry_id,
            Study.target_enrolment,
            ProtocolVersion.version,
            _enrolled().label("enrolled"),
        )
        .outerjoin(ProtocolVersion, ProtocolVersion.id == active)
        .where(visible_study(actor))
        .order_by(Study.code)
    ).all()
    sites = _linked_sites(session, actor, [row.id for row in rows])
    return [
        StudySummary(
            code=row.code,
            title=row.title,
            registry_id=row.registry_id,
            version=row.version,
            target_enrolment=row.target_enrolment,
            enrolled=row.enrolled,
            sites=tuple(site.code for site in sites.get(row.id, [])),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: str
    content_hash: str
    loaded_at: datetime
    active: bool = False


@dataclass(frozen=True, slots=True)
class StudyProtocol:
    """A study as its active protocol version describes it."""

    study: Study
    version: ProtocolVersion
    plan: Plan
    enrolled: int
    sites: tuple[Site, ...]
    versions: tuple[VersionInfo, ...]


def describe_study(session: Session, *, code: str, actor: Actor) -> StudyProtocol:
    study = get_study(session, code, actor)
    version = current_version(session, study)
    versions = session.execute(
        select(ProtocolVersion.version, ProtocolVersion.content_hash, ProtocolVersion.loaded_at,
               ProtocolVersion.active)
        .where(ProtocolVersion.study_id == study.id)
        .order_by(ProtocolVersion.id)
    ).all()
    enrolled = session.scalar(select(func.count(Subject.id)).where(Subject.study_id == study.id))
    return StudyProtocol(
        study=study,
        version=version,
        plan=plan_of(version),
        enrolled=enrolled or 0,
        sites=tuple(_linked_sites(session, actor, [study.id]).get(study.id, [])),
        versions=tuple(VersionInfo(*row) for row in versions),
    )

"""Protocols, their versions and the sites that run them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound, VersionConflict
from app.models import ProtocolVersion, Site, Study, StudySite
from app.schedule.language import Protocol
from app.schedule.loader import parse_protocol
from app.schedule.plan import Plan, build_plan
from app.services.access import Actor
from app.services.audit import record_audit


@dataclass(frozen=True, slots=True)
class LoadResult:
    study: str
    version: str
    created: bool  # False when the same version with the same content was already there


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=128)
def _plan_from_text(text_hash: str, text: str) -> Plan:
    return build_plan(parse_protocol(text, source="<stored>"))


def plan_of(version: ProtocolVersion) -> Plan:
    """The expanded plan of a stored protocol version (parsed once per process)."""
    return _plan_from_text(version.content_hash, version.yaml_text)


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
    # The newest version describes the study.
    study.title, study.registry_id = meta.title, meta.registry_id
    study.target_enrolment = meta.target_enrolment
    session.add(
        ProtocolVersion(
            study_id=study.id,
            version=meta.version,
            yaml_text=text,
            content_hash=digest,
            source_name=source,
            loaded_by=actor.name,
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
    study = session.scalars(select(Study).where(Study.code == code)).first()
    if study is None or (actor.studies is not None and code not in actor.studies):
        raise NotFound(f"study {code} not found")
    return study


def current_version(session: Session, study: Study) -> ProtocolVersion:
    version = session.scalars(
        select(ProtocolVersion)
        .where(ProtocolVersion.study_id == study.id)
        .order_by(ProtocolVersion.id.desc())
        .limit(1)
    ).first()
    if version is None:
        raise NotFound(f"study {study.code} has no protocol version")
    return version

"""Sites: where subjects are seen, each with its own time zone and digest hour.

A site's time zone decides its "today", so changing it changes what is overdue there;
that is why every change is audited with the values before and after.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import AlreadyExists, InvalidRequest, NotFound
from app.models import Site, Study, StudySite
from app.schedule.names import CODE_PATTERN
from app.services.audit import record_audit
from app.services.scope import visible_site, visible_study
from app.services.studies import get_study

DIGEST_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_DIGEST_TIME = re.compile(DIGEST_TIME_PATTERN)
_CODE = re.compile(CODE_PATTERN)


@dataclass(frozen=True, slots=True)
class SiteView:
    code: str
    name: str
    time_zone: str
    digest_time: str
    studies: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LinkResult:
    study: str
    site: str
    created: bool  # False when the site already took part in the study


def check_time_zone(value: str) -> str:
    """An IANA zone name such as "Asia/Shanghai", or InvalidRequest."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # OSError/ValueError: names like "../x" or with NUL bytes never reach a file.
        raise InvalidRequest(
            f'"{value}" is not an IANA time zone such as "Asia/Shanghai"', field="time_zone"
        ) from exc
    return value


def check_digest_time(value: str) -> str:
    if not _DIGEST_TIME.match(value):
        raise InvalidRequest(f'"{value}" is not a time of day "HH:MM"', field="digest_time")
    return value


def _view(site: Site, studies: Sequence[str]) -> SiteView:
    return SiteView(
        code=site.code,
        name=site.name,
        time_zone=site.time_zone,
        digest_time=site.digest_time,
        studies=tuple(studies),
        created_at=site.created_at,
    )


def _studies_of(session: Session, actor: Actor, site_ids: list[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(StudySite.site_id, Study.code)
        .join(Study, Study.id == StudySite.study_id)
        .where(StudySite.site_id.in_(site_ids), visible_study(actor))
        .order_by(Study.code)
    ).all()
    out: dict[int, list[str]] = {}
    for site_id, code in rows:
        out.setdefault(site_id, []).append(code)
    return out


def list_sites(session: Session, *, actor: Actor) -> list[SiteView]:
    sites = session.scalars(select(Site).where(visible_site(actor)).order_by(Site.code)).all()
    studies = _studies_of(session, actor, [site.id for site in sites])
    return [_view(site, studies.get(site.id, [])) for site in sites]


def find_site(session: Session, *, code: str, actor: Actor) -> Site:
    """A site the actor may see, or NotFound (its existence is not revealed)."""
    site = session.scalars(select(Site).where(Site.code == code, visible_site(actor))).first()
    if site is None:
        raise NotFound(f"site {code} not found")
    return site


def get_site(session: Session, *, code: str, actor: Actor) -> SiteView:
    site = find_site(session, code=code, actor=actor)
    return _view(site, _studies_of(session, actor, [site.id]).get(site.id, []))


def create_site(
    session: Session,
    *,
    actor: Actor,
    code: str,
    name: str,
    time_zone: str,
    digest_time: str = "07:00",
) -> SiteView:
    actor.require_admin()
    if not _CODE.match(code):
        raise InvalidRequest(f'"{code}" is not a site code (letters, digits, _ . + -)')
    check_time_zone(time_zone)
    check_digest_time(digest_time)
    if session.scalars(select(Site.id).where(Site.code == code)).first() is not None:
        raise AlreadyExists(f"site {code} already exists")
    site = Site(code=code, name=name, time_zone=time_zone, digest_time=digest_time)
    try:
        # A concurrent request may create the same code between the check and here.
        with session.begin_nested():
            session.add(site)
    except IntegrityError as exc:
        raise AlreadyExists(f"site {code} already exists") from exc
    record_audit(
        session,
        actor=actor,
        action="site.created",
        entity="site",
        site=code,
        after={"name": name, "time_zone": time_zone, "digest_time": digest_time},
    )
    return _view(site, [])


def update_site(
    session: Session,
    *,
    actor: Actor,
    code: str,
    name: str | None = None,
    time_zone: str | None = None,
    digest_time: str | None = None,
) -> SiteView:
    """Change what is given; an unchanged site writes no audit record."""
    actor.require_admin()
    site = find_site(session, code=code, actor=actor)
    wanted = {
        "name": name,
        "time_zone": None if time_zone is None else check_time_zone(time_zone),
        "digest_time": None if digest_time is None else check_digest_time(digest_time),
    }
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    for field, value in wanted.items():
        current = getattr(site, field)
        if value is not None and value != current:
            before[field], after[field] = current, value
            setattr(site, field, value)
    if after:
        session.flush()
        record_audit(
            session,
            actor=actor,
            action="site.updated",
            entity="site",
            site=code,
            before=dict(before),
            after=dict(after),
        )
    return _view(site, _studies_of(session, actor, [site.id]).get(site.id, []))


def link_site(session: Session, *, actor: Actor, study: str, site: str) -> LinkResult:
    """Let a site take part in a study (idempotent: linking twice changes nothing)."""
    actor.require_admin()
    study_row = get_study(session, study, actor)
    site_row = find_site(session, code=site, actor=actor)
    existing = session.scalars(
        select(StudySite.id).where(
            StudySite.study_id == study_row.id, StudySite.site_id == site_row.id
        )
    ).first()
    if existing is not None:
        return LinkResult(study, site, created=False)
    try:
        with session.begin_nested():
            session.add(StudySite(study_id=study_row.id, site_id=site_row.id))
    except IntegrityError:
        # Linked by a concurrent request: the outcome is the one asked for.
        return LinkResult(study, site, created=False)
    record_audit(
        session,
        actor=actor,
        action="site.linked",
        entity="site",
        study=study,
        site=site,
        after={"study": study, "site": site},
    )
    return LinkResult(study, site, created=True)

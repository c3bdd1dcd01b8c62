"""What a worklist request reads: the sites and studies asked for, limited to what the
actor may see, and each site's "today".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import (
    Select,
    bindparam,
    select,
)
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import NotFound
from app.models import Site, Study
from app.schedule.dates import local_today
from app.schedule.lifecycle import Lifecycle
from app.services.scope import visible_site, visible_study


@dataclass(frozen=True, slots=True)
class SiteRef:
    id: int
    code: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class Scope:
    """What a request may read: the sites (checked) and the studies (None: all)."""

    sites: tuple[SiteRef, ...]
    study_ids: tuple[int, ...] | None


def resolve_scope(
    session: Session,
    *,
    actor: Actor,
    sites: Sequence[str] | None = None,
    studies: Sequence[str] | None = None,
) -> Scope:
    """The sites and studies asked for, limited to what the actor may see.

    A code the actor may not see is reported exactly like one that does not exist.
    """
    conn = session.connection()  # plain rows: this runs on every worklist request
    codes = {"codes": sorted(set(sites))} if sites else {}
    refs = tuple(SiteRef(*row) for row in conn.execute(_sites_query(actor, bool(sites)), codes))
    if sites:
        _all_found("site", sites, {ref.code for ref in refs})
    study_ids: tuple[int, ...] | None = None
    if studies or actor.studies is not None:
        study_stmt = select(Study.id, Study.code).where(visible_study(actor))
        if studies:
            study_stmt = study_stmt.where(Study.code.in_(sorted(set(studies))))
        found = conn.execute(study_stmt.order_by(Study.id)).all()
        if studies:
            _all_found("study", studies, {code for _, code in found})
        study_ids = tuple(study_id for study_id, _ in found)
    return Scope(refs, study_ids)


@lru_cache(maxsize=64)
def _sites_query(actor: Actor, by_code: bool) -> Select[int, str, str]:
    """The sites the actor may see (those of the CODES when ``by_code``); built once."""
    stmt = select(Site.id, Site.code, Site.time_zone).where(visible_site(actor))
    if by_code:
        stmt = stmt.where(Site.code.in_(bindparam("codes", expanding=True)))
    return stmt.order_by(Site.id)


def _all_found(kind: str, asked: Sequence[str], found: set[str]) -> None:
    missing = sorted(set(asked) - found)
    if missing:
        raise NotFound(f"{kind} {', '.join(missing)} not found")


def todays(
    sites: Sequence[SiteRef],
    *,
    now: datetime,
    as_of: date | None = None,
    today_by_site: Mapping[int, date] | None = None,
) -> dict[int, date]:
    """Each site's "today": ``as_of`` for all, else ``today_by_site``, else the local
    date at the site at the instant ``now``."""
    given = today_by_site or {}
    return {
        site.id: as_of or given.get(site.id) or local_today(now, site.time_zone)
        for site in sites
    }


def leaves_open(lifecycles: Collection[Lifecycle] | None) -> bool:
    """Whether a lifecycle filter keeps, with the subjects still on study, the visits
    still to do that a subject's leaving opened (early termination): it does whenever it
    keeps the subjects still on study (the default). No filter keeps everything anyway."""
    return lifecycles is not None and Lifecycle.ACTIVE in lifecycles

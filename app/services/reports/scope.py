"""What a report covers: one study the actor may see, its sites the actor may see, and
each site's "today"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import Site, StudySite
from app.schedule.dates import local_today
from app.schedule.plan import Plan
from app.services.scope import visible_site
from app.services.studies import current_version, get_study, plan_of


@dataclass(frozen=True, slots=True)
class ReportSite:
    id: int
    code: str
    today: date  # the site's local date at the report's instant, or the as_of asked for


@dataclass(frozen=True, slots=True)
class ReportScope:
    study_id: int
    study: str
    plan: Plan  # the study's current protocol: visit and endpoint order, names
    sites: tuple[ReportSite, ...]  # ordered by code

    @property
    def site_ids(self) -> list[int]:
        return [site.id for site in self.sites]


def report_scope(
    session: Session, *, study: str, actor: Actor, now: datetime, as_of: date | None = None
) -> ReportScope:
    """The study (NotFound when the actor may not see it) and the sites taking part in
    it that the actor may see: a coordinator's own sites, a monitor's or an EDC's sites
    of its studies (narrowed by the sites on the token, if any)."""
    row = get_study(session, study, actor)
    plan = plan_of(current_version(session, row))
    sites = session.execute(
        select(Site.id, Site.code, Site.time_zone)
        .join(StudySite, StudySite.site_id == Site.id)
        .where(StudySite.study_id == row.id, visible_site(actor))
        .order_by(Site.code)
    ).tuples().all()
    return ReportScope(
        study_id=row.id,
        study=row.code,
        plan=plan,
        sites=tuple(ReportSite(ident, code, as_of or local_today(now, zone))
                    for ident, code, zone in sites),
    )


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 places; None when nothing is in the denominator."""
    return None if whole == 0 else round(part / whole, 4)

"""The worklist page: what is overdue, due and coming up, most urgent first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.metrics import MetricsDep
from app.schedule.language import CODE_PATTERN
from app.schedule.lifecycle import LifecycleFilter, lifecycles_of
from app.schedule.status import Status
from app.services.sites import list_sites
from app.services.worklist.counts import StatusCount, status_counts
from app.services.worklist.page import WorklistRow, worklist
from app.web.deps import NowDep, WebActor, WebDb
from app.web.notices import notice_text
from app.web.rendering import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 100
TABS: dict[str, tuple[str, tuple[Status, ...]]] = {
    "all": ("Everything to do", (Status.OVERDUE, Status.DUE, Status.UPCOMING)),
    "overdue": ("Overdue", (Status.OVERDUE,)),
    "due": ("Due", (Status.DUE,)),
    "upcoming": ("Upcoming", (Status.UPCOMING,)),
}
OptionalCode = Annotated[str | None, Query(max_length=40)]
# Whose visits the page shows: by default those of subjects still on study.
LIFECYCLES: dict[str, str] = {
    LifecycleFilter.ACTIVE: "Still on study",
    LifecycleFilter.ENDED: "Left the study",
    LifecycleFilter.ALL: "All subjects",
}


@dataclass(frozen=True, slots=True)
class Section:
    status: str
    title: str
    rows: list[WorklistRow]


@dataclass(frozen=True, slots=True)
class Totals:
    overdue: int
    due: int
    upcoming: int


def totals(counts: list[StatusCount]) -> Totals:
    return Totals(
        overdue=sum(c.overdue for c in counts),
        due=sum(c.due for c in counts),
        upcoming=sum(c.upcoming for c in counts),
    )


def sections(rows: list[WorklistRow], statuses: tuple[Status, ...]) -> list[Section]:
    """Rows grouped by status, in urgency order (the service already sorted them)."""
    return [
        Section(s.value, TABS[s.value][0], [r for r in rows if r.status is s]) for s in statuses
    ]


def _code_or_none(value: str | None) -> str | None:
    # An empty select ("all studies") arrives as "": treat it as no filter.
    if not value:
        return None
    return value if re.fullmatch(CODE_PATTERN, value) else None


@router.get("/worklist")
def worklist_page(
    request: Request,
    db: WebDb,
    actor: WebActor,
    now: NowDep,
    metrics: MetricsDep,
    study: OptionalCode = None,
    site: OptionalCode = None,
    tab: Annotated[str, Query(max_length=20)] = "all",
    lifecycle: Annotated[str, Query(max_length=20)] = LifecycleFilter.ACTIVE.value,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    notice: Annotated[str | None, Query(max_length=40)] = None,
    visit: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    tab = tab if tab in TABS else "all"
    lifecycle = lifecycle if lifecycle in LIFECYCLES else LifecycleFilter.ACTIVE.value
    lifecycles = lifecycles_of([LifecycleFilter(lifecycle)])
    study, site = _code_or_none(study), _code_or_none(site)
    studies = [study] if study else None
    sites = [site] if site else None
    counts = status_counts(db, actor=actor, sites=sites, studies=studies,
                           lifecycles=lifecycles, now=now)
    statuses = TABS[tab][1]
    page = worklist(db, actor=actor, sites=sites, studies=studies, statuses=set(statuses),
                    lifecycles=lifecycles, now=now, limit=PAGE_SIZE, cursor=cursor or None)
    if metrics is not None:
        metrics.served_worklist_rows("web", len(page.rows))
    as_of = sorted({c.as_of for c in counts})
    visible = list_sites(db, actor=actor)
    return render(request, "worklist.html", {
        "nav": "worklist",
        "tabs": TABS,
        "tab": tab,
        "filters": {"study": study or "", "site": site or "", "lifecycle": lifecycle},
        "lifecycle_options": list(LIFECYCLES.items()),
        "study_options": sorted({code for s in visible for code in s.studies}),
        "site_options": [(s.code, s.name) for s in visible],
        "totals": totals(counts),
        "as_of": as_of,
        "sections": sections(page.rows, statuses),
        "next_cursor": page.next_cursor,
        "paged": cursor is not None,
        "notice": notice_text(notice, visit),
    })

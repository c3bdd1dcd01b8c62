"""The worklist page: what is overdue, due and coming up, most urgent first; and, on
their own tab, the visits that count as missed (derived) until someone documents them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import InvalidRequest
from app.metrics import Metrics, MetricsDep
from app.schedule.lifecycle import LifecycleFilter, lifecycles_of
from app.schedule.names import CODE_PATTERN
from app.schedule.status import Status
from app.services.sites import list_sites
from app.services.visits import VisitRef, mark_many_missed
from app.services.worklist.counts import StatusCount, status_counts
from app.services.worklist.page import WorklistRow, worklist
from app.signatures import Meaning, Signature
from app.web.deps import CheckedForm, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage
from app.web.notices import notice_text
from app.web.rendering import WebRoute, redirect, render
from app.web.signing import signed_submit, signing_of

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 100
TABS: dict[str, tuple[str, tuple[Status, ...]]] = {
    "all": ("Everything to do", (Status.OVERDUE, Status.DUE, Status.UPCOMING)),
    "overdue": ("Overdue", (Status.OVERDUE,)),
    "due": ("Due", (Status.DUE,)),
    "upcoming": ("Upcoming", (Status.UPCOMING,)),
    # Not in "all": nobody chases these any more; they are recorded late or documented.
    "missed_undocumented": ("Missed, not documented", (Status.MISSED_UNDOCUMENTED,)),
}
OptionalCode = Annotated[str | None, Query(max_length=40)]
# Whose visits the page shows: by default those of subjects still on study.
LIFECYCLES: dict[str, str] = {
    LifecycleFilter.ACTIVE: "Still on study",
    LifecycleFilter.ENDED: "Left the study",
    LifecycleFilter.ALL: "All subjects",
}


class Elsewhere(StrEnum):
    """Where a section's rows that are not on this page are (the list is in urgency order,
    so a section's rows are one run: before this page, on it, after it, or across)."""

    NOWHERE = "nowhere"
    EARLIER = "earlier"
    LATER = "later"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Section:
    status: str
    title: str
    rows: list[WorklistRow]
    total: int  # the count of the card above, over every page
    elsewhere: Elsewhere


@dataclass(frozen=True, slots=True)
class Totals:
    overdue: int
    due: int
    upcoming: int
    missed_undocumented: int


def totals(counts: list[StatusCount]) -> Totals:
    return Totals(
        overdue=sum(c.overdue for c in counts),
        due=sum(c.due for c in counts),
        upcoming=sum(c.upcoming for c in counts),
        missed_undocumented=sum(c.missed_undocumented for c in counts),
    )


def _total(totals: Totals, status: Status) -> int:
    return {Status.OVERDUE: totals.overdue, Status.DUE: totals.due,
            Status.UPCOMING: totals.upcoming,
            Status.MISSED_UNDOCUMENTED: totals.missed_undocumented}.get(status, 0)


def sections(rows: list[WorklistRow], statuses: tuple[Status, ...], totals: Totals, *,
             paged: bool, more: bool) -> list[Section]:
    """Rows grouped by status, in urgency order (the service already sorted them), each
    with its count over every page and where its rows not on this page are.

    Only the counts say how many rows a section has; a page shows a slice of the list. A
    section's rows are consecutive in it, so when some are not on this page they are on
    the pages before it (the page starts in or after the section) or after it (the page
    ends in or before the section).
    """
    # The urgency order of the service: what to chase, then the derived misses.
    order = {status: i for i, status in enumerate((*TABS["all"][1], Status.MISSED_UNDOCUMENTED))}
    shown = [order[r.status] for r in rows if r.status in order]
    first, last = (min(shown), max(shown)) if shown else (None, None)
    out = []
    for status in statuses:
        here = [r for r in rows if r.status is status]
        total = max(_total(totals, status), len(here))
        rank = order[status]
        earlier = paged and total > len(here) and (first is None or first >= rank)
        later = more and total > len(here) and (last is None or last <= rank)
        place = (Elsewhere.BOTH if earlier and later else Elsewhere.EARLIER if earlier
                 else Elsewhere.LATER if later else Elsewhere.NOWHERE)
        out.append(Section(status.value, TABS[status.value][0], here, total, place))
    return out


def _code_or_none(value: str | None) -> str | None:
    # An empty select ("all studies") arrives as "": treat it as no filter.
    if not value:
        return None
    return value if re.fullmatch(CODE_PATTERN, value) else None


@dataclass(frozen=True, slots=True)
class View:
    """Which worklist page is shown: the tab, the filters and the page's cursor."""

    tab: str = "all"
    study: str | None = None
    site: str | None = None
    cursor: str | None = None
    lifecycle: str = LifecycleFilter.ACTIVE.value  # whose visits: still on study by default

    @classmethod
    def of(cls, tab: str, study: str | None, site: str | None, cursor: str | None,
           lifecycle: str = LifecycleFilter.ACTIVE.value) -> View:
        return cls(tab if tab in TABS else "all", _code_or_none(study), _code_or_none(site),
                   cursor or None,
                   lifecycle if lifecycle in LIFECYCLES else LifecycleFilter.ACTIVE.value)

    def params(self) -> dict[str, str]:
        """The page's address parameters (what a redirect back to it carries)."""
        given = {"tab": self.tab, "study": self.study, "site": self.site, "cursor": self.cursor,
                 "lifecycle": None if self.lifecycle == LifecycleFilter.ACTIVE.value
                 else self.lifecycle}
        return {name: value for name, value in given.items() if value}


def _context(db: Session, actor: Actor, now: datetime, metrics: Metrics | None,
             view: View) -> dict[str, Any]:
    studies = [view.study] if view.study else None
    sites = [view.site] if view.site else None
    lifecycles = lifecycles_of([LifecycleFilter(view.lifecycle)])
    counts = status_counts(db, actor=actor, sites=sites, studies=studies,
                           lifecycles=lifecycles, now=now)
    statuses = TABS[view.tab][1]
    page = worklist(db, actor=actor, sites=sites, studies=studies, statuses=set(statuses),
                    lifecycles=lifecycles, now=now, limit=PAGE_SIZE, cursor=view.cursor)
    if metrics is not None:
        metrics.served_worklist_rows("web", len(page.rows))
    visible = list_sites(db, actor=actor)
    summed = totals(counts)
    paged = view.cursor is not None
    return {
        "nav": "worklist",
        "signing": signing_of(actor, Meaning.RECORDED),
        "tabs": TABS,
        "tab": view.tab,
        "view": view,
        "filters": {"study": view.study or "", "site": view.site or "",
                    "lifecycle": view.lifecycle},
        "lifecycle_options": list(LIFECYCLES.items()),
        "study_options": sorted({code for s in visible for code in s.studies}),
        "site_options": [(s.code, s.name) for s in visible],
        "totals": summed,
        "as_of": sorted({c.as_of for c in counts}),
        "sections": sections(page.rows, statuses, summed, paged=paged,
                             more=page.next_cursor is not None),
        "next_cursor": page.next_cursor,
        "paged": paged,
        "bulk": {"reason": "", "chosen": []},
        "error": None,
    }


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
    # A mistyped address is refused, not shown as another tab or other subjects' visits.
    for name, value, allowed in (("tab", tab, TABS), ("lifecycle", lifecycle, LIFECYCLES)):
        if value not in allowed:
            raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}; got {value!r}",
                                 field=name)
    view = View.of(tab, study, site, cursor, lifecycle)
    return render(request, "worklist.html", _context(db, actor, now, metrics, view) | {
        "notice": notice_text(notice, visit),
    })


def visit_ref(value: str) -> VisitRef:
    """A checked row, sent as "STUDY/SUBJECT/VISIT" (codes never hold a slash)."""
    parts = value.split("/")
    if len(parts) != 3 or not all(re.fullmatch(CODE_PATTERN, part) for part in parts):
        raise InvalidRequest(f"{value[:130]!r} is not a visit of the worklist", field="visit")
    return VisitRef(*parts)


@router.post("/worklist/missed")
def mark_rows_missed(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                     now: NowDep, metrics: MetricsDep) -> Response:
    """Mark the checked overdue rows missed with one reason: all of them, or none."""
    view = View.of(field(form, "tab", limit=20), field(form, "study", limit=40) or None,
                   field(form, "site", limit=40) or None, field(form, "cursor", limit=200),
                   field(form, "lifecycle", limit=20) or LifecycleFilter.ACTIVE.value)
    chosen = [v[:130] for v in form.getlist("visit") if isinstance(v, str)][:PAGE_SIZE + 1]
    reason = field(form, "reason", limit=1000)
    # The page again as it was (what was checked and typed kept) if anything is refused.
    page = FormPage("worklist.html", _context(db, actor, now, metrics, view) | {
        "bulk": {"reason": reason, "chosen": chosen},
    })

    def change(signature: Signature | None) -> Response:
        if len(chosen) > PAGE_SIZE:
            raise InvalidRequest(f"choose at most {PAGE_SIZE} visits at once", field="visit")
        refs = [visit_ref(value) for value in chosen]
        marked = mark_many_missed(db, visits=refs, reason=reason or None, signature=signature,
                                  actor=actor, now=now)
        if len(marked) == 1:
            return redirect(request, "/worklist", **view.params(), notice="missed",
                            visit=marked[0].visit.code)
        return redirect(request, "/worklist", **view.params(), notice="missed-many",
                        visit=str(len(marked)))

    return signed_submit(request, db, actor, page, form, Meaning.RECORDED, now, change)

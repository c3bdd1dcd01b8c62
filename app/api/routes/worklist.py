"""Routes: the coordinators' worklist across subjects, and its counts per site and study.

"Today" is each site's local date unless ``as_of`` is given; only this edge reads the
clock (through a dependency, so tests can stand at any instant).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from app.api.deps import ActorDep
from app.api.schemas.common import ApiDate, CursorQuery, LifecycleQuery, problem_responses
from app.api.schemas.worklist import WorklistOut, WorklistStatus, WorklistSummary
from app.deps import NowDep, SessionDep
from app.metrics import MetricsDep
from app.schedule.lifecycle import Lifecycle, LifecycleFilter, lifecycles_of
from app.schedule.names import CODE_PATTERN
from app.schedule.status import Status
from app.services.worklist.counts import status_counts
from app.services.worklist.page import worklist

router = APIRouter(tags=["worklist"])

CodeItem = Annotated[str, Field(pattern=CODE_PATTERN, max_length=40)]
Sites = Annotated[
    list[CodeItem] | None,
    Query(max_length=50, description="Site codes (repeat the parameter for several)",
          examples=[["YC3H"]]),
]
Studies = Annotated[
    list[CodeItem] | None,
    Query(max_length=20, description="Study codes (repeat the parameter for several)",
          examples=[["UCART-SLE"]]),
]
def on_study(lifecycle: list[LifecycleFilter] | None) -> frozenset[Lifecycle] | None:
    """The lifecycles asked for; by default the subjects still on study."""
    return lifecycles_of(lifecycle or [LifecycleFilter.ACTIVE])


AsOf = Annotated[
    ApiDate | None,
    Query(description="Compute statuses as of this date at every site (default: each site's"
                      " local today)"),
]


@router.get(
    "/visits",
    response_model=WorklistOut,
    summary="The worklist: visits across subjects, most urgent first",
    description=(
        "Visits of the sites and studies you may see, overdue first (the longest overdue "
        "first), then due (the window closing soonest first), then upcoming (the window "
        "opening soonest first), then missed_undocumented (derived misses nobody has "
        "documented yet, missed the longest first), then the rest by target date; ties by "
        "visit. Without `status` every status is listed in that order; what to chase is "
        "`status=overdue&status=due&status=upcoming`, and the derived misses to document "
        "are `status=missed_undocumented`. Statuses use each site's local date unless "
        "`as_of` is given. `from`/`to` bound the target date. Only subjects still on study "
        "unless `lifecycle` says otherwise (ended, all, or lifecycles). Pages are cut by an "
        "opaque cursor: pass `next_cursor` back with the same filters."
    ),
    responses=problem_responses("not-found", "invalid-request", "invalid-cursor"),
)
def read_worklist(
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    metrics: MetricsDep,
    site: Sites = None,
    study: Studies = None,
    status: Annotated[
        list[WorklistStatus] | None,
        Query(max_length=len(Status), description="Keep only these statuses (repeatable)",
              examples=[["overdue", "due"]]),
    ] = None,
    date_from: Annotated[
        ApiDate | None, Query(alias="from", description="Earliest target date (inclusive)")
    ] = None,
    date_to: Annotated[
        ApiDate | None, Query(alias="to", description="Latest target date (inclusive)")
    ] = None,
    as_of: AsOf = None,
    lifecycle: LifecycleQuery = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Rows per page")] = 100,
    cursor: CursorQuery = None,
) -> WorklistOut:
    page = worklist(
        session,
        actor=actor,
        sites=site,
        studies=study,
        statuses=None if not status else [Status(s.value) for s in status],
        date_from=date_from,
        date_to=date_to,
        as_of=as_of,
        lifecycles=on_study(lifecycle),
        now=now,
        limit=limit,
        cursor=cursor,
    )
    if metrics is not None:
        metrics.served_worklist_rows("api", len(page.rows))
    return WorklistOut.of(page)


@router.get(
    "/visits/summary",
    response_model=WorklistSummary,
    summary="Overdue, due, upcoming and missed-not-documented visits per site and study",
    description=(
        "The same statuses, local dates and subjects (`lifecycle`, by default those still on "
        "study) as the worklist, counted for each site and study you may see (a study a "
        "site takes part in is listed even when all counts are 0)."
    ),
    responses=problem_responses("not-found"),
)
def read_summary(
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    site: Sites = None,
    study: Studies = None,
    as_of: AsOf = None,
    lifecycle: LifecycleQuery = None,
) -> WorklistSummary:
    counts = status_counts(
        session, actor=actor, sites=site, studies=study, as_of=as_of,
        lifecycles=on_study(lifecycle), now=now,
    )
    return WorklistSummary.of(counts)

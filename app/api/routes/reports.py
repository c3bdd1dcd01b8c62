"""Routes: a study's reports for sponsors and monitors (visit compliance, endpoint
completeness), limited to the sites the token may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import ActorDep
from app.api.schemas.common import ApiDate, StudyPath, problem_responses
from app.api.schemas.reports import ComplianceOut, EndpointsOut
from app.deps import NowDep, SessionDep
from app.services.reports.compliance import compliance_report
from app.services.reports.endpoints import endpoint_report

router = APIRouter(tags=["reports"])

AsOf = Annotated[
    ApiDate | None,
    Query(description="Compute statuses as of this date at every site (default: each site's"
                      " local today)"),
]


@router.get(
    "/studies/{study}/reports/compliance",
    response_model=ComplianceOut,
    summary="Visit compliance per site and visit: in window, early, late, missed, overdue",
    description=(
        "For each site you may see and each visit of the protocol: how many visits were done "
        "in window, early or late, documented as missed, count as missed without being "
        "documented, or are overdue, with each as a share of the visits expected by now "
        "(their sum). Statuses follow the worklist's rules at each site's local date unless "
        "`as_of` is given; every subject counts, whatever its lifecycle; unscheduled visits "
        "do not. Totals per site, per visit and for the study follow the rows."
    ),
    responses=problem_responses("not-found"),
)
def read_compliance(
    study: StudyPath, session: SessionDep, actor: ActorDep, now: NowDep, as_of: AsOf = None,
) -> ComplianceOut:
    return ComplianceOut.of(
        compliance_report(session, study=study, actor=actor, now=now, as_of=as_of))


@router.get(
    "/studies/{study}/reports/endpoints",
    response_model=EndpointsOut,
    summary="Endpoint completeness per time point and site: met, open, missed, pending",
    description=(
        "For each site you may see (the subject's current site) and each endpoint time "
        "point of the protocol (e.g. `DORIS@6 months`): how many subjects' time points are "
        "met, open, scheduled, missed, pending (no anchor date) or cancelled (not "
        "applicable: the follow-up ended first), and met as a share of those decided (met "
        "or missed). Computed from each subject's calendar, as the subject page shows it."
    ),
    responses=problem_responses("not-found"),
)
def read_endpoints(
    study: StudyPath, session: SessionDep, actor: ActorDep, now: NowDep, as_of: AsOf = None,
) -> EndpointsOut:
    return EndpointsOut.of(
        endpoint_report(session, study=study, actor=actor, now=now, as_of=as_of))

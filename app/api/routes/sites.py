"""Routes: sites, their time zone and digest hour, and the studies they take part in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import ActorDep
from app.api.schemas.common import StudyPath, problem_responses
from app.api.schemas.studies import (
    UNREADABLE_BODY,
    SiteIn,
    SiteList,
    SiteOut,
    SitePatch,
    StudySiteOut,
)
from app.deps import SessionDep
from app.schedule.names import CODE_PATTERN
from app.services import sites as service

router = APIRouter(tags=["sites"])

SitePath = Annotated[
    str,
    Path(pattern=CODE_PATTERN, max_length=40, description="The site code", examples=["YC3H"]),
]


@router.get(
    "/sites",
    response_model=SiteList,
    summary="List the sites you may see",
    description=(
        "A coordinator token sees its own sites; a token limited to studies sees the sites "
        "taking part in them; an admin sees every site."
    ),
    responses=problem_responses(),
)
def list_sites(session: SessionDep, actor: ActorDep) -> SiteList:
    return SiteList(items=[SiteOut.of(s) for s in service.list_sites(session, actor=actor)])


@router.get(
    "/sites/{site}",
    response_model=SiteOut,
    summary="Read a site",
    responses=problem_responses("not-found"),
)
def read_site(site: SitePath, session: SessionDep, actor: ActorDep) -> SiteOut:
    return SiteOut.of(service.get_site(session, code=site, actor=actor))


@router.post(
    "/sites",
    status_code=201,
    response_model=SiteOut,
    summary="Create a site (admin)",
    description=(
        "A site has a code, a name, an IANA time zone (its visits' statuses use its local "
        "date) and the local time of its daily digest. Link it to studies with "
        "`PUT /studies/{study}/sites/{site}`."
    ),
    responses={
        **UNREADABLE_BODY,
        **problem_responses("too-large", "forbidden", "already-exists", "invalid-request"),
    },
)
def create_site(
    body: SiteIn, response: Response, session: SessionDep, actor: ActorDep
) -> SiteOut:
    view = service.create_site(
        session,
        actor=actor,
        code=body.code,
        name=body.name,
        time_zone=body.time_zone,
        digest_time=body.digest_time,
    )
    response.headers["Location"] = f"/api/v1/sites/{view.code}"
    return SiteOut.of(view)


@router.patch(
    "/sites/{site}",
    response_model=SiteOut,
    summary="Change a site's name, time zone or digest time (admin)",
    description=(
        "Only the fields sent change; the audit trail keeps the values before and after. "
        "A new time zone changes the site's local date, and with it which visits are due "
        "or overdue."
    ),
    responses={
        **UNREADABLE_BODY,
        **problem_responses("too-large", "forbidden", "not-found", "invalid-request"),
    },
)
def update_site(
    site: SitePath, body: SitePatch, session: SessionDep, actor: ActorDep
) -> SiteOut:
    view = service.update_site(
        session,
        actor=actor,
        code=site,
        name=body.name,
        time_zone=body.time_zone,
        digest_time=body.digest_time,
    )
    return SiteOut.of(view)


@router.put(
    "/studies/{study}/sites/{site}",
    response_model=StudySiteOut,
    summary="Let a site take part in a study (admin)",
    description="Idempotent: 201 when the link is new, 200 when it already existed.",
    responses={
        201: {"model": StudySiteOut, "description": "The site now takes part in the study"},
        **problem_responses("forbidden", "not-found"),
    },
)
def link_site(
    study: StudyPath, site: SitePath, response: Response, session: SessionDep, actor: ActorDep
) -> StudySiteOut:
    link = service.link_site(session, actor=actor, study=study, site=site)
    if link.created:
        response.status_code = 201
    return StudySiteOut.of(link)

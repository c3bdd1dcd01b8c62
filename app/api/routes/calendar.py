"""Routes: iCalendar feeds of one subject and of one site, and the site's feed tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from app.api.deps import ActorDep, SessionDep, SettingsDep
from app.schedule.language import CODE_PATTERN
from app.services import feeds

router = APIRouter(tags=["calendar feeds"])

ICS = "text/calendar; charset=utf-8"
SiteCode = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40, examples=["YC3H"])]
StudyCode = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40, examples=["UCART-SLE"])]
SubjectId = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40, examples=["YC3H-001"])]
FeedTokenText = Annotated[
    str,
    Query(min_length=20, max_length=100, pattern=r"^fd_[A-Za-z0-9_\-]+$",
          description="The private feed token from POST /sites/{site}/feed-tokens"),
]
ICS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {"schema": {"type": "string"}}},
          "description": "An RFC 5545 iCalendar document"},
}


class FeedTokenCreated(BaseModel):
    id: int
    site: str
    url: str = Field(description="The private feed URL, shown only in this response")
    webcal_url: str = Field(description="The same URL with the webcal scheme (one-click subscribe)")
    created_by: str
    created_at: datetime


class FeedTokenOut(BaseModel):
    id: int
    site: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


def _ics(body: bytes, filename: str) -> Response:
    return Response(
        content=body,
        media_type=ICS,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            # A private feed: shared caches must not keep it.
            "Cache-Control": "private, max-age=300",
        },
    )


@router.get(
    "/studies/{study}/subjects/{subject_id}/calendar.ics",
    response_class=Response,
    responses=ICS_RESPONSE,
    summary="One subject's calendar as iCalendar: each visit an all-day event over its window",
)
def subject_calendar(
    study: StudyCode, subject_id: SubjectId, session: SessionDep, actor: ActorDep
) -> Response:
    body = feeds.subject_feed(session, study=study, subject_id=subject_id, actor=actor)
    return _ics(body, f"{study}-{subject_id}.ics")


@router.get(
    "/sites/{site}/calendar.ics",
    response_class=Response,
    responses=ICS_RESPONSE,
    summary="A site's visits to do, as a calendar feed (private URL with a feed token)",
)
def site_calendar(site: SiteCode, token: FeedTokenText, session: SessionDep) -> Response:
    return _ics(feeds.site_feed(session, site_code=site, raw_token=token), f"{site}.ics")


@router.post(
    "/sites/{site}/feed-tokens",
    status_code=201,
    response_model=FeedTokenCreated,
    summary="Create a private calendar-feed URL for a site (coordinators of the site, admins)",
)
def create_feed_token(
    site: SiteCode, session: SessionDep, actor: ActorDep, settings: SettingsDep
) -> FeedTokenCreated:
    created = feeds.create_feed_token(session, site=site, actor=actor)
    url = feed_url(settings.base_url, site, created.token)
    return FeedTokenCreated(
        id=created.id, site=site, url=url, webcal_url=webcal(url),
        created_by=created.created_by, created_at=created.created_at,
    )


@router.get(
    "/sites/{site}/feed-tokens",
    response_model=list[FeedTokenOut],
    summary="A site's calendar-feed tokens (never their secrets)",
)
def list_feed_tokens(site: SiteCode, session: SessionDep, actor: ActorDep) -> list[FeedTokenOut]:
    rows = feeds.list_feed_tokens(session, site=site, actor=actor)
    return [FeedTokenOut(id=r.id, site=site, created_by=r.created_by, created_at=r.created_at,
                         revoked_at=r.revoked_at) for r in rows]


@router.delete(
    "/sites/{site}/feed-tokens/{token_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke a calendar-feed token: its URL stops working at once",
)
def revoke_feed_token(
    site: SiteCode,
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    feeds.revoke_feed_token(session, site=site, token_id=token_id, actor=actor)
    return Response(status_code=204)


def feed_url(base_url: str, site: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/sites/{site}/calendar.ics?token={token}"


def webcal(url: str) -> str:
    return "webcal://" + url.split("://", 1)[1] if "://" in url else url

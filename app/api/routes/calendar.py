"""Routes: iCalendar feeds of one subject and of one site, and the site's feed tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from app.api.deps import ActorDep
from app.api.idempotency import no_replay
from app.api.schemas.common import StudyPath, SubjectPath, problem_responses
from app.deps import NowDep, SessionDep, SettingsDep
from app.schedule.names import CODE_PATTERN
from app.services import feeds

router = APIRouter(tags=["calendar feeds"])

ICS = "text/calendar; charset=utf-8"
SitePath = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40, description="The site code",
                               examples=["YC3H"])]
FeedTokenText = Annotated[
    str,
    Query(min_length=20, max_length=100, pattern=r"^fd_[A-Za-z0-9_\-]+$",
          description="The private feed token from POST /sites/{site}/feed-tokens"),
]
ICS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {"schema": {"type": "string"}}},
          "description": "An RFC 5545 iCalendar document"},
}
EVENT_RULES = (
    "Each visit is an all-day VEVENT spanning its window (DTEND is exclusive: the day after"
    " the window's last day), titled with the subject id and visit code only. Its UID"
    " (`{study}-{subject}-{visit}@followup`) never changes, so a rescheduled visit replaces"
    " its event; SEQUENCE and LAST-MODIFIED follow the visit's last change. CATEGORIES and"
    " the description give the visit's status as of the site's today (overdue, due,"
    " upcoming, scheduled, completed, missed, ...), by the worklist's rules; a visit that"
    " does not apply to the subject (status not_applicable) is left out."
)


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
    responses=ICS_RESPONSE | problem_responses("not-found"),
    summary="One subject's calendar as iCalendar",
    description=EVENT_RULES + (
        " Every other dated visit is listed, done or not; a cancelled one is marked"
        " STATUS:CANCELLED, so that a calendar holding an earlier copy learns it is off."
    ),
)
def subject_calendar(
    study: StudyPath, subject_id: SubjectPath, session: SessionDep, actor: ActorDep, now: NowDep
) -> Response:
    body = feeds.subject_feed(session, study=study, subject_id=subject_id, actor=actor, now=now)
    return _ics(body, f"{study}-{subject_id}.ics")


@router.get(
    "/sites/{site}/calendar.ics",
    response_class=Response,
    responses=ICS_RESPONSE | problem_responses("not-found"),
    summary="A site's visits still to do, as a calendar feed to subscribe to",
    description=(
        "Calendar apps cannot send an Authorization header, so this feed is read with the"
        " private token of its URL (POST /sites/{site}/feed-tokens), not a bearer token."
        " It lists the visits still to do (overdue, due, upcoming, scheduled): overdue ones,"
        " and those whose window opens within a year. Cancelled, missed and not applicable"
        " visits are not in it (a subscribed calendar drops them). " + EVENT_RULES
    ),
)
def site_calendar(
    site: SitePath, token: FeedTokenText, session: SessionDep, now: NowDep
) -> Response:
    body = feeds.site_feed(session, site_code=site, raw_token=token, now=now)
    return _ics(body, f"{site}.ics")


@router.post(
    "/sites/{site}/feed-tokens",
    status_code=201,
    response_model=FeedTokenCreated,
    responses=problem_responses("forbidden", "not-found"),
    summary="Create a private calendar-feed URL for a site (coordinators of the site, admins)",
    description=(
        "The URL carries a new random token, stored only as a hash: it is in this response"
        " and nowhere else. This route refuses an `Idempotency-Key` (a replay would mean"
        " keeping a copy of the secret); creating another URL is harmless, and unused ones"
        " are revoked with DELETE."
    ),
)
@no_replay
def create_feed_token(
    site: SitePath, session: SessionDep, actor: ActorDep, settings: SettingsDep, now: NowDep
) -> FeedTokenCreated:
    created = feeds.create_feed_token(session, site=site, actor=actor, now=now)
    url = feeds.feed_url(settings.base_url, site, created.token)
    return FeedTokenCreated(
        id=created.id, site=site, url=url, webcal_url=feeds.webcal(url),
        created_by=created.created_by, created_at=created.created_at,
    )


@router.get(
    "/sites/{site}/feed-tokens",
    response_model=list[FeedTokenOut],
    responses=problem_responses("forbidden", "not-found"),
    summary="A site's calendar-feed tokens (never their secrets)",
)
def list_feed_tokens(site: SitePath, session: SessionDep, actor: ActorDep) -> list[FeedTokenOut]:
    rows = feeds.list_feed_tokens(session, site=site, actor=actor)
    return [FeedTokenOut(id=r.id, site=site, created_by=r.created_by, created_at=r.created_at,
                         revoked_at=r.revoked_at) for r in rows]


@router.delete(
    "/sites/{site}/feed-tokens/{token_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses("forbidden", "not-found"),
    summary="Revoke a calendar-feed token: its URL stops working at once",
    description="Revoking a token that is already revoked changes nothing (204).",
)
def revoke_feed_token(
    site: SitePath,
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
) -> Response:
    feeds.revoke_feed_token(session, site=site, token_id=token_id, actor=actor, now=now)
    return Response(status_code=204)

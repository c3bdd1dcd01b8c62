"""Routes: a site's digest (preview) and its recipients (admin only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.api.deps import ActorDep
from app.api.schemas.common import BODY_PROBLEMS, ApiDate, Text, problem_responses
from app.api.schemas.digest import (
    DigestOut,
    DigestRowOut,
    RecipientIn,
    RecipientOut,
    StudySummaryOut,
)
from app.deps import NowDep, SessionDep, SettingsDep
from app.schedule.names import CODE_PATTERN
from app.services.digest.content import DigestRow, SiteDigest, preview_site_digest
from app.services.digest.mail import subject_line
from app.services.digest.recipients import add_recipient, list_recipients, remove_recipient

router = APIRouter(tags=["digest"])

SiteCode = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40, examples=["YC3H"])]
EmailPath = Annotated[Text, Path(min_length=3, max_length=254, examples=["crc@hospital.example"])]
StudyFilter = Annotated[
    str | None,
    Query(pattern=CODE_PATTERN, max_length=40, description="The recipient's study filter"),
]
DigestDate = Annotated[
    ApiDate | None,
    Query(alias="date", description="The site's local date (default: today at the site)."),
]


def _row(row: DigestRow) -> DigestRowOut:
    return DigestRowOut.model_validate(asdict(row))


def _digest(digest: SiteDigest) -> DigestOut:
    return DigestOut(
        site=digest.site, site_name=digest.site_name, time_zone=digest.time_zone,
        date=digest.local_date, date_label=digest.date_label, subject=subject_line(digest),
        all_clear=digest.all_clear,
        overdue=[_row(r) for r in digest.overdue], due=[_row(r) for r in digest.due],
        upcoming=[_row(r) for r in digest.upcoming],
        newly_missed=[_row(r) for r in digest.newly_missed],
        previous_digest=digest.previous_digest, missed_after=digest.missed_after,
        studies=[
            StudySummaryOut(study=s.study, overdue=s.overdue, due=s.due, upcoming=s.upcoming,
                            newly_missed=s.newly_missed, line=s.line)
            for s in digest.studies
        ],
        worklist_url=digest.worklist_url,
    )


@router.get(
    "/sites/{site}/digest", response_model=DigestOut, summary="Preview a site's digest",
    responses=problem_responses("not-found"),
)
def get_digest(
    site: SiteCode, session: SessionDep, actor: ActorDep, settings: SettingsDep, now: NowDep,
    day: DigestDate = None,
) -> DigestOut:
    """The content of the site's daily email for its local date, as JSON.

    Rows are limited to the studies the token may see; a site it may not see is 404.
    """
    digest = preview_site_digest(
        session, site=site, local_date=day, now=now, base_url=settings.base_url, actor=actor
    )
    return _digest(digest)


@router.get(
    "/sites/{site}/recipients", response_model=list[RecipientOut],
    summary="List a site's digest recipients (admin)",
    responses=problem_responses("forbidden", "not-found"),
)
def get_recipients(site: SiteCode, session: SessionDep, actor: ActorDep) -> list[RecipientOut]:
    rows = list_recipients(session, site=site, actor=actor)
    return [RecipientOut(site=r.site, email=r.email, study=r.study) for r in rows]


@router.post(
    "/sites/{site}/recipients", response_model=RecipientOut, status_code=status.HTTP_201_CREATED,
    summary="Add a digest recipient (admin)",
    responses=problem_responses(
        *BODY_PROBLEMS, "forbidden", "not-found", "already-exists", "invalid-request"
    ),
)
def post_recipient(
    site: SiteCode, body: RecipientIn, session: SessionDep, actor: ActorDep
) -> RecipientOut:
    """Add an address, for every study of the site or only ``study``; 409 if already there."""
    added = add_recipient(session, site=site, email=body.email, study=body.study, actor=actor)
    return RecipientOut(site=added.site, email=added.email, study=added.study)


@router.delete(
    "/sites/{site}/recipients/{email}", status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a digest recipient (admin)",
    responses=problem_responses("forbidden", "not-found", "invalid-request"),
)
def delete_recipient(
    site: SiteCode, email: EmailPath, session: SessionDep, actor: ActorDep,
    study: StudyFilter = None,
) -> Response:
    """Remove the (address, study filter) entry; without ``study``, the all-studies one."""
    remove_recipient(session, site=site, email=email, study=study, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

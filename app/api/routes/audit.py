"""Routes: the audit trail (admin and monitor), and one subject's history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import ActorDep
from app.api.schemas.access import ApiTimestamp, AuditEntryOut, AuditPageOut
from app.api.schemas.common import CursorQuery, StudyPath, SubjectPath, Text, problem_responses
from app.deps import SessionDep
from app.passwords import USERNAME_PATTERN
from app.schedule.names import CODE_PATTERN
from app.services.trail import AuditFilter, AuditPage, search_audit, subject_history

router = APIRouter(tags=["audit"])

CodeQuery = Annotated[str | None, Query(pattern=CODE_PATTERN, max_length=40)]


def page_out(page: AuditPage) -> AuditPageOut:
    return AuditPageOut(
        items=[
            AuditEntryOut(
                id=e.id, at=e.at, actor=e.actor, role=e.role, action=e.action, entity=e.entity,
                study=e.study, site=e.site, subject_id=e.subject_id, key=e.key,
                before=e.before, after=e.after, reason=e.reason, user=e.user,
                user_display_name=e.user_display_name, token=e.token,
            )
            for e in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/audit",
    response_model=AuditPageOut,
    summary="The audit trail, filtered and paginated (admin; monitor: its studies only)",
    description=(
        "Entries in the order they were recorded (`order=desc`: newest first). Every entry "
        "says when (UTC), who (the person's username and printed name, the token the change "
        "came through, and the role), what (action, entity, study, site, "
        "subject, key), the values before and after, and the reason when one was required. "
        "Pages are `limit` entries long; pass `next_cursor` as `cursor` for the next one."
    ),
    responses=problem_responses("forbidden", "invalid-request", "invalid-cursor"),
)
def get_audit(
    session: SessionDep,
    actor: ActorDep,
    study: CodeQuery = None,
    subject_id: CodeQuery = None,
    site: CodeQuery = None,
    actor_name: Annotated[
        Text | None, Query(alias="actor", max_length=100, description="Token name")
    ] = None,
    user: Annotated[
        str | None, Query(pattern=USERNAME_PATTERN, max_length=60, examples=["li.wei"],
                          description="A person's username: their changes through any "
                                      "session or personal token")
    ] = None,
    action: Annotated[
        str | None,
        Query(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=60, examples=["visit.completed"]),
    ] = None,
    since: Annotated[
        ApiTimestamp | None, Query(alias="from", description="Inclusive, with UTC offset")
    ] = None,
    until: Annotated[
        ApiTimestamp | None, Query(alias="to", description="Exclusive, with UTC offset")
    ] = None,
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorQuery = None,
) -> AuditPageOut:
    filters = AuditFilter(study=study, subject_id=subject_id, site=site, actor=actor_name,
                          user=user, action=action, since=since, until=until)
    return page_out(search_audit(session, actor=actor, filters=filters, order=order,
                                 limit=limit, cursor=cursor))


@router.get(
    "/studies/{study}/subjects/{subject_id}/history",
    response_model=AuditPageOut,
    summary="One subject's audit trail, oldest first",
    description="Any token that may see the subject may read its trail; otherwise 404.",
    responses=problem_responses("not-found", "invalid-request", "invalid-cursor"),
)
def get_subject_history(
    study: StudyPath,
    subject_id: SubjectPath,
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    cursor: CursorQuery = None,
) -> AuditPageOut:
    return page_out(subject_history(session, actor=actor, study=study, subject_id=subject_id,
                                    limit=limit, cursor=cursor))

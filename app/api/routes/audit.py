"""Routes: the audit trail (admin and monitor), and one subject's history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from app.api.deps import ActorDep, SessionDep
from app.api.schemas.access import AuditEntryOut, AuditPageOut
from app.schedule.language import CODE_PATTERN
from app.services.audit import AuditFilter, AuditPage, search_audit, subject_history

router = APIRouter(tags=["audit"])

CodeQuery = Annotated[str | None, Query(pattern=CODE_PATTERN, max_length=40)]
CodePath = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40)]
CURSOR = Query(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="next_cursor of the previous page")


def page_out(page: AuditPage) -> AuditPageOut:
    return AuditPageOut(
        items=[
            AuditEntryOut(
                id=e.id, at=e.at, actor=e.actor, role=e.role, action=e.action, entity=e.entity,
                study=e.study, site=e.site, subject_id=e.subject_id, key=e.key,
                before=e.before, after=e.after, reason=e.reason,
            )
            for e in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/audit",
    response_model=AuditPageOut,
    summary="The audit trail, filtered and paginated (admin; monitor: its studies only)",
)
def get_audit(
    session: SessionDep,
    actor: ActorDep,
    study: CodeQuery = None,
    subject_id: CodeQuery = None,
    site: CodeQuery = None,
    actor_name: Annotated[
        str | None, Query(alias="actor", max_length=100, description="Token name")
    ] = None,
    action: Annotated[
        str | None,
        Query(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=60, examples=["visit.completed"]),
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(alias="from", description="Inclusive, with UTC offset")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(alias="to", description="Exclusive, with UTC offset")
    ] = None,
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, CURSOR] = None,
) -> AuditPageOut:
    filters = AuditFilter(study=study, subject_id=subject_id, site=site, actor=actor_name,
                          action=action, since=since, until=until)
    return page_out(search_audit(session, actor=actor, filters=filters, order=order,
                                 limit=limit, cursor=cursor))


@router.get(
    "/studies/{study}/subjects/{subject_id}/history",
    response_model=AuditPageOut,
    summary="One subject's audit trail, oldest first",
)
def get_subject_history(
    study: CodePath,
    subject_id: CodePath,
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    cursor: Annotated[str | None, CURSOR] = None,
) -> AuditPageOut:
    return page_out(subject_history(session, actor=actor, study=study, subject_id=subject_id,
                                    limit=limit, cursor=cursor))

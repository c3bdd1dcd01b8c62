"""Routes: load a protocol version, diff two versions, and move a subject to another
version (its impact first, as a dry run)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.api.deps import ActorDep
from app.api.schemas.amendments import (
    AppliedOut,
    DiffOut,
    ImpactOut,
    LoadedOut,
    ProtocolVersionIn,
    ScheduleIn,
)
from app.api.schemas.common import BODY_PROBLEMS, StudyPath, SubjectPath, problem_responses
from app.deps import NowDep, SessionDep
from app.services import studies as studies_service
from app.services.amendments import apply as apply_service
from app.services.amendments import preview as preview_service

router = APIRouter(tags=["amendments"])

_VERSION = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}$"
VersionPath = Annotated[str, Path(pattern=_VERSION, max_length=40, examples=["2.0"],
                                  description="A loaded protocol version")]


@router.post(
    "/studies/{study}/versions",
    status_code=201,
    response_model=LoadedOut,
    summary="Load a protocol version (admin)",
    description=(
        "The YAML text of a schedule file of this study. With `validate_only=true` nothing "
        "is written: the answer says the file is valid, or lists every problem with its "
        "line and column (`errors`). The same rules as `followup schedule load`: the same "
        "version with the same text changes nothing (200, `unchanged`), with other text it "
        "is refused (409). A loaded version is not active until activated."
    ),
    responses=problem_responses(*BODY_PROBLEMS, "forbidden", "not-found", "invalid-schedule",
                                "invalid-request", "version-conflict"),
)
def load_version(
    study: StudyPath, body: ScheduleIn, session: SessionDep, actor: ActorDep,
    response: Response,
    validate_only: Annotated[bool, Query(description="Check only; write nothing")] = False,
) -> LoadedOut:
    source = body.source or "<request>"
    checked = studies_service.check_schedule(session, text=body.text, source=source,
                                             study=study, actor=actor)
    if validate_only:
        response.status_code = 200
        return LoadedOut.of(checked, validate_only=True)
    loaded = studies_service.load_schedule(session, text=body.text, source=source, actor=actor)
    if not loaded.created:
        response.status_code = 200
    return LoadedOut.of(loaded, validate_only=False)


@router.get(
    "/studies/{study}/versions/{version}/diff",
    response_model=DiffOut,
    summary="What a version changes",
    description=(
        "Every difference from the version `from` to this one: visits added, removed, "
        "retimed (offset or anchor), windows changed, other fields (kind, assessments, ...); "
        "phases, endpoint windows, periods and event vocabularies; each with both values."
    ),
    responses=problem_responses("not-found"),
)
def diff_version(
    study: StudyPath, version: VersionPath, session: SessionDep, actor: ActorDep,
    from_version: Annotated[str, Query(alias="from", pattern=_VERSION, max_length=40,
                                       description="The version diffed from")],
) -> DiffOut:
    return DiffOut.of(preview_service.diff_versions(
        session, study=study, from_version=from_version, to_version=version, actor=actor))


@router.get(
    "/studies/{study}/subjects/{subject_id}/amendment-impact",
    response_model=ImpactOut,
    summary="What moving a subject to a version would do",
    description=(
        "Each visit that would move (old and new target and window), appear, be cancelled "
        "(removed by the amendment), be kept as recorded, or change status; a completed "
        "visit that would fall outside its new window; the endpoint windows that change; "
        "and whether a missing re-consent blocks it. Nothing is written."
    ),
    responses=problem_responses("not-found"),
)
def amendment_impact(
    study: StudyPath, subject_id: SubjectPath, session: SessionDep, actor: ActorDep,
    now: NowDep,
    to: Annotated[str, Query(pattern=_VERSION, max_length=40,
                             description="The version the subject would move to")],
) -> ImpactOut:
    return ImpactOut.of(preview_service.subject_amendment_impact(
        session, study=study, subject_id=subject_id, to_version=to, actor=actor, now=now))


@router.post(
    "/studies/{study}/subjects/{subject_id}/protocol-version",
    response_model=AppliedOut,
    summary="Move a subject to another protocol version (admin)",
    description=(
        "Applies an amendment to one subject in one transaction: visits still to do move "
        "or appear, visits the version removed are cancelled (never deleted), recorded "
        "visits keep every fact; one audit record with the versions, the reason and the "
        "visits changed. `dry_run` only reports. Moving a subject to the version it is on "
        "changes nothing (`already`). Refused (409) while the subject's re-consent is "
        "missing. Use an Idempotency-Key to retry safely."
    ),
    responses=problem_responses(*BODY_PROBLEMS, "forbidden", "not-found", "conflict",
                                "reason-required"),
)
def move_subject(
    study: StudyPath, subject_id: SubjectPath, body: ProtocolVersionIn, session: SessionDep,
    actor: ActorDep, now: NowDep,
) -> AppliedOut:
    return AppliedOut.of(apply_service.apply_amendment(
        session, study=study, subject_id=subject_id, to_version=body.version,
        reason=body.reason, actor=actor, now=now, dry_run=body.dry_run))

"""Routes: the studies a token may see, and each one's protocol."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ActorDep
from app.api.schemas.common import StudyPath, problem_responses
from app.api.schemas.studies import StudyDetail, StudyList, StudyOut
from app.deps import SessionDep
from app.services import studies as service

router = APIRouter(tags=["studies"])


@router.get(
    "/studies",
    response_model=StudyList,
    summary="List the studies you may see",
    description=(
        "Each study with its current protocol version, target enrolment, the number of "
        "subjects enrolled so far (at every site) and the sites taking part that the token "
        "may see. A token limited to sites sees the studies run at those sites."
    ),
    responses=problem_responses(),
)
def list_studies(session: SessionDep, actor: ActorDep) -> StudyList:
    return StudyList(items=[StudyOut.of(s) for s in service.list_studies(session, actor=actor)])


@router.get(
    "/studies/{study}",
    response_model=StudyDetail,
    summary="Read a study's protocol",
    description=(
        "The protocol of the study's current version: anchors, visits (timing as written, "
        "window in days before and after, kind, optional, phase, assessments), conditional "
        "phases with the response that opens them, endpoint windows, periods, the sites "
        "taking part and every loaded version. A study you may not see is not found."
    ),
    responses=problem_responses("not-found"),
)
def read_study(study: StudyPath, session: SessionDep, actor: ActorDep) -> StudyDetail:
    return StudyDetail.of(service.describe_study(session, code=study, actor=actor))

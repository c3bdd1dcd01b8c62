"""Routes: record a visit (completion, correction), a missed visit, an unscheduled visit.

A completion sent again with the same date answers 200 with the stored record, so an
EDC may retry safely; the first one answers 201. Corrections also answer 200.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api import idempotency
from app.api.deps import ActorDep, SecretDep, actor_of
from app.api.routes.subjects import subject_path
from app.api.schemas.common import (
    BODY_PROBLEMS,
    StudyPath,
    SubjectPath,
    VisitPath,
    problem_responses,
)
from app.api.schemas.subjects import (
    CompletionIn,
    MissedIn,
    RecordedVisitOut,
    UnscheduledIn,
    recorded_visit_out,
)
from app.deps import NowDep, SessionDep, end_now
from app.services import visits as service
from app.services.subjects.visit_rows import stored_visit
from app.services.visits import VisitOutcome

router = APIRouter(tags=["visits"])

VISIT = "/studies/{study}/subjects/{subject_id}/visits/{visit_code}"


def _with_stored(description: str, *slugs: str) -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(*slugs)
    responses[200] = {"model": RecordedVisitOut, "description": description}
    return responses


def _answer(outcome: VisitOutcome, response: Response, now: datetime) -> RecordedVisitOut:
    loaded = outcome.loaded
    response.status_code = 201 if outcome.created else 200
    response.headers["Location"] = subject_path(loaded.study.code, loaded.subject.subject_id)
    stored = stored_visit(outcome.visit, loaded.plan, today=loaded.today(now))
    return recorded_visit_out(loaded, stored)


@router.post(
    VISIT + "/completion",
    status_code=201,
    response_model=RecordedVisitOut,
    summary="Record that a visit took place",
    description=(
        "A visit outside its window is recorded with its deviation (days_early / days_late), "
        "never refused. A date in the future (at the site) or before consent is refused. "
        "The same completion again answers 200 with the stored record. Another date for a "
        "done visit is 409 unless sent with `correction: true` and a reason (then 200). "
        "Visits timed from this one move with its actual date. A visit that records an "
        "anchor (D0 records the infusion) sets the anchor's actual date; an actual anchor "
        "on another day is 409 unless this is a correction with a reason, which corrects both."
    ),
    responses=_with_stored(
        "The stored record (a retry), or the corrected one",
        *BODY_PROBLEMS, "forbidden", "not-found", "conflict", "already-recorded", "invalid-date",
        "reason-required",
    ),
)
async def complete_visit(
    study: StudyPath, subject_id: SubjectPath, visit_code: VisitPath, body: CompletionIn,
    session: SessionDep, secret: SecretDep, now: NowDep, request: Request, response: Response,
) -> RecordedVisitOut:
    # The EDC's hot path: the token is checked in the same worker-thread trip as the
    # completion itself (one trip, not two; a missing token is refused before either).
    def complete() -> RecordedVisitOut:
        actor = actor_of(request, session, secret, now)
        outcome = service.complete_visit(
            session, study=study, subject_id=subject_id, code=visit_code,
            actual_date=body.actual_date, assessments=body.assessments, note=body.note,
            correction=body.correction, reason=body.reason, actor=actor, now=now,
        )
        answer = _answer(outcome, response, now)
        if not idempotency.keyed(request):
            end_now(session)
        return answer

    return await run_in_threadpool(complete)


@router.post(
    VISIT + "/missed",
    status_code=201,
    response_model=RecordedVisitOut,
    summary="Record that a visit will not take place",
    description=(
        "A reason is required. Sending it again answers 200 with the stored record. A "
        "completed visit becomes missed only with `correction: true` (then 200). A visit "
        "whose recorded anchor has an actual date took place: 409, unless sent with "
        "`correction: true`, which makes the anchor a planned date again."
    ),
    responses=_with_stored(
        "Already missed (a retry), or a completed visit corrected to missed",
        *BODY_PROBLEMS, "forbidden", "not-found", "conflict", "already-recorded", "reason-required",
    ),
)
def miss_visit(
    study: StudyPath, subject_id: SubjectPath, visit_code: VisitPath, body: MissedIn,
    session: SessionDep, actor: ActorDep, now: NowDep, response: Response,
) -> RecordedVisitOut:
    outcome = service.mark_missed(
        session, study=study, subject_id=subject_id, code=visit_code, reason=body.reason,
        correction=body.correction, actor=actor, now=now,
    )
    return _answer(outcome, response, now)


@router.post(
    "/studies/{study}/subjects/{subject_id}/visits",
    status_code=201,
    response_model=RecordedVisitOut,
    summary="Record an unscheduled visit",
    description=(
        "A visit the protocol did not plan, recorded as completed with the code UNS-1, "
        "UNS-2, ... An unscheduled visit carrying an endpoint's assessment inside its window "
        "satisfies that endpoint window. Use an Idempotency-Key to retry safely."
    ),
    responses=problem_responses(
        *BODY_PROBLEMS, "forbidden", "not-found", "invalid-request", "invalid-date"
    ),
)
def record_unscheduled(
    study: StudyPath, subject_id: SubjectPath, body: UnscheduledIn, session: SessionDep,
    actor: ActorDep, now: NowDep, response: Response,
) -> RecordedVisitOut:
    outcome = service.record_unscheduled(
        session, study=study, subject_id=subject_id, day=body.date, name=body.name,
        kind=body.kind, assessments=body.assessments, note=body.note, actor=actor, now=now,
    )
    return _answer(outcome, response, now)

"""Route: enrol many subjects at once (EDC systems migrating or syncing a study).

All or nothing: when any item is invalid nothing is enrolled, and the 422 problem lists
every invalid item with its index in the array, the field and what is wrong.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import ActorDep
from app.api.schemas.batch import BatchOut, SubjectBatch
from app.api.schemas.common import StudyPath, problem_responses
from app.deps import NowDep, SessionDep
from app.errors import InvalidRows
from app.metrics import MetricsDep
from app.schedule.expand import AnchorDate
from app.services.bulk.enroller import enrol_many
from app.services.bulk.rows import Enrolment

router = APIRouter(tags=["subjects"])


@router.post(
    "/studies/{study}/subjects:batch",
    status_code=status.HTTP_201_CREATED,
    response_model=BatchOut,
    summary="Enrol many subjects (all or nothing)",
    responses=problem_responses("forbidden", "not-found", "invalid-request", "invalid-rows"),
)
def enrol_batch(study: StudyPath, items: SubjectBatch, session: SessionDep, actor: ActorDep,
                now: NowDep, metrics: MetricsDep) -> BatchOut:
    """Every item is checked as a single enrolment would be, plus duplicates within the
    array and against the study, and the study's target enrolment."""
    rows = [
        Enrolment(item.subject_id, item.site, item.consent_date, item.date_of_birth,
                  {a.name: AnchorDate(a.date, a.actual) for a in item.anchors})
        for item in items
    ]
    try:
        result = enrol_many(session, study_code=study, actor=actor, rows=rows, now=now)
    except InvalidRows as exc:
        if metrics is not None:  # all or nothing: every row of the batch is refused
            metrics.refused_rows("api_batch", len(rows))
        # Locate each problem in the request body, as request validation errors are.
        errors = [
            {**e, "location": ".".join(str(p) for p in ("body", e["index"], e["field"]) if p != ""),
             "type": "invalid-row"}
            for e in exc.extra.get("errors", [])
        ]
        raise InvalidRows(exc.detail, errors=errors) from None
    if metrics is not None:
        metrics.imported_subjects("api_batch", result.imported)
    return BatchOut(study=result.study, imported=result.imported, visits=result.visits)

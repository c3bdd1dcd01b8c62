"""Routes: enrol, list and read subjects; set anchors; record, correct and remove
lifecycle events.

Subjects are addressed by study code and subject id, the identifiers an EDC already
has. "Today" is the subject's site's local date; only this edge reads the clock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from app.api.deps import ActorDep
from app.api.schemas.common import (
    BODY_PROBLEMS,
    AnchorPath,
    ApiDate,
    CursorQuery,
    EventPath,
    LifecycleQuery,
    MultilineText,
    StudyPath,
    SubjectPath,
    problem_responses,
)
from app.api.schemas.subjects import (
    AnchorPut,
    EventCorrectionIn,
    EventIn,
    SubjectIn,
    SubjectOut,
    SubjectPageOut,
    subject_out,
    summary_out,
)
from app.deps import NowDep, SessionDep
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import LifecycleFilter, lifecycles_of
from app.schedule.names import CODE_PATTERN
from app.services.subjects import anchors, enrolment, events, listing, loading
from app.services.subjects.loading import LoadedSubject

router = APIRouter(tags=["subjects"])


def subject_path(study: str, subject_id: str) -> str:
    return f"/api/v1/studies/{study}/subjects/{subject_id}"


def calendar_of(
    session: Session, loaded: LoadedSubject, now: datetime, as_of: date | None = None
) -> SubjectOut:
    today = as_of or loaded.today(now)
    return subject_out(loaded, loading.subject_calendar(session, loaded, today=today))


def _located(response: Response, study: str, subject_id: str) -> None:
    response.headers["Location"] = subject_path(study, subject_id)


@router.post(
    "/studies/{study}/subjects",
    status_code=201,
    response_model=SubjectOut,
    summary="Enrol a subject",
    description=(
        "Enrols a subject on the study's newest protocol version and returns its whole "
        "calendar. The age at consent is checked against the protocol; anchors the protocol "
        "records at enrolment are required (the consent anchor defaults to consent_date). "
        "A coordinator token may enrol only at its own sites. The date of birth is never "
        "returned."
    ),
    responses=problem_responses(
        *BODY_PROBLEMS, "forbidden", "not-found", "already-exists", "study-full", "invalid-request",
        "ineligible-age", "invalid-date",
    ),
)
def enrol_subject(
    study: StudyPath, body: SubjectIn, session: SessionDep, actor: ActorDep, now: NowDep,
    response: Response,
) -> SubjectOut:
    loaded = enrolment.enrol(
        session, study=study, subject_id=body.subject_id, site=body.site,
        consent_date=body.consent_date, date_of_birth=body.date_of_birth,
        anchors={a.name: AnchorDate(a.date, a.actual) for a in body.anchors}, actor=actor,
        now=now,
    )
    _located(response, study, body.subject_id)
    return calendar_of(session, loaded, now)


@router.get(
    "/studies/{study}/subjects",
    response_model=SubjectPageOut,
    summary="List subjects",
    description=(
        "Subjects of the study that the token may see, at their current site, in enrolment "
        "order; every lifecycle unless `lifecycle` says which (active: still on study, "
        "ended: left it, or one lifecycle; repeatable). Follow next_cursor for the next page."
    ),
    responses=problem_responses("not-found", "invalid-request", "invalid-cursor"),
)
def list_subjects(
    study: StudyPath,
    session: SessionDep,
    actor: ActorDep,
    site: Annotated[str | None, Query(pattern=CODE_PATTERN, max_length=40,
                                      description="Only this site's subjects")] = None,
    lifecycle: LifecycleQuery = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 50,
    cursor: CursorQuery = None,
) -> SubjectPageOut:
    page = listing.list_subjects(session, study=study, actor=actor, site=site,
                                 lifecycles=lifecycles_of(lifecycle or [LifecycleFilter.ALL]),
                                 limit=limit, cursor=cursor)
    return SubjectPageOut(items=[summary_out(study, s) for s in page.items],
                          next_cursor=page.next_cursor)


@router.get(
    "/studies/{study}/subjects/{subject_id}",
    response_model=SubjectOut,
    summary="A subject with its whole calendar",
    description=(
        "Visits with their status, periods and endpoint windows as of `as_of` (default: "
        "today at the subject's site, in the site's time zone)."
    ),
    responses=problem_responses("not-found"),
)
def get_subject(
    study: StudyPath,
    subject_id: SubjectPath,
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    as_of: Annotated[ApiDate | None, Query(description="Statuses as of this date")] = None,
) -> SubjectOut:
    loaded = loading.get_subject(session, study=study, subject_id=subject_id, actor=actor)
    return calendar_of(session, loaded, now, as_of)


@router.put(
    "/studies/{study}/subjects/{subject_id}/anchors/{anchor}",
    response_model=SubjectOut,
    summary="Set, confirm or correct an anchor date",
    description=(
        "Visits not done move with the anchor; done visits never move. Setting a new anchor "
        "or confirming a planned date unchanged as actual needs no reason; changing a date "
        "or turning an actual date back into a planned one is a correction and needs a "
        "reason. Sending what is stored already changes nothing. An actual date completes "
        "the visit that records the anchor (D0 records the infusion); when that visit says "
        "otherwise (done on another day, or missed) it is 409 unless a reason is sent, "
        "which corrects the visit too."
    ),
    responses=problem_responses(
        *BODY_PROBLEMS, "forbidden", "not-found", "conflict", "invalid-date", "reason-required"
    ),
)
def put_anchor(
    study: StudyPath, subject_id: SubjectPath, anchor: AnchorPath, body: AnchorPut,
    session: SessionDep, actor: ActorDep, now: NowDep,
) -> SubjectOut:
    loaded, _ = anchors.set_anchor(
        session, study=study, subject_id=subject_id, name=anchor, day=body.date,
        actual=body.actual, reason=body.reason, actor=actor, now=now,
    )
    return calendar_of(session, loaded, now)


@router.post(
    "/studies/{study}/subjects/{subject_id}/events",
    status_code=201,
    response_model=SubjectOut,
    summary="Record a lifecycle event",
    description=(
        "A response assessment (its value one of those the protocol declares, listed as "
        "`event_values.response` by `GET /api/v1/studies/{study}`; any other is refused as "
        "`unknown-value` with the allowed ones; a response may open a conditional phase), "
        "progression (stops the visits the protocol says), death, withdrawal, loss to "
        "follow-up, screen failure or study completion (these end the follow-up: future "
        "visits are cancelled, kept, with the reason), a transfer to another site of the "
        "study (value: the site code; the subject and its visits from that date on belong "
        "to it) or a re-consent (value: the consent version). A subject who has left may "
        "only still be reported dead."
    ),
    responses=problem_responses(
        *BODY_PROBLEMS, "forbidden", "not-found", "already-recorded", "subject-ended",
        "invalid-request", "unknown-value", "invalid-date",
    ),
)
def post_event(
    study: StudyPath, subject_id: SubjectPath, body: EventIn, session: SessionDep,
    actor: ActorDep, now: NowDep, response: Response,
) -> SubjectOut:
    loaded, _ = events.record_event(
        session, study=study, subject_id=subject_id, type=body.type, day=body.date,
        value=body.value, note=body.note, actor=actor, now=now,
    )
    _located(response, study, subject_id)
    return calendar_of(session, loaded, now)


@router.patch(
    "/studies/{study}/subjects/{subject_id}/events/{event_id}",
    response_model=SubjectOut,
    summary="Correct a lifecycle event",
    description=(
        "Changes the date, value or note of an event (its `id` is in the subject document); "
        "what is not sent stays. The corrected event must fit every other fact, as a new one "
        "would; the calendar, the lifecycle and the site are then derived again. A reason is "
        "required and audited with the values before and after. To change an event's type, "
        "remove it and record the right one."
    ),
    responses=problem_responses(
        *BODY_PROBLEMS, "forbidden", "not-found", "already-recorded", "subject-ended",
        "conflict", "invalid-request", "invalid-date", "reason-required",
    ),
)
def patch_event(
    study: StudyPath, subject_id: SubjectPath, event_id: EventPath, body: EventCorrectionIn,
    session: SessionDep, actor: ActorDep, now: NowDep,
) -> SubjectOut:
    loaded, _ = events.correct_event(
        session, study=study, subject_id=subject_id, event_id=event_id, day=body.date,
        value=body.value, note=body.note, reason=body.reason, actor=actor, now=now,
    )
    return calendar_of(session, loaded, now)


@router.delete(
    "/studies/{study}/subjects/{subject_id}/events/{event_id}",
    response_model=SubjectOut,
    summary="Remove a lifecycle event recorded in error",
    description=(
        "Deletes the event (the audit record keeps all of it, with the reason) and derives "
        "the calendar, the lifecycle and the site again. `reason` is required."
    ),
    responses=problem_responses("forbidden", "not-found", "invalid-request",
                                "reason-required"),
)
def delete_event(
    study: StudyPath, subject_id: SubjectPath, event_id: EventPath,
    reason: Annotated[MultilineText, Query(min_length=1, max_length=1000,
                                           description="Why the event is removed")],
    session: SessionDep, actor: ActorDep, now: NowDep,
) -> SubjectOut:
    loaded = events.remove_event(session, study=study, subject_id=subject_id,
                                 event_id=event_id, reason=reason, actor=actor, now=now)
    return calendar_of(session, loaded, now)

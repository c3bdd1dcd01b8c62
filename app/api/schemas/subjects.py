"""Subjects and their visits, as EDC systems send and read them.

The date of birth is accepted at enrolment (eligibility is checked on it) and never
returned: nothing beyond what a calendar needs leaves the system.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from app.api.schemas.common import ApiDate, Code, MultilineText, Text
from app.api.schemas.deviations import (
    DAYS_EARLY,
    DAYS_FROM_TARGET,
    DAYS_LATE,
    DAYS_OVERDUE,
    MISSED_FROM,
    STATUS_DESCRIPTION,
)
from app.schedule.calendar import EndpointStatus, PhaseOpening
from app.schedule.expand import PhaseState
from app.schedule.language import VisitKind
from app.schedule.lifecycle import EventType, Lifecycle
from app.schedule.names import NAME_PATTERN
from app.schedule.status import State, Status
from app.services.subjects.listing import SubjectSummary
from app.services.subjects.loading import LoadedSubject
from app.services.subjects.visit_rows import StoredCalendar, StoredVisit

AnchorName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=40, examples=["infusion"])]
Reason = Annotated[
    MultilineText | None, Field(max_length=1000, description="Why: required for corrections")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests ----------------------------------------------------------------------------


class AnchorIn(Strict):
    name: AnchorName
    date: ApiDate
    actual: StrictBool = Field(description="true: it happened on that date; false: planned")


class SubjectIn(Strict):
    subject_id: Code = Field(description="The EDC's subject id, unique within the study",
                             examples=["YC3H-001"])
    site: Code = Field(description="Code of a site taking part in the study", examples=["YC3H"])
    consent_date: ApiDate = Field(description="Not after the site's local today")
    date_of_birth: ApiDate = Field(
        description="Checked against the protocol's age range at consent; never returned"
    )
    anchors: list[AnchorIn] = Field(
        default_factory=list, max_length=20,
        description="Anchor dates known now (planned or actual). The consent anchor defaults"
                    " to consent_date; anchors the protocol records at enrolment are required.",
    )

    @field_validator("anchors")
    @classmethod
    def _unique(cls, anchors: list[AnchorIn]) -> list[AnchorIn]:
        names = [a.name for a in anchors]
        if len(set(names)) != len(names):
            raise ValueError("each anchor may be given once")
        return anchors

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "subject_id": "YC3H-001", "site": "YC3H", "consent_date": "2026-01-05",
        "date_of_birth": "1980-05-01",
        "anchors": [{"name": "infusion", "date": "2026-02-01", "actual": False}],
    }]})


class AnchorPut(Strict):
    date: ApiDate
    actual: StrictBool = Field(description="true: it happened on that date; false: planned")
    reason: Reason = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"date": "2026-02-03", "actual": True, "reason": "infusion postponed by two days"},
    ]})


EVENT_VALUE = ("A response's value: a case-sensitive code such as CR or sCR, one of those the"
               " study's protocol declares (`event_values.response` of GET"
               " /api/v1/studies/{study}; any other is refused as `unknown-value`; a protocol"
               " that declares none accepts any code); a transfer's destination site code; a"
               " re-consent's consent version; the other events carry none")


class EventIn(Strict):
    type: EventType
    date: ApiDate = Field(description="When it happened (not in the future, not before consent)")
    value: Code | None = Field(default=None, description=EVENT_VALUE, examples=["CR"])
    note: MultilineText | None = Field(default=None, max_length=1000)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"type": "response", "date": "2026-04-03", "value": "CR"},
        {"type": "death", "date": "2026-05-20", "note": "reported by the family"},
        {"type": "transfer", "date": "2026-03-02", "value": "WTCH"},
        {"type": "reconsent", "date": "2026-06-01", "value": "2.0"},
    ]})


class EventCorrectionIn(Strict):
    date: ApiDate | None = Field(default=None, description="The corrected date")
    value: Code | None = Field(default=None, description=EVENT_VALUE)
    note: MultilineText | None = Field(default=None, max_length=1000)
    reason: MultilineText = Field(min_length=1, max_length=1000,
                                  description="Why the event is corrected")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"date": "2026-02-18", "reason": "withdrawal date mistyped in the EDC"},
        {"value": "WTCH", "reason": "transferred to the other site than first reported"},
    ]})


class CompletionIn(Strict):
    actual_date: ApiDate = Field(description="When the visit took place (site's local date)")
    assessments: list[Code] | None = Field(
        default=None, max_length=50,
        description="Assessments done (endpoint windows need them); default: the planned ones",
    )
    note: MultilineText | None = Field(default=None, max_length=2000)
    correction: StrictBool = Field(default=False,
                             description="true to change an outcome already recorded")
    reason: Reason = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"actual_date": "2026-02-15"},
        {"actual_date": "2026-02-16", "correction": True, "reason": "date mistyped in the EDC"},
    ]})


class MissedIn(Strict):
    reason: MultilineText = Field(min_length=1, max_length=1000,
                                  examples=["patient hospitalised elsewhere"])
    correction: StrictBool = Field(default=False,
                             description="true to turn a completed visit into a missed one")


class UnscheduledIn(Strict):
    date: ApiDate
    name: Text | None = Field(default=None, min_length=1, max_length=200,
                              examples=["Lupus flare"])
    kind: VisitKind = "clinic"
    assessments: list[Code] = Field(default_factory=list, max_length=50)
    note: MultilineText | None = Field(default=None, max_length=2000)


# --- responses ---------------------------------------------------------------------------


class AnchorOut(BaseModel):
    name: str
    date: date
    actual: bool


class EventOut(BaseModel):
    id: int = Field(description="Names the event to correct or remove it")
    type: EventType
    date: date
    value: str | None
    note: str | None
    recorded_at: datetime


class VisitOut(BaseModel):
    code: str = Field(examples=["D14"])
    name: str
    phase: str = Field(description="'main', a conditional phase code, or 'unscheduled'")
    kind: str
    optional: bool
    unscheduled: bool
    status: Status = Field(description=STATUS_DESCRIPTION)
    target_date: date | None
    window_start: date | None
    window_end: date | None
    graded: bool = Field(
        default=True,
        description="False for a visit the protocol gives no window (window: none): never "
        "graded early or late (no days_early or days_late); window_start..window_end is the "
        "span it is due, from its target to its horizon",
    )
    study_day: int | None
    provisional: bool = Field(description="Timed from a planned, not yet confirmed, date")
    actual_date: date | None
    days_early: int | None = Field(description=DAYS_EARLY)
    days_late: int | None = Field(description=DAYS_LATE)
    days_from_target: int | None = Field(description=DAYS_FROM_TARGET)
    days_overdue: int | None = Field(description=DAYS_OVERDUE)
    missed_from: date | None = Field(description=MISSED_FROM)
    assessments: list[str] = Field(description="Done when completed; planned otherwise")
    note: str | None
    reason: str | None = Field(description="Why missed, cancelled, pending or not applicable")


class CalendarVisitOut(VisitOut):
    site: str = Field(description="The site the visit belongs to: the subject's site on the"
                                  " visit's date (after a transfer, earlier visits stay with"
                                  " the site they were at)")


class RecordedVisitOut(VisitOut):
    study: str
    subject_id: str
    recorded_at: datetime | None


class PeriodOut(BaseModel):
    code: str
    name: str
    anchor: str
    start: date | None
    end: date | None
    provisional: bool
    end_anchor: str | None = Field(
        default=None, description="The anchor the end counts from, when not `anchor`")


class EndpointWindowOut(BaseModel):
    code: str = Field(examples=["ORR@6 months"])
    endpoint: str
    name: str
    time_point: str
    target_date: date | None
    window_start: date | None
    window_end: date | None
    status: EndpointStatus
    satisfied_by: str | None = Field(description="The visit that met it")
    provisional: bool = Field(description="Dated from a planned, not yet confirmed, anchor")


class PhaseOut(BaseModel):
    code: str
    name: str
    state: PhaseState
    opened_by: EventType | None = Field(
        default=None, description="The event that opened the phase (response, progression, "
        "withdrawal, study_completed); null until it opens", examples=["withdrawal"])
    opened_on: date | None = Field(
        default=None, description="The date of that event: the visits of a phase anchored "
        "on it count from this date")


class SubjectSummaryOut(BaseModel):
    study: str
    subject_id: str
    site: str
    consent_date: date
    lifecycle: Lifecycle
    protocol_version: str
    enrolled_at: datetime
    consent_version: str | None = Field(
        description="The consent version of the latest re-consent (null when none)")


class SubjectPageOut(BaseModel):
    items: list[SubjectSummaryOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class SubjectOut(BaseModel):
    study: str
    subject_id: str
    site: str
    consent_date: date
    lifecycle: Lifecycle
    protocol_version: str
    consent_version: str | None = Field(
        description="The consent version of the latest re-consent (null when none)")
    anchors: list[AnchorOut]
    events: list[EventOut]
    visits: list[CalendarVisitOut] = Field(description="Chronological; undated visits last")
    periods: list[PeriodOut]
    endpoint_windows: list[EndpointWindowOut]
    phases: list[PhaseOut]
    as_of: date = Field(description="The date statuses are given for (site's local date)")


# --- from the services' values -----------------------------------------------------------


def visit_out(stored: StoredVisit) -> VisitOut:
    return VisitOut(**_visit_fields(stored))


def _visit_fields(stored: StoredVisit) -> dict[str, object]:
    row, info = stored.row, stored.info
    done = row.state == State.COMPLETED
    return {
        "code": row.code, "name": row.name, "phase": row.phase, "kind": row.kind,
        "optional": row.optional, "unscheduled": row.unscheduled, "status": info.status,
        "target_date": row.target_date, "window_start": row.window_start,
        "window_end": row.window_end, "graded": row.graded, "study_day": row.study_day,
        "provisional": row.provisional, "actual_date": row.actual_date,
        "days_early": info.days_early, "days_late": info.days_late,
        "days_from_target": info.days_from_target, "days_overdue": info.days_overdue,
        "missed_from": row.missed_from if info.status is Status.MISSED_UNDOCUMENTED else None,
        "assessments": list(row.assessments or []) if done else list(stored.planned_assessments),
        "note": row.note, "reason": row.reason,
    }


def recorded_visit_out(loaded: LoadedSubject, stored: StoredVisit) -> RecordedVisitOut:
    return RecordedVisitOut(
        **_visit_fields(stored), study=loaded.study.code, subject_id=loaded.subject.subject_id,
        recorded_at=stored.row.recorded_at,
    )


def summary_out(study: str, item: SubjectSummary) -> SubjectSummaryOut:
    return SubjectSummaryOut(
        study=study, subject_id=item.subject_id, site=item.site, consent_date=item.consent_date,
        lifecycle=item.lifecycle,
        protocol_version=item.protocol_version, enrolled_at=item.enrolled_at,
        consent_version=item.consent_version,
    )


def subject_out(loaded: LoadedSubject, stored: StoredCalendar) -> SubjectOut:
    subject, calendar = loaded.subject, stored.calendar
    names = {p.code: p.name for p in loaded.plan.phases}
    order = {a.name: i for i, a in enumerate(loaded.plan.protocol.anchors)}  # protocol order
    return SubjectOut(
        study=loaded.study.code,
        subject_id=subject.subject_id,
        site=loaded.site.code,
        consent_date=subject.consent_date,
        lifecycle=Lifecycle(subject.lifecycle),
        protocol_version=loaded.version.version,
        consent_version=stored.consent_version,
        anchors=[AnchorOut(name=a.name, date=a.date, actual=a.actual)
                 for a in sorted(stored.anchors, key=lambda a: order.get(a.name, len(order)))],
        events=[
            EventOut(id=e.id, type=EventType(e.type), date=e.date, value=e.value, note=e.note,
                     recorded_at=e.recorded_at)
            for e in stored.events
        ],
        visits=[CalendarVisitOut(**_visit_fields(v), site=stored.sites[v.row.site_id])
                for v in stored.visits],
        periods=[
            PeriodOut(code=p.code, name=p.name, anchor=p.anchor, start=p.start, end=p.end,
                      provisional=p.provisional, end_anchor=p.end_anchor)
            for p in calendar.periods
        ],
        endpoint_windows=[
            EndpointWindowOut(
                code=e.code, endpoint=e.endpoint, name=e.name, time_point=e.time_point,
                target_date=e.target_date, window_start=e.window_start,
                window_end=e.window_end, status=e.status, satisfied_by=e.satisfied_by,
                provisional=e.provisional,
            )
            for e in calendar.endpoints
        ],
        phases=[_phase_out(c, names.get(c, c), s, calendar.opened.get(c))
                for c, s in calendar.phases.items()],
        as_of=calendar.as_of,
    )


def _phase_out(code: str, name: str, state: PhaseState, opened: PhaseOpening | None) -> PhaseOut:
    if opened is None:
        return PhaseOut(code=code, name=name, state=state)
    return PhaseOut(code=code, name=name, state=state, opened_by=opened.event,
                    opened_on=opened.date)

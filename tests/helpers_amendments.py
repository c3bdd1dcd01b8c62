"""Builders for amendment tests: the SLE seed's amendment 1 and subjects in every state."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from app.schedule.lifecycle import EventType
from app.services.subjects.events import record_event
from app.services.visits import complete_visit, mark_missed
from tests.helpers_subjects import EDC, SCHEDULES, SLE, enrol_sle

V2_PATH = SCHEDULES / "amendments" / "ucart-sle-2.0.yaml"
V2 = V2_PATH.read_text(encoding="utf-8")
# Noon in Shanghai on 1 June 2026.
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)


def reconsent(session: Session, subject_id: str, day: date) -> None:
    record_event(session, study=SLE, subject_id=subject_id, type=EventType.RECONSENT,
                 day=day, value="2.0", actor=EDC, now=at(day))


def subjects_in_every_state(session: Session) -> None:
    """One subject in each state an amendment meets."""
    # Not started: infusion planned for July.
    enrol_sle(session, "NS", consent=date(2026, 5, 20), infusion=date(2026, 7, 1),
              actual=False, now=at(date(2026, 5, 20)))
    reconsent(session, "NS", date(2026, 5, 25))
    # Mid-schedule: D0 done (the infusion), D14 completed, D28 missed, M3 completed on the
    # last day of its old window (1 May +/- 7 days), which is outside the new Week 12 one.
    enrol_sle(session, "MID", consent=date(2026, 1, 20), infusion=date(2026, 2, 1),
              now=at(date(2026, 2, 1)))
    complete_visit(session, study=SLE, subject_id="MID", code="D14",
                   actual_date=date(2026, 2, 13), actor=EDC, now=at(date(2026, 2, 13)))
    mark_missed(session, study=SLE, subject_id="MID", code="D28", reason="patient unwell",
                actor=EDC, now=at(date(2026, 3, 10)))
    complete_visit(session, study=SLE, subject_id="MID", code="M3",
                   actual_date=date(2026, 5, 8), assessments=["AE", "SLEDAI", "DORIS"],
                   actor=EDC, now=at(date(2026, 5, 8)))
    reconsent(session, "MID", date(2026, 5, 20))
    # Withdrawn in March: nothing ahead of it to consent to.
    enrol_sle(session, "WD", consent=date(2026, 1, 2), infusion=date(2026, 1, 10),
              now=at(date(2026, 1, 10)))
    record_event(session, study=SLE, subject_id="WD", type=EventType.WITHDRAWAL,
                 day=date(2026, 3, 1), actor=EDC, now=at(date(2026, 3, 1)))
    # Has not re-consented yet.
    enrol_sle(session, "RC", consent=date(2026, 3, 20), infusion=date(2026, 4, 1),
              now=at(date(2026, 4, 1)))

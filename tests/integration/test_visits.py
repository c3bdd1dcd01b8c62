"""Visit outcomes: completion, retries, corrections, missed and unscheduled visits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import errors, migrate
from app.access import Actor, Role
from app.db import make_engine, make_sessionmaker, transaction
from app.models import AuditRecord, Visit
from app.schedule.lifecycle import EventType
from app.services.subjects.events import record_event
from app.services.subjects.loading import subject_calendar
from app.services.visits import complete_visit, mark_missed, record_unscheduled
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import (
    EDC,
    MM,
    NOW,
    SLE,
    audit_of,
    enrol_mm,
    enrol_sle,
    load_seed_studies,
)

MONITOR = Actor(name="monitor", role=Role.MONITOR)
COORD_WTCH = Actor(name="coord-wtch", role=Role.COORDINATOR, sites=frozenset({"WTCH"}))


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    enrol_sle(session)  # S-001 at YC3H, infusion 1 Feb 2026: D14 window 13..17 Feb
    return session


def _complete(session: Session, code: str, day: date, **kwargs: object) -> tuple[Visit, bool]:
    outcome = complete_visit(session, study=SLE, subject_id="S-001", code=code, actual_date=day,
                             actor=kwargs.pop("actor", EDC), now=kwargs.pop("now", NOW),  # type: ignore[arg-type]
                             **kwargs)  # type: ignore[arg-type]
    return outcome.visit, outcome.created


def _status(session: Session, code: str) -> tuple[str, int | None, int | None]:
    from app.services.subjects.loading import get_subject

    loaded = get_subject(session, study=SLE, subject_id="S-001", actor=EDC)
    calendar = subject_calendar(session, loaded, today=date(2026, 3, 1))
    info = next(v.info for v in calendar.visits if v.row.code == code)
    return info.status.value, info.days_early, info.days_late


def test_completion_in_window_with_the_planned_assessments(seeded: Session) -> None:
    visit, created = _complete(seeded, "D28", date(2026, 2, 27), note="all well")
    assert created and visit.state == "completed" and visit.assessments == ["AE", "SLEDAI"]
    assert visit.recorded_at is not None and visit.note == "all well"
    assert _status(seeded, "D28") == ("completed", None, None)
    record = audit_of(seeded, SLE, "S-001")[-1]
    assert (record.action, record.key) == ("visit.completed", "D28")
    assert record.before is not None and record.before["state"] == "planned"
    assert record.after is not None and record.after["actual_date"] == "2026-02-27"


def test_out_of_window_is_recorded_with_its_deviation(seeded: Session) -> None:
    _complete(seeded, "D14", date(2026, 2, 20), assessments=["AE", "LAB"])
    assert _status(seeded, "D14") == ("completed_out_of_window", None, 3)
    _complete(seeded, "D28", date(2026, 2, 24))
    assert _status(seeded, "D28") == ("completed_out_of_window", 2, None)
    record = audit_of(seeded, SLE, "S-001")[-2]
    assert record.after is not None and record.after["days_late"] == 3
    assert record.after["assessments"] == ["AE", "LAB"]


def test_the_same_completion_again_returns_the_stored_record(seeded: Session) -> None:
    first, created = _complete(seeded, "D14", date(2026, 2, 15))
    count = len(audit_of(seeded, SLE, "S-001"))
    again, created_again = _complete(seeded, "D14", date(2026, 2, 15))
    assert created and not created_again and again.id == first.id
    assert len(audit_of(seeded, SLE, "S-001")) == count


def test_another_date_is_a_correction_that_needs_a_reason(seeded: Session) -> None:
    _complete(seeded, "D14", date(2026, 2, 15))
    with pytest.raises(errors.AlreadyRecorded, match="already completed on 2026-02-15"):
        _complete(seeded, "D14", date(2026, 2, 16))
    with pytest.raises(errors.AlreadyRecorded, match="other assessments"):
        _complete(seeded, "D14", date(2026, 2, 15), assessments=["LAB"])
    with pytest.raises(errors.ReasonRequired):
        _complete(seeded, "D14", date(2026, 2, 16), correction=True, reason="  ")
    visit, created = _complete(seeded, "D14", date(2026, 2, 16), correction=True,
                               reason="date mistyped")
    assert not created and visit.actual_date == date(2026, 2, 16)
    record = audit_of(seeded, SLE, "S-001")[-1]
    assert (record.action, record.reason) == ("visit.corrected", "date mistyped")
    assert record.before is not None and record.before["actual_date"] == "2026-02-15"
    assert record.after is not None and record.after["actual_date"] == "2026-02-16"


@pytest.mark.parametrize(("day", "now", "text"), [
    (date(2026, 3, 2), NOW, "future"),
    (date(2026, 1, 4), NOW, "before consent"),
    (date(1899, 1, 1), NOW, "outside"),
    # 16:30 UTC on 1 March is 2 March in Shanghai: today there, so accepted.
    (date(2026, 3, 2), datetime(2026, 3, 1, 16, 30, tzinfo=UTC), None),
])
def test_visit_dates_are_checked_against_the_site_date(
    seeded: Session, day: date, now: datetime, text: str | None
) -> None:
    if text is None:
        assert _complete(seeded, "D28", day, now=now)[1]
        return
    with pytest.raises(errors.InvalidDate, match=text):
        _complete(seeded, "D28", day, now=now)


def test_a_visit_that_cannot_take_place_cannot_be_completed(session: Session) -> None:
    load_seed_studies(session)
    enrol_mm(session)
    with pytest.raises(errors.Conflict) as pending:  # HSCT phase still pending
        complete_visit(session, study=MM, subject_id="MM-001", code="HSCT-D14",
                       actual_date=date(2025, 5, 1), actor=EDC, now=NOW)
    assert pending.value.detail == (
        "visit HSCT-D14 cannot be completed on 2025-05-01: its phase HSCT has not opened"
        " (waiting for response CR/sCR): record the response that opens it first")
    record_event(session, study=MM, subject_id="MM-001", type=EventType.PROGRESSION,
                 day=date(2025, 3, 20), actor=EDC, now=NOW)
    with pytest.raises(errors.Conflict, match="does not apply"):
        complete_visit(session, study=MM, subject_id="MM-001", code="HSCT-D14",
                       actual_date=date(2025, 5, 1), actor=EDC, now=NOW)
    with pytest.raises(errors.Conflict, match="cancelled"):
        complete_visit(session, study=MM, subject_id="MM-001", code="M3",
                       actual_date=date(2025, 5, 1), actor=EDC, now=NOW)
    with pytest.raises(errors.NotFound):
        complete_visit(session, study=MM, subject_id="MM-001", code="M99",
                       actual_date=date(2025, 5, 1), actor=EDC, now=NOW)


def test_who_may_record_visits(seeded: Session) -> None:
    with pytest.raises(errors.Forbidden):
        _complete(seeded, "D14", date(2026, 2, 15), actor=MONITOR)
    with pytest.raises(errors.NotFound):
        _complete(seeded, "D14", date(2026, 2, 15), actor=COORD_WTCH)
    with pytest.raises(errors.NotFound):
        mark_missed(seeded, study=SLE, subject_id="S-001", code="D14", reason="x",
                    actor=COORD_WTCH, now=NOW)
    with pytest.raises(errors.NotFound):
        record_unscheduled(seeded, study=SLE, subject_id="S-001", day=date(2026, 2, 2),
                           actor=COORD_WTCH, now=NOW)


def test_missed_needs_a_reason_and_completed_becomes_missed_only_as_correction(
    seeded: Session,
) -> None:
    with pytest.raises(errors.ReasonRequired):
        mark_missed(seeded, study=SLE, subject_id="S-001", code="D14", reason=None, actor=EDC,
                    now=NOW)
    outcome = mark_missed(seeded, study=SLE, subject_id="S-001", code="D14",
                          reason="patient in hospital elsewhere", actor=EDC, now=NOW)
    assert outcome.created and outcome.visit.state == "missed"
    assert _status(seeded, "D14")[0] == "missed"
    again = mark_missed(seeded, study=SLE, subject_id="S-001", code="D14", reason="again",
                        actor=EDC, now=NOW)
    assert not again.created
    # A missed visit completed after all is a correction too.
    with pytest.raises(errors.AlreadyRecorded, match="missed"):
        _complete(seeded, "D14", date(2026, 2, 15))
    _complete(seeded, "D28", date(2026, 2, 28))
    with pytest.raises(errors.AlreadyRecorded):
        mark_missed(seeded, study=SLE, subject_id="S-001", code="D28", reason="wrong visit",
                    actor=EDC, now=NOW)
    corrected = mark_missed(seeded, study=SLE, subject_id="S-001", code="D28",
                            reason="recorded on the wrong subject", correction=True,
                            actor=EDC, now=NOW)
    assert corrected.visit.state == "missed" and corrected.visit.actual_date is None
    record = audit_of(seeded, SLE, "S-001")[-1]
    assert record.action == "visit.corrected" and record.reason == "recorded on the wrong subject"


def test_unscheduled_visits_are_numbered_and_completed(seeded: Session) -> None:
    first = record_unscheduled(seeded, study=SLE, subject_id="S-001", day=date(2026, 2, 5),
                               name="Flare", assessments=["AE", "AE", "SLEDAI"], actor=EDC,
                               now=NOW)
    second = record_unscheduled(seeded, study=SLE, subject_id="S-001", day=date(2026, 2, 9),
                                kind="phone", actor=EDC, now=NOW)
    assert (first.visit.code, second.visit.code) == ("UNS-1", "UNS-2")
    assert first.visit.unscheduled and first.visit.state == "completed"
    assert first.visit.assessments == ["AE", "SLEDAI"] and first.visit.study_day == 4
    assert second.visit.name == "Unscheduled visit" and second.visit.kind == "phone"
    assert audit_of(seeded, SLE, "S-001")[-1].action == "visit.unscheduled"
    with pytest.raises(errors.InvalidRequest):
        record_unscheduled(seeded, study=SLE, subject_id="S-001", day=date(2026, 2, 9),
                           kind="teleport", actor=EDC, now=NOW)
    with pytest.raises(errors.InvalidDate):
        record_unscheduled(seeded, study=SLE, subject_id="S-001", day=date(2026, 3, 9),
                           actor=EDC, now=NOW)


def test_an_unscheduled_visit_may_satisfy_an_endpoint(seeded: Session) -> None:
    from app.services.subjects.loading import get_subject

    later = datetime(2026, 8, 10, 4, tzinfo=UTC)
    record_unscheduled(seeded, study=SLE, subject_id="S-001", day=date(2026, 8, 3),
                       assessments=["DORIS"], actor=EDC, now=later)
    loaded = get_subject(seeded, study=SLE, subject_id="S-001", actor=EDC)
    calendar = subject_calendar(seeded, loaded, today=date(2026, 8, 10))
    doris6 = next(e for e in calendar.calendar.endpoints if e.code == "DORIS@6 months")
    assert (doris6.status.value, doris6.satisfied_by) == ("met", "UNS-1")


def test_completing_a_visit_after_a_death_date_is_refused(seeded: Session) -> None:
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.DEATH,
                 day=date(2026, 2, 20), actor=EDC, now=NOW)
    with pytest.raises(errors.InvalidDate, match="after death"):
        _complete(seeded, "D14", date(2026, 2, 21))
    assert _complete(seeded, "D14", date(2026, 2, 16))[1]  # late data entry is fine


# --- two requests racing on one visit, on a real database with real commits ---------------


@pytest.fixture(params=BACKENDS)
def committed_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    yield url
    drop_database(url)


def test_racing_completions_record_once(committed_url: str) -> None:
    engine = make_engine(committed_url)
    factory = make_sessionmaker(engine)
    try:
        with transaction(factory) as session:
            load_seed_studies(session)
            enrol_sle(session)
        barrier = threading.Barrier(4)
        results: list[bool] = []
        failures: list[BaseException] = []

        def complete() -> None:
            try:
                barrier.wait()
                with transaction(factory) as session:
                    outcome = complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                                             actual_date=date(2026, 2, 15), actor=EDC, now=NOW)
                    results.append(outcome.created)
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=complete) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures, failures
        assert sorted(results) == [False, False, False, True]
        with transaction(factory, write=False) as session:
            completions = session.scalar(
                select(func.count()).select_from(AuditRecord)
                .where(AuditRecord.action == "visit.completed")
            )
            assert completions == 1
    finally:
        engine.dispose()

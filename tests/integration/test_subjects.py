"""Enrolment, reading subjects, anchors and lifecycle events, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import errors
from app.access import Actor, Role
from app.models import AnchorDateRow, Visit
from app.schedule.eligibility import age_at
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import EventType, Lifecycle
from app.services.subjects.anchors import set_anchor
from app.services.subjects.enrolment import enrol
from app.services.subjects.events import record_event
from app.services.subjects.listing import list_subjects
from app.services.subjects.loading import get_subject, subject_calendar
from app.services.visits import complete_visit
from tests.helpers_subjects import (
    EDC,
    MM,
    NOW,
    SLE,
    audit_of,
    enrol_mm,
    enrol_sle,
    load_seed_studies,
    load_small_study,
)

COORD_YC3H = Actor(name="coord-yc3h", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
COORD_WTCH = Actor(name="coord-wtch", role=Role.COORDINATOR, sites=frozenset({"WTCH"}))
MONITOR = Actor(name="monitor", role=Role.MONITOR, studies=frozenset({SLE}))
ADMIN = Actor(name="admin", role=Role.ADMIN)
EDC_MM = Actor(name="edc-mm", role=Role.EDC, studies=frozenset({MM}))


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    return session


def _visits(session: Session, subject_pk: int) -> dict[str, Visit]:
    rows = session.scalars(select(Visit).where(Visit.subject_pk == subject_pk))
    return {v.code: v for v in rows}


def _status(session: Session, loaded: object, code: str, today: date) -> str:
    calendar = subject_calendar(session, loaded, today=today)  # type: ignore[arg-type]
    return next(v.info.status.value for v in calendar.visits if v.row.code == code)


# --- enrolment ---------------------------------------------------------------------------


def test_enrol_builds_the_calendar_and_audits_without_the_birth_date(seeded: Session) -> None:
    loaded = enrol_sle(seeded, infusion=date(2026, 2, 1), actual=False)
    assert loaded.subject.lifecycle == "active" and loaded.version.version == "1.1"
    anchors = {a.name: (a.date, a.actual) for a in seeded.scalars(
        select(AnchorDateRow).where(AnchorDateRow.subject_pk == loaded.subject.id))}
    assert anchors == {"consent": (date(2026, 1, 5), True), "infusion": (date(2026, 2, 1), False)}
    rows = _visits(seeded, loaded.subject.id)
    assert rows["D14"].provisional and rows["D14"].target_date == date(2026, 2, 15)
    [record] = audit_of(seeded, SLE, "S-001")
    assert record.action == "subject.enrolled" and record.actor == EDC.name
    assert record.after is not None and "date_of_birth" not in record.after
    assert record.after["age_at_consent"] == 45 and record.site_code == "YC3H"


def test_enrol_without_an_infusion_date_leaves_visits_pending(seeded: Session) -> None:
    loaded = enrol_sle(seeded, infusion=None)
    rows = _visits(seeded, loaded.subject.id)
    assert {r.state for r in rows.values()} == {"pending"}
    assert rows["D0"].reason == "waiting for anchor infusion"


def test_age_counts_whole_years_from_the_birthday() -> None:
    assert age_at(date(2000, 3, 1), date(2018, 2, 28)) == 17
    assert age_at(date(2000, 3, 1), date(2018, 3, 1)) == 18
    assert age_at(date(2000, 2, 29), date(2018, 2, 28)) == 17


@pytest.mark.parametrize(("born", "ok"), [
    (date(2008, 1, 5), True),     # 18 on the consent day
    (date(2008, 1, 6), False),    # 17
    (date(1950, 1, 6), True),     # 75
    (date(1950, 1, 5), False),    # 76 on the consent day
])
def test_age_at_consent_must_be_in_the_protocol_range(
    seeded: Session, born: date, ok: bool
) -> None:
    if ok:
        enrol_sle(seeded, date_of_birth=born)
        return
    with pytest.raises(errors.Ineligible) as caught:
        enrol_sle(seeded, date_of_birth=born)
    assert "outside 18..75" in caught.value.detail


def test_a_subject_id_is_unique_within_its_study(seeded: Session) -> None:
    enrol_sle(seeded, "S-001")
    with pytest.raises(errors.AlreadyExists):
        enrol_sle(seeded, "S-001", site="WTCH")
    enrol_mm(seeded, "S-001")  # another study may use the same id


def test_a_full_study_refuses_enrolment(seeded: Session) -> None:
    code = load_small_study(seeded, target=2)
    for n in (1, 2):
        enrol(seeded, study=code, subject_id=f"T-{n}", site="YC3H", consent_date=date(2026, 1, 5),
              date_of_birth=date(1980, 1, 1), actor=ADMIN, now=NOW)
    with pytest.raises(errors.StudyFull) as caught:
        enrol(seeded, study=code, subject_id="T-3", site="YC3H", consent_date=date(2026, 1, 5),
              date_of_birth=date(1980, 1, 1), actor=ADMIN, now=NOW)
    assert "target of 2" in caught.value.detail


def test_who_may_enrol_where(seeded: Session) -> None:
    enrol_sle(seeded, "S-1", site="YC3H", actor=COORD_YC3H)
    with pytest.raises(errors.Forbidden):
        enrol_sle(seeded, "S-2", site="WTCH", actor=COORD_YC3H)
    with pytest.raises(errors.Forbidden):
        enrol_sle(seeded, "S-3", actor=MONITOR)
    with pytest.raises(errors.NotFound):
        enrol_sle(seeded, "S-4", actor=EDC_MM)  # another study's token


def test_the_site_must_take_part_in_the_study(seeded: Session) -> None:
    with pytest.raises(errors.InvalidRequest, match="does not take part"):
        enrol_sle(seeded, site="MM01")


def test_consent_may_be_today_at_the_site_even_when_utc_is_still_yesterday(
    seeded: Session,
) -> None:
    # 16:30 UTC on 1 March is already 00:30 on 2 March in Shanghai.
    now = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    enrol_sle(seeded, "S-1", consent=date(2026, 3, 2), infusion=None, now=now)
    with pytest.raises(errors.InvalidDate, match="future"):
        enrol_sle(seeded, "S-2", consent=date(2026, 3, 3), infusion=None, now=now)


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({"consent": date(1899, 12, 31), "date_of_birth": date(1850, 1, 1)}, errors.InvalidDate,
     "outside"),
    ({"date_of_birth": date(1800, 1, 1)}, errors.InvalidDate, "outside"),
    ({"date_of_birth": date(2026, 2, 1)}, errors.InvalidDate, "after consent"),
    ({"infusion": date(2026, 3, 5), "actual": True}, errors.InvalidDate, "planned"),
    ({"infusion": date(2201, 1, 1), "actual": False}, errors.InvalidDate, "outside"),
])
def test_dates_must_be_sane(
    seeded: Session, kwargs: dict[str, object], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        enrol_sle(seeded, **kwargs)  # type: ignore[arg-type]


def test_anchor_names_are_checked(seeded: Session) -> None:
    with pytest.raises(errors.InvalidRequest, match="unknown anchor transplant"):
        enrol(seeded, study=SLE, subject_id="S-1", site="YC3H", consent_date=date(2026, 1, 5),
              date_of_birth=date(1980, 1, 1),
              anchors={"transplant": AnchorDate(date(2026, 2, 1), actual=False)},
              actor=EDC, now=NOW)
    with pytest.raises(errors.InvalidRequest, match="consent"):
        enrol(seeded, study=SLE, subject_id="S-1", site="YC3H", consent_date=date(2026, 1, 5),
              date_of_birth=date(1980, 1, 1), anchors={"consent": AnchorDate(date(2026, 1, 6))},
              actor=EDC, now=NOW)


def test_enrolment_uses_the_active_protocol_version(seeded: Session) -> None:
    from app.access import SYSTEM
    from app.services.studies import activate_version, load_schedule
    from tests.helpers_subjects import seed_text

    text = seed_text("ucart-sle.yaml").replace('version: "1.1"', 'version: "1.2"')
    load_schedule(seeded, text=text, source="v1.2", actor=SYSTEM)
    assert enrol_sle(seeded, "S-1").version.version == "1.1"  # loaded is not active
    assert activate_version(seeded, study=SLE, version="1.2", actor=SYSTEM)
    assert not activate_version(seeded, study=SLE, version="1.2", actor=SYSTEM)
    assert enrol_sle(seeded, "S-2").version.version == "1.2"


# --- reading -----------------------------------------------------------------------------


def test_a_subject_of_another_site_is_not_found(seeded: Session) -> None:
    enrol_sle(seeded, "S-1", site="YC3H")
    assert get_subject(seeded, study=SLE, subject_id="S-1", actor=COORD_YC3H)
    with pytest.raises(errors.NotFound):
        get_subject(seeded, study=SLE, subject_id="S-1", actor=COORD_WTCH)
    with pytest.raises(errors.NotFound):
        get_subject(seeded, study=SLE, subject_id="S-1", actor=EDC_MM)
    with pytest.raises(errors.NotFound):
        get_subject(seeded, study=SLE, subject_id="nobody", actor=EDC)


def test_list_subjects_pages_filters_and_scopes(seeded: Session) -> None:
    for n in range(5):
        enrol_sle(seeded, f"S-{n}", site="YC3H" if n % 2 == 0 else "WTCH")
    record_event(seeded, study=SLE, subject_id="S-4", type=EventType.WITHDRAWAL,
                 day=date(2026, 2, 20), actor=EDC, now=NOW)
    first = list_subjects(seeded, study=SLE, actor=EDC, limit=2)
    assert [s.subject_id for s in first.items] == ["S-0", "S-1"]
    assert first.next_cursor is not None
    second = list_subjects(seeded, study=SLE, actor=EDC, limit=2, cursor=first.next_cursor)
    third = list_subjects(seeded, study=SLE, actor=EDC, limit=2, cursor=second.next_cursor)
    assert [s.subject_id for s in second.items + third.items] == ["S-2", "S-3", "S-4"]
    assert third.next_cursor is None
    mine = list_subjects(seeded, study=SLE, actor=COORD_YC3H)
    assert [s.subject_id for s in mine.items] == ["S-0", "S-2", "S-4"]
    assert [s.subject_id for s in
            list_subjects(seeded, study=SLE, actor=COORD_YC3H, site="WTCH").items] == []
    withdrawn = list_subjects(seeded, study=SLE, actor=EDC, lifecycles={Lifecycle.WITHDRAWN})
    assert [(s.subject_id, s.lifecycle) for s in withdrawn.items] == [("S-4", "withdrawn")]
    with pytest.raises(errors.InvalidRequest, match="cursor"):
        list_subjects(seeded, study=SLE, actor=EDC, cursor="bm9wZQ")
    with pytest.raises(errors.NotFound):
        list_subjects(seeded, study=SLE, actor=EDC_MM)


def test_a_shanghai_visit_is_overdue_from_shanghai_midnight(seeded: Session) -> None:
    loaded = enrol_sle(seeded)  # D14: window 13..17 February 2026
    # 16:30 UTC on 17 February: still the 17th in UTC, already the 18th in Shanghai.
    now = datetime(2026, 2, 17, 16, 30, tzinfo=UTC)
    assert now.date() == date(2026, 2, 17)
    assert _status(seeded, loaded, "D14", now.date()) == "due"
    calendar = subject_calendar(seeded, loaded, today=loaded.today(now))
    d14 = next(v for v in calendar.visits if v.row.code == "D14")
    assert calendar.calendar.as_of == date(2026, 2, 18)
    assert d14.info.status.value == "overdue" and d14.info.days_overdue == 1


def test_the_stored_calendar_agrees_with_the_engine(seeded: Session) -> None:
    loaded = enrol_mm(seeded)
    complete_visit(seeded, study=MM, subject_id="MM-001", code="D14",
                   actual_date=date(2025, 2, 20), actor=EDC, now=NOW)
    calendar = subject_calendar(seeded, loaded, today=date(2025, 3, 1))
    engine = {cv.visit.code: cv for cv in calendar.calendar.visits}
    for stored in calendar.visits:
        expected = engine[stored.row.code]
        assert (stored.row.target_date, stored.row.window_start, stored.row.window_end,
                stored.row.state, stored.info) == (
            expected.visit.target_date, expected.visit.window_start, expected.visit.window_end,
            expected.visit.state.value, expected.info)
    dates = [v.row.target_date for v in calendar.visits if v.row.target_date]
    assert dates == sorted(dates)


# --- anchors -----------------------------------------------------------------------------


def test_reanchoring_moves_every_target_and_keeps_what_was_recorded(seeded: Session) -> None:
    loaded = enrol_sle(seeded, infusion=date(2026, 1, 10))
    complete_visit(seeded, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 1, 25), actor=EDC, now=NOW)
    with pytest.raises(errors.ReasonRequired):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion", day=date(2026, 1, 12),
                   actual=True, actor=EDC, now=NOW)
    _, changed = set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion",
                            day=date(2026, 1, 12), actual=True, reason="typo in the EDC",
                            actor=EDC, now=NOW)
    assert changed
    rows = _visits(seeded, loaded.subject.id)
    # Completed: the actual date stays; the target and window follow the anchor.
    assert rows["D14"].target_date == date(2026, 1, 26)
    assert (rows["D14"].state, rows["D14"].actual_date) == ("completed", date(2026, 1, 25))
    assert rows["D28"].target_date == date(2026, 2, 9)  # moved two days
    assert rows["M3"].target_date == date(2026, 4, 12)
    *_, record, d0 = audit_of(seeded, SLE, "S-001")  # D0 records the infusion: corrected too
    assert (d0.action, d0.key, d0.reason) == ("visit.corrected", "D0", "typo in the EDC")
    assert rows["D0"].actual_date == date(2026, 1, 12)
    assert record.action == "anchor.corrected" and record.reason == "typo in the EDC"
    assert record.before == {"date": "2026-01-10", "actual": True}
    assert record.after is not None and record.after["date"] == "2026-01-12"
    moved = {c["code"] for c in record.after["visits_changed"]}
    assert {"D28", "D14"} <= moved


def test_setting_and_confirming_an_anchor_need_no_reason(seeded: Session) -> None:
    loaded = enrol_sle(seeded, infusion=None)
    set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion", day=date(2026, 3, 10),
               actual=False, actor=EDC, now=NOW)
    rows = _visits(seeded, loaded.subject.id)
    assert rows["D14"].state == "planned" and rows["D14"].provisional
    # The same again changes nothing and writes nothing.
    count = len(audit_of(seeded, SLE, "S-001"))
    _, changed = set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion",
                            day=date(2026, 3, 10), actual=False, actor=EDC, now=NOW)
    assert not changed and len(audit_of(seeded, SLE, "S-001")) == count
    later = datetime(2026, 3, 10, 4, tzinfo=UTC)
    set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion", day=date(2026, 3, 10),
               actual=True, actor=EDC, now=later)
    assert not _visits(seeded, loaded.subject.id)["D14"].provisional
    assert [r.action for r in audit_of(seeded, SLE, "S-001")][-3:] == [
        "anchor.set", "anchor.confirmed", "visit.completed"]  # D0 records the infusion
    with pytest.raises(errors.ReasonRequired):  # actual back to planned is a correction
        set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion",
                   day=date(2026, 3, 10), actual=False, actor=EDC, now=later)


def test_anchor_errors(seeded: Session) -> None:
    enrol_sle(seeded, infusion=None)
    with pytest.raises(errors.NotFound, match="not defined"):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="transplant",
                   day=date(2026, 2, 1), actual=False, actor=EDC, now=NOW)
    with pytest.raises(errors.InvalidDate, match="future"):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion",
                   day=date(2026, 3, 2), actual=True, actor=EDC, now=NOW)
    with pytest.raises(errors.Forbidden):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion",
                   day=date(2026, 2, 1), actual=False, actor=MONITOR, now=NOW)
    with pytest.raises(errors.NotFound):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion",
                   day=date(2026, 2, 1), actual=False, actor=COORD_WTCH, now=NOW)


def test_a_corrected_consent_date_passes_the_enrolment_checks_again(seeded: Session) -> None:
    loaded = enrol_sle(seeded, date_of_birth=date(2007, 12, 20), consent=date(2026, 1, 5),
                       infusion=date(2026, 2, 10), actual=False)  # 18 at consent
    with pytest.raises(errors.Ineligible, match="age 17"):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="consent",
                   day=date(2025, 12, 1), actual=True, reason="typo", actor=EDC, now=NOW)
    with pytest.raises(errors.InvalidRequest, match="always an actual date"):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="consent",
                   day=date(2026, 1, 6), actual=False, reason="typo", actor=EDC, now=NOW)
    assert loaded.subject.consent_date == date(2026, 1, 5)  # nothing changed
    _, changed = set_anchor(seeded, study=SLE, subject_id="S-001", name="consent",
                            day=date(2026, 1, 6), actual=True, reason="typo", actor=EDC, now=NOW)
    assert changed and loaded.subject.consent_date == date(2026, 1, 6)


# --- events ------------------------------------------------------------------------------


def test_death_cancels_future_visits_and_keeps_them(seeded: Session) -> None:
    loaded = enrol_sle(seeded, infusion=date(2026, 1, 10))
    complete_visit(seeded, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 1, 24), actor=EDC, now=NOW)
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.DEATH,
                 day=date(2026, 2, 20), note="cardiac arrest", actor=EDC, now=NOW)
    assert loaded.subject.lifecycle == "died"
    rows = _visits(seeded, loaded.subject.id)
    assert len(rows) == len(loaded.plan.visits)  # nothing deleted
    assert rows["D14"].state == "completed"
    for code in ("M3", "M6", "M24"):
        assert rows[code].state == "cancelled" and rows[code].reason == "death on 2026-02-20"
    assert rows["D28"].state == "planned"  # its window had closed before the death
    with pytest.raises(errors.AlreadyRecorded):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.DEATH,
                     day=date(2026, 2, 21), actor=EDC, now=NOW)
    with pytest.raises(errors.SubjectEnded):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.PROGRESSION,
                     day=date(2026, 2, 21), actor=EDC, now=NOW)
    record = audit_of(seeded, SLE, "S-001")[-1]
    assert record.action == "event.recorded" and record.after is not None
    assert record.before == {"lifecycle": "active"} and record.after["lifecycle"] == "died"


def test_a_withdrawn_subject_may_still_be_reported_dead(seeded: Session) -> None:
    loaded = enrol_sle(seeded)
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.WITHDRAWAL,
                 day=date(2026, 2, 10), actor=EDC, now=NOW)
    with pytest.raises(errors.SubjectEnded):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.LOST_TO_FOLLOW_UP,
                     day=date(2026, 2, 11), actor=EDC, now=NOW)
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.DEATH,
                 day=date(2026, 2, 25), actor=EDC, now=NOW)
    assert loaded.subject.lifecycle == "died"


@pytest.mark.parametrize(("kind", "value", "day", "error"), [
    (EventType.RESPONSE, None, date(2026, 2, 20), errors.InvalidRequest),
    (EventType.PROGRESSION, "PD", date(2026, 2, 20), errors.InvalidRequest),
    (EventType.PROGRESSION, None, date(2026, 3, 2), errors.InvalidDate),
    (EventType.PROGRESSION, None, date(2026, 1, 4), errors.InvalidDate),
])
def test_event_errors(
    seeded: Session, kind: EventType, value: str | None, day: date, error: type[Exception]
) -> None:
    enrol_sle(seeded)
    with pytest.raises(error):
        record_event(seeded, study=SLE, subject_id="S-001", type=kind, day=day, value=value,
                     actor=EDC, now=NOW)


def test_complete_remission_opens_the_transplant_phase(seeded: Session) -> None:
    loaded = enrol_mm(seeded)
    rows = _visits(seeded, loaded.subject.id)
    assert rows["HSCT-D14"].state == "pending"
    assert rows["HSCT-D14"].reason == "phase HSCT waiting for response CR/sCR"
    record_event(seeded, study=MM, subject_id="MM-001", type=EventType.RESPONSE,
                 day=date(2025, 4, 3), value="CR", actor=EDC, now=NOW)
    rows = _visits(seeded, loaded.subject.id)
    assert rows["HSCT-D14"].state == "pending"
    assert rows["HSCT-D14"].reason == "waiting for anchor transplant"
    set_anchor(seeded, study=MM, subject_id="MM-001", name="transplant", day=date(2025, 5, 5),
               actual=True, actor=EDC, now=NOW)
    rows = _visits(seeded, loaded.subject.id)
    assert rows["HSCT-D14"].state == "planned"
    assert (rows["HSCT-D14"].target_date, rows["HSCT-D14"].study_day) == (date(2025, 5, 19), 14)
    assert rows["HSCT-M12"].target_date == date(2026, 5, 5)


def test_progression_before_remission_closes_the_transplant_phase(seeded: Session) -> None:
    loaded = enrol_mm(seeded)
    record_event(seeded, study=MM, subject_id="MM-001", type=EventType.PROGRESSION,
                 day=date(2025, 3, 20), actor=EDC, now=NOW)
    rows = _visits(seeded, loaded.subject.id)
    assert rows["HSCT-D0"].state == "not_applicable"
    assert rows["M3"].state == "cancelled"  # stops at progression
    assert rows["M6"].state == "planned"  # endpoint visits go on
    assert loaded.subject.lifecycle == "active"

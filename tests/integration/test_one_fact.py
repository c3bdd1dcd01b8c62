"""One fact, one entry: the visit that records an anchor (D0 records the infusion, HSCT-D0
the transplant) and the anchor's actual date, entered either way (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import errors
from app.models import AnchorDateRow, Subject, Visit
from app.schedule.lifecycle import EventType
from app.services.bulk.csv_import import import_csv
from app.services.subjects.anchors import set_anchor
from app.services.subjects.events import record_event
from app.services.visits import complete_visit, mark_missed
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

PLANNED = date(2026, 2, 1)  # the infusion as planned at enrolment
LATER = date(2026, 2, 3)  # the day it took place


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    return session


def visit(session: Session, code: str, subject_id: str = "S-001") -> Visit:
    session.expire_all()
    return session.scalars(select(Visit).join(Subject, Subject.id == Visit.subject_pk).where(
        Subject.subject_id == subject_id, Visit.code == code)).one()


def anchor(session: Session, name: str = "infusion",
           subject_id: str = "S-001") -> tuple[date, bool]:
    session.expire_all()
    row = session.scalars(select(AnchorDateRow).join(
        Subject, Subject.id == AnchorDateRow.subject_pk).where(
        Subject.subject_id == subject_id, AnchorDateRow.name == name)).one()
    return row.date, row.actual


def trail(session: Session, subject_id: str = "S-001",
          study: str = SLE) -> list[tuple[str, str, Any]]:
    """The subject's audit records after its enrolment: action, key, reason."""
    return [(r.action, r.key, r.reason) for r in audit_of(session, study, subject_id)[1:]]


def complete_d0(session: Session, day: date, **extra: Any) -> Any:
    return complete_visit(session, study=SLE, subject_id="S-001", code="D0", actual_date=day,
                          actor=EDC, now=NOW, **extra)


def put_infusion(session: Session, day: date, actual: bool = True,
                 reason: str | None = None) -> Any:
    return set_anchor(session, study=SLE, subject_id="S-001", name="infusion", day=day,
                      actual=actual, reason=reason, actor=EDC, now=NOW)


def test_completing_d0_confirms_the_planned_infusion(seeded: Session) -> None:
    enrol_sle(seeded, infusion=PLANNED, actual=False)
    assert visit(seeded, "D14").provisional
    outcome = complete_d0(seeded, PLANNED)
    assert outcome.created
    assert anchor(seeded) == (PLANNED, True)
    assert not visit(seeded, "D14").provisional  # timed from an actual date now
    records = audit_of(seeded, SLE, "S-001")[1:]
    assert [(r.action, r.entity, r.key) for r in records] == [
        ("visit.completed", "visit", "D0"), ("anchor.confirmed", "anchor", "infusion")]
    assert records[0].after["actual_date"] == "2026-02-01"
    assert records[1].before == {"date": "2026-02-01", "actual": False}
    assert {k: records[1].after[k] for k in ("date", "actual")} == {
        "date": "2026-02-01", "actual": True}
    assert {"code": "D14", "before": {"provisional": True}, "after": {"provisional": False}} \
        in records[1].after["visits_changed"]
    # The same completion again changes nothing, on either entry.
    assert not complete_d0(seeded, PLANNED).created
    assert len(audit_of(seeded, SLE, "S-001")) == 3


def test_completing_d0_on_another_day_moves_the_planned_infusion_without_a_reason(
    seeded: Session,
) -> None:
    enrol_sle(seeded, infusion=PLANNED, actual=False)
    # A visit timed before the anchor is recorded while the anchor is only planned...
    complete_visit(seeded, study=SLE, subject_id="S-001", code="D-1",
                   actual_date=date(2026, 2, 2), actor=EDC, now=NOW)
    assert visit(seeded, "D-1").target_date == date(2026, 1, 31)
    complete_d0(seeded, LATER)
    assert anchor(seeded) == (LATER, True)
    # ...and re-evaluated, never moved, once the anchor is confirmed on another day.
    d_1 = visit(seeded, "D-1")
    assert (d_1.state, d_1.actual_date, d_1.target_date) == (
        "completed", date(2026, 2, 2), date(2026, 2, 2))
    assert visit(seeded, "D14").target_date == date(2026, 2, 17)
    assert trail(seeded)[1:] == [("visit.completed", "D0", None),
                                 ("anchor.confirmed", "infusion", None)]
    confirmed = audit_of(seeded, SLE, "S-001")[-1]
    assert confirmed.before == {"date": "2026-02-01", "actual": False}
    assert confirmed.after["date"] == "2026-02-03" and confirmed.after["visits_changed"]


def test_completing_d0_sets_an_infusion_without_a_date(seeded: Session) -> None:
    enrol_sle(seeded, infusion=None)
    assert visit(seeded, "D0").state == "pending"
    complete_d0(seeded, LATER)
    assert anchor(seeded) == (LATER, True)
    assert visit(seeded, "D0").state == "completed"
    assert visit(seeded, "D14").target_date == date(2026, 2, 17)
    assert trail(seeded) == [("visit.completed", "D0", None), ("anchor.set", "infusion", None)]


def test_confirming_the_infusion_completes_d0(seeded: Session) -> None:
    enrol_sle(seeded, infusion=PLANNED, actual=False)
    _, changed = put_infusion(seeded, PLANNED)
    assert changed
    d0 = visit(seeded, "D0")
    assert (d0.state, d0.actual_date, d0.assessments) == ("completed", PLANNED, ["AE"])
    assert d0.recorded_at is not None
    assert trail(seeded) == [("anchor.confirmed", "infusion", None),
                             ("visit.completed", "D0", None)]
    # A planned date completes nothing.
    enrol_sle(seeded, "S-002", infusion=None)
    set_anchor(seeded, study=SLE, subject_id="S-002", name="infusion", day=PLANNED,
               actual=False, actor=EDC, now=NOW)
    assert visit(seeded, "D0", "S-002").state == "planned"


def test_an_actual_infusion_at_enrolment_completes_d0(seeded: Session) -> None:
    enrol_sle(seeded, infusion=PLANNED)
    d0 = visit(seeded, "D0")
    assert (d0.state, d0.actual_date, d0.assessments) == ("completed", PLANNED, ["AE"])
    assert d0.recorded_at is not None
    (enrolled,) = audit_of(seeded, SLE, "S-001")
    assert enrolled.after["visits_completed"] == {"D0": "2026-02-01"}
    enrol_sle(seeded, "S-002", infusion=PLANNED, actual=False)
    assert visit(seeded, "D0", "S-002").state == "planned"
    assert "visits_completed" not in audit_of(seeded, SLE, "S-002")[0].after


def test_an_import_with_an_actual_infusion_completes_d0(seeded: Session) -> None:
    lines = ["subject_id,site,consent_date,date_of_birth,infusion,infusion_planned\n",
             "B-1,YC3H,2026-01-05,1980-05-01,2026-02-01,false\n",
             "B-2,YC3H,2026-01-05,1980-05-01,2026-02-01,true\n"]
    result = import_csv(seeded, study_code=SLE, actor=EDC, lines=lines, now=NOW)
    assert result.imported == 2
    d0 = visit(seeded, "D0", "B-1")
    assert (d0.state, d0.actual_date, d0.assessments) == ("completed", PLANNED, ["AE"])
    assert d0.recorded_at is not None
    assert visit(seeded, "D0", "B-2").state == "planned"
    assert audit_of(seeded, SLE, "B-1")[0].after["visits_completed"] == {"D0": "2026-02-01"}


def test_another_day_for_an_actual_infusion_is_a_conflict_unless_corrected(
    seeded: Session,
) -> None:
    enrol_sle(seeded, infusion=PLANNED)
    with pytest.raises(errors.Conflict) as caught:
        complete_d0(seeded, LATER)
    assert caught.value.detail == (
        "visit D0 on 2026-02-03 disagrees with the actual date of anchor infusion"
        " (2026-02-01); send correction: true with a reason to correct both")
    with pytest.raises(errors.ReasonRequired):
        complete_d0(seeded, LATER, correction=True)
    outcome = complete_d0(seeded, LATER, correction=True, reason="infused two days later")
    assert not outcome.created
    assert visit(seeded, "D0").actual_date == LATER
    assert anchor(seeded) == (LATER, True)
    assert visit(seeded, "D14").target_date == date(2026, 2, 17)
    assert trail(seeded) == [("visit.corrected", "D0", "infused two days later"),
                             ("anchor.corrected", "infusion", "infused two days later")]


def test_correcting_the_infusion_corrects_d0(seeded: Session) -> None:
    enrol_sle(seeded, infusion=PLANNED)
    with pytest.raises(errors.ReasonRequired):
        put_infusion(seeded, LATER)
    put_infusion(seeded, LATER, reason="date mistyped")
    assert visit(seeded, "D0").actual_date == LATER
    assert trail(seeded) == [("anchor.corrected", "infusion", "date mistyped"),
                             ("visit.corrected", "D0", "date mistyped")]
    # Back to a planned date: the infusion did not happen, D0 is on the schedule again.
    put_infusion(seeded, date(2026, 2, 10), actual=False, reason="not infused after all")
    d0 = visit(seeded, "D0")
    assert (d0.state, d0.actual_date, d0.target_date) == ("planned", None, date(2026, 2, 10))
    assert trail(seeded)[-2:] == [
        ("anchor.corrected", "infusion", "not infused after all"),
        ("visit.corrected", "D0", "not infused after all")]


def test_a_missed_d0_and_an_actual_infusion_disagree_unless_corrected(seeded: Session) -> None:
    enrol_sle(seeded, infusion=PLANNED, actual=False)
    mark_missed(seeded, study=SLE, subject_id="S-001", code="D0", reason="postponed",
                actor=EDC, now=NOW)
    assert anchor(seeded) == (PLANNED, False)  # a planned anchor stays as it is
    with pytest.raises(errors.Conflict) as caught:
        put_infusion(seeded, PLANNED)
    assert caught.value.detail == (
        "anchor infusion on 2026-02-01 disagrees with visit D0, which is marked missed"
        " (postponed); send a reason to correct the visit too")
    assert anchor(seeded) == (PLANNED, False)
    put_infusion(seeded, PLANNED, reason="infused as planned after all")
    assert visit(seeded, "D0").state == "completed"
    assert trail(seeded)[-2:] == [
        ("anchor.confirmed", "infusion", "infused as planned after all"),
        ("visit.corrected", "D0", "infused as planned after all")]


def test_d0_is_missed_while_the_infusion_is_actual_only_as_a_correction(
    seeded: Session,
) -> None:
    enrol_sle(seeded, infusion=PLANNED)
    with pytest.raises(errors.Conflict) as caught:
        mark_missed(seeded, study=SLE, subject_id="S-001", code="D0", reason="never infused",
                    actor=EDC, now=NOW)
    assert "anchor infusion has an actual date (2026-02-01)" in caught.value.detail
    mark_missed(seeded, study=SLE, subject_id="S-001", code="D0", reason="never infused",
                correction=True, actor=EDC, now=NOW)
    assert visit(seeded, "D0").state == "missed"
    assert anchor(seeded) == (PLANNED, False)
    assert trail(seeded) == [("visit.corrected", "D0", "never infused"),
                             ("anchor.corrected", "infusion", "never infused")]


def test_the_transplant_and_hsct_d0_are_one_fact(seeded: Session) -> None:
    enrol_mm(seeded, "MM-001")
    enrol_mm(seeded, "MM-002")
    for subject_id in ("MM-001", "MM-002"):
        record_event(seeded, study=MM, subject_id=subject_id, type=EventType.RESPONSE,
                     day=date(2025, 4, 1), value="CR", actor=EDC, now=NOW)
    set_anchor(seeded, study=MM, subject_id="MM-001", name="transplant", day=date(2025, 5, 6),
               actual=True, actor=EDC, now=NOW)
    hsct = visit(seeded, "HSCT-D0", "MM-001")
    assert (hsct.state, hsct.actual_date) == ("completed", date(2025, 5, 6))
    complete_visit(seeded, study=MM, subject_id="MM-002", code="HSCT-D0",
                   actual_date=date(2025, 5, 6), actor=EDC, now=NOW)
    assert anchor(seeded, "transplant", "MM-002") == (date(2025, 5, 6), True)
    assert visit(seeded, "HSCT-D14", "MM-002").target_date == date(2025, 5, 20)
    assert visit(seeded, "D0", "MM-001").state == "completed"  # the infusion at enrolment


def test_the_anchor_completes_d0_only_on_a_date_a_visit_could_have(seeded: Session) -> None:
    enrol_sle(seeded, infusion=PLANNED, actual=False)
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.WITHDRAWAL,
                 day=date(2026, 1, 25), actor=EDC, now=NOW)
    with pytest.raises(errors.InvalidDate) as caught:
        put_infusion(seeded, PLANNED)
    assert caught.value.detail == "visit date 2026-02-01 is after the withdrawal (2026-01-25)"
    assert anchor(seeded) == (PLANNED, False)


def test_completing_d0_of_a_subject_who_failed_screening_is_refused(seeded: Session) -> None:
    enrol_sle(seeded, infusion=PLANNED, actual=False)
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.SCREEN_FAILURE,
                 day=date(2026, 2, 5), actor=EDC, now=NOW)
    with pytest.raises(errors.Conflict) as caught:
        complete_d0(seeded, PLANNED)
    assert "failed screening" in caught.value.detail
    assert visit(seeded, "D0").state == "cancelled"

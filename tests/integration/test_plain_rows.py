"""Recording a visit holds its subject and visit as plain values (app.services.plain_rows):
what it writes is stored, is shown on the values held, and on the session's ORM objects
of the same rows when the transaction read them before."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import Subject, Visit
from app.schedule.expand import AnchorDate
from app.services.plain_rows import PlainStudy, PlainSubject, PlainVisit
from app.services.studies import load_schedule
from app.services.subjects.enrolment import enrol
from app.services.subjects.loading import load_visit
from app.services.visits import complete_visit, mark_missed
from tests.helpers_subjects import (
    EDC,
    NOW,
    SLE,
    completing_sle_text,
    enrol_sle,
    load_seed_studies,
)


def _visit(session: Session, subject_pk: int, code: str) -> Visit:
    return session.scalars(
        select(Visit).where(Visit.subject_pk == subject_pk, Visit.code == code)).one()


def test_a_visit_is_loaded_as_plain_values_unless_it_records_an_anchor(session: Session) -> None:
    load_seed_studies(session)
    enrol_sle(session, infusion=date(2026, 2, 1), actual=False)
    loaded, visit = load_visit(session, study=SLE, subject_id="S-001", code="D14", actor=EDC)
    assert isinstance(loaded.subject, PlainSubject) and isinstance(loaded.study, PlainStudy)
    assert isinstance(visit, PlainVisit) and visit.code == "D14" and visit.state == "planned"
    assert (loaded.subject.subject_id, loaded.study.code, loaded.site.code) == (
        "S-001", SLE, "YC3H")
    assert loaded.plan.by_code["D14"].code == "D14"
    # D0 records the infusion: recording it may change the anchor and the subject row,
    # so it is loaded as ORM objects.
    loaded, visit = load_visit(session, study=SLE, subject_id="S-001", code="D0", actor=EDC)
    assert isinstance(loaded.subject, Subject) and isinstance(visit, Visit)


def test_what_a_completion_writes_is_stored_and_shown_on_the_rows_read_before(
    session: Session,
) -> None:
    load_seed_studies(session)
    loaded = enrol_sle(session, infusion=date(2026, 2, 1))
    pk = loaded.subject.id
    held = _visit(session, pk, "D14")  # read by the transaction before the completion
    outcome = complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                             actual_date=date(2026, 2, 16), actor=EDC, now=NOW)
    assert isinstance(outcome.visit, PlainVisit)
    assert (outcome.visit.state, outcome.visit.actual_date) == ("completed", date(2026, 2, 16))
    assert (held.state, held.actual_date) == ("completed", date(2026, 2, 16))
    assert held not in session.dirty  # shown as committed state: nothing left to flush
    session.commit()
    session.expire_all()
    stored = _visit(session, pk, "D14")
    assert (stored.state, stored.actual_date, stored.recorded_at) == (
        "completed", date(2026, 2, 16), NOW)


def test_the_subject_row_the_sync_changes_is_stored_and_shown_on_the_row_read_before(
    session: Session,
) -> None:
    # A protocol that completes subjects by their calendar: missing the last visit makes
    # the subject completed, written by one UPDATE of the subject row.
    load_schedule(session, text=completing_sle_text("DONE-SLE"), source="done.yaml",
                  actor=SYSTEM)
    enrol(session, study="DONE-SLE", subject_id="S-001", site="YC3H",
          consent_date=date(2024, 1, 2), date_of_birth=date(1980, 5, 1),
          anchors={"infusion": AnchorDate(date(2024, 1, 10))}, actor=SYSTEM, now=NOW)
    subject = session.scalars(select(Subject).where(Subject.subject_id == "S-001")).one()
    codes = list(session.scalars(select(Visit.code).where(
        Visit.subject_pk == subject.id, Visit.state == "planned", Visit.optional.is_(False))))
    for code in codes:
        assert subject.lifecycle == "active"
        mark_missed(session, study="DONE-SLE", subject_id="S-001", code=code,
                    reason="not seen", actor=SYSTEM, now=NOW)
    assert subject.lifecycle == "completed" and subject not in session.dirty
    session.commit()
    session.expire_all()
    assert session.scalars(select(Subject.lifecycle).where(Subject.id == subject.id)).one() \
        == "completed"
